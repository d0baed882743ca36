package snapshot

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Extract unpacks the tar stream r into dir, creating dir when missing, and
// returns what it did.
//
// Nothing an entry names can end up outside dir: names are cleaned and
// contained ("../../etc/x" is written to dir/etc/x, "/etc/x" too, counted in
// ExtractStats.Rewritten), parent directories are resolved with openat2
// RESOLVE_IN_ROOT so that symlinks in them (absolute or relative, chained or
// not) are interpreted with dir as the root, the final component is never
// followed, and hardlink targets are resolved the same way (a hardlink to
// /etc/passwd links dir/etc/passwd, or fails when there is none). Symlinks are
// written as they are; they are never followed during extraction.
//
// An entry replaces what is at its path unless both are directories, in
// which case the directories merge. Whiteouts are applied or converted as
// opts.Whiteouts says. Owners are applied when running as root (mapped by
// opts.MapID), devices created when the process may create them (listed in
// the stats otherwise), modes and modification times applied (directories'
// after their children), extended attributes set when permitted.
//
// Errors are *EntryError naming the tar entry. Extract stops reading at the
// end of the tar; whatever follows in r is left unread.
func Extract(ctx context.Context, r io.Reader, dir string, opts ExtractOptions) (ExtractStats, error) {
	var stats ExtractStats
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return stats, fmt.Errorf("extracting into %s: %w", dir, err)
	}
	rootfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return stats, fmt.Errorf("extracting into %s: opening the directory: %w", dir, err)
	}
	x := &extractor{
		root:      rootfd,
		dir:       dir,
		opts:      opts,
		stats:     &stats,
		src:       opts.Name,
		cacheFd:   -1,
		thisLayer: make(map[string]struct{}),
	}
	x.canChown, x.canMknod, x.initNS = privileges()
	x.canChown = x.canChown && !opts.NoChown
	defer x.close()
	if err := x.probe(); err != nil {
		return stats, err
	}

	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if x.src != "" {
				return stats, fmt.Errorf("extracting %s: reading tar after %d entries: %w", x.src, stats.Entries, err)
			}
			return stats, fmt.Errorf("extracting: reading tar after %d entries: %w", stats.Entries, err)
		}
		stats.Entries++
		if err := x.entry(hdr, tr); err != nil {
			var ee *EntryError
			if errors.As(err, &ee) {
				return stats, err
			}
			return stats, &EntryError{Source: x.src, Entry: hdr.Name, Err: err}
		}
	}
	if err := x.finishDirs(); err != nil {
		return stats, err
	}
	return stats, nil
}

// privileges reports whether the process may chown and mknod: root owns
// files everywhere, but only root in the initial user namespace may create
// device nodes.
func privileges() (chown, mknod, initNS bool) {
	if os.Geteuid() != 0 {
		return false, false, false
	}
	initNS = true
	if b, err := os.ReadFile("/proc/self/uid_map"); err == nil {
		f := strings.Fields(string(b))
		initNS = len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
	}
	return true, initNS, initNS
}

type dirMeta struct {
	rel   string
	mode  uint32
	mtime time.Time
}

type extractor struct {
	root               int
	dir                string
	opts               ExtractOptions
	stats              *ExtractStats
	src                string
	canChown, canMknod bool
	initNS             bool
	thisLayer          map[string]struct{}
	dirs               []dirMeta
	cacheRel           string
	cacheFd            int
}

func (x *extractor) close() {
	if x.cacheFd >= 0 {
		unix.Close(x.cacheFd)
		x.cacheFd = -1
	}
	unix.Close(x.root)
}

// probe fails early, with a clear error, on kernels without openat2.
func (x *extractor) probe() error {
	fd, err := x.openDir("")
	if errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("extracting into %s: %w", x.dir, ErrNoOpenat2)
	}
	if err != nil {
		return fmt.Errorf("extracting into %s: %w", x.dir, err)
	}
	unix.Close(fd)
	return nil
}

