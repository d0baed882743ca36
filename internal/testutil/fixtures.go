package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Fixtures are the test base images of hack/fixtures.sh as OCI archives,
// for tests to copy into stores of their own:
//
//	manyarch copy oci-archive:$(f.Busybox) fixtures/busybox:1.35
type Fixtures struct {
	// Busybox is fixtures/busybox:1.35: Debian's busybox-static for
	// linux/amd64, arm64, arm/v7, arm/v5, 386, ppc64le, s390x, mips64le.
	Busybox string
	// Hello is fixtures/hello:1.0: examples/hello, static, for every
	// platform of the architecture table, ENTRYPOINT ["/hello"].
	Hello string
	// Binary is a manyarch binary built from this checkout.
	Binary string
}

var (
	fixturesOnce sync.Once
	fixtures     Fixtures
	fixturesErr  string
)

// RequireFixtures makes the fixture images once per cache (and again when
// hack/fixtures.sh or examples/hello change) and returns them. It skips the
// test with a reason when they cannot be made (no Debian packages reachable,
// not root). The work is shared by concurrent test binaries through a lock.
func RequireFixtures(t testing.TB) Fixtures {
	t.Helper()
	fixturesOnce.Do(func() { fixtures, fixturesErr = makeFixtures() })
	if fixturesErr != "" {
		t.Skipf("test fixtures unavailable: %s (run hack/deps.sh, as root)", fixturesErr)
	}
	return fixtures
}

// ModuleRoot returns the directory of this checkout's go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

func makeFixtures() (Fixtures, string) {
	if os.Geteuid() != 0 {
		return Fixtures{}, "making them needs root (dpkg architectures, apt-get download)"
	}
	top, err := ModuleRoot()
	if err != nil {
		return Fixtures{}, "finding the module root: " + err.Error()
	}
	cache := debCacheDir()
	dir := filepath.Join(filepath.Dir(cache), "fixtures")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Fixtures{}, err.Error()
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return Fixtures{}, err.Error()
	}
	defer lock.Close()
	if err := lockExclusive(lock); err != nil {
		return Fixtures{}, err.Error()
	}
	f := Fixtures{
		Busybox: filepath.Join(dir, "busybox.tar"),
		Hello:   filepath.Join(dir, "hello.tar"),
		Binary:  filepath.Join(dir, "manyarch"),
	}
	// The binary is rebuilt every time (the Go cache makes that cheap), so
	// tests run the code of this checkout.
	build := exec.Command("go", "build", "-o", f.Binary, "./cmd/manyarch")
	build.Dir = top
	if out, err := build.CombinedOutput(); err != nil {
		return Fixtures{}, "building manyarch: " + err.Error() + ": " + string(out)
	}
	stamp, err := inputsHash(top, "hack/fixtures.sh", "examples/hello/main.go")
	if err != nil {
		return Fixtures{}, err.Error()
	}
	if b, err := os.ReadFile(filepath.Join(dir, "stamp")); err == nil && string(b) == stamp {
		if exists(f.Busybox) && exists(f.Hello) {
			return f, ""
		}
	}
	store := filepath.Join(dir, "store")
	os.RemoveAll(store)
	cmd := exec.Command("bash", "hack/fixtures.sh")
	cmd.Dir = top
	cmd.Env = append(os.Environ(), "MANYARCH="+f.Binary, "MANYARCH_ROOT="+store, "MANYARCH_TEST_CACHE="+filepath.Dir(cache))
	if out, err := cmd.CombinedOutput(); err != nil {
		return Fixtures{}, "hack/fixtures.sh: " + err.Error() + ": " + lastLine(out)
	}
	for name, dst := range map[string]string{"fixtures/busybox:1.35": f.Busybox, "fixtures/hello:1.0": f.Hello} {
		cp := exec.Command(f.Binary, "copy", "-q", name, "oci-archive:"+dst)
		cp.Env = append(os.Environ(), "MANYARCH_ROOT="+store)
		if out, err := cp.CombinedOutput(); err != nil {
			return Fixtures{}, "exporting " + name + ": " + string(out)
		}
	}
	os.RemoveAll(store)
	if err := os.WriteFile(filepath.Join(dir, "stamp"), []byte(stamp), 0o644); err != nil {
		return Fixtures{}, err.Error()
	}
	return f, ""
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// inputsHash hashes the files that decide what the fixtures hold.
func inputsHash(top string, files ...string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		r, err := os.Open(filepath.Join(top, f))
		if err != nil {
			return "", err
		}
		io.WriteString(h, f+"\x00")
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
