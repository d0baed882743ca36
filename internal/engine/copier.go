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
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/patternmatcher"

	unix "github.com/manyarch/manyarch/internal/engine/internal/sysx"
	"github.com/manyarch/manyarch/internal/plan"

	"github.com/manyarch/manyarch/internal/progress"
	"github.com/manyarch/manyarch/internal/snapshot"
)

// copier copies sources into a root file system, resolving every
// destination path inside that root (symlinks included) as BuildKit does.
type copier struct {
	ctx   context.Context
	fsys  copyFS
	owner *chown
	mode  *modeChange
	excl  *patternmatcher.PatternMatcher // --exclude
	pm    *patternmatcher.PatternMatcher // .dockerignore (context sources)
	epoch *time.Time
}

// hostPath resolves a container path's parent inside the root and appends
// the last component unresolved (it is created or replaced, not followed).
func (c *copier) hostPath(p string) (string, error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return c.fsys.Root(), nil
	}
	dir, err := securejoin.SecureJoinVFS(c.fsys.Root(), path.Dir(p), c.fsys)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, path.Base(p)), nil
}

// excluded reports whether --exclude leaves out the entry rel (slash
// separated, relative to source s; "" is s itself). With --parents the
// patterns match the path below the source's pivot, as BuildKit's copy
// from the pivot with include patterns does; else the path below the
// source, and a source itself is never excluded (fsutil matches its
// components, none at the top).
func (c *copier) excluded(s copySource, rel string) bool {
	if c.excl == nil {
		return false
	}
	if s.parents {
		rel = path.Join(s.name, rel)
	}
	if rel == "" {
		return false
	}
	ok, _ := c.excl.MatchesOrParentMatches(rel)
	return ok
}

// followLink returns where a file copied to the image path p goes: p, or,
// when p is a symbolic link, what it points to, resolved inside the image's
// root (dangling or not), as BuildKit resolves a COPY destination with
// fs.RootPath before it copies: `COPY f /usr/bin/env`, with env a link to
// /bin/busybox, replaces /bin/busybox.
func (c *copier) followLink(p string) (string, error) {
	h, err := c.hostPath(p)
	if err != nil {
		return "", err
	}
	fi, err := c.fsys.Lstat(h)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return p, nil
	}
	r, err := securejoin.SecureJoinVFS(c.fsys.Root(), p, c.fsys)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(c.fsys.Root(), r)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("cannot copy to %s: its link leaves the image's root", p)
	}
	return path.Clean("/" + filepath.ToSlash(rel)), nil
}

// mkdirAll creates the directories of p that are missing, mode 0755 (or an
// octal --chmod's permission bits), owned by the --chown owner (else root).
// A symbolic link on the way is followed inside the image's root, and a
// dangling one gets its target created, as BuildKit's MkdirAll over
// fs.RootPath does (testSymlinkDestination).
func (c *copier) mkdirAll(p string) error {
	// BuildKit (fsutil's MkdirAll) makes the directories a copy creates
	// with an octal --chmod's permission bits, else 0755 (testCopyChmod).
	perm := uint32(0o755)
	if c.mode != nil && c.mode.octal != nil {
		perm = uint32(*c.mode.octal) & 0o777
	}
	return c.mkdirAllDepth(p, perm, 0)
}

func (c *copier) mkdirAllDepth(p string, perm uint32, depth int) error {
	p = path.Clean("/" + p)
	if p == "/" {
		return nil
	}
	if depth > 255 {
		return fmt.Errorf("cannot copy to %s: too many levels of symbolic links in the image", p)
	}
	if err := c.mkdirAllDepth(path.Dir(p), perm, depth+1); err != nil {
		return err
	}
	h, err := securejoin.SecureJoinVFS(c.fsys.Root(), p, c.fsys)
	if err != nil {
		return err
	}
	fi, err := c.fsys.Lstat(h)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("cannot copy to %s: %s is not a directory in the image", p, p)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if r, err := filepath.Rel(c.fsys.Root(), h); err == nil && !strings.HasPrefix(r, "..") {
		// p led through a link to r: make r's parents first.
		if r = path.Clean("/" + filepath.ToSlash(r)); r != p {
			if err := c.mkdirAllDepth(path.Dir(r), perm, depth+1); err != nil {
				return err
			}
		}
	}
	if err := c.fsys.Mkdir(h, perm); err != nil {
		return err
	}
	uid, gid := 0, 0
	if c.owner != nil {
		uid, gid = c.owner.uid, c.owner.gid
	}
	return c.fsys.Lchown(h, uid, gid)
}

// copyTree copies the contents of the directory src into the container
// directory target.
func (c *copier) copyTree(s copySource, src, target string, _ bool) error {
	names, err := sortedNames(src)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		hp := filepath.Join(src, n)
		rel, _ := filepath.Rel(s.host, hp)
		rel = filepath.ToSlash(rel)
		if c.excluded(s, rel) {
			continue
		}
		fi, err := os.Lstat(hp)
		if err != nil {
			return err
		}
		if s.resetOwner && c.pm != nil && !ctxSent(c.pm, hp, path.Join(s.rel, rel), fi.IsDir()) {
			continue
		}
		if err := c.copyEntry(s, hp, path.Join(target, n), fi, false); err != nil {
			return err
		}
	}
	return nil
}

