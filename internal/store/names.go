package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/fsutil"
)

// RefNameAnnotation is the index.json annotation that holds an entry's name.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// Named is one named entry of index.json.
type Named struct {
	Name       string
	Descriptor v1.Descriptor
}

func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, "\x00\n\r") {
		return fmt.Errorf("%q: %w", name, ErrInvalidName)
	}
	for _, c := range strings.Split(name, "/") {
		if i := strings.IndexAny(c, ":@"); i >= 0 {
			c = c[:i] // "../x:1": the component is ".." whatever tag follows
		}
		if c == "." || c == ".." {
			return fmt.Errorf("%q: %w: a name may not hold a %q path component", name, ErrInvalidName, c)
		}
	}
	return nil
}

// readIndexJSON reads index.json and refuses one it cannot fully read: not a
// JSON object (`null` decodes to an empty index without an error), no
// "manifests" array, or an entry without a valid digest. Every name, and GC's
// whole root set, comes from this file: reading a damaged one as empty would
// let GC remove every blob and a Tag write over every other name.
func (s *Store) readIndexJSON() (*v1.IndexManifest, error) {
	p := s.path(indexFile)
	f, err := openRead(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	m, err := parseIndexJSON(b)
	if err != nil {
		return nil, &DamagedIndexError{Path: p, Err: err}
	}
	return m, nil
}

// parseIndexJSON parses an image layout's index.json strictly (see readIndexJSON).
func parseIndexJSON(b []byte) (*v1.IndexManifest, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, err
	}
	if probe == nil {
		return nil, errors.New("it holds null, not an index")
	}
	raw, ok := probe["manifests"]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, errors.New(`it has no "manifests" array`)
	}
	var m v1.IndexManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("schemaVersion is %d, want 2", m.SchemaVersion)
	}
	for i, d := range m.Manifests {
		if err := checkHash(d.Digest); err != nil {
			return nil, fmt.Errorf("manifests[%d] (%q): %w", i, d.Annotations[RefNameAnnotation], err)
		}
		if d.Size < 0 {
			return nil, fmt.Errorf("manifests[%d] (%q): negative size %d", i, d.Annotations[RefNameAnnotation], d.Size)
		}
	}
	return &m, nil
}

// updateIndex applies fn to index.json under an exclusive flock and writes
// the result atomically (temp, fsync, rename, dir fsync).
func (s *Store) updateIndex(ctx context.Context, fn func(*v1.IndexManifest) error) error {
	l, err := fsutil.LockFile(ctx, s.path(indexLockFile), 0o644, true)
	if err != nil {
		return err
	}
	defer l.Unlock()
	m, err := s.readIndexJSON()
	if err != nil {
		return err
	}
	before, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := fn(m); err != nil {
		return err
	}
	if m.SchemaVersion == 0 {
		m.SchemaVersion = 2
	}
	if m.MediaType == "" {
		m.MediaType = types.OCIImageIndex
	}
	if m.Manifests == nil {
		m.Manifests = []v1.Descriptor{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if bytes.Equal(b, before) {
		return nil // unchanged (re-tagging the same digest): no write, no fsync
	}
	return s.writeFileAtomic(s.path(indexFile), b)
}

// Tag points name at d in index.json, replacing any entry of that name. d's
// annotations and platform are kept; the name goes into the
// org.opencontainers.image.ref.name annotation. An empty d.MediaType is read
// from the blob.
//
// Tag refuses (with a *MissingBlobError) when the manifest blob, or any blob
// it references through child manifests, configs and non-foreign layers, is
// absent (presence and size are checked, content is not re-hashed; the
// manifests themselves are read verified). Atomic: index.json is replaced whole
// under an exclusive flock; concurrent Tags from any process all land.
// Idempotent. A nil error promises that name resolves to d and that everything
// d references is in the store.
func (s *Store) Tag(ctx context.Context, name string, d v1.Descriptor) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("tagging: %w", err)
	}
	if err := checkHash(d.Digest); err != nil {
		return fmt.Errorf("tagging %s: %w", name, err)
	}
	unlock, err := s.shared(ctx)
	if err != nil {
		return fmt.Errorf("tagging %s: %w", name, err)
	}
	defer unlock()
	mt, err := s.checkTree(ctx, d, map[v1.Hash]bool{})
	if err != nil {
		return fmt.Errorf("tagging %s as %s: %w", d.Digest, name, err)
	}
	if d.MediaType == "" {
		d.MediaType = mt
	}
	ann := make(map[string]string, len(d.Annotations)+1)
	for k, v := range d.Annotations {
		ann[k] = v
	}
	ann[RefNameAnnotation] = name
	d.Annotations = ann
	err = s.updateIndex(ctx, func(m *v1.IndexManifest) error {
		// A name keeps its place in index.json when it moves.
		i := slices.IndexFunc(m.Manifests, func(e v1.Descriptor) bool {
			return e.Annotations[RefNameAnnotation] == name
		})
		if i < 0 {
			m.Manifests = append(m.Manifests, d)
			return nil
		}
		m.Manifests[i] = d
		m.Manifests = slices.Concat(m.Manifests[:i+1], slices.DeleteFunc(m.Manifests[i+1:], func(e v1.Descriptor) bool {
			return e.Annotations[RefNameAnnotation] == name
		}))
		return nil
	})
	if err != nil {
		return fmt.Errorf("tagging %s as %s: %w", d.Digest, name, err)
	}
	s.opts.logger.DebugContext(ctx, "tagged", "name", name, "digest", d.Digest.String())
	return nil
}

