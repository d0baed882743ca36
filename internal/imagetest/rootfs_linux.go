package imagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/snapshot"
)

// kernelFS is the kernel's view of an image's root file system: the
// overlay of the snapshotter's layer directories that command tests and
// `manyarch run` use (or, where overlayfs cannot stack, the same copy
// they fall back to), read through a file descriptor of its root with
// openat2 RESOLVE_IN_ROOT. The kernel resolves every path as it does for a
// process chrooted there: ".." stops at the root, absolute symbolic links
// start at it, so no link in the image reaches a host file, and whiteouts,
// opaque directories and a directory hiding a lower symbolic link (or the
// reverse) mean what overlayfs makes of them, not what this package thinks.
//
// The overlay is mounted in a private mount namespace of one locked OS
// thread, so it never appears in the host's mount table and disappears
// with the process if it is killed; the root descriptor stays usable from
// every thread.
type kernelFS struct {
	root    int    // O_PATH descriptor of the root directory
	overlay bool   // false: a copy (snapshot.CopyRoot), as the sandbox's fallback
	reason  string // why not an overlay

	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed by close: the mount thread unmounts
	closed    chan error    // the mount thread's unmount result
}

var _ fileView = (*kernelFS)(nil)

// errNoKernelView says why the kernel view cannot be had here; the caller
// falls back to the flattened layers.
var errNoKernelView = errors.New("the kernel's view of the image needs root (with CAP_SYS_ADMIN) on Linux 5.6 or later (openat2)")

// kernelViewAvailable reports whether mountKernelFS can work here: root
// (the layer directories carry the image's owners only when unpacked by
// root) and openat2.
func kernelViewAvailable() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: running as uid %d", errNoKernelView, os.Geteuid())
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return fmt.Errorf("%w: openat2: %w", errNoKernelView, err)
	}
	unix.Close(fd)
	return nil
}

// mountKernelFS mounts lowers (top first, as Snapshotter.Prepare returns
// them) with snapshot.Mount and opts, read through a new kernelFS.
func mountKernelFS(ctx context.Context, lowers []string, opts snapshot.MountOptions) (*kernelFS, error) {
	if err := kernelViewAvailable(); err != nil {
		return nil, err
	}
	// The mount's directories (in copy mode a whole copy of the image) go
	// in a directory locked while the view lives; ones a killed process
	// left are removed here. Their mounts died with that process's
	// namespace.
	removeStaleViews(opts.TempDir)
	dir, err := os.MkdirTemp(opts.TempDir, viewDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("creating the directory of the image's root: %w", err)
	}
	lock, err := fsutil.LockDir(ctx, dir, true)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	release := func() error {
		err := os.RemoveAll(dir)
		lock.Unlock()
		if err != nil {
			return fmt.Errorf("removing %s: %w", dir, err)
		}
		return nil
	}
	opts.TempDir = dir
	k := &kernelFS{root: -1, done: make(chan struct{}), closed: make(chan error, 1)}
	ready := make(chan error, 1)
	go func() {
		// The thread is never unlocked: when this goroutine returns, the
		// runtime ends the thread and its mount namespace with it.
		runtime.LockOSThread()
		// Without CAP_SYS_ADMIN (root in an unprivileged container) there
		// is no kernel view: the caller reads the flattened layers.
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			ready <- fmt.Errorf("%w: creating a private mount namespace: %w", errNoKernelView, err)
			return
		}
		// Nothing mounted here may propagate to the host's namespace.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			ready <- fmt.Errorf("%w: making the private mount namespace private: %w", errNoKernelView, err)
			return
		}
		if len(lowers) == 0 {
			empty, err := os.MkdirTemp(opts.TempDir, "manyarch-test-empty-")
			if err != nil {
				ready <- fmt.Errorf("creating an empty root: %w", err)
				return
			}
			defer os.Remove(empty)
			lowers = []string{empty}
		}
		m, err := snapshot.Mount(ctx, lowers, opts)
		if err != nil {
			ready <- fmt.Errorf("mounting the image's layers: %w", err)
			return
		}
		fd, err := unix.Open(m.Root(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			ready <- errors.Join(fmt.Errorf("opening the image's root %s: %w", m.Root(), err), m.Close())
			return
		}
		k.root, k.overlay = fd, m.Overlay()
		if r := m.FallbackReason(); r != nil {
			k.reason = r.Error()
		}
		ready <- nil
		<-k.done
		if err := m.Close(); err != nil {
			k.closed <- err // still mounted here: leave the directory
			return
		}
		k.closed <- release()
	}()
	if err := <-ready; err != nil {
		return nil, errors.Join(err, release())
	}
	return k, nil
}

// viewDirPrefix names the directories of kernel views in the temporary
// directory.
const viewDirPrefix = "manyarch-testview-"