// openDir opens the directory rel ("" is the root) with every symlink on the
// way resolved inside the root. The caller closes the descriptor.
func (x *extractor) openDir(rel string) (int, error) {
	p := rel
	if p == "" {
		p = "."
	}
	how := &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(x.root, p, how)
		if (err == unix.EAGAIN || err == unix.EINTR) && i < 16 {
			continue // a concurrent rename; try again
		}
		return fd, err
	}
}

// maxSymlinks bounds the symlinks mkdirAll follows to create a directory a
// dangling symlink points to, as the kernel's limit for path resolution does.
const maxSymlinks = 40

// mkdirAll opens directory rel, creating it and its parents (mode 0755) when
// missing. The caller closes the descriptor.
func (x *extractor) mkdirAll(rel string) (int, error) {
	return x.mkdirAllDepth(rel, 0)
}

func (x *extractor) mkdirAllDepth(rel string, depth int) (int, error) {
	fd, err := x.openDir(rel)
	if err != unix.ENOENT || rel == "" {
		if err == unix.ENOTDIR {
			return -1, fmt.Errorf("parent directory %q is not a directory", rel)
		}
		return fd, err
	}
	parent, base := splitPath(rel)
	pfd, err := x.mkdirAllDepth(parent, depth)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, base, 0o755); err != nil && err != unix.EEXIST {
		return -1, fmt.Errorf("creating parent directory %q: %w", rel, err)
	}
	fd, err = x.openDir(rel)
	if err != unix.ENOENT {
		if err != nil {
			return -1, fmt.Errorf("parent directory %q is not a directory: %w", rel, err)
		}
		return fd, nil
	}
	// base is a symlink to a missing directory: create that directory, as
	// resolved inside the root (containerd does the same).
	buf := make([]byte, unix.PathMax)
	n, lerr := unix.Readlinkat(pfd, base, buf)
	if lerr != nil || depth >= maxSymlinks {
		return -1, fmt.Errorf("parent directory %q is not a directory: %w", rel, err)
	}
	target := string(buf[:n])
	if !strings.HasPrefix(target, "/") {
		target = joinPath(x.realRel(pfd, parent), target)
	}
	resolved, _, _ := cleanName(target)
	tfd, err := x.mkdirAllDepth(resolved, depth+1)
	if err != nil {
		return -1, err
	}
	unix.Close(tfd)
	fd, err = x.openDir(rel)
	if err != nil {
		return -1, fmt.Errorf("parent directory %q is not a directory: %w", rel, err)
	}
	return fd, nil
}

// parent returns a descriptor of directory rel, creating it when missing.
// The descriptor is cached for the next entries and must not be closed.
func (x *extractor) parent(rel string) (int, error) {
	if x.cacheFd >= 0 && x.cacheRel == rel {
		return x.cacheFd, nil
	}
	fd, err := x.mkdirAll(rel)
	if err != nil {
		return -1, err
	}
	if x.cacheFd >= 0 {
		unix.Close(x.cacheFd)
	}
	x.cacheFd, x.cacheRel = fd, rel
	return fd, nil
}

// invalidate drops the cached directory when rel, which was just removed or
// replaced, is it or one of its ancestors.
func (x *extractor) invalidate(rel string) {
	if x.cacheFd < 0 {
		return
	}
	if rel == "" || x.cacheRel == rel || strings.HasPrefix(x.cacheRel, rel+"/") {
		unix.Close(x.cacheFd)
		x.cacheFd = -1
	}
}

