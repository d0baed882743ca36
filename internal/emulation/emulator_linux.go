package emulation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/manyarch/manyarch/internal/emulation/probes"
	"github.com/manyarch/manyarch/internal/platform"
)

// versionTimeout bounds `qemu-TARGET --version` (a few milliseconds).
const versionTimeout = 5 * time.Second

// fileIdentity names the contents of the file at path as far as stat can
// tell: device, inode, size and modification time of its target.
func fileIdentity(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", fmt.Errorf("stat %s: no device and inode", path)
	}
	return fmt.Sprintf("%s\x00%d %d %d %d", path, st.Dev, st.Ino, st.Size, fi.ModTime().UnixNano()), nil
}

var (
	versionMem sync.Map // fileIdentity -> Version
	threadMem  sync.Map // cache key -> struct{} (passes only)
)

// cacheFile is the path of a cache entry named by a hash of parts, or ""
// when there is no cache directory (see probeCacheDir).
func cacheFile(kind string, parts ...string) string {
	dir := probeCacheDir()
	if dir == "" {
		return ""
	}
	sum := sha256.New()
	for _, p := range parts {
		sum.Write([]byte(p))
		sum.Write([]byte{0})
	}
	return filepath.Join(dir, kind+"-"+hex.EncodeToString(sum.Sum(nil)))
}

func writeCacheFile(path string, data []byte) {
	if path == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return
	}
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
	}
}

// EmulatorVersion runs `path --version` and parses what QEMU prints. The
// answer is remembered per file (path, inode, size, modification time),
// in memory and in the probe cache directory.
func EmulatorVersion(ctx context.Context, path string) (Version, error) {
	id, err := fileIdentity(path)
	if err != nil {
		return Version{}, fmt.Errorf("reading the version of %s: %w", path, err)
	}
	if v, ok := versionMem.Load(id); ok {
		return v.(Version), nil
	}
	cf := cacheFile("version", id)
	if cf != "" {
		if b, err := os.ReadFile(cf); err == nil {
			if v, err := ParseVersion("qemu-x version " + string(b)); err == nil {
				versionMem.Store(id, v)
				return v, nil
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Env = []string{}
	out, err := cmd.Output()
	if err != nil {
		return Version{}, fmt.Errorf("running %s --version: %w", path, err)
	}
	v, err := ParseVersion(string(out))
	if err != nil {
		return Version{}, fmt.Errorf("running %s --version: %w", path, err)
	}
	versionMem.Store(id, v)
	writeCacheFile(cf, []byte(v.String()))
	return v, nil
}

// ThreadProbe runs a's thread probe under the emulator at path, directly
// (`path [-cpu MODEL] PROBE`, no binfmt_misc), and reports what happened.
// A pass is remembered per emulator file and boot; a failure is not.
func ThreadProbe(ctx context.Context, a platform.Arch, path string) (ProbeResult, error) {
	// The key names the probe by its compressed form's digest: a cached
	// pass (every run after the first) needs no 1.4 MB decompression
	// and hash.
	digest, err := threadProbeDigest(a)
	if err != nil {
		return ProbeResult{}, err
	}
	id, err := fileIdentity(path)
	if err != nil {
		return ProbeResult{}, fmt.Errorf("thread probe of %s: %w", path, err)
	}
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	key := strings.Join([]string{string(boot), id, a.QEMUCPU, digest}, "\x00")
	if _, ok := threadMem.Load(key); ok {
		return ProbeResult{OK: true}, nil
	}
	cf := cacheFile("thread", key)
	if cf != "" {
		if _, err := os.Stat(cf); err == nil {
			threadMem.Store(key, struct{}{})
			return ProbeResult{OK: true}, nil
		}
	}
	bin, err := threadProbeBinary(a)
	if err != nil {
		return ProbeResult{}, err
	}
	dir, err := os.MkdirTemp("", "manyarch-probe-")
	if err != nil {
		return ProbeResult{}, fmt.Errorf("thread probe of %s: %w", a, err)
	}
	defer os.RemoveAll(dir)
	probe := filepath.Join(dir, "probe")
	if err := writeExecutable(probe, bin); err != nil {
		return ProbeResult{}, fmt.Errorf("thread probe of %s: %w", a, err)
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	args := []string{}
	if a.QEMUCPU != "" {
		args = append(args, "-cpu", a.QEMUCPU)
	}
	cmd := exec.CommandContext(ctx, path, append(args, probe)...)
	cmd.Dir = dir
	cmd.Env = []string{}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	want := probes.ThreadMessage(threadProbeGOARCH(a))
	res := ProbeResult{Output: firstLines(out.String(), 3)}
	switch {
	case runErr != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			runErr = fmt.Errorf("timed out after %v", probeTimeout)
		}
		res.Err = runErr
	case out.String() != want:
		res.Err = fmt.Errorf("printed %q, want %q", firstLines(out.String(), 3), want)
	default:
		res.OK = true
		threadMem.Store(key, struct{}{})
		writeCacheFile(cf, nil)
	}
	return res, nil
}

// firstLines keeps the first n lines of s (a crashing Go program prints
// hundreds; under QEMU 7.2 one line repeats "fatal error: " thousands of
// times), trimmed, each cut at maxLine bytes.
func firstLines(s string, n int) string {
	const maxLine = 160
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	for i, l := range lines {
		if len(l) > maxLine {
			lines[i] = l[:maxLine] + "..."
		}
	}
	return strings.Join(lines, " | ")
}
