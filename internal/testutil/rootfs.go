package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// BusyboxArches are the Debian architectures BusyboxRootfs accepts: the
// eight platforms of the fixtures/busybox image.
var BusyboxArches = []string{"amd64", "arm64", "armhf", "armel", "i386", "ppc64el", "s390x", "mips64el"}

// debCacheDirs are tried in order for the downloaded .deb files.
func debCacheDir() string {
	if d := os.Getenv("MANYARCH_TEST_CACHE"); d != "" {
		return filepath.Join(d, "debs")
	}
	if os.Geteuid() == 0 {
		return "/var/cache/manyarch-test/debs"
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "manyarch-test", "debs")
	}
	return filepath.Join(os.TempDir(), "manyarch-test", "debs")
}

// busyboxMu serialises fetches within one test binary; a file lock in the
// cache directory serialises them across test binaries.
var busyboxMu sync.Mutex

// BusyboxRootfs returns a new directory holding a minimal root filesystem
// with Debian's busybox-static for debArch (one of BusyboxArches):
//
//	/bin/busybox, /bin/<applet> -> busybox for every applet,
//	/etc/passwd (root, nobody), /etc/group (root, nogroup), /root, /tmp (1777).
//
// This is the layout of the fixtures/busybox:1.35 image. The .deb is
// downloaded once with `apt-get download busybox-static:ARCH` into a cache
// directory (/var/cache/manyarch-test/debs for root, $MANYARCH_TEST_CACHE/debs
// when set); the test is skipped, with the reason, when it cannot be fetched.
// Each call returns a fresh copy in t.TempDir(), so a test may change it.
func BusyboxRootfs(t testing.TB, debArch string) string {
	t.Helper()
	known := false
	for _, a := range BusyboxArches {
		known = known || a == debArch
	}
	if !known {
		t.Fatalf("BusyboxRootfs(%q): unknown Debian architecture; want one of %s", debArch, strings.Join(BusyboxArches, ", "))
	}
	deb, err := fetchBusyboxDeb(debArch)
	if err != nil {
		t.Skipf("needs busybox-static:%s from Debian: %v", debArch, err)
	}
	applets, err := busyboxApplets(t, debArch)
	if err != nil {
		t.Skipf("needs the busybox applet list: %v", err)
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := extractBusybox(deb, root); err != nil {
		t.Fatalf("unpacking %s: %v", deb, err)
	}
	if err := populateRootfs(root, applets); err != nil {
		t.Fatalf("building busybox rootfs: %v", err)
	}
	return root
}

// fetchBusyboxDeb returns the path of the cached busybox-static .deb for
// debArch, downloading it first when needed.
func fetchBusyboxDeb(debArch string) (string, error) {
	busyboxMu.Lock()
	defer busyboxMu.Unlock()
	dir := debCacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating cache %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("opening cache lock: %w", err)
	}
	defer lock.Close()
	if err := lockExclusive(lock); err != nil {
		return "", fmt.Errorf("locking cache %s: %w", dir, err)
	}
	defer unlock(lock) //nolint:errcheck // released on close anyway

	if p := findDeb(dir, debArch); p != "" {
		return p, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("apt-get is not available (a Debian or Ubuntu host is needed)")
	}
	download := func() ([]byte, error) {
		cmd := exec.Command("apt-get", "download", "busybox-static:"+debArch)
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	out, err := download()
	if err != nil && os.Geteuid() == 0 {
		// The architecture may be missing from dpkg, or the lists stale.
		if !hasForeignArch(debArch) {
			if o, err := exec.Command("dpkg", "--add-architecture", debArch).CombinedOutput(); err != nil {
				return "", fmt.Errorf("dpkg --add-architecture %s: %v: %s", debArch, err, bytes.TrimSpace(o))
			}
		}
		if o, err := exec.Command("apt-get", "update").CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get update: %v: %s", err, lastLine(o))
		}
		out, err = download()
	}
	if err != nil {
		return "", fmt.Errorf("apt-get download busybox-static:%s: %v: %s", debArch, err, lastLine(out))
	}
	if p := findDeb(dir, debArch); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("apt-get download busybox-static:%s left no .deb in %s", debArch, dir)
}

func findDeb(dir, debArch string) string {
	m, _ := filepath.Glob(filepath.Join(dir, "busybox-static_*_"+debArch+".deb"))
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1]
}

func hasForeignArch(debArch string) bool {
	out, err := exec.Command("dpkg", "--print-foreign-architectures").Output()
	if err != nil {
		return false
	}
	for _, a := range strings.Fields(string(out)) {
		if a == debArch {
			return true
		}
	}
	out, err = exec.Command("dpkg", "--print-architecture").Output()
	return err == nil && strings.TrimSpace(string(out)) == debArch
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// extractBusybox unpacks the busybox binary of a busybox-static .deb into
// root/bin/busybox.
func extractBusybox(deb, root string) error {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		return errors.New("dpkg-deb is not available")
	}
	tmp, err := os.MkdirTemp("", "busybox-deb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.Command("dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb -x: %v: %s", err, bytes.TrimSpace(out))
	}
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		return err
	}
	return copyFile(filepath.Join(tmp, "bin", "busybox"), filepath.Join(root, "bin", "busybox"), 0o755)
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

var (
	appletsOnce sync.Once
	appletsList []string
	appletsErr  error
)

// busyboxApplets lists the applets of Debian's busybox-static. The applet
// set is the same on every architecture (one build configuration), so the
// list comes from the host architecture's busybox, which runs without QEMU.
func busyboxApplets(t testing.TB, debArch string) ([]string, error) {
	t.Helper()
	appletsOnce.Do(func() {
		out, err := exec.Command("dpkg", "--print-architecture").Output()
		if err != nil {
			appletsErr = fmt.Errorf("dpkg --print-architecture: %w", err)
			return
		}
		host := strings.TrimSpace(string(out))
		deb, err := fetchBusyboxDeb(host)
		if err != nil {
			appletsErr = err
			return
		}
		tmp, err := os.MkdirTemp("", "busybox-list-")
		if err != nil {
			appletsErr = err
			return
		}
		defer os.RemoveAll(tmp)
		if err := extractBusybox(deb, tmp); err != nil {
			appletsErr = err
			return
		}
		out, err = exec.Command(filepath.Join(tmp, "bin", "busybox"), "--list").Output()
		if err != nil {
			appletsErr = fmt.Errorf("busybox --list: %w", err)
			return
		}
		for _, a := range strings.Fields(string(out)) {
			if a != "busybox" && !strings.Contains(a, "/") {
				appletsList = append(appletsList, a)
			}
		}
		if len(appletsList) == 0 {
			appletsErr = errors.New("busybox --list printed no applets")
		}
	})
	return appletsList, appletsErr
}

// populateRootfs adds the applet links and the few files of the fixture
// layout around root/bin/busybox.
func populateRootfs(root string, applets []string) error {
	for _, a := range applets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	for _, d := range []struct {
		path string
		mode fs.FileMode
	}{{"etc", 0o755}, {"root", 0o700}, {"tmp", 0o1777}} {
		p := filepath.Join(root, d.path)
		if err := os.Mkdir(p, d.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, d.mode); err != nil { // umask
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
