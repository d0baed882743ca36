package imagetest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/manyarch/manyarch/internal/netns"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestListenLoopbackPortInUse: a hostPort something else listens on is an
// error naming the port and what to do; hostPort 0 picks a free port.
func TestListenLoopbackPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	_, err = listenLoopback(8080, busy)
	if err == nil {
		t.Fatalf("listenLoopback(8080, %d) on a port in use = nil error", busy)
	}
	for _, want := range []string{fmt.Sprintf("hostPort %d", busy), "already in use", "leave hostPort out (0) for a free port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	px, err := listenLoopback(8080, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	if a := px.Ports()[0].HostAddr(); !a.Addr().IsLoopback() || a.Port() == 0 || int(a.Port()) == busy {
		t.Errorf("free port = %s, want a loopback port other than %d", a, busy)
	}
}

// goService cross-compiles examples/service for goarch, with the source's
// old text replaced by new (a planted defect) when old is not "", and
// returns an image running it, as examples/service/Dockerfile makes it.
func goService(t *testing.T, p, goarch, old, new string) v1.Image {
	t.Helper()
	goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = testutil.RequireCommand(t, "go", "golang")
	}
	src, err := os.ReadFile("../../examples/service/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if old != "" {
		if !strings.Contains(string(src), old) {
			t.Fatalf("examples/service/main.go has no %q to plant a defect in", old)
		}
		src = []byte(strings.Replace(string(src), old, new, 1))
	}
	work, out := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(out, "usr", "local", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	arch, arm, _ := strings.Cut(goarch, "/")
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w -X main.version=1.0.0", "-o", filepath.Join(bin, "service"), "main.go")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "GOARM="+arm, "CGO_ENABLED=0", "GO111MODULE=off", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building examples/service for %s: %v\n%s", goarch, err, b)
	}
	return image(t, p, v1.Config{Entrypoint: []string{"/usr/local/bin/service"}, Env: []string{"PORT=8080"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}}}, dirLayer(t, out))
}

// TestSandboxService is the acceptance check on the real example:
// examples/service/tests.yaml passes on amd64 (native), arm64 and s390x
// (QEMU) in real containers with private networks, and an index whose
// arm64 build answers "arch" instead of "goarch" fails the arm64 column
// only. Afterwards nothing listens on the published addresses.
func TestSandboxService(t *testing.T) {
	testutil.Short(t, "cross-compiles examples/service and runs it under QEMU")
	x := requireSandbox(t)
	testutil.RequireCommand(t, "qemu-s390x-static", "qemu-user-static")
	testutil.RequireCommand(t, "ip", "iproute2")
	testutil.RequireCommand(t, "nsenter", "util-linux")
	c, err := Load("../../examples/service/tests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The example's load is sized for the demo; a smaller one here.
	c.ServiceTests[0].Load.Requests = 60
	amd64, s390x := goService(t, "linux/amd64", "amd64", "", ""), goService(t, "linux/s390x", "s390x", "", "")
	good := index(t, amd64, goService(t, "linux/arm64", "arm64", "", ""), s390x)
	r := run(t, good, x, []*Config{c})
	text := textReport(t, r)
	t.Log("\n" + text)
	for i, s := range statuses(r) {
		if strings.Contains(s, "fail") {
			t.Errorf("%s: %s, want every platform to pass", r.Tests[i].Name, s)
		}
	}
	checkClosed(t, r)

	planted := index(t, amd64, goService(t, "linux/arm64", "arm64", "`json:\"goarch\"`", "`json:\"arch\"`"), s390x)
	r = run(t, planted, x, []*Config{c})
	t.Log("\n" + textReport(t, r))
	var failed []string
	for i, s := range statuses(r) {
		if strings.Contains(s, "fail") {
			failed = append(failed, r.Tests[i].Name+": "+s)
		}
	}
	want := []string{
		"Service Test: status API: status answers its version and GOARCH: pass fail pass",
		"Service Test: status API: consistency: status is the same on every platform: pass fail pass",
	}
	if !slices.Equal(failed, want) {
		t.Errorf("planted arm64: failed rows = %q, want %q", failed, want)
	}
	checkClosed(t, r)
}

// checkClosed fails t when a service's published address still accepts
// connections after the run.
func checkClosed(t *testing.T, r *Report) {
	t.Helper()
	for _, s := range r.Services {
		for _, res := range s.Results {
			if res.Address == "" {
				continue
			}
			if c, err := net.DialTimeout("tcp", res.Address, time.Second); err == nil {
				c.Close()
				t.Errorf("%s: %s still accepts connections after the run", s.Name, res.Address)
			}
		}
	}
}

// TestServiceKilledRunLeavesNothing: a manyarch test killed with SIGKILL
// while its service runs leaves no container process and no link behind,
// and no slot lock once netns.Sweep has run (every later manyarch run
// calls it; another one running on the host may already have).
func TestServiceKilledRunLeavesNothing(t *testing.T) {
	testutil.Short(t, "builds examples/service and runs manyarch test as a child")
	requireSandbox(t)
	testutil.RequireCommand(t, "ip", "iproute2")
	testutil.RequireCommand(t, "nsenter", "util-linux")
	bin := testutil.RequireFixtures(t).Binary
	dir := t.TempDir()
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(goService(t, "linux/amd64", "amd64", "", "")); err != nil {
		t.Fatal(err)
	}
	tests := filepath.Join(dir, "tests.yaml")
	if err := os.WriteFile(tests, []byte(`schemaVersion: 2.0.0
serviceTests:
- name: long load
  port: 8080
  readiness: {http: /healthz}
  load: {path: /status, duration: 2m, concurrency: 1}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "test", "oci:"+filepath.Join(dir, "oci"), "-c", tests, "-q")
	cmd.Env = append(os.Environ(), "MANYARCH_ROOT="+filepath.Join(dir, "root"), "TMPDIR="+dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log("manyarch: " + sc.Text())
		}
	}()
	// The service is up when manyarch holds a slot of the network.
	var lock, link string
	var nsPid int
	deadline := time.Now().Add(90 * time.Second)
	for lock == "" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		files, _ := filepath.Glob(filepath.Join(netns.StateDir, "slot-*.lock"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			var pid int
			var l string
			var np int
			if _, err := fmt.Sscanf(string(b), "pid=%d link=%s netns-pid=%d", &pid, &l, &np); err == nil && pid == cmd.Process.Pid {
				lock, link, nsPid = f, l, np
			}
		}
	}
	if lock == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("manyarch test never attached a service network")
	}
	time.Sleep(time.Second) // the load is running
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// The container dies with manyarch (its init has a parent-death
	// signal); its network namespace, and the veth pair in it, with it.
	gone := func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", nsPid))
		return os.IsNotExist(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !gone() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if !gone() {
		t.Errorf("the container's init (pid %d) outlived the killed manyarch", nsPid)
	}
	netns.Sweep()
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("slot lock %s is still there after Sweep", lock)
	}
	if out, err := exec.Command("ip", "-o", "link", "show", "dev", link).CombinedOutput(); err == nil {
		t.Errorf("link %s is still there after Sweep: %s", link, out)
	}
}
