package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// Problem kinds a Check reports (stable: `manyarch check --format json`).
const (
	ProblemCorruptBlob  = "corrupt-blob"  // content does not hash to its digest
	ProblemMissingBlob  = "missing-blob"  // referenced, absent
	ProblemSizeMismatch = "size-mismatch" // a descriptor's size is not its blob's
	ProblemBadManifest  = "bad-manifest"  // a referenced manifest does not parse
	ProblemDamagedIndex = "damaged-index" // index.json cannot be fully read
	ProblemStrayFile    = "stray-file"    // a file under blobs/ that is not a digest
)

// Problem is one thing Check found wrong.
type Problem struct {
	Kind    string `json:"kind"`
	Digest  string `json:"digest,omitempty"`
	Size    int64  `json:"size,omitempty"` // what the referencing descriptor declares
	Path    string `json:"path"`
	Message string `json:"message"`
	// UsedBy lists the names whose trees reference the blob.
	UsedBy []string `json:"usedBy,omitempty"`
	// Sources lists the repositories (HOST/REPO) the images using it were
	// pulled from, where known: where a repair fetches it again.
	Sources []string `json:"sources,omitempty"`
}

// CheckReport is what Check found.
type CheckReport struct {
	Root     string    `json:"root"`
	Blobs    int       `json:"blobs"`
	Bytes    int64     `json:"bytes"`
	Images   int       `json:"images"`
	Problems []Problem `json:"problems"`
}

// OK reports whether Check found nothing wrong.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

// Check rehashes every blob and walks every named image's tree (manifests,
// configs, layers, child manifests), reporting corrupt, missing and
// mismatched blobs with the names that use them. It changes nothing, and
// holds the store's shared lock so GC does not run meanwhile. The error is
// for a check that could not run; what it found is in the report.
func (s *Store) Check(ctx context.Context) (*CheckReport, error) {
	unlock, err := s.shared(ctx)
	if err != nil {
		return nil, fmt.Errorf("checking %s: %w", s.root, err)
	}
	defer unlock()
	rep := &CheckReport{Root: s.root, Problems: []Problem{}}

	// index.json is read before the blobs are listed: while the shared GC
	// lock is held blobs only come, so every blob of the names read is in
	// the listing, even those another process writes and tags meanwhile.
	// Read after, a name tagged during the rehash was reported missing.
	idx, err := s.readIndexJSON()
	if err != nil {
		rep.Problems = append(rep.Problems, Problem{Kind: ProblemDamagedIndex, Path: s.path(indexFile), Message: err.Error()})
		idx = &v1.IndexManifest{}
	}
	files, sizes, corrupt, err := s.rehashAll(ctx, rep)
	if err != nil {
		return nil, fmt.Errorf("checking %s: %w", s.root, err)
	}
	checkRehashed()

	// Walk every name's tree.
	w := &checkWalk{s: s, sizes: sizes, corrupt: corrupt, users: map[v1.Hash][]string{}, declared: map[v1.Hash]int64{}}
	for _, d := range idx.Manifests {
		name := d.Annotations[RefNameAnnotation]
		if name == "" {
			name = d.Digest.String()
		}
		rep.Images++
		w.walk(ctx, d, name, map[v1.Hash]bool{}, 0)
	}
	for _, h := range files {
		if err := corrupt[h]; err != nil {
			size, ok := w.declared[h]
			if !ok {
				size = -1
			}
			rep.Problems = append(rep.Problems, Problem{Kind: ProblemCorruptBlob, Digest: h.String(), Size: size, Path: s.blobPath(h), Message: err.Error()})
		}
	}
	rep.Problems = append(rep.Problems, w.problems...)
	s.explainProblems(rep, idx, w.users)
	return rep, nil
}

// checkRehashed is a test hook: it runs in Check after the blobs are
// rehashed.
var checkRehashed = func() {}

