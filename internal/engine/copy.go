package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/patternmatcher"

	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/progress"
	"github.com/manyarch/manyarch/internal/snapshot"
)

// This file executes COPY and ADD: it resolves the sources on the host and
// copies them into the step's file system (copyFS).

type copySource struct {
	host string // path on the host
	name string // base name (or, with --parents, the relative path) at the destination
	rel  string // path relative to the source root, for .dockerignore and --exclude
	// context: owners become 0:0 (BuildKit's local source does so)
	resetOwner bool
	// ADD of a URL: a file of mode 0600 and this time
	url     bool
	unpack  bool
	modTime time.Time
	// COPY --parents: the host directory name is relative to; the
	// directories leading to name are made like the ones there.
	parentRoot string
	// COPY --parents: --exclude patterns match paths relative to
	// parentRoot (name and below), as BuildKit copies from the pivot with
	// include and exclude patterns; else relative to the source itself.
	parents bool
}

// runCopy executes COPY and ADD: the sources are copied into the image's
// file system (mounted with a fresh upper directory) or, with --link, into
// an empty directory, and the changes become the layer.
func (x *executor) runCopy(ctx context.Context, sr *stageRun, img *imageState, step *plan.Step, ev progress.Event, start *time.Time) (v1.Layer, bool, error) {
	cp := step.Copy
	var (
		root    string
		content []string
		pm      *patternmatcher.PatternMatcher
		loc     *localSource // the build context or a named one
		from    *stageRun
	)
	// The key of a COPY from a stage or an image needs only that stage's
	// key or the image's digest; its files are looked at on a miss.
	switch cp.From.Kind {
	case plan.SourceContext:
		var err error
		if loc, err = x.local(cp.From.Context); err != nil {
			return nil, false, err
		}
		root, pm = loc.dir, loc.ignore
	case plan.SourceStage:
		var err error
		if from, err = x.wait(ctx, cp.From.Stage); err != nil {
			return nil, false, err
		}
		content = append(content, "from-stage="+from.key)
	case plan.SourceImage:
		b, err := x.base(ctx, cp.From.Image, cp.From.Platform)
		if err != nil {
			return nil, false, err
		}
		content = append(content, "from-image="+b.digest.String())
	}
	tmp, err := os.MkdirTemp(x.tmp, "copy-")
	if err != nil {
		return nil, false, err
	}
	defer os.RemoveAll(tmp)

	var srcs []copySource
	if loc != nil || hasURLSource(cp) {
		if srcs, err = x.copySources(ctx, cp, root, loc, tmp); err != nil {
			return nil, false, err
		}
		h := newHashWriter()
		for _, s := range srcs {
			fmt.Fprintf(h, "src %q %q\n", s.name, s.rel)
			if s.resetOwner && loc != nil {
				// what .dockerignore excludes is not copied, so not hashed
				err = loc.hash(ctx, h, s.host)
			} else {
				err = hashTree(ctx, h, x.locals[""].hashes, "", s.host, "", nil)
			}
			if err != nil {
				return nil, false, err
			}
		}
		content = append(content, "content="+h.sum())
	}
	key := x.cacheKey(sr, step, content...)
	sr.key = key
	if l, ok := x.cacheGet(ctx, sr.stage, key); ok {
		return l, true, nil
	}
	if srcs == nil {
		switch cp.From.Kind {
		case plan.SourceStage:
			root, err = x.stageView(ctx, from)
		case plan.SourceImage:
			root, _, err = x.imageView(ctx, cp.From)
		}
		if err != nil {
			return nil, false, err
		}
		if srcs, err = x.copySources(ctx, cp, root, nil, tmp); err != nil {
			return nil, false, err
		}
	}
	release, err := x.acquire(ctx, 1)
	if err != nil {
		return nil, false, err
	}
	defer release()
	*start = time.Now()
	ev.Status = progress.StatusRunning
	x.progress.Send(ev)

	var layer v1.Layer
	if needsMount(srcs) {
		layer, err = x.copyMounted(ctx, img, step, srcs, pm, tmp)
	} else {
		// The fast path: the layer is planned over the parent's layer
		// directories (an empty root with --link) and written from the
		// sources directly.
		var lowers []string
		if !cp.Link {
			if lowers, err = x.lowers(ctx, img.layers); err != nil {
				return nil, false, err
			}
		}
		pf := newPlanFS(lowers, x.now)
		if err := x.copyInto(ctx, pf, step, srcs, pm); err != nil {
			return nil, false, err
		}
		layer, err = x.planLayer(ctx, pf)
	}
	if err != nil {
		return nil, false, err
	}
	x.cachePut(ctx, key, layer)
	return layer, false, nil
}

