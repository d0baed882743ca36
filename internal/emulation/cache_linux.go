package emulation

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// The probe cache remembers host handlers that passed a probe, so Plan does
// not pay an emulated process start (20-60 ms) on every run. An entry is an
// empty file named by a hash of everything the result depends on: the boot
// (handlers do not survive one), the handler as registered, the identity
// of its interpreter file, the probe mode and the probe itself. Only passes
// are cached. The cache lives in /run (root) or $XDG_RUNTIME_DIR, which are
// emptied at boot; without either there is no cache.

// probeCacheOverride replaces the cache directory in tests.
var probeCacheOverride string

func probeCacheDir() string {
	if probeCacheOverride != "" {
		return probeCacheOverride
	}
	if os.Geteuid() == 0 {
		return "/run/manyarch/probe-cache"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "manyarch", "probe-cache")
	}
	return ""
}

func probeCacheKey(h Handler, mode ProbeMode, probe []byte) (string, bool) {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", false
	}
	line, err := h.RegisterLine()
	if err != nil {
		return "", false
	}
	fi, err := os.Stat(h.Interpreter)
	if err != nil {
		return "", false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\n%s\n%d %d %d %d\n%v %v\n", boot, line, st.Dev, st.Ino, st.Size, fi.ModTime().UnixNano(), h.Enabled, mode)
	sum.Write(probe)
	return hex.EncodeToString(sum.Sum(nil)), true
}

// cachedPass reports whether h passed mode's probe of probe before.
func cachedPass(h Handler, mode ProbeMode, probe []byte) bool {
	dir := probeCacheDir()
	key, ok := probeCacheKey(h, mode, probe)
	if dir == "" || !ok {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, key))
	return err == nil
}

// rememberPass records a pass; failures to record are ignored (the next
// Plan probes again).
func rememberPass(h Handler, mode ProbeMode, probe []byte) {
	dir := probeCacheDir()
	key, ok := probeCacheKey(h, mode, probe)
	if dir == "" || !ok {
		return
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return
	}
	if f, err := os.OpenFile(filepath.Join(dir, key), os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		f.Close()
	}
}