// rehashAll rehashes every blob file (s.opts.jobs at a time), counting
// them in rep and reporting stray files there; it returns the blobs, their
// sizes and the errors of the corrupt ones.
func (s *Store) rehashAll(ctx context.Context, rep *CheckReport) ([]v1.Hash, map[v1.Hash]int64, map[v1.Hash]error, error) {
	var files []v1.Hash
	dir := s.path(blobsDir, "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, err
	}
	for _, e := range ents {
		h := v1.Hash{Algorithm: "sha256", Hex: e.Name()}
		if !e.Type().IsRegular() || checkHash(h) != nil {
			rep.Problems = append(rep.Problems, Problem{Kind: ProblemStrayFile, Path: dir + "/" + e.Name(),
				Message: "not a blob (its name is not a sha256 digest); remove it if nothing of yours is in it"})
			continue
		}
		files = append(files, h)
	}
	bad := make([]error, len(files))
	got := make([]int64, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.jobs)
	for i, h := range files {
		g.Go(func() error {
			n, err := s.rehash(gctx, h)
			got[i], bad[i] = n, err
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, nil, err
	}
	sizes := map[v1.Hash]int64{}
	corrupt := map[v1.Hash]error{}
	for i, h := range files {
		rep.Blobs++
		rep.Bytes += got[i]
		sizes[h] = got[i]
		if bad[i] != nil {
			corrupt[h] = bad[i]
		}
	}
	return files, sizes, corrupt, nil
}

// checkWalk walks the names' trees for Check.
type checkWalk struct {
	s        *Store
	sizes    map[v1.Hash]int64 // blob files, by their rehashed size
	corrupt  map[v1.Hash]error
	users    map[v1.Hash][]string // names whose trees hold a blob
	declared map[v1.Hash]int64    // sizes descriptors give
	problems []Problem            // missing, mismatched and unparsable blobs
}

// walk visits descriptor d of name's tree and its children (8 levels at
// most; seen holds the tree's blobs already visited).
func (w *checkWalk) walk(ctx context.Context, d v1.Descriptor, name string, seen map[v1.Hash]bool, depth int) {
	if seen[d.Digest] || depth > 8 {
		return
	}
	seen[d.Digest] = true
	w.users[d.Digest] = append(w.users[d.Digest], name)
	w.declared[d.Digest] = d.Size
	n, ok := w.sizes[d.Digest]
	switch {
	case !ok && len(d.URLs) > 0:
		return // a foreign layer, served from its URLs
	case !ok:
		w.problems = append(w.problems, Problem{Kind: ProblemMissingBlob, Digest: d.Digest.String(), Size: d.Size, Path: w.s.blobPath(d.Digest)})
		return
	case w.corrupt[d.Digest] != nil:
		return // reported by Check, once, with every user
	case d.Size != n:
		w.problems = append(w.problems, Problem{Kind: ProblemSizeMismatch, Digest: d.Digest.String(), Size: d.Size, Path: w.s.blobPath(d.Digest),
			Message: fmt.Sprintf("%s's descriptor says %d bytes, the blob has %d (the blob hashes right: the manifest that references it is wrong)", name, d.Size, n)})
	}
	if !d.MediaType.IsImage() && !d.MediaType.IsIndex() {
		return
	}
	raw, err := w.s.readManifest(ctx, d.Digest, -1)
	if err != nil {
		return // corrupt: reported by Check
	}
	m, err := parseManifestish(raw)
	if err != nil {
		w.problems = append(w.problems, Problem{Kind: ProblemBadManifest, Digest: d.Digest.String(), Path: w.s.blobPath(d.Digest),
			Message: fmt.Sprintf("manifest of %s does not parse: %v; pull %s again", name, err, name)})
		return
	}
	if m.Config != nil {
		w.walk(ctx, *m.Config, name, seen, depth+1)
	}
	for _, l := range m.Layers {
		w.walk(ctx, l, name, seen, depth+1)
	}
	for _, c := range m.Manifests {
		w.walk(ctx, c, name, seen, depth+1)
	}
}

// explainProblems gives each problem about a blob the names that use it,
// the sources they were pulled from and the advice.
func (s *Store) explainProblems(rep *CheckReport, idx *v1.IndexManifest, users map[v1.Hash][]string) {
	for i := range rep.Problems {
		p := &rep.Problems[i]
		if p.Digest == "" {
			continue
		}
		h, _ := v1.NewHash(p.Digest)
		p.UsedBy = slices.Compact(slices.Sorted(slices.Values(users[h])))
		var srcs []string
		for _, d := range idx.Manifests {
			if slices.Contains(p.UsedBy, d.Annotations[RefNameAnnotation]) {
				if src, ok := s.Source(d.Digest); ok {
					srcs = append(srcs, src)
				}
			}
		}
		p.Sources = slices.Compact(slices.Sorted(slices.Values(srcs)))
		if p.Message == "" || p.Kind == ProblemCorruptBlob {
			p.Message = problemAdvice(p)
		}
	}
}

func problemAdvice(p *Problem) string {
	what := "is corrupt (its content does not hash to its digest)"
	if p.Kind == ProblemMissingBlob {
		what = "is missing"
	}
	switch {
	case len(p.UsedBy) == 0:
		return fmt.Sprintf("blob %s %s; no named image uses it: `manyarch check --repair` removes it", p.Digest, what)
	case len(p.Sources) > 0:
		return fmt.Sprintf("blob %s %s; used by %s: `manyarch check --repair` fetches it again from %s", p.Digest, what, strings.Join(p.UsedBy, ", "), p.Sources[0])
	}
	return fmt.Sprintf("blob %s %s; used by %s, whose source is not recorded: pull, build or import %s again", p.Digest, what, strings.Join(p.UsedBy, ", "), p.UsedBy[0])
}

// rehash reads blob h whole and reports its size and, when its content does
// not hash to h, why.
func (s *Store) rehash(ctx context.Context, h v1.Hash) (int64, error) {
	f, err := os.Open(s.blobPath(h))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	hw := sha256.New()
	n, err := copyCtx(ctx, hw, f)
	if err != nil {
		return n, fmt.Errorf("reading %s: %w", s.blobPath(h), err)
	}
	if got := hex.EncodeToString(hw.Sum(nil)); got != h.Hex {
		return n, &CorruptBlobError{Digest: h, Path: s.blobPath(h), WantSize: -1, GotSize: n, Got: v1.Hash{Algorithm: "sha256", Hex: got}}
	}
	return n, nil
}

// RemoveCorruptBlob removes blob h when, and only when, its content does not
// hash to h (it is rehashed first, under the store's shared lock): a repair
// can never remove a good blob. Removing an absent blob is not an error.
func (s *Store) RemoveCorruptBlob(ctx context.Context, h v1.Hash) error {
	if err := checkHash(h); err != nil {
		return fmt.Errorf("removing corrupt blob: %w", err)
	}
	unlock, err := s.shared(ctx)
	if err != nil {
		return fmt.Errorf("removing corrupt blob %s: %w", h, err)
	}
	defer unlock()
	p := s.blobPath(h)
	hashed, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("removing corrupt blob %s: %w", h, err)
	}
	if _, err := s.rehash(ctx, h); err == nil {
		return fmt.Errorf("removing corrupt blob %s: it is not corrupt (it hashes to its digest); left in place", h)
	} else if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if ce := (*CorruptBlobError)(nil); !errors.As(err, &ce) {
		return fmt.Errorf("removing corrupt blob %s: %w", h, err)
	}
	// A writer holding the shared lock too may have renamed a good copy
	// into place since the rehash: move whatever is there aside (atomic),
	// and delete it only if it is the file that was hashed.
	aside := fmt.Sprintf("%s.corrupt-%d", p, os.Getpid())
	if err := os.Rename(p, aside); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("removing corrupt blob %s: %w", h, err)
	}
	if moved, err := os.Lstat(aside); err != nil || !os.SameFile(hashed, moved) {
		// Not the file that was hashed: put it back unless another good
		// copy is there already.
		if err := os.Link(aside, p); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("removing corrupt blob %s: it was rewritten while being checked, and putting it back failed: %w (it is at %s)", h, err, aside)
		}
		os.Remove(aside)
		return fmt.Errorf("removing corrupt blob %s: it was rewritten while being checked; left in place (run manyarch check again)", h)
	}
	if err := os.Remove(aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing corrupt blob %s: %w", h, err)
	}
	return s.syncDir(s.path(blobsDir, "sha256"))
}

