package sandbox_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/manyarch/manyarch/internal/netns"
	"github.com/manyarch/manyarch/internal/sandbox"
)

// freeLoopbackPort returns a TCP port of 127.0.0.1 that nothing listens on.
func freeLoopbackPort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// manyarchLinks lists the host's links made by netns.
func manyarchLinks(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, netns.LinkPrefix) {
			out = append(out, i.Name)
		}
	}
	return out
}

// httpGetRetry gets url until it answers, for at most 20 s.
func httpGetRetry(t *testing.T, url string) (string, error) {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Second}
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var resp *http.Response
		if resp, err = c.Get(url); err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == 200 {
				return string(b), nil
			}
			err = rerr
		}
	}
	return "", err
}

// TestRunNetworkPrivatePublish runs busybox httpd in a private network,
// published on a loopback port, gets a page through it from the host, and
// checks that the veth pair, its addresses and the slot lock are gone once
// Run returns.
func TestRunNetworkPrivatePublish(t *testing.T) {
	root := busybox(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	before := manyarchLinks(t)
	port := freeLoopbackPort(t)
	px, err := netns.Listen([]netns.Port{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: port, ContainerPort: 8080, Spec: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := &syncWriter{b: &strings.Builder{}}
	done := make(chan error, 1)
	go func() {
		_, err := sandbox.Run(ctx, sandbox.Spec{
			RootDir: root, Network: sandbox.NetworkPrivate, Publish: px,
			Args: []string{"sh", "-c", `mkdir -p /tmp/www && echo served-from-container > /tmp/www/index.html &&
				ip -o -4 addr show dev eth0 && ip route && ip link show lo | grep -q UP && echo lo-up &&
				exec httpd -f -p 8080 -h /tmp/www`},
			Stdout: out, Stderr: out,
			StopTimeout: 2 * time.Second,
		})
		done <- err
	}()
	body, gerr := httpGetRetry(t, "http://127.0.0.1:"+strconv.Itoa(int(port))+"/")
	// While it runs: exactly one more manyarch link, with the host address.
	during := manyarchLinks(t)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if gerr != nil || body != "served-from-container\n" {
		t.Fatalf("GET through the published port: %q, %v\ncontainer output:\n%s", body, gerr, out.String())
	}
	o := out.String()
	if !strings.Contains(o, "eth0") || !strings.Contains(o, netns.Subnet.Addr().String()[:7]) || !strings.Contains(o, "default via") || !strings.Contains(o, "lo-up") {
		t.Errorf("container network: want eth0 in %s with a default route and lo up, got:\n%s", netns.Subnet, o)
	}
	if len(during) != len(before)+1 {
		t.Errorf("links while running: %v (before: %v): want one more", during, before)
	}
	after := manyarchLinks(t)
	if len(after) != len(before) {
		t.Errorf("links after Run: %v (before: %v): the veth pair was left behind", after, before)
	}
	for _, l := range during {
		if !contains(before, l) {
			if _, err := os.Stat(filepath.Join(netns.StateDir, "slot-"+strings.TrimPrefix(l, netns.LinkPrefix)+".lock")); err == nil {
				t.Errorf("slot lock of %s left in %s", l, netns.StateDir)
			}
		}
	}
	if out, _ := exec.Command("ip", "-4", "addr").CombinedOutput(); strings.Contains(string(out), "10.231.") {
		t.Errorf("an address of %s is left on the host:\n%s", netns.Subnet, out)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// syncWriter lets the container's stdout and stderr share a builder.
type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
