package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// CopyRoot flattens the layer directories lowers (top first, in overlay
// whiteout form as Snapshotter.Prepare makes them) into dst, which must
// exist: it is what overlayfs would show, made of real copies. Whiteout
// devices remove what they name, opaque directories replace the directory
// below, and hardlinks within one layer stay hardlinks. Owners are copied
// when running as root, devices when the process may create them; modes,
// nanosecond modification times and xattrs (but overlayfs' own) are copied.
// It is the fallback for Mount where overlayfs is unavailable.
func CopyRoot(ctx context.Context, lowers []string, dst string) error {
	chown, mknod, _ := privileges()
	c := &copier{chown: chown, mknod: mknod}
	for i := len(lowers) - 1; i >= 0; i-- {
		c.links = make(map[devIno]string)
		if err := c.dir(ctx, lowers[i], dst); err != nil {
			return fmt.Errorf("copying layer %s into %s: %w", lowers[i], dst, err)
		}
	}
	return nil
}

type copier struct {
	chown, mknod bool
	links        map[devIno]string
}

type pendingDir struct {
	src, dst string
	st       unix.Stat_t
	xattrs   map[string]string
}

func (c *copier) dir(ctx context.Context, src, dst string) error {
	names, err := readNames(src)
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", src, err)
	}
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		s, d := filepath.Join(src, n), filepath.Join(dst, n)
		var st unix.Stat_t
		if err := unix.Lstat(s, &st); err != nil {
			return fmt.Errorf("inspecting %s: %w", s, err)
		}
		xattrs, err := readXattrs(s)
		if err != nil {
			return err
		}
		if isWhiteout(&st, xattrs) {
			if err := removeTree(d); err != nil {
				return fmt.Errorf("removing %s: %w", d, err)
			}
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			opaque := xattrs["trusted.overlay.opaque"] == "y" || xattrs["user.overlay.opaque"] == "y"
			var dst unix.Stat_t
			err := unix.Lstat(d, &dst)
			if err == nil && (dst.Mode&unix.S_IFMT != unix.S_IFDIR || opaque) {
				if err := removeTree(d); err != nil {
					return fmt.Errorf("replacing %s: %w", d, err)
				}
				err = unix.ENOENT
			}
			if err == unix.ENOENT {
				if err := unix.Mkdir(d, 0o700); err != nil {
					return fmt.Errorf("creating %s: %w", d, err)
				}
			} else if err != nil {
				return fmt.Errorf("inspecting %s: %w", d, err)
			}
			if err := c.dir(ctx, s, d); err != nil {
				return err
			}
			if err := c.meta(d, &st, xattrs); err != nil {
				return err
			}
			continue
		}
		if err := removeTree(d); err != nil {
			return fmt.Errorf("replacing %s: %w", d, err)
		}
		if err := c.file(s, d, &st, xattrs); err != nil {
			return err
		}
	}
	return nil
}

func (c *copier) file(s, d string, st *unix.Stat_t, xattrs map[string]string) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		key := devIno{uint64(st.Dev), uint64(st.Ino)}
		if st.Nlink > 1 {
			if first, ok := c.links[key]; ok {
				if err := os.Link(first, d); err != nil {
					return fmt.Errorf("linking %s: %w", d, err)
				}
				return nil
			}
			c.links[key] = d
		}
		if err := copyFile(s, d); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(s)
		if err != nil {
			return fmt.Errorf("reading symlink %s: %w", s, err)
		}
		if err := os.Symlink(target, d); err != nil {
			return fmt.Errorf("creating symlink %s: %w", d, err)
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		if st.Mode&unix.S_IFMT != unix.S_IFIFO && !c.mknod {
			return nil // devices need root outside a user namespace
		}
		if err := unix.Mknod(d, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	default:
		return nil // sockets
	}
	return c.meta(d, st, xattrs)
}

func copyFile(s, d string) error {
	in, err := os.OpenFile(s, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", s, err)
	}
	defer in.Close()
	out, err := os.OpenFile(d, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", d, err)
	}
	// *os.File.ReadFrom uses copy_file_range: reflinks where supported.
	if _, err := out.ReadFrom(in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", s, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copying %s: %w", s, err)
	}
	return nil
}

// meta copies owner, mode, xattrs and times of st onto d (not following
// symlinks).
func (c *copier) meta(d string, st *unix.Stat_t, xattrs map[string]string) error {
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	if c.chown {
		if err := unix.Lchown(d, int(st.Uid), int(st.Gid)); err != nil && err != unix.EINVAL {
			return fmt.Errorf("setting owner of %s: %w", d, err)
		}
	}
	for k, v := range xattrs {
		if internalXattr(k) {
			continue
		}
		_ = unix.Lsetxattr(d, k, []byte(v), 0) // best effort, as in Extract
	}
	if !isLink {
		if err := unix.Chmod(d, st.Mode&0o7777); err != nil {
			return fmt.Errorf("setting mode of %s: %w", d, err)
		}
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, d, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times of %s: %w", d, err)
	}
	return nil
}

// removeTree removes path and everything below it, making read-only
// directories writable on the way; a missing path is no error.
func removeTree(path string) error {
	err := removeAllAt(unix.AT_FDCWD, path)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}