// removeStaleViews removes the view directories in tempDir that no live
// process holds locked and that are older than a minute (a killed
// `manyarch test` left them). Errors are ignored: the next run retries.
func removeStaleViews(tempDir string) {
	if tempDir == "" {
		tempDir = os.TempDir()
	}
	fsutil.RemoveStaleDirs(filepath.Join(tempDir, viewDirPrefix+"*"), time.Minute)
}

func (k *kernelFS) kind() string {
	if k.overlay {
		return "kernel overlay"
	}
	if k.reason == "" {
		return "copy of the layers"
	}
	return "copy of the layers (" + k.reason + ")"
}

// close closes the root descriptor and unmounts the overlay.
func (k *kernelFS) close() error {
	k.closeOnce.Do(func() {
		unix.Close(k.root)
		close(k.done)
		k.closeErr = <-k.closed
	})
	return k.closeErr
}

// open opens p inside the root; the last component's symbolic link is
// followed when follow is set.
func (k *kernelFS) open(p string, flags uint64, follow bool) (int, error) {
	name := strings.TrimPrefix(cleanPath(p), "/")
	if name == "" {
		name = "."
	}
	how := unix.OpenHow{
		Flags: flags | unix.O_CLOEXEC,
		// RESOLVE_IN_ROOT: absolute links and ".." stay inside; no
		// /proc-style magic links; no crossing into another mount.
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	}
	if !follow {
		how.Flags |= unix.O_NOFOLLOW
	}
	if flags&unix.O_PATH == 0 {
		how.Flags |= unix.O_NOCTTY // openat2 refuses it beside O_PATH
	}
	for range 16 {
		fd, err := unix.Openat2(k.root, name, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue // RESOLVE_IN_ROOT fails with EAGAIN when a rename races a ".." step
		}
		if err != nil {
			return -1, pathError(p, err)
		}
		return fd, nil
	}
	return -1, fmt.Errorf("%s: resolving the path kept being interrupted", p)
}

// pathError turns a system error into the messages flatFS gives.
func pathError(p string, err error) error {
	switch err {
	case unix.ENOENT:
		return errNotFound
	case unix.ELOOP:
		return fmt.Errorf("%s: too many levels of symbolic links", p)
	case unix.ENOTDIR:
		return fmt.Errorf("%s: not a directory", p)
	}
	return fmt.Errorf("%s: %w", p, err)
}

func (k *kernelFS) stat(p string, follow bool) (fileInfo, error) {
	fd, err := k.open(p, unix.O_PATH, follow)
	if err != nil {
		return fileInfo{}, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fileInfo{}, fmt.Errorf("%s: %w", p, err)
	}
	fi := fileInfo{mode: statMode(st.Mode), uid: int(st.Uid), gid: int(st.Gid), size: st.Size}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return fileInfo{}, fmt.Errorf("%s: reading the symbolic link: %w", p, err)
		}
		fi.linkname = string(buf[:n])
	}
	return fi, nil
}

// statMode converts a stat mode as package os does.
func statMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= os.ModeDevice
	case unix.S_IFCHR:
		mode |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFDIR:
		mode |= os.ModeDir
	case unix.S_IFIFO:
		mode |= os.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= os.ModeSymlink
	case unix.S_IFSOCK:
		mode |= os.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

func (k *kernelFS) readDir(p string) ([]string, error) {
	fd, err := k.open(p, unix.O_RDONLY|unix.O_DIRECTORY, true)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", p, err)
	}
	sort.Strings(names)
	return names, nil
}

func (k *kernelFS) readFiles(ctx context.Context, paths []string) (map[string][]byte, map[string]error, error) {
	data, errs := map[string][]byte{}, map[string]error{}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		b, err := k.readFile(p)
		if err != nil {
			errs[p] = err
			continue
		}
		data[p] = b
	}
	return data, errs, nil
}

// readFile reads a regular file. It looks first (O_PATH), so that opening
// never blocks on a FIFO or wakes a device the image holds.
func (k *kernelFS) readFile(p string) ([]byte, error) {
	fd, err := k.open(p, unix.O_PATH, true)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return nil, fmt.Errorf("%s is a directory", path.Clean(p))
	default:
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	if st.Size > maxFileRead {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d a content test reads", p, st.Size, maxFileRead)
	}
	fd, err = k.open(p, unix.O_RDONLY|unix.O_NONBLOCK, true)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	var st2 unix.Stat_t
	if err := unix.Fstat(fd, &st2); err != nil || st2.Dev != st.Dev || st2.Ino != st.Ino {
		return nil, fmt.Errorf("%s changed while it was read", p)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileRead+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if len(b) > maxFileRead {
		return nil, fmt.Errorf("%s is more than the %d bytes a content test reads", p, maxFileRead)
	}
	return b, nil
}