func (x *extractor) entry(hdr *tar.Header, tr *tar.Reader) error {
	if strings.IndexByte(hdr.Name, 0) >= 0 || strings.IndexByte(hdr.Linkname, 0) >= 0 {
		return errors.New("name contains a NUL byte")
	}
	rel, abs, esc := cleanName(hdr.Name)
	if abs || esc {
		x.stats.Rewritten++
	}
	if rel == "" {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("a non-directory entry would replace the root directory")
		}
		if x.canChown {
			if err := x.chown(x.root, "", hdr, false); err != nil {
				return err
			}
		}
		x.dirs = append(x.dirs, dirMeta{rel: "", mode: tarMode(hdr), mtime: hdr.ModTime})
		return nil
	}
	dirRel, base := splitPath(rel)
	if strings.HasPrefix(base, whiteoutPrefix) {
		x.stats.Whiteouts++
		if base == whiteoutOpaque {
			return x.opaque(dirRel)
		}
		name := strings.TrimPrefix(base, whiteoutPrefix)
		if name == "" || name == "." || name == ".." {
			return fmt.Errorf("whiteout of %q: not a file name", name)
		}
		return x.whiteout(dirRel, name)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		return x.regular(rel, dirRel, base, hdr, tr)
	case tar.TypeDir:
		return x.directory(rel, dirRel, base, hdr)
	case tar.TypeSymlink:
		return x.symlink(rel, dirRel, base, hdr)
	case tar.TypeLink:
		return x.hardlink(rel, dirRel, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return x.node(rel, dirRel, base, hdr)
	case tar.TypeXGlobalHeader:
		x.stats.Entries--
		return nil
	default:
		x.stats.Unsupported = append(x.stats.Unsupported, hdr.Name)
		return nil
	}
}

func tarMode(hdr *tar.Header) uint32 { return uint32(hdr.Mode) & 0o7777 }

// clear removes whatever is at base in pfd so a new entry can take its
// place; keepDir keeps a directory (directories merge).
func (x *extractor) clear(pfd int, rel, base string, keepDir bool) (isDir bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return false, nil
		}
		return false, fmt.Errorf("inspecting existing %q: %w", rel, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR && keepDir {
		return true, nil
	}
	x.invalidate(rel)
	if err := removeAllAt(pfd, base); err != nil {
		return false, fmt.Errorf("replacing existing %q: %w", rel, err)
	}
	return false, nil
}

// removeAllAt removes name in dirfd and, if it is a directory, everything
// below it, never following symlinks.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	for {
		names, err := f.Readdirnames(1024)
		for _, n := range names {
			if err := removeAllAt(fd, n); err != nil {
				if err != unix.EACCES {
					return err
				}
				// A read-only directory owned by us: make it writable.
				if cerr := unix.Fchmod(fd, 0o700); cerr != nil {
					return err
				}
				if err := removeAllAt(fd, n); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, io.EOF) || len(names) == 0 {
			break
		}
		if err != nil {
			return err
		}
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}

func (x *extractor) whiteout(dirRel, name string) error {
	rel := joinPath(dirRel, name)
	if x.opts.Whiteouts == OverlayWhiteouts {
		pfd, err := x.parent(dirRel)
		if err != nil {
			return err
		}
		if _, err := x.clear(pfd, rel, name, false); err != nil {
			return err
		}
		if err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("creating overlay whiteout %q: %w (needs Linux 5.8 or later, or root)", rel, err)
		}
		x.thisLayer[rel] = struct{}{}
		return nil
	}
	if _, ok := x.thisLayer[rel]; ok {
		return nil // whiteouts hide lower layers only
	}
	pfd, err := x.openDir(dirRel)
	if err == unix.ENOENT || err == unix.ENOTDIR {
		return nil // nothing below to hide
	}
	if err != nil {
		return fmt.Errorf("opening %q: %w", dirRel, err)
	}
	defer unix.Close(pfd)
	x.invalidate(rel)
	if err := removeAllAt(pfd, name); err != nil {
		return fmt.Errorf("removing %q: %w", rel, err)
	}
	return nil
}

