//go:build !unix

package sysx

import (
	"errors"
	"fmt"
	"time"
)

// ErrNotSupported is what every call returns here.
var ErrNotSupported = errors.New("not supported on this OS (manyarch runs containers on Linux)")

func unsupported(op, path string) error { return fmt.Errorf("%s %s: %w", op, path, ErrNotSupported) }

// Timespec is unix.Timespec's shape.
type Timespec struct{ Sec, Nsec int64 }

func (ts Timespec) Unix() (sec, nsec int64) { return ts.Sec, ts.Nsec }
func (ts Timespec) Nano() int64             { return time.Unix(ts.Sec, ts.Nsec).UnixNano() }

// Stat_t has the fields of unix.Stat_t that package build reads.
type Stat_t struct {
	Dev, Ino   uint64
	Mode       uint32
	Uid, Gid   uint32
	Rdev       uint64
	Size       int64
	Mtim, Ctim Timespec
}

// SysStat is syscall.Stat_t's shape (no os.FileInfo here returns one).
type SysStat struct {
	Uid, Gid uint32
	Size     int64
}

const (
	S_IFMT   = 0o170000
	S_IFBLK  = 0o060000
	S_IFCHR  = 0o020000
	S_IFDIR  = 0o040000
	S_IFIFO  = 0o010000
	S_IFLNK  = 0o120000
	S_IFREG  = 0o100000
	S_IFSOCK = 0o140000
	S_ISUID  = 0o4000
	S_ISGID  = 0o2000
	S_ISVTX  = 0o1000

	AT_FDCWD            = -100
	AT_SYMLINK_NOFOLLOW = 0x100
)

func Stat(path string, _ *Stat_t) error  { return unsupported("stat", path) }
func Lstat(path string, _ *Stat_t) error { return unsupported("lstat", path) }
func Chmod(path string, _ uint32) error  { return unsupported("chmod", path) }
func Lgetxattr(path, _ string, _ []byte) (int, error) {
	return 0, unsupported("lgetxattr", path)
}
func NsecToTimespec(nsec int64) Timespec {
	return Timespec{Sec: nsec / 1e9, Nsec: nsec % 1e9}
}
func UtimesNanoAt(_ int, path string, _ []Timespec, _ int) error {
	return unsupported("utimes", path)
}
