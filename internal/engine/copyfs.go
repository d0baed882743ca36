package engine

import (
	"io"
	"io/fs"
	"os"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"

	unix "github.com/manyarch/manyarch/internal/engine/internal/sysx"
)

// copyFS is the file system a copier writes: the host directory of a
// mounted root (hostFS), or a planned layer over the parent's layer
// directories that nothing is written to (planFS, plan.go's COPY fast path).
// Paths are Root() joined with a container path, resolved with
// securejoin.SecureJoinVFS against the copyFS itself.
type copyFS interface {
	securejoin.VFS // Lstat, Readlink
	Root() string
	// Mkdir creates a directory with exactly perm (no umask), owned by root.
	Mkdir(p string, perm uint32) error
	Symlink(target, p string) error
	// CopyFile creates dst (which must not exist) with the content of the
	// host file src, mode 0600.
	CopyFile(src, dst string) error
	Remove(p string) error
	RemoveAll(p string) error
	Lchown(p string, uid, gid int) error
	Chmod(p string, perm uint32) error
	// Lutimes sets the access and modification times of p, not following
	// a final symlink.
	Lutimes(p string, t time.Time) error
	// Open opens a regular file to read.
	Open(p string) (io.ReadCloser, error)
}

// hostFS is a host directory: the changes are written as they come.
type hostFS struct{ root string }

var _ copyFS = hostFS{}

func (h hostFS) Root() string                       { return h.root }
func (hostFS) Lstat(p string) (fs.FileInfo, error)  { return os.Lstat(p) }
func (hostFS) Readlink(p string) (string, error)    { return os.Readlink(p) }
func (hostFS) Symlink(target, p string) error       { return os.Symlink(target, p) }
func (hostFS) Remove(p string) error                { return os.Remove(p) }
func (hostFS) RemoveAll(p string) error             { return os.RemoveAll(p) }
func (hostFS) Chmod(p string, perm uint32) error    { return unix.Chmod(p, perm) }
func (hostFS) Open(p string) (io.ReadCloser, error) { return os.Open(p) }
func (hostFS) CopyFile(src, dst string) error       { return copyFile(src, dst) }
func (hostFS) Lchown(p string, uid, gid int) error  { return lchown(p, uid, gid) }
func (hostFS) Mkdir(p string, perm uint32) error {
	if err := os.Mkdir(p, 0o700); err != nil {
		return err
	}
	return unix.Chmod(p, perm)
}

func (hostFS) Lutimes(p string, t time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}