// needsMount reports whether a COPY must run on a mounted root: ADD
// unpacks a local archive with snapshot.Extract, which writes a directory.
func needsMount(srcs []copySource) bool {
	for _, s := range srcs {
		if s.unpack && isArchive(s.host) {
			return true
		}
	}
	return false
}

// copyMounted runs a COPY on the host: into a mount of the parent (or an
// empty directory with --link), whose changes are the layer.
func (x *executor) copyMounted(ctx context.Context, img *imageState, step *plan.Step, srcs []copySource, pm *patternmatcher.PatternMatcher, tmp string) (v1.Layer, error) {
	if step.Copy.Link {
		stage := filepath.Join(tmp, "link")
		if err := os.Mkdir(stage, 0o755); err != nil {
			return nil, err
		}
		if err := x.copyInto(ctx, hostFS{stage}, step, srcs, pm); err != nil {
			return nil, err
		}
		return writeLayer(ctx, x.st, x.comp, func(w io.Writer) error {
			return snapshot.WriteTar(ctx, w, stage, snapshot.TarOptions{SourceDateEpoch: x.epoch})
		})
	}
	rootfs, err := x.mountRoot(ctx, img.layers)
	if err != nil {
		return nil, err
	}
	defer rootfs.Close()
	if err := x.copyInto(ctx, hostFS{rootfs.Root()}, step, srcs, pm); err != nil {
		return nil, err
	}
	return x.diffLayer(ctx, rootfs)
}

// plannedLayer is a layer planned by one or more steps of the build.
type plannedLayer struct {
	once sync.Once
	l    v1.Layer
	err  error
}

// planLayer writes the layer pf plans into the store, once per build for
// equal plans: the same COPY for several platforms whose parents agree on
// every path it touches is one layer, written and compressed once.
func (x *executor) planLayer(ctx context.Context, pf *planFS) (v1.Layer, error) {
	id, err := pf.identity()
	if err != nil {
		return nil, err
	}
	v, _ := x.planned.LoadOrStore(id, &plannedLayer{})
	pl := v.(*plannedLayer)
	pl.once.Do(func() {
		pl.l, pl.err = writeLayer(ctx, x.st, x.comp, func(w io.Writer) error {
			return pf.writeTar(ctx, w, snapshot.TarOptions{SourceDateEpoch: x.epoch})
		})
	})
	return pl.l, pl.err
}

func hasURLSource(cp *plan.CopyStep) bool {
	for _, s := range cp.Sources {
		if cp.Add && plan.IsURL(s) {
			return true
		}
	}
	return len(cp.Inline) > 0
}

