package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// unsafeEntries are what an exported file system must not put on the host
// by default: device nodes and setuid or setgid files (slash paths).
type unsafeEntries struct {
	devices []string
	setid   []string
}

// findUnsafe lists the device nodes and setuid/setgid regular files of
// the layer directories (whiteouts, char 0:0, are left out).
func findUnsafe(ctx context.Context, lowers []string) (map[string]bool, error) {
	found := map[string]bool{}
	for _, l := range lowers {
		err := filepath.WalkDir(l, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			t := d.Type()
			if t.IsDir() || t&fs.ModeSymlink != 0 {
				return nil
			}
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				return fmt.Errorf("inspecting %s: %w", p, err)
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFCHR:
				if st.Rdev == 0 {
					return nil // a whiteout
				}
			case unix.S_IFBLK:
			case unix.S_IFREG:
				if st.Mode&(unix.S_ISUID|unix.S_ISGID) == 0 {
					return nil
				}
			default:
				return nil
			}
			rel, err := filepath.Rel(l, p)
			if err != nil {
				return err
			}
			found[filepath.ToSlash(rel)] = true
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing the devices and setuid files of layer %s: %w", l, err)
		}
	}
	return found, nil
}

// sanitizeExport removes the device nodes and clears the setuid and
// setgid bits, in the exported tree dst, of the paths candidates lists
// (findUnsafe of its layers). It never follows a symbolic link: a path
// reached through one is not the image's entry and is left alone.
func sanitizeExport(ctx context.Context, dst string, candidates map[string]bool) (unsafeEntries, error) {
	var out unsafeEntries
	root, err := unix.Open(dst, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return out, fmt.Errorf("opening %s: %w", dst, err)
	}
	defer unix.Close(root)
	names := make([]string, 0, len(candidates))
	for p := range candidates {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, rel := range names {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		dir, base := filepath.Split(rel)
		fd, err := openBeneath(root, strings.TrimSuffix(dir, "/"))
		if errors.Is(err, errNotInTree) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("opening %s in %s: %w", dir, dst, err)
		}
		err = sanitizeEntry(fd, base, "/"+rel, &out)
		if fd != root {
			unix.Close(fd)
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", filepath.Join(dst, rel), err)
		}
	}
	return out, nil
}

func sanitizeEntry(dirfd int, base, name string, out *unsafeEntries) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // removed by a later layer
		}
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR, unix.S_IFBLK:
		if err := unix.Unlinkat(dirfd, base, 0); err != nil {
			return fmt.Errorf("removing the device node: %w", err)
		}
		out.devices = append(out.devices, name)
	case unix.S_IFREG:
		if st.Mode&(unix.S_ISUID|unix.S_ISGID) == 0 {
			return nil
		}
		// Fchmodat follows a symlink, but base is a regular file here
		// and the directory is private (0700) while the export runs.
		if err := unix.Fchmodat(dirfd, base, st.Mode&0o1777, 0); err != nil {
			return fmt.Errorf("clearing setuid/setgid: %w", err)
		}
		out.setid = append(out.setid, name)
	}
	return nil
}

// errNotInTree: a path component is missing, not a directory or a symlink.
var errNotInTree = errors.New("not a directory of the tree")

// openBeneath opens the directory rel below root one component at a time,
// refusing symbolic links; "" is root itself.
func openBeneath(root int, rel string) (int, error) {
	if rel == "" || rel == "." {
		return root, nil
	}
	fd := root
	for _, c := range strings.Split(rel, "/") {
		next, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if fd != root {
			unix.Close(fd)
		}
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return -1, errNotInTree
		}
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}
