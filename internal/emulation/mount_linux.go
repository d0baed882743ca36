package emulation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

const binfmtMagic = 0x42494e4d // BINFMTFS_MAGIC

// mountedMarker records that manyarch mounted the host's binfmt_misc, so
// that uninstalling the last handler can unmount it again. It lives in
// /run, which is cleared at boot, as the mount is.
const mountedMarker = "/run/manyarch/binfmt_misc.mounted"

// isMounted reports whether a binfmt_misc file system is mounted at dir.
func isMounted(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type == binfmtMagic
}

// mountAt mounts binfmt_misc at dir.
func mountAt(dir string) error {
	if err := unix.Mount("binfmt_misc", dir, "binfmt_misc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("mounting binfmt_misc at %s: %w (%w)", dir, err, ErrNeedsRoot)
		}
		return fmt.Errorf("mounting binfmt_misc at %s: %w", dir, err)
	}
	return nil
}

// MountHost mounts the host's binfmt_misc at HostMount when it is not
// mounted, as systemd's proc-sys-fs-binfmt_misc mount unit does, and leaves
// it mounted: the kernel drops every handler when its last mount goes.
// It reports whether it mounted it.
func MountHost(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if isMounted(HostMount) {
		return false, nil
	}
	if os.Geteuid() != 0 {
		return false, fmt.Errorf("%s: %w, and mounting it needs root", HostMount, ErrNotMounted)
	}
	if err := mountAt(HostMount); err != nil {
		return false, err
	}
	// Best effort: without the marker, uninstall leaves the mount.
	if err := os.MkdirAll(filepath.Dir(mountedMarker), 0o755); err == nil {
		_ = os.WriteFile(mountedMarker, []byte(HostMount+"\n"), 0o644)
	}
	return true, nil
}

// unmountHostIfOurs unmounts the host's binfmt_misc when manyarch mounted
// it and no handler is left in it, restoring the state before install.
func unmountHostIfOurs(ctx context.Context) (bool, error) {
	if _, err := os.Stat(mountedMarker); err != nil {
		return false, nil
	}
	hs, err := ReadHandlers(ctx, HostMount)
	if err != nil || len(hs) > 0 {
		return false, err
	}
	if err := unix.Unmount(HostMount, 0); err != nil {
		return false, fmt.Errorf("unmounting %s: %w", HostMount, err)
	}
	_ = os.Remove(mountedMarker)
	return true, nil
}

// readHost returns the host's handlers and whether binfmt_misc is switched
// on as a whole. When binfmt_misc is not mounted at HostMount, it returns
// ErrNotMounted: the kernel keeps handlers only while an instance is
// mounted, so there are none in use that programs would hit there, and
// reading never changes the host (mounting it here would also race with
// other manyarch processes planning at the same moment).
func readHost(ctx context.Context) (hs []Handler, enabled bool, err error) {
	if !isMounted(HostMount) {
		return nil, false, fmt.Errorf("%s: %w", HostMount, ErrNotMounted)
	}
	hs, err = ReadHandlers(ctx, HostMount)
	if err != nil {
		return nil, false, err
	}
	enabled, err = globallyEnabled(HostMount)
	return hs, enabled, err
}