func (x *extractor) opaque(dirRel string) error {
	pfd, err := x.parent(dirRel)
	if err != nil {
		return err
	}
	if x.opts.Whiteouts == OverlayWhiteouts {
		var set bool
		var lastErr error
		if x.initNS {
			if lastErr = unix.Fsetxattr(pfd, "trusted.overlay.opaque", []byte("y"), 0); lastErr == nil {
				set = true
			}
		}
		if err := unix.Fsetxattr(pfd, "user.overlay.opaque", []byte("y"), 0); err == nil {
			set = true
		} else {
			lastErr = err
		}
		if !set {
			return fmt.Errorf("marking %q opaque: %w", dirRel, lastErr)
		}
		return nil
	}
	// Remove every entry not written by this layer.
	dup, err := unix.Dup(pfd)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), dirRel)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("listing %q: %w", dirRel, err)
	}
	for _, n := range names {
		rel := joinPath(dirRel, n)
		if _, ok := x.thisLayer[rel]; ok {
			continue
		}
		x.invalidate(rel)
		if err := removeAllAt(pfd, n); err != nil {
			return fmt.Errorf("removing %q: %w", rel, err)
		}
	}
	return nil
}

func (x *extractor) regular(rel, dirRel, base string, hdr *tar.Header, tr *tar.Reader) error {
	pfd, err := x.parent(dirRel)
	if err != nil {
		return err
	}
	const flags = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(pfd, base, flags, 0o600)
	if err == unix.EEXIST {
		if _, err = x.clear(pfd, rel, base, false); err != nil {
			return err
		}
		fd, err = unix.Openat(pfd, base, flags, 0o600)
	}
	if err != nil {
		return fmt.Errorf("creating file: %w", err)
	}
	f := os.NewFile(uintptr(fd), rel)
	var dst io.Writer = writerOnly{f}
	sparse := isSparse(hdr)
	if sparse {
		if err := checkSparse(hdr); err != nil {
			f.Close()
			return err
		}
		dst = &holeWriter{f: f}
	}
	n, err := copyN(dst, tr, hdr.Size)
	if err == nil && sparse {
		err = f.Truncate(n) // a trailing hole
	}
	x.stats.Bytes += n
	if err == nil && n != hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("writing content: %w", err)
	}
	if x.canChown {
		if err := x.chown(fd, "", hdr, false); err != nil {
			f.Close()
			return err
		}
	}
	if err := unix.Fchmod(fd, tarMode(hdr)); err != nil {
		f.Close()
		return fmt.Errorf("setting mode: %w", err)
	}
	x.xattrsFd(fd, hdr)
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing content: %w", err)
	}
	x.thisLayer[rel] = struct{}{}
	return setTimes(pfd, base, hdr.ModTime)
}

// holeWriter writes blocks of zeros as holes, so sparse files stay sparse.
type holeWriter struct{ f *os.File }

func (h *holeWriter) Write(p []byte) (int, error) {
	const block = 4096
	for off := 0; off < len(p); {
		end := min(off+block, len(p))
		chunk := p[off:end]
		if allZero(chunk) {
			if _, err := h.f.Seek(int64(len(chunk)), io.SeekCurrent); err != nil {
				return off, err
			}
		} else if _, err := h.f.Write(chunk); err != nil {
			return off, err
		}
		off = end
	}
	return len(p), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// writerOnly hides *os.File's ReadFrom so copies use the pooled buffer.
type writerOnly struct{ io.Writer }

func (x *extractor) directory(rel, dirRel, base string, hdr *tar.Header) error {
	pfd, err := x.parent(dirRel)
	if err != nil {
		return err
	}
	err = unix.Mkdirat(pfd, base, 0o755)
	if err == unix.EEXIST {
		var isDir bool
		if isDir, err = x.clear(pfd, rel, base, true); err != nil {
			return err
		}
		if !isDir {
			err = unix.Mkdirat(pfd, base, 0o755)
		}
	}
	if err != nil {
		return fmt.Errorf("creating directory: %w", err)
	}
	x.thisLayer[rel] = struct{}{}
	if x.canChown || len(hdr.PAXRecords) > 0 {
		fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening directory: %w", err)
		}
		defer unix.Close(fd)
		if x.canChown {
			if err := x.chown(fd, "", hdr, false); err != nil {
				return err
			}
		}
		x.xattrsFd(fd, hdr)
	}
	x.dirs = append(x.dirs, dirMeta{rel: rel, mode: tarMode(hdr), mtime: hdr.ModTime})
	return nil
}

