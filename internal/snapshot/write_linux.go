package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// WriteTar writes the tree below dir to w as a deterministic layer tar (see
// the package documentation for the exact form; dir itself is not an entry).
// Sockets, which tar cannot carry, are left out. A file that changes size
// while it is written is an error. The caller closes w; WriteTar writes the
// tar's end-of-archive trailer.
func WriteTar(ctx context.Context, w io.Writer, dir string, opts TarOptions) error {
	lw := newLayerWriter(w, dir, opts)
	if err := lw.tree(ctx, dir, ""); err != nil {
		return fmt.Errorf("writing tar of %s: %w", dir, err)
	}
	if err := lw.tw.Close(); err != nil {
		return fmt.Errorf("writing tar of %s: %w", dir, err)
	}
	return nil
}

// WriteDiff writes the overlayfs upper directory upper to w as an OCI layer:
// whiteout devices (0/0 character devices, or files marked with the
// overlay.whiteout xattr) become ".wh.NAME" entries and opaque directories
// (trusted.overlay.opaque or, for userxattr mounts, user.overlay.opaque) get
// a ".wh..wh..opq" entry right after them. Everything else is written as
// WriteTar writes it. The overlay must have been mounted with redirect_dir
// and metacopy off (Mount does so); an upper directory using either is
// refused, as its diff would be incomplete.
func WriteDiff(ctx context.Context, w io.Writer, upper string, opts TarOptions) error {
	lw := newLayerWriter(w, upper, opts)
	lw.overlay = true
	if err := lw.tree(ctx, upper, ""); err != nil {
		return fmt.Errorf("writing diff of %s: %w", upper, err)
	}
	if err := lw.tw.Close(); err != nil {
		return fmt.Errorf("writing diff of %s: %w", upper, err)
	}
	return nil
}

// Diff writes to w the layer that turns tree lower into tree upper, found by
// comparing the two trees: names only in lower become whiteouts, names only
// in upper are added with everything below them, and names in both are
// written when their type, mode, owner, size, modification time, link
// target, device number or xattrs differ (contents are not compared). It is
// the fallback of WriteDiff where overlayfs is unavailable.
func Diff(ctx context.Context, w io.Writer, lower, upper string, opts TarOptions) error {
	lw := newLayerWriter(w, upper, opts)
	if err := lw.diff(ctx, lower, upper, ""); err != nil {
		return fmt.Errorf("comparing %s with %s: %w", upper, lower, err)
	}
	if err := lw.tw.Close(); err != nil {
		return fmt.Errorf("comparing %s with %s: %w", upper, lower, err)
	}
	return nil
}

type devIno struct{ dev, ino uint64 }

type layerWriter struct {
	tw      *tar.Writer
	root    string
	opts    TarOptions
	overlay bool
	links   map[devIno]string

	// parents are the unchanged directories Diff is inside; they are written
	// before the first change below them, so that applying the diff, which
	// changes them, restores their metadata (as containerd's diffs do).
	parents  []parentDir
	flushing bool
}

type parentDir struct {
	full, rel string
	st        unix.Stat_t
	written   bool
}

func (lw *layerWriter) flushParents() error {
	if lw.flushing {
		return nil
	}
	lw.flushing = true
	defer func() { lw.flushing = false }()
	for i := range lw.parents {
		p := &lw.parents[i]
		if p.written {
			continue
		}
		p.written = true
		if _, err := lw.entry(p.full, p.rel, &p.st); err != nil {
			return err
		}
	}
	return nil
}

func newLayerWriter(w io.Writer, root string, opts TarOptions) *layerWriter {
	return &layerWriter{tw: tar.NewWriter(w), root: root, opts: opts, links: make(map[devIno]string)}
}

