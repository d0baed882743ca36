package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxLowers is overlayfs' limit on stacked lower directories.
const maxLowers = 500

// Mount makes a root file system of the layer directories lowers (top
// first, as Snapshotter.Prepare returns them) with a fresh, empty upper
// directory, and returns it. It is a pure function of its arguments, so a
// sandbox may call it inside its own mount and user namespace (set
// opts.UserXattr there).
//
// Lower directories are passed to overlayfs one by one (fsconfig
// "lowerdir+", Linux 6.8), so their number is not limited by the page-sized
// mount option string; on older kernels a single "lowerdir" option is used,
// which holds a few dozen layers. The overlay is mounted with redirect_dir,
// metacopy and index off, so the upper directory is always a complete diff.
//
// When overlayfs cannot be mounted (no privilege, no overlayfs, a file
// system it cannot stack) and opts.NoFallback is not set, the layers are
// copied instead (CopyRoot) and RootFS.Overlay reports false.
func Mount(ctx context.Context, lowers []string, opts MountOptions) (*RootFS, error) {
	if len(lowers) > maxLowers {
		return nil, fmt.Errorf("mounting %d layers: overlayfs stacks at most %d; squash the image's layers", len(lowers), maxLowers)
	}
	for _, l := range lowers {
		if !filepath.IsAbs(l) {
			return nil, fmt.Errorf("mounting layers: lower directory %q is not an absolute path", l)
		}
	}
	dir, err := os.MkdirTemp(opts.TempDir, "manyarch-mount-")
	if err != nil {
		return nil, fmt.Errorf("creating mount directory: %w", err)
	}
	m := &RootFS{dir: dir, root: opts.Target}
	fail := func(err error) (*RootFS, error) {
		_ = m.Close()
		return nil, err
	}
	if m.root == "" {
		m.root = filepath.Join(dir, "rootfs")
		m.ownTarget = true
	}
	if err := os.MkdirAll(m.root, 0o755); err != nil {
		return fail(fmt.Errorf("creating mount target %s: %w", m.root, err))
	}
	if names, err := readNames(m.root); err != nil {
		return fail(fmt.Errorf("reading mount target %s: %w", m.root, err))
	} else if len(names) > 0 {
		return fail(fmt.Errorf("mount target %s is not empty; pass an empty directory", m.root))
	}

	if !opts.Copy {
		err := m.mountOverlay(lowers, opts)
		if err == nil {
			return m, nil
		}
		if opts.NoFallback {
			return fail(fmt.Errorf("mounting %s: %w: %w", m.root, ErrOverlayUnavailable, err))
		}
		m.fallback = err
	}
	m.base = filepath.Join(dir, "base")
	if err := os.Mkdir(m.base, 0o755); err != nil {
		return fail(fmt.Errorf("creating %s: %w", m.base, err))
	}
	if err := CopyRoot(ctx, lowers, m.base); err != nil {
		return fail(err)
	}
	if err := CopyRoot(ctx, []string{m.base}, m.root); err != nil {
		return fail(err)
	}
	if err := copyRootMeta(m.base, m.root); err != nil {
		return fail(err)
	}
	return m, nil
}

// copyRootMeta gives dst the mode, owner and times of src's top directory,
// which CopyRoot (copying what is below) leaves alone.
func copyRootMeta(src, dst string) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return fmt.Errorf("inspecting %s: %w", src, err)
	}
	chown, _, _ := privileges()
	c := &copier{chown: chown}
	return c.meta(dst, &st, nil)
}