// copyEntry copies one entry (and, for a directory, what it holds).
func (c *copier) copyEntry(s copySource, src, target string, fi fs.FileInfo, top bool) error {
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
	if s.url {
		perm = 0o600
	}
	if c.mode != nil && fi.Mode()&fs.ModeSymlink == 0 {
		perm = c.mode.apply(perm, fi.IsDir())
	}
	mtime := fi.ModTime()
	if s.url {
		mtime = s.modTime
	}
	existing, lerr := c.fsys.Lstat(dst)
	switch {
	case fi.IsDir():
		if lerr == nil && !existing.IsDir() {
			if err := c.fsys.Remove(dst); err != nil {
				return err
			}
			lerr = fs.ErrNotExist
		}
		if lerr != nil {
			if err := c.fsys.Mkdir(dst, 0o700); err != nil {
				return err
			}
		}
		if err := c.copyTree(s, src, target, false); err != nil {
			return err
		}
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if lerr == nil {
			if err := c.removeForReplace(dst, existing); err != nil {
				return err
			}
		}
		if err := c.fsys.Symlink(link, dst); err != nil {
			return err
		}
		if err := c.fsys.Lchown(dst, uid, gid); err != nil {
			return err
		}
		return c.fsys.Lutimes(dst, mtime)
	case fi.Mode().IsRegular():
		if lerr == nil {
			if existing.IsDir() {
				return fmt.Errorf("cannot copy file %s over the directory %s", s.rel, target)
			}
			if err := c.removeForReplace(dst, existing); err != nil {
				return err
			}
		}
		if err := c.fsys.CopyFile(src, dst); err != nil {
			return err
		}
	default:
		return nil // devices, fifos and sockets are not copied
	}
	if err := c.fsys.Lchown(dst, uid, gid); err != nil {
		return err
	}
	if err := c.fsys.Chmod(dst, perm); err != nil {
		return err
	}
	return c.fsys.Lutimes(dst, mtime)
}

func (c *copier) removeForReplace(dst string, fi fs.FileInfo) error {
	if fi.IsDir() {
		return c.fsys.RemoveAll(dst)
	}
	return c.fsys.Remove(dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// unpack extracts a local archive (ADD) into the directory dest.
func (c *copier) unpack(s copySource, dest string) error {
	hfs, ok := c.fsys.(hostFS)
	if !ok {
		return fmt.Errorf("ADD %s: unpacking needs the mounted root (internal error: planned layer)", s.rel)
	}
	// BuildKit's unpack makes dest 0755 whatever --chmod says, owned by
	// --chown, and gives every unpacked entry the --chown owner
	// (testDockerfileAddChownArchive).
	if err := c.mkdirAllDepth(dest, 0o755, 0); err != nil {
		return err
	}
	h, err := securejoin.SecureJoin(hfs.root, dest)
	if err != nil {
		return err
	}
	f, err := os.Open(s.host)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := openArchive(f, s.rel)
	if err != nil {
		return fmt.Errorf("ADD %s: %w", s.rel, err)
	}
	defer r.Close()
	opts := snapshot.ExtractOptions{Name: s.rel}
	if c.owner != nil {
		uid, gid := c.owner.uid, c.owner.gid
		opts.MapID = func(int, int) (int, int, error) { return uid, gid, nil }
	}
	if _, err := snapshot.Extract(c.ctx, r, h, opts); err != nil {
		return fmt.Errorf("ADD %s: unpacking: %w", s.rel, err)
	}
	return nil
}

func lchown(p string, uid, gid int) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return os.Lchown(p, uid, gid)
}

// unixPerm converts the permission and special bits of m to unix bits.
func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

func owner(fi fs.FileInfo) (int, int) {
	if st, ok := fi.Sys().(*unix.SysStat); ok {
		return int(st.Uid), int(st.Gid)
	}
	return 0, 0
}

func sameOwner(a, b fs.FileInfo) bool {
	au, ag := owner(a)
	bu, bg := owner(b)
	return au == bu && ag == bg
}

func getxattr(p, name string, buf []byte) (int, error) {
	return unix.Lgetxattr(p, name, buf)
}

// copyPath copies a file or tree (for read-write bind mounts, whose writes
// are thrown away).
func copyPath(ctx context.Context, src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		if err := copyFile(src, dst); err != nil {
			return err
		}
		return os.Chmod(dst, fi.Mode().Perm())
	}
	if err := os.Mkdir(dst, fi.Mode().Perm()); err != nil {
		return err
	}
	return snapshot.CopyRoot(ctx, []string{src}, dst)
}

// runWorkdir creates the WORKDIR directory (owned by USER when set) in a
// layer of its own, as BuildKit does.
func (x *executor) runWorkdir(ctx context.Context, sr *stageRun, img *imageState, step *plan.Step, _ progress.Event, start *time.Time) (l v1.Layer, cached bool, err error) {
	key := x.cacheKey(sr, step)
	sr.key = key
	if l, ok := x.cacheGet(ctx, sr.stage, key); ok {
		return l, true, nil
	}
	release, err := x.acquire(ctx, 1)
	if err != nil {
		return nil, false, err
	}
	defer release()
	*start = time.Now()
	lowers, err := x.lowers(ctx, img.layers)
	if err != nil {
		return nil, false, err
	}
	pf := newPlanFS(lowers, x.now)
	c := &copier{ctx: ctx, fsys: pf}
	if step.User != "" {
		u := step.User
		if c.owner, err = parseChown(pf, u); err != nil {
			return nil, false, fmt.Errorf("WORKDIR %s as USER %s: %w", step.Workdir.Path, u, err)
		}
	}
	if err := c.mkdirAll(step.Workdir.Path); err != nil {
		return nil, false, err
	}
	if l, err = x.planLayer(ctx, pf); err != nil {
		return nil, false, err
	}
	x.cachePut(ctx, key, l)
	return l, false, nil
}