func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?[") }

// copySources expands the sources of a COPY or ADD from root: the
// directory of loc (the build context or a named one), or, with loc nil,
// the file system of a stage or an image.
func (x *executor) copySources(ctx context.Context, cp *plan.CopyStep, root string, loc *localSource, tmp string) ([]copySource, error) {
	var out []copySource
	var pm *patternmatcher.PatternMatcher
	isCtx := loc != nil
	if isCtx {
		pm = loc.ignore
	}
	where := describeSource(cp.From)
	unpack := cp.Add
	if cp.Unpack != nil {
		unpack = *cp.Unpack
	}
	for _, s := range cp.Sources {
		switch {
		case cp.Add && plan.IsGitURL(s):
			return nil, fmt.Errorf("ADD %s: git sources are not supported by the native engine yet: clone in a RUN step, or use --engine buildkit", s)
		case cp.Add && plan.IsURL(s):
			src, err := x.download(ctx, s, cp.Checksum, tmp)
			if err != nil {
				return nil, err
			}
			src.unpack = cp.Unpack != nil && *cp.Unpack
			out = append(out, src)
			continue
		}
		clean := path.Clean("/" + filepath.ToSlash(s))
		if c := path.Clean(filepath.ToSlash(s)); isCtx && (c == ".." || strings.HasPrefix(c, "../")) {
			return nil, fmt.Errorf("%s is outside %s: COPY and ADD read only files inside it (move the file in, or use a larger directory)", s, loc)
		}
		if cp.Parents {
			srcs, err := parentsSources(ctx, s, root, pm, isCtx, unpack, where)
			if err != nil {
				return nil, err
			}
			out = append(out, srcs...)
			continue
		}
		var matches []string
		if hasWildcard(clean) {
			dir, pattern := path.Split(clean)
			if hasWildcard(dir) {
				// a wildcard in a directory: walk the candidate directories
				var err error
				matches, err = globAll(root, clean)
				if err != nil {
					return nil, err
				}
			} else {
				hostDir, err := securejoin.SecureJoin(root, dir)
				if err != nil {
					return nil, err
				}
				ents, err := os.ReadDir(hostDir)
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, err
				}
				for _, e := range ents {
					if ok, _ := path.Match(pattern, e.Name()); ok {
						matches = append(matches, path.Join(dir, e.Name()))
					}
				}
			}
		} else {
			matches = []string{clean}
		}
		found := 0
		for _, m := range matches {
			rel := strings.TrimPrefix(m, "/")
			host, err := securejoin.SecureJoin(root, m)
			if err != nil {
				return nil, err
			}
			fi, err := os.Stat(host)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && !hasWildcard(clean) {
					break
				}
				continue
			}
			if isCtx && !ctxSent(pm, host, rel, fi.IsDir()) {
				continue
			}
			name := path.Base(m)
			if cp.Parents {
				name = rel
			}
			if m == "/" {
				name = ""
			}
			out = append(out, copySource{host: host, name: name, rel: rel, resetOwner: isCtx, unpack: unpack})
			found++
		}
		if found == 0 {
			if hasWildcard(clean) {
				// BuildKit copies with AllowEmptyWildcard: a pattern
				// matching nothing adds nothing (testEmptyWildcard).
				x.n.log.Debug("COPY: no source files match", "pattern", s, "in", where)
				continue
			}
			hint := ""
			if isCtx && pm != nil && ignored(pm, strings.TrimPrefix(clean, "/")) {
				hint = " (it is excluded by .dockerignore)"
			}
			return nil, fmt.Errorf("%s not found in %s%s", s, where, hint)
		}
	}
	for _, f := range cp.Inline {
		p := filepath.Join(tmp, "inline", f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(f.Data), f.Mode.Perm()); err != nil {
			return nil, err
		}
		if err := os.Chmod(p, f.Mode.Perm()); err != nil {
			return nil, err
		}
		out = append(out, copySource{host: p, name: f.Name, rel: f.Name, resetOwner: true})
	}
	return out, nil
}

