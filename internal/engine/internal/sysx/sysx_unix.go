//go:build unix

package sysx

import (
	"syscall"

	"golang.org/x/sys/unix"
)

type (
	Stat_t   = unix.Stat_t
	Timespec = unix.Timespec
	// SysStat is what os.FileInfo.Sys returns.
	SysStat = syscall.Stat_t
)

const (
	S_IFMT   = unix.S_IFMT
	S_IFBLK  = unix.S_IFBLK
	S_IFCHR  = unix.S_IFCHR
	S_IFDIR  = unix.S_IFDIR
	S_IFIFO  = unix.S_IFIFO
	S_IFLNK  = unix.S_IFLNK
	S_IFREG  = unix.S_IFREG
	S_IFSOCK = unix.S_IFSOCK
	S_ISUID  = unix.S_ISUID
	S_ISGID  = unix.S_ISGID
	S_ISVTX  = unix.S_ISVTX

	AT_FDCWD            = unix.AT_FDCWD
	AT_SYMLINK_NOFOLLOW = unix.AT_SYMLINK_NOFOLLOW
)

func Stat(path string, st *Stat_t) error   { return unix.Stat(path, st) }
func Lstat(path string, st *Stat_t) error  { return unix.Lstat(path, st) }
func Chmod(path string, mode uint32) error { return unix.Chmod(path, mode) }
func Lgetxattr(path, attr string, dest []byte) (int, error) {
	return unix.Lgetxattr(path, attr, dest)
}
func NsecToTimespec(nsec int64) Timespec { return unix.NsecToTimespec(nsec) }
func UtimesNanoAt(dirfd int, path string, ts []Timespec, flags int) error {
	return unix.UtimesNanoAt(dirfd, path, ts, flags)
}