// readNames returns the names in directory dir, sorted byte-wise.
func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// tree writes every entry below full (whose relative name is rel).
func (lw *layerWriter) tree(ctx context.Context, full, rel string) error {
	names, err := readNames(full)
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", full, err)
	}
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, r := filepath.Join(full, n), joinPath(rel, n)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("inspecting %s: %w", p, err)
		}
		isDir, err := lw.entry(p, r, &st)
		if err != nil {
			return err
		}
		if isDir {
			if err := lw.tree(ctx, p, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// entry writes one entry and reports whether it is a directory to descend.
func (lw *layerWriter) entry(full, rel string, st *unix.Stat_t) (bool, error) {
	xattrs, err := readXattrs(full)
	if err != nil {
		return false, err
	}
	if lw.overlay {
		if isWhiteout(st, xattrs) {
			return false, lw.header(whiteoutHeader(rel, &lw.opts), nil)
		}
		if xattrs["trusted.overlay.redirect"] != "" || xattrs["user.overlay.redirect"] != "" {
			return false, fmt.Errorf("%s was renamed with overlayfs redirect_dir on; mount with redirect_dir=off to take a diff", full)
		}
		if _, ok := xattrs["trusted.overlay.metacopy"]; ok {
			return false, fmt.Errorf("%s is an overlayfs metacopy without data; mount with metacopy=off to take a diff", full)
		}
		if _, ok := xattrs["user.overlay.metacopy"]; ok {
			return false, fmt.Errorf("%s is an overlayfs metacopy without data; mount with metacopy=off to take a diff", full)
		}
	}
	hdr, err := lw.headerOf(full, rel, st, xattrs)
	if err != nil || hdr == nil {
		return false, err
	}
	if err := lw.header(hdr, func() error { return lw.content(full, hdr.Size) }); err != nil {
		return false, err
	}
	isDir := hdr.Typeflag == tar.TypeDir
	if isDir && lw.overlay && (xattrs["trusted.overlay.opaque"] == "y" || xattrs["user.overlay.opaque"] == "y") {
		if err := lw.header(opaqueHeader(rel, &lw.opts), nil); err != nil {
			return false, err
		}
	}
	return isDir, nil
}

func isWhiteout(st *unix.Stat_t, xattrs map[string]string) bool {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		return st.Rdev == 0
	case unix.S_IFREG:
		if st.Size != 0 {
			return false
		}
		_, t := xattrs["trusted.overlay.whiteout"]
		_, u := xattrs["user.overlay.whiteout"]
		return t || u
	}
	return false
}

// headerOf builds the header of a file; nil means the file is left out.
func (lw *layerWriter) headerOf(full, rel string, st *unix.Stat_t, xattrs map[string]string) (*tar.Header, error) {
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(int64(st.Mtim.Sec), 0), //nolint:unconvert // int32 on 32-bit
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		if st.Nlink > 1 {
			key := devIno{uint64(st.Dev), uint64(st.Ino)}
			if first, ok := lw.links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				lw.links[key] = rel
			}
		}
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		target, err := os.Readlink(full)
		if err != nil {
			return nil, fmt.Errorf("reading symlink %s: %w", full, err)
		}
		hdr.Linkname = target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor = int64(unix.Major(uint64(st.Rdev)))
		hdr.Devminor = int64(unix.Minor(uint64(st.Rdev)))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, nil // sockets
	}
	for k, v := range xattrs {
		if internalXattr(k) {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = make(map[string]string)
		}
		hdr.PAXRecords[xattrPAXPrefix+k] = v
	}
	return hdr, nil
}

// header normalizes and writes hdr, then its content.
func (lw *layerWriter) header(hdr *tar.Header, content func() error) error {
	if err := lw.flushParents(); err != nil {
		return err
	}
	normalizeHeader(hdr, &lw.opts)
	name := hdr.Name
	if hdr.Typeflag == tar.TypeDir {
		hdr.Name += "/"
	}
	if err := lw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing header of %s: %w", name, err)
	}
	if content != nil && hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		if err := content(); err != nil {
			return err
		}
	}
	return nil
}

func (lw *layerWriter) content(full string, size int64) error {
	f, err := os.OpenFile(full, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", full, err)
	}
	defer f.Close()
	n, err := copyN(lw.tw, f, size)
	if err != nil {
		return fmt.Errorf("reading %s: %w", full, err)
	}
	if n != size {
		return fmt.Errorf("reading %s: the file shrank from %d to %d bytes while being written; do not change the tree during a snapshot", full, size, n)
	}
	return nil
}

// readXattrs returns the extended attributes of path (not following a
// symlink). File systems without xattr support give none.
func readXattrs(path string) (map[string]string, error) {
	var buf [1024]byte
	dest := buf[:]
	sz, err := unix.Llistxattr(path, dest)
	for err == unix.ERANGE {
		sz, err = unix.Llistxattr(path, nil)
		if err == nil {
			dest = make([]byte, sz)
			sz, err = unix.Llistxattr(path, dest)
		}
	}
	if err == unix.ENOTSUP || err == unix.EOPNOTSUPP {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing xattrs of %s: %w", path, err)
	}
	if sz == 0 {
		return nil, nil
	}
	m := make(map[string]string)
	for _, name := range bytes.Split(dest[:sz], []byte{0}) {
		if len(name) == 0 {
			continue
		}
		v, err := getXattr(path, string(name))
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading xattr %s of %s: %w", name, path, err)
		}
		m[string(name)] = v
	}
	return m, nil
}