// parentsSources expands a COPY --parents source as BuildKit's
// dockerfile2llb does: "ROOT/./PATTERN" copies from ROOT (which may hold
// wildcards, each match a root) what PATTERN matches, keeping the path
// below ROOT; without the ./ pivot ROOT is / and the whole path is kept.
// PATTERN is matched as an include pattern (moby/patternmatcher, ** too):
// a matched directory is copied whole, and the directories leading to a
// match are made with their source's metadata. A path without wildcards
// must exist; a pattern matching nothing adds nothing (testCopyParents,
// testCopyRelativeParents).
func parentsSources(ctx context.Context, s, root string, pm *patternmatcher.PatternMatcher, isCtx, unpack bool, where string) ([]copySource, error) {
	rootPart, pattern, ok := strings.Cut(filepath.ToSlash(s), "/./")
	if !ok {
		rootPart, pattern = "/", s
	}
	rootPart = path.Clean("/" + rootPart)
	pattern = strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(pattern)), "/")
	if pattern == "" {
		pattern = "."
	}
	inc, err := patternmatcher.New([]string{pattern})
	if err != nil {
		return nil, fmt.Errorf("COPY --parents %s: %w", s, err)
	}
	roots := []string{rootPart}
	if hasWildcard(rootPart) {
		if roots, err = globAll(root, rootPart); err != nil {
			return nil, err
		}
	}
	// Only the directories on the literal part of the pattern are walked
	// when it has one.
	var literal []string
	for _, c := range strings.Split(pattern, "/") {
		if hasWildcard(c) {
			break
		}
		literal = append(literal, c)
	}
	mayHold := func(rel string) bool {
		parts := strings.Split(rel, "/")
		for i := 0; i < len(parts) && i < len(literal); i++ {
			if parts[i] != literal[i] {
				return false
			}
		}
		return true
	}
	var out []copySource
	for _, r := range roots {
		hostRoot, err := securejoin.SecureJoin(root, r)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(hostRoot)
		if err != nil || !fi.IsDir() {
			continue
		}
		rootRel := strings.TrimPrefix(r, "/")
		if pattern == "." {
			out = append(out, copySource{host: hostRoot, name: "", rel: rootRel, resetOwner: isCtx, unpack: unpack, parentRoot: hostRoot})
			continue
		}
		var walk func(dir, rel string, info patternmatcher.MatchInfo) error
		walk = func(dir, rel string, info patternmatcher.MatchInfo) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			names, err := sortedNames(dir)
			if err != nil {
				return nil
			}
			for _, n := range names {
				h := filepath.Join(dir, n)
				r := path.Join(rel, n)
				fi, err := os.Lstat(h)
				if err != nil {
					continue
				}
				ctxRel := path.Join(rootRel, r)
				if isCtx && !ctxSent(pm, h, ctxRel, fi.IsDir()) {
					continue
				}
				m, mi, err := inc.MatchesUsingParentResults(r, info)
				if err != nil {
					return fmt.Errorf("COPY --parents %s: %w", s, err)
				}
				if m {
					out = append(out, copySource{host: h, name: r, rel: ctxRel, resetOwner: isCtx, unpack: unpack, parentRoot: hostRoot, parents: true})
					continue
				}
				if fi.IsDir() && mayHold(r) {
					if err := walk(h, r, mi); err != nil {
						return err
					}
				}
			}
			return nil
		}
		if err := walk(hostRoot, "", patternmatcher.MatchInfo{}); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 && !hasWildcard(s) {
		return nil, fmt.Errorf("%s not found in %s", s, where)
	}
	return out, nil
}