func (x *extractor) symlink(rel, dirRel, base string, hdr *tar.Header) error {
	pfd, err := x.parent(dirRel)
	if err != nil {
		return err
	}
	err = unix.Symlinkat(hdr.Linkname, pfd, base)
	if err == unix.EEXIST {
		if _, err = x.clear(pfd, rel, base, false); err != nil {
			return err
		}
		err = unix.Symlinkat(hdr.Linkname, pfd, base)
	}
	if err != nil {
		return fmt.Errorf("creating symlink: %w", err)
	}
	x.thisLayer[rel] = struct{}{}
	if x.canChown {
		if err := x.chown(pfd, base, hdr, true); err != nil {
			return err
		}
	}
	x.xattrsAt(pfd, base, hdr)
	return setTimes(pfd, base, hdr.ModTime)
}

func (x *extractor) hardlink(rel, dirRel, base string, hdr *tar.Header) error {
	target, abs, esc := cleanName(hdr.Linkname)
	if abs || esc {
		x.stats.Rewritten++
	}
	if target == "" {
		return errors.New("hardlink to the root directory")
	}
	if target == rel {
		return errors.New("hardlink to itself")
	}
	tdir, tbase := splitPath(target)
	tfd, err := x.openDir(tdir)
	if err != nil {
		return fmt.Errorf("hardlink target %q does not exist in the layer: %w", hdr.Linkname, err)
	}
	defer unix.Close(tfd)
	pfd, err := x.parent(dirRel)
	if err != nil {
		return err
	}
	err = unix.Linkat(tfd, tbase, pfd, base, 0)
	if err == unix.EEXIST {
		if _, err = x.clear(pfd, rel, base, false); err != nil {
			return err
		}
		err = unix.Linkat(tfd, tbase, pfd, base, 0)
	}
	if err == unix.ENOENT {
		return fmt.Errorf("hardlink target %q does not exist in the layer", hdr.Linkname)
	}
	if err != nil {
		return fmt.Errorf("creating hardlink to %q: %w", hdr.Linkname, err)
	}
	x.thisLayer[rel] = struct{}{}
	return nil
}

func (x *extractor) node(rel, dirRel, base string, hdr *tar.Header) error {
	mode := tarMode(hdr)
	dev := 0
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode |= unix.S_IFCHR
		dev = int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	case tar.TypeBlock:
		mode |= unix.S_IFBLK
		dev = int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	default:
		mode |= unix.S_IFIFO
	}
	if hdr.Typeflag != tar.TypeFifo && !x.canMknod {
		x.stats.DevicesSkipped = append(x.stats.DevicesSkipped, rel)
		return nil
	}
	pfd, err := x.parent(dirRel)
	if err != nil {
		return err
	}
	err = unix.Mknodat(pfd, base, mode, dev)
	if err == unix.EEXIST {
		if _, err = x.clear(pfd, rel, base, false); err != nil {
			return err
		}
		err = unix.Mknodat(pfd, base, mode, dev)
	}
	if err == unix.EPERM && hdr.Typeflag != tar.TypeFifo {
		x.stats.DevicesSkipped = append(x.stats.DevicesSkipped, rel)
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating %s: %w", nodeKind(hdr.Typeflag), err)
	}
	x.thisLayer[rel] = struct{}{}
	if x.canChown {
		if err := x.chown(pfd, base, hdr, true); err != nil {
			return err
		}
	}
	// The node was just created, so it is no symlink; fchmodat2 makes sure.
	if err := unix.Fchmodat(pfd, base, tarMode(hdr), unix.AT_SYMLINK_NOFOLLOW); err == unix.EOPNOTSUPP {
		err = unix.Fchmodat(pfd, base, tarMode(hdr), 0)
		if err != nil {
			return fmt.Errorf("setting mode: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("setting mode: %w", err)
	}
	x.xattrsAt(pfd, base, hdr)
	return setTimes(pfd, base, hdr.ModTime)
}

func nodeKind(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	}
	return "fifo"
}