func (m *RootFS) mountOverlay(lowers []string, opts MountOptions) error {
	m.upper = filepath.Join(m.dir, "upper")
	work := filepath.Join(m.dir, "work")
	for _, d := range []string{m.upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if len(lowers) == 0 {
		empty := filepath.Join(m.dir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", empty, err)
		}
		lowers = []string{empty}
	}
	err := fsmountOverlay(lowers, m.upper, work, m.root, opts)
	if err != nil {
		m.upper = ""
		return err
	}
	m.overlay = true
	return nil
}

func fsmountOverlay(lowers []string, upper, work, target string, opts MountOptions) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("opening overlayfs: %w", err)
	}
	defer unix.Close(fsfd)
	set := func(k, v string) error {
		if err := unix.FsconfigSetString(fsfd, k, v); err != nil {
			return fmt.Errorf("overlayfs option %s=%s: %w", k, v, err)
		}
		return nil
	}
	if err := unix.FsconfigSetString(fsfd, "lowerdir+", lowers[0]); err == nil {
		for _, l := range lowers[1:] {
			if err := set("lowerdir+", l); err != nil {
				return err
			}
		}
	} else if err == unix.EINVAL {
		// Before Linux 6.8: one option, limited to a page.
		esc := make([]string, len(lowers))
		for i, l := range lowers {
			esc[i] = strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`).Replace(l)
		}
		if err := set("lowerdir", strings.Join(esc, ":")); err != nil {
			return fmt.Errorf("%w (more layers than this kernel can take in one option; Linux 6.8 takes any number)", err)
		}
	} else {
		return fmt.Errorf("overlayfs option lowerdir+: %w", err)
	}
	if err := set("upperdir", upper); err != nil {
		return err
	}
	if err := set("workdir", work); err != nil {
		return err
	}
	if opts.UserXattr {
		if err := unix.FsconfigSetFlag(fsfd, "userxattr"); err != nil {
			return fmt.Errorf("overlayfs option userxattr: %w", err)
		}
	}
	opt := [][2]string{{"index", "off"}, {"metacopy", "off"}}
	if !opts.UserXattr {
		// userxattr implies that redirects are never created (and refuses
		// an explicit redirect_dir); otherwise turn them off.
		opt = append(opt, [2]string{"redirect_dir", "off"})
	}
	for _, kv := range opt {
		if err := set(kv[0], kv[1]); err != nil {
			return err
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		if msg := fsLog(fsfd); msg != "" {
			return fmt.Errorf("creating overlay: %w (%s)", err, msg)
		}
		return fmt.Errorf("creating overlay: %w", err)
	}
	// nodev: these views (the build's stage and image roots, the test's
	// file view) may be bound into containers, whose root is host uid 0 for
	// file permissions; an image's device node must never open a host
	// device through them (a mount made inside a user namespace is nodev by
	// itself, one made by host root is not).
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return fmt.Errorf("mounting overlay: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attaching overlay at %s: %w", target, err)
	}
	return nil
}

// Diff writes the layer of everything changed under Root since Mount: the
// upper directory through WriteDiff, or a tree comparison with the pristine
// copy in copy mode.
func (m *RootFS) Diff(ctx context.Context, w io.Writer, opts TarOptions) error {
	if m.overlay {
		return WriteDiff(ctx, w, m.upper, opts)
	}
	return Diff(ctx, w, m.base, m.root, opts)
}

// Close unmounts the root file system and removes the mount's temporary
// directories (and, in copy mode, the copy at Root). It is idempotent and
// safe to call from several goroutines; every call returns the first
// call's result.
func (m *RootFS) Close() error {
	m.closeOnce.Do(func() {
		var errs []error
		if m.overlay {
			err := unix.Unmount(m.root, 0)
			if err == unix.EBUSY {
				err = unix.Unmount(m.root, unix.MNT_DETACH)
			}
			if err != nil && err != unix.EINVAL && err != unix.ENOENT {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", m.root, err))
			}
		}
		if len(errs) == 0 {
			if !m.ownTarget && !m.overlay && m.base != "" {
				// A copy made into the caller's directory: empty it.
				names, _ := readNames(m.root)
				for _, n := range names {
					if err := removeTree(filepath.Join(m.root, n)); err != nil {
						errs = append(errs, fmt.Errorf("removing %s: %w", filepath.Join(m.root, n), err))
					}
				}
			}
			if err := removeTree(m.dir); err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", m.dir, err))
			}
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// fsLog returns the messages the kernel left on a file system context, which
// explain why an option or the mount was refused.
func fsLog(fsfd int) string {
	var msgs []string
	buf := make([]byte, 1024)
	for range 16 {
		n, err := unix.Read(fsfd, buf)
		if err != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	return strings.Join(msgs, "; ")
}