// checkTree checks that manifest d and everything it references is present,
// returning d's media type as read from the blob.
func (s *Store) checkTree(ctx context.Context, d v1.Descriptor, seen map[v1.Hash]bool) (types.MediaType, error) {
	if seen[d.Digest] {
		return d.MediaType, nil
	}
	seen[d.Digest] = true
	raw, err := s.readManifest(ctx, d.Digest, -1)
	if err != nil {
		return "", err
	}
	if d.Size != 0 && int64(len(raw)) != d.Size {
		return "", fmt.Errorf("descriptor of %s says %d bytes, the stored manifest has %d: the descriptor is wrong", d.Digest, d.Size, len(raw))
	}
	m, err := parseManifestish(raw)
	if err != nil {
		return "", fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = d.MediaType
	}
	var blobs []v1.Descriptor
	if m.Config != nil {
		blobs = append(blobs, *m.Config)
	}
	blobs = append(append(blobs, m.Layers...), m.Blobs...)
	for _, b := range blobs {
		if isForeign(b) {
			continue
		}
		if err := checkHash(b.Digest); err != nil {
			return "", fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		n, ok, err := s.hasBlob(b.Digest)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", &MissingBlobError{Digest: b.Digest, Path: s.blobPath(b.Digest)}
		}
		if n != b.Size {
			return "", s.corrupt(&CorruptBlobError{Digest: b.Digest, Path: s.blobPath(b.Digest), WantSize: b.Size, GotSize: n})
		}
	}
	for _, c := range m.Manifests {
		if err := checkHash(c.Digest); err != nil {
			return "", fmt.Errorf("index %s: %w", d.Digest, err)
		}
		if _, err := s.checkTree(ctx, c, seen); err != nil {
			return "", err
		}
	}
	return mt, nil
}

// Resolve returns the descriptor named name (with its annotations and
// platform), or an error wrapping ErrNotFound. It reads index.json without
// locking: index.json is only ever replaced whole.
func (s *Store) Resolve(ctx context.Context, name string) (v1.Descriptor, error) {
	if err := checkName(name); err != nil {
		return v1.Descriptor{}, fmt.Errorf("resolving: %w", err)
	}
	m, err := s.readIndexJSON()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("resolving %s: %w", name, err)
	}
	for i := len(m.Manifests) - 1; i >= 0; i-- { // the last of duplicates wins
		if m.Manifests[i].Annotations[RefNameAnnotation] == name {
			return m.Manifests[i], nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("resolving %s in %s: %w", name, s.root, ErrNotFound)
}

// ResolveDigest returns the descriptor (media type, size, digest) of the
// manifest or index stored as blob h, reading its media type from the blob, so
// `name@sha256:…` works for untagged content. A missing blob wraps ErrNotFound.
func (s *Store) ResolveDigest(ctx context.Context, h v1.Hash) (v1.Descriptor, error) {
	raw, err := s.readBlob(ctx, h, -1)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("resolving %s: %w", h, err)
	}
	m, err := parseManifestish(raw)
	if err != nil || (!bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{"))) {
		return v1.Descriptor{}, fmt.Errorf("resolving %s: blob is not a manifest or index", h)
	}
	if m.MediaType == "" {
		return v1.Descriptor{}, fmt.Errorf("resolving %s: blob is not a manifest or index (no mediaType, config or manifests)", h)
	}
	return v1.Descriptor{MediaType: m.MediaType, Size: int64(len(raw)), Digest: h}, nil
}

// Untag removes every entry named name from index.json (atomic, as Tag). The
// blobs stay until GC. A name that is not there is an error wrapping ErrNotFound.
func (s *Store) Untag(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("untagging: %w", err)
	}
	unlock, err := s.shared(ctx)
	if err != nil {
		return fmt.Errorf("untagging %s: %w", name, err)
	}
	defer unlock()
	found := false
	err = s.updateIndex(ctx, func(m *v1.IndexManifest) error {
		m.Manifests = slices.DeleteFunc(m.Manifests, func(e v1.Descriptor) bool {
			hit := e.Annotations[RefNameAnnotation] == name
			found = found || hit
			return hit
		})
		if !found {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("untagging %s in %s: %w", name, s.root, err)
	}
	return nil
}

// Names returns every named entry of index.json, sorted by name. Entries
// without a name (written by other tools) are not listed but are kept.
func (s *Store) Names(ctx context.Context) ([]Named, error) {
	m, err := s.readIndexJSON()
	if err != nil {
		return nil, fmt.Errorf("listing names: %w", err)
	}
	byName := map[string]v1.Descriptor{}
	for _, d := range m.Manifests {
		if n := d.Annotations[RefNameAnnotation]; n != "" {
			byName[n] = d
		}
	}
	out := make([]Named, 0, len(byName))
	for n, d := range byName {
		out = append(out, Named{Name: n, Descriptor: d})
	}
	slices.SortFunc(out, func(a, b Named) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
