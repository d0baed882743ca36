package engine

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	unix "github.com/manyarch/manyarch/internal/engine/internal/sysx"

	"github.com/manyarch/manyarch/internal/snapshot"
)

// planFS is the COPY fast path: a copyFS over the parent's layer
// directories (overlay lower directories, top first) that writes nothing.
// It records what the copier does as the upper directory an overlay mount
// would have after the same calls, in memory, and writes that upper
// directory's diff as a layer: the same entries, in the same order, with the
// same metadata as WriteDiff of the mounted copy (TestPlanFSMatchesOverlay),
// but without creating, copying and deleting every file on disk, and
// without a mount, so it needs no root either. File contents are read from
// the sources once, while the layer is written.
//
// Overlayfs semantics it follows: the layers merge top down while a path is
// a directory in each, stopped by opaque directories and whiteouts (0/0
// character devices); changing an entry copies it and its missing parents
// up with their metadata, times included; creating or removing an entry
// sets its directory's modification time (to now); removing a lower entry
// leaves a whiteout, and a directory created over one is opaque.
//
// Paths are container paths below the root "/".
type planFS struct {
	lowers []string // top first
	now    time.Time
	root   *pnode
	lower  map[string]*lowerEnt // lower lookups, by container path
}

var _ copyFS = (*planFS)(nil)

// pnode is one entry of the planned upper directory.
type pnode struct {
	typ      byte // tar.TypeDir, TypeReg, TypeSymlink; 0: whiteout
	mode     uint32
	uid, gid int
	mtime    time.Time
	size     int64
	link     string
	src      string // host file holding a regular file's content
	xattrs   map[string]string
	opaque   bool
	merged   bool // a copied-up directory: the lower directory shows through
	lowerHas bool // the lower layers hold this path (removing it leaves a whiteout)
	children map[string]*pnode
}

// lowerEnt is what the lower layers hold at a path.
type lowerEnt struct {
	ok     bool
	host   string // topmost layer's file
	st     unix.Stat_t
	layers []int // for a directory: the layers merged into it, top first
}

func newPlanFS(lowers []string, now time.Time) *planFS {
	return &planFS{
		lowers: lowers,
		now:    now,
		root:   &pnode{typ: tar.TypeDir, merged: true, children: map[string]*pnode{}},
		lower:  map[string]*lowerEnt{},
	}
}

func (f *planFS) Root() string { return "/" }

func clean(p string) string { return path.Clean("/" + filepath.ToSlash(p)) }

func pathErr(op, p string, err error) error { return &fs.PathError{Op: op, Path: p, Err: err} }

// lowerAt looks p up in the lower layers.
func (f *planFS) lowerAt(p string) *lowerEnt {
	if e, ok := f.lower[p]; ok {
		return e
	}
	e := &lowerEnt{}
	if p == "/" {
		e.ok = true
		e.st.Mode = unix.S_IFDIR | 0o755
		for i := range f.lowers {
			e.layers = append(e.layers, i)
		}
		if len(f.lowers) > 0 {
			e.host = f.lowers[0]
			_ = unix.Lstat(e.host, &e.st)
		}
		f.lower[p] = e
		return e
	}
	parent := f.lowerAt(path.Dir(p))
	if parent.ok && parent.st.Mode&unix.S_IFMT == unix.S_IFDIR {
		for k, i := range parent.layers {
			host := filepath.Join(f.lowers[i], p)
			var st unix.Stat_t
			if err := unix.Lstat(host, &st); err != nil {
				continue
			}
			if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
				break // whiteout
			}
			e.ok, e.host, e.st = true, host, st
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				break
			}
			e.layers = append(e.layers, i)
			if isOpaque(host) {
				break
			}
			for _, j := range parent.layers[k+1:] {
				h := filepath.Join(f.lowers[j], p)
				var s unix.Stat_t
				if err := unix.Lstat(h, &s); err != nil {
					continue
				}
				if s.Mode&unix.S_IFMT != unix.S_IFDIR {
					break // a whiteout or a file ends the merge
				}
				e.layers = append(e.layers, j)
				if isOpaque(h) {
					break
				}
			}
			break
		}
	}
	f.lower[p] = e
	return e
}