// chown applies the entry's owner to fd (base == "") or to base in fd.
func (x *extractor) chown(fd int, base string, hdr *tar.Header, nofollow bool) error {
	uid, gid := hdr.Uid, hdr.Gid
	if x.opts.MapID != nil {
		var err error
		if uid, gid, err = x.opts.MapID(uid, gid); err != nil {
			return fmt.Errorf("mapping owner %d:%d: %w", hdr.Uid, hdr.Gid, err)
		}
	}
	var err error
	if base == "" {
		err = unix.Fchown(fd, uid, gid)
	} else {
		err = unix.Fchownat(fd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err == unix.EINVAL || err == unix.EPERM {
		x.stats.OwnersSkipped++ // an id not mapped in this user namespace
		return nil
	}
	if err != nil {
		return fmt.Errorf("setting owner %d:%d: %w", uid, gid, err)
	}
	return nil
}

func xattrsOf(hdr *tar.Header) map[string]string {
	var m map[string]string
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, xattrPAXPrefix); ok && name != "" {
			if m == nil {
				m = make(map[string]string)
			}
			m[name] = v
		}
	}
	return m
}

func (x *extractor) xattrOK(name string, err error) {
	if err == nil {
		return
	}
	x.stats.XattrsSkipped++
}

func (x *extractor) xattrsFd(fd int, hdr *tar.Header) {
	for name, v := range xattrsOf(hdr) {
		if internalXattr(name) {
			x.stats.XattrsSkipped++
			continue
		}
		x.xattrOK(name, unix.Fsetxattr(fd, name, []byte(v), 0))
	}
}

func (x *extractor) xattrsAt(pfd int, base string, hdr *tar.Header) {
	xs := xattrsOf(hdr)
	if len(xs) == 0 {
		return
	}
	p := "/proc/self/fd/" + strconv.Itoa(pfd) + "/" + base
	for name, v := range xs {
		if internalXattr(name) {
			x.stats.XattrsSkipped++
			continue
		}
		x.xattrOK(name, unix.Lsetxattr(p, name, []byte(v), 0))
	}
}

func setTimes(pfd int, base string, mtime time.Time) error {
	ts := []unix.Timespec{
		unix.NsecToTimespec(mtime.UnixNano()),
		unix.NsecToTimespec(mtime.UnixNano()),
	}
	if mtime.IsZero() {
		ts = []unix.Timespec{{Sec: 0}, {Sec: 0}}
	}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times: %w", err)
	}
	return nil
}

// finishDirs applies directory modes and times, deepest last-written first,
// so that writing children no longer changes them.
func (x *extractor) finishDirs() error {
	if x.cacheFd >= 0 {
		unix.Close(x.cacheFd)
		x.cacheFd = -1
	}
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if err := x.finishDir(d); err != nil {
			return &EntryError{Source: x.src, Entry: d.rel + "/", Err: err}
		}
	}
	return nil
}

func (x *extractor) finishDir(d dirMeta) error {
	if d.rel == "" {
		if err := unix.Fchmod(x.root, d.mode); err != nil {
			return fmt.Errorf("setting mode: %w", err)
		}
		return setTimes(x.root, ".", d.mtime)
	}
	dirRel, base := splitPath(d.rel)
	pfd, err := x.openDir(dirRel)
	if err != nil {
		return nil // removed or replaced by a later entry
	}
	defer unix.Close(pfd)
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil // replaced by a non-directory by a later entry
	}
	err = unix.Fchmod(fd, d.mode)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("setting mode: %w", err)
	}
	return setTimes(pfd, base, d.mtime)
}

// realRel returns where directory fd really is below the root (parents
// reached through symlinks resolved), or named when /proc cannot tell.
func (x *extractor) realRel(fd int, named string) string {
	rootPath, err1 := os.Readlink("/proc/self/fd/" + strconv.Itoa(x.root))
	p, err2 := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err1 != nil || err2 != nil {
		return named
	}
	if p == rootPath {
		return ""
	}
	if rel, ok := strings.CutPrefix(p, rootPath+"/"); ok {
		return rel
	}
	return named
}