// globAll matches a pattern whose directories hold wildcards.
func globAll(root, pattern string) ([]string, error) {
	var out []string
	parts := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	var walk func(dir string, i int) error
	walk = func(dir string, i int) error {
		if i == len(parts) {
			out = append(out, dir)
			return nil
		}
		host, err := securejoin.SecureJoin(root, dir)
		if err != nil {
			return err
		}
		if !hasWildcard(parts[i]) {
			return walk(path.Join(dir, parts[i]), i+1)
		}
		ents, err := os.ReadDir(host)
		if err != nil {
			return nil
		}
		for _, e := range ents {
			if ok, _ := path.Match(parts[i], e.Name()); ok {
				if err := walk(path.Join(dir, e.Name()), i+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk("/", 0)
}

func describeSource(s plan.Source) string {
	switch s.Kind {
	case plan.SourceStage:
		return "stage " + s.Stage.Name
	case plan.SourceImage:
		return "image " + s.Image
	case plan.SourceContext:
		if s.Context != "" {
			return "the named context " + s.Context
		}
	}
	return "the build context"
}

// copyInto copies the sources of step into the file system fsys.
func (x *executor) copyInto(ctx context.Context, fsys copyFS, step *plan.Step, srcs []copySource, pm *patternmatcher.PatternMatcher) error {
	cp := step.Copy
	owner, err := parseChown(fsys, cp.Chown)
	if err != nil {
		return err
	}
	mode, err := parseChmod(cp.Chmod)
	if err != nil {
		return err
	}
	excl, err := excludeMatcher(cp.Excludes)
	if err != nil {
		return err
	}
	dest := cp.Dest
	destIsDir := strings.HasSuffix(dest, "/")
	dest = path.Clean(dest)
	c := &copier{ctx: ctx, fsys: fsys, owner: owner, mode: mode, excl: excl, pm: pm, epoch: x.epoch}
	// Each source is copied on its own, as BuildKit's file op does with
	// every wildcard match (fsutil's copy): an archive unpacks into dest, a
	// directory's content merges into dest, and a file goes into dest when
	// dest ends in / or is a directory by then, else becomes dest. So
	// several sources into a dest without a trailing / are not refused
	// (testAddArchiveWildcard, testCopyWildcards).
	for _, s := range srcs {
		fi, err := os.Stat(s.host)
		if err != nil {
			return err
		}
		switch {
		case s.unpack && fi.Mode().IsRegular() && isArchive(s.host):
			if err := c.unpack(s, dest); err != nil {
				return err
			}
		case cp.Parents && s.name != "":
			if c.excluded(s, "") {
				continue
			}
			target := path.Join(dest, s.name)
			if err := c.mkParents(s, dest); err != nil {
				return err
			}
			if err := c.copyEntry(s, s.host, target, fi, true); err != nil {
				return err
			}
		case fi.IsDir():
			target := dest
			if err := c.mkdirAll(target); err != nil {
				return err
			}
			if err := c.copyTree(s, s.host, target, true); err != nil {
				return err
			}
		default:
			target := dest
			if destIsDir || c.isDir(dest) {
				target = path.Join(dest, s.name)
			} else if target, err = c.followLink(dest); err != nil {
				return err
			}
			if err := c.mkdirAll(path.Dir(target)); err != nil {
				return err
			}
			if err := c.copyEntry(s, s.host, target, fi, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// mkParents makes dest and the directories of a COPY --parents source
// between dest and the source's name, each like its source directory under
// s.parentRoot (mode, owner, time), as fsutil's createParentDirs.
func (c *copier) mkParents(s copySource, dest string) error {
	if err := c.mkdirAll(dest); err != nil {
		return err
	}
	dir := path.Dir(s.name)
	if dir == "." || dir == "/" {
		return nil
	}
	parts := strings.Split(dir, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		target := path.Join(dest, p)
		if c.isDir(target) {
			continue
		}
		fi, err := os.Lstat(filepath.Join(s.parentRoot, filepath.FromSlash(p)))
		if err != nil {
			return err
		}
		dst, err := c.hostPath(target)
		if err != nil {
			return err
		}
		uid, gid := owner(fi)
		if s.resetOwner {
			uid, gid = 0, 0
		}
		if c.owner != nil {
			uid, gid = c.owner.uid, c.owner.gid
		}
		perm := unixPerm(fi.Mode())
		if c.mode != nil {
			perm = c.mode.apply(perm, true)
		}
		if err := c.fsys.Mkdir(dst, perm); err != nil {
			return err
		}
		if err := c.fsys.Lchown(dst, uid, gid); err != nil {
			return err
		}
		if err := c.fsys.Chmod(dst, perm); err != nil {
			return err
		}
		if err := c.fsys.Lutimes(dst, fi.ModTime()); err != nil {
			return err
		}
	}
	return nil
}

// isDir reports whether p (in the image) is a directory, following links.
func (c *copier) isDir(p string) bool {
	h, err := securejoin.SecureJoinVFS(c.fsys.Root(), p, c.fsys)
	if err != nil {
		return false
	}
	fi, err := c.fsys.Lstat(h)
	return err == nil && fi.IsDir()
}

func excludeMatcher(ex []string) (*patternmatcher.PatternMatcher, error) {
	if len(ex) == 0 {
		return nil, nil
	}
	pm, err := patternmatcher.New(ex)
	if err != nil {
		return nil, fmt.Errorf("--exclude: %w", err)
	}
	return pm, nil
}

// isArchive reports whether the file is a tar archive, compressed or not
// (what ADD unpacks).
func isArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	r, err := openArchive(f, p)
	if err != nil {
		return false
	}
	defer r.Close()
	hdr := make([]byte, 512)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return false
	}
	return string(hdr[257:262]) == "ustar"
}

// sortedNames lists a directory's entries by name.
func sortedNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	sort.Strings(names)
	return names, err
}