func isOpaque(dir string) bool {
	buf := make([]byte, 1)
	for _, name := range []string{"user.overlay.opaque", "trusted.overlay.opaque"} {
		if n, err := unix.Lgetxattr(dir, name, buf); err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// find returns the upper node at p, or nil, and whether the lower layers
// can show at p (no upper entry on the way hides them).
func (f *planFS) find(p string) (n *pnode, lowerVisible bool) {
	n, lowerVisible = f.root, true
	if p == "/" {
		return n, true
	}
	for _, name := range strings.Split(p[1:], "/") {
		if n.typ != tar.TypeDir {
			return nil, false
		}
		if !n.merged {
			lowerVisible = false
		}
		c := n.children[name]
		switch {
		case c == nil:
			return nil, lowerVisible // the rest is in the lower layers, if anywhere
		case c.typ == 0:
			return c, false
		}
		n = c
	}
	return n, lowerVisible && (n.typ != tar.TypeDir || n.merged)
}

// stat describes p as the merged view shows it.
type planStat struct {
	name  string
	node  *pnode
	lower *lowerEnt
}

func (s planStat) Name() string { return s.name }
func (s planStat) Size() int64 {
	if s.node != nil {
		return s.node.size
	}
	return s.lower.st.Size
}

func (s planStat) Mode() fs.FileMode {
	if s.node != nil {
		m := fs.FileMode(s.node.mode & 0o777)
		switch s.node.typ {
		case tar.TypeDir:
			m |= fs.ModeDir
		case tar.TypeSymlink:
			m |= fs.ModeSymlink
		}
		return m
	}
	return unixMode(uint32(s.lower.st.Mode)) //nolint:unconvert // uint16 on darwin
}

func (s planStat) ModTime() time.Time {
	if s.node != nil {
		return s.node.mtime
	}
	return time.Unix(s.lower.st.Mtim.Unix())
}
func (s planStat) IsDir() bool { return s.Mode().IsDir() }
func (s planStat) Sys() any {
	if s.node != nil {
		return &unix.SysStat{Uid: uint32(s.node.uid), Gid: uint32(s.node.gid), Size: s.node.size}
	}
	st := s.lower.st
	return &unix.SysStat{Uid: st.Uid, Gid: st.Gid, Size: st.Size}
}

func unixMode(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		fm |= fs.ModeDir
	case unix.S_IFLNK:
		fm |= fs.ModeSymlink
	case unix.S_IFREG:
	case unix.S_IFCHR:
		fm |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		fm |= fs.ModeDevice
	case unix.S_IFIFO:
		fm |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		fm |= fs.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		fm |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		fm |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

func (f *planFS) Lstat(p string) (fs.FileInfo, error) {
	p = clean(p)
	n, lv := f.find(p)
	if n != nil && n.typ != 0 {
		return planStat{name: path.Base(p), node: n}, nil
	}
	if n == nil && lv {
		if e := f.lowerAt(p); e.ok {
			return planStat{name: path.Base(p), lower: e}, nil
		}
	}
	return nil, pathErr("lstat", p, fs.ErrNotExist)
}

func (f *planFS) Readlink(p string) (string, error) {
	p = clean(p)
	fi, err := f.Lstat(p)
	if err != nil {
		return "", err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return "", pathErr("readlink", p, syscall.EINVAL)
	}
	if s := fi.(planStat); s.node != nil {
		return s.node.link, nil
	}
	return os.Readlink(fi.(planStat).lower.host)
}

func (f *planFS) Open(p string) (io.ReadCloser, error) {
	p = clean(p)
	fi, err := f.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, pathErr("open", p, syscall.EINVAL)
	}
	if s := fi.(planStat); s.node != nil {
		return os.Open(s.node.src)
	}
	return os.Open(fi.(planStat).lower.host)
}

// up returns the upper node of p, copying it and its parents up from the
// lower layers as overlayfs does (metadata and times kept).
func (f *planFS) up(p string) (*pnode, error) {
	if p == "/" {
		return f.root, nil
	}
	parent, err := f.up(path.Dir(p))
	if err != nil {
		return nil, err
	}
	if parent.typ != tar.TypeDir {
		return nil, pathErr("open", p, syscall.ENOTDIR)
	}
	name := path.Base(p)
	if n := parent.children[name]; n != nil {
		if n.typ == 0 {
			return nil, pathErr("open", p, fs.ErrNotExist)
		}
		return n, nil
	}
	if !parent.merged {
		return nil, pathErr("open", p, fs.ErrNotExist)
	}
	e := f.lowerAt(p)
	if !e.ok {
		return nil, pathErr("open", p, fs.ErrNotExist)
	}
	n := &pnode{
		mode:     uint32(e.st.Mode) & 0o7777, //nolint:unconvert // uint16 on darwin
		uid:      int(e.st.Uid),
		gid:      int(e.st.Gid),
		mtime:    time.Unix(e.st.Mtim.Unix()),
		lowerHas: true,
	}
	switch e.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		n.typ, n.merged, n.children = tar.TypeDir, true, map[string]*pnode{}
		// overlayfs keeps an opaque directory opaque when it copies it up.
		n.opaque = isOpaque(e.host)
	case unix.S_IFREG:
		n.typ, n.size, n.src = tar.TypeReg, e.st.Size, e.host
	case unix.S_IFLNK:
		n.typ = tar.TypeSymlink
		if n.link, err = os.Readlink(e.host); err != nil {
			return nil, err
		}
	default:
		// Devices and fifos are never changed by a copy.
		return nil, pathErr("open", p, syscall.EPERM)
	}
	if n.xattrs, err = snapshot.LayerXattrs(e.host); err != nil {
		return nil, err
	}
	parent.children[name] = n
	return n, nil
}

// create adds a new entry at p, which must not exist.
func (f *planFS) create(op, p string, n *pnode) error {
	p = clean(p)
	if p == "/" {
		return pathErr(op, p, fs.ErrExist)
	}
	if _, err := f.Lstat(p); err == nil {
		return pathErr(op, p, fs.ErrExist)
	}
	parent, err := f.up(path.Dir(p))
	if err != nil {
		return err
	}
	if parent.typ != tar.TypeDir {
		return pathErr(op, p, syscall.ENOTDIR)
	}
	name := path.Base(p)
	if old := parent.children[name]; old != nil && old.typ == 0 {
		// Over a whiteout: the lower entry stays hidden.
		n.lowerHas = true
		n.opaque = n.typ == tar.TypeDir
	}
	parent.children[name] = n
	parent.mtime = f.now
	return nil
}

func (f *planFS) Mkdir(p string, perm uint32) error {
	return f.create("mkdir", p, &pnode{typ: tar.TypeDir, mode: perm, mtime: f.now, children: map[string]*pnode{}})
}

func (f *planFS) Symlink(target, p string) error {
	return f.create("symlink", p, &pnode{typ: tar.TypeSymlink, mode: 0o777, link: target, mtime: f.now})
}

func (f *planFS) CopyFile(src, dst string) error {
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil {
		return pathErr("open", src, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return pathErr("copy", src, syscall.EINVAL)
	}
	return f.create("open", dst, &pnode{typ: tar.TypeReg, mode: 0o600, size: st.Size, src: src, mtime: f.now})
}

func (f *planFS) remove(op, p string, all bool) error {
	p = clean(p)
	fi, err := f.Lstat(p)
	if err != nil {
		return pathErr(op, p, fs.ErrNotExist)
	}
	if fi.IsDir() && !all && f.dirHasEntries(p) {
		return pathErr(op, p, syscall.ENOTEMPTY)
	}
	parent, err := f.up(path.Dir(p))
	if err != nil {
		return err
	}
	name := path.Base(p)
	n := parent.children[name]
	lowerHas := n == nil || n.lowerHas
	if lowerHas {
		parent.children[name] = &pnode{lowerHas: true}
	} else {
		delete(parent.children, name)
	}
	parent.mtime = f.now
	return nil
}

// dirHasEntries reports whether the merged directory p holds anything.
func (f *planFS) dirHasEntries(p string) bool {
	n, lv := f.find(p)
	if n != nil {
		for _, c := range n.children {
			if c.typ != 0 {
				return true
			}
		}
	}
	if !lv {
		return false
	}
	e := f.lowerAt(p)
	for _, i := range e.layers {
		names, _ := sortedNames(filepath.Join(f.lowers[i], p))
		for _, name := range names {
			if n != nil && n.children[name] != nil {
				continue // whited out or counted above
			}
			if _, err := f.Lstat(path.Join(p, name)); err == nil {
				return true
			}
		}
	}
	return false
}

func (f *planFS) Remove(p string) error    { return f.remove("remove", p, false) }
func (f *planFS) RemoveAll(p string) error { return f.remove("removeall", p, true) }

func (f *planFS) Lchown(p string, uid, gid int) error {
	n, err := f.up(clean(p))
	if err != nil {
		return err
	}
	n.uid, n.gid = uid, gid
	return nil
}

func (f *planFS) Chmod(p string, perm uint32) error {
	n, err := f.up(clean(p))
	if err != nil {
		return err
	}
	if n.typ == tar.TypeSymlink {
		return pathErr("chmod", p, syscall.EINVAL) // the copier never follows one
	}
	n.mode = perm & 0o7777
	return nil
}

func (f *planFS) Lutimes(p string, t time.Time) error {
	n, err := f.up(clean(p))
	if err != nil {
		return err
	}
	n.mtime = t
	return nil
}

// walk calls fn for every upper entry in WriteDiff's order: depth first,
// names in byte order.
func (f *planFS) walk(fn func(rel string, n *pnode) error) error {
	var rec func(rel string, n *pnode) error
	rec = func(rel string, n *pnode) error {
		names := make([]string, 0, len(n.children))
		for name := range n.children {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			c := n.children[name]
			r := name
			if rel != "" {
				r = rel + "/" + name
			}
			if err := fn(r, c); err != nil {
				return err
			}
			if c.typ == tar.TypeDir {
				if err := rec(r, c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return rec("", f.root)
}

func (n *pnode) header(rel string) *tar.Header {
	hdr := &tar.Header{
		Typeflag: n.typ,
		Name:     rel,
		Mode:     int64(n.mode & 0o7777),
		Uid:      n.uid,
		Gid:      n.gid,
		ModTime:  time.Unix(n.mtime.Unix(), 0),
		Linkname: n.link,
	}
	if n.typ == tar.TypeReg {
		hdr.Size = n.size
	}
	for k, v := range n.xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+k] = v
	}
	return hdr
}

// identity is a digest of the planned layer: equal identities give equal
// layer bytes, so platforms whose plans agree share one layer. A file's
// content is named by its host file and that file's identity (device,
// inode, size, change time), not read.
func (f *planFS) identity() (string, error) {
	h := sha256.New()
	err := f.walk(func(rel string, n *pnode) error {
		fmt.Fprintf(h, "%q %d %o %d %d %d %d %q %t", rel, n.typ, n.mode, n.uid, n.gid, n.mtime.Unix(), n.size, n.link, n.opaque)
		keys := make([]string, 0, len(n.xattrs))
		for k := range n.xattrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(h, " %q=%q", k, n.xattrs[k])
		}
		if n.typ == tar.TypeReg {
			var st unix.Stat_t
			if err := unix.Stat(n.src, &st); err != nil {
				return err
			}
			fmt.Fprintf(h, " %q %d %d %d %d.%d", n.src, st.Dev, st.Ino, st.Size, st.Ctim.Sec, st.Ctim.Nsec)
		}
		fmt.Fprintln(h)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// writeTar writes the planned upper directory as a layer.
func (f *planFS) writeTar(ctx context.Context, w io.Writer, opts snapshot.TarOptions) error {
	ew := snapshot.NewEntryWriter(w, opts)
	err := f.walk(func(rel string, n *pnode) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if n.typ == 0 {
			return ew.Whiteout(rel)
		}
		if err := ew.Entry(n.header(rel), n.src); err != nil {
			return err
		}
		if n.opaque {
			return ew.Opaque(rel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return ew.Close()
}