func getXattr(path, name string) (string, error) {
	var buf [256]byte
	dest := buf[:]
	for {
		sz, err := unix.Lgetxattr(path, name, dest)
		if err == nil {
			return string(dest[:sz]), nil
		}
		if err != unix.ERANGE {
			return "", err
		}
		sz, err = unix.Lgetxattr(path, name, nil)
		if err != nil {
			return "", err
		}
		dest = make([]byte, sz)
	}
}

// diff compares directory lower (may be "" for none) with upper.
func (lw *layerWriter) diff(ctx context.Context, lower, upper, rel string) error {
	var lnames []string
	if lower != "" {
		var err error
		if lnames, err = readNames(lower); err != nil {
			return fmt.Errorf("reading directory %s: %w", lower, err)
		}
	}
	unames, err := readNames(upper)
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", upper, err)
	}
	i, j := 0, 0
	for i < len(lnames) || j < len(unames) {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case j >= len(unames) || (i < len(lnames) && lnames[i] < unames[j]):
			if err := lw.header(whiteoutHeader(joinPath(rel, lnames[i]), &lw.opts), nil); err != nil {
				return err
			}
			i++
		case i >= len(lnames) || unames[j] < lnames[i]:
			if err := lw.added(ctx, filepath.Join(upper, unames[j]), joinPath(rel, unames[j])); err != nil {
				return err
			}
			j++
		default:
			n := unames[j]
			if err := lw.changed(ctx, filepath.Join(lower, n), filepath.Join(upper, n), joinPath(rel, n)); err != nil {
				return err
			}
			i++
			j++
		}
	}
	return nil
}

// added writes an entry that is new in upper, and everything below it.
func (lw *layerWriter) added(ctx context.Context, full, rel string) error {
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return fmt.Errorf("inspecting %s: %w", full, err)
	}
	isDir, err := lw.entry(full, rel, &st)
	if err != nil || !isDir {
		return err
	}
	return lw.tree(ctx, full, rel)
}

func (lw *layerWriter) changed(ctx context.Context, lfull, ufull, rel string) error {
	var lst, ust unix.Stat_t
	if err := unix.Lstat(lfull, &lst); err != nil {
		return fmt.Errorf("inspecting %s: %w", lfull, err)
	}
	if err := unix.Lstat(ufull, &ust); err != nil {
		return fmt.Errorf("inspecting %s: %w", ufull, err)
	}
	ltype, utype := lst.Mode&unix.S_IFMT, ust.Mode&unix.S_IFMT
	if utype == unix.S_IFDIR && ltype != unix.S_IFDIR {
		return lw.added(ctx, ufull, rel)
	}
	same, err := sameMeta(lfull, ufull, &lst, &ust)
	if err != nil {
		return err
	}
	if utype != unix.S_IFDIR {
		if same {
			return nil
		}
		_, err := lw.entry(ufull, rel, &ust)
		return err
	}
	if !same {
		if _, err := lw.entry(ufull, rel, &ust); err != nil {
			return err
		}
		return lw.diff(ctx, lfull, ufull, rel)
	}
	lw.parents = append(lw.parents, parentDir{full: ufull, rel: rel, st: ust})
	err = lw.diff(ctx, lfull, ufull, rel)
	lw.parents = lw.parents[:len(lw.parents)-1]
	return err
}

// sameMeta reports whether two files look unchanged: same type, mode,
// owner, modification time, size (files), device number, link target and
// xattrs.
func sameMeta(lfull, ufull string, l, u *unix.Stat_t) (bool, error) {
	if l.Mode != u.Mode || l.Uid != u.Uid || l.Gid != u.Gid || l.Mtim != u.Mtim || l.Rdev != u.Rdev {
		return false, nil
	}
	switch u.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if l.Size != u.Size {
			return false, nil
		}
	case unix.S_IFLNK:
		lt, err := os.Readlink(lfull)
		if err != nil {
			return false, fmt.Errorf("reading symlink %s: %w", lfull, err)
		}
		ut, err := os.Readlink(ufull)
		if err != nil {
			return false, fmt.Errorf("reading symlink %s: %w", ufull, err)
		}
		if lt != ut {
			return false, nil
		}
	}
	lx, err := readXattrs(lfull)
	if err != nil {
		return false, err
	}
	ux, err := readXattrs(ufull)
	if err != nil {
		return false, err
	}
	if len(lx) != len(ux) {
		return false, nil
	}
	for k, v := range lx {
		if uv, ok := ux[k]; !ok || uv != v {
			return false, nil
		}
	}
	return true, nil
}