// SetSource records that the image h (a manifest or index digest) came from
// repository repo (HOST/REPO, as a registry reference without tag), so that
// `manyarch check --repair` can fetch its blobs again. A small file under
// ROOT/sources; GC removes it with the image.
func (s *Store) SetSource(ctx context.Context, h v1.Hash, repo string) error {
	if err := checkHash(h); err != nil {
		return fmt.Errorf("recording the source of %s: %w", h, err)
	}
	if repo == "" || strings.ContainsAny(repo, "\x00\n\r") {
		return fmt.Errorf("recording the source of %s: invalid repository %q", h, repo)
	}
	if err := os.MkdirAll(s.path(sourcesDir), 0o755); err != nil {
		return fmt.Errorf("recording the source of %s: %w", h, err)
	}
	if err := s.writeFileAtomic(s.path(sourcesDir, h.Hex), []byte(repo+"\n")); err != nil {
		return fmt.Errorf("recording the source of %s: %w", h, err)
	}
	return nil
}

// Source returns the repository SetSource recorded for h.
func (s *Store) Source(h v1.Hash) (string, bool) {
	if checkHash(h) != nil {
		return "", false
	}
	b, err := os.ReadFile(s.path(sourcesDir, h.Hex))
	if err != nil || len(b) > 4096 {
		return "", false
	}
	src := strings.TrimSpace(string(b))
	return src, src != ""
}

// corrupt fills e.UsedBy with the names whose trees reference the blob, as
// far as index.json and the manifests can be read (a best effort: this runs
// on an error path, on a store known to be damaged).
func (s *Store) corrupt(e *CorruptBlobError) *CorruptBlobError {
	if s == nil || e.UsedBy != nil {
		return e
	}
	idx, err := s.readIndexJSON()
	if err != nil {
		return e
	}
	var walk func(h v1.Hash, depth int, seen map[v1.Hash]bool) bool
	walk = func(h v1.Hash, depth int, seen map[v1.Hash]bool) bool {
		if h == e.Digest {
			return true
		}
		if seen[h] || depth > 8 {
			return false
		}
		seen[h] = true
		fi, err := os.Stat(s.blobPath(h))
		if err != nil || fi.Size() > gcMaxSniff {
			return false
		}
		raw, err := os.ReadFile(s.blobPath(h))
		if err != nil {
			return false
		}
		m, err := parseManifestish(raw)
		if err != nil {
			return false
		}
		var children []v1.Descriptor
		if m.Config != nil {
			children = append(children, *m.Config)
		}
		children = append(append(children, m.Layers...), m.Manifests...)
		for _, c := range children {
			if walk(c.Digest, depth+1, seen) {
				return true
			}
		}
		return false
	}
	users := []string{}
	for _, d := range idx.Manifests {
		if walk(d.Digest, 0, map[v1.Hash]bool{}) {
			users = append(users, d.Annotations[RefNameAnnotation])
		}
	}
	e.UsedBy = users
	return e
}
