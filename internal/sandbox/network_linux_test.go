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
	"regexp"
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
	var during []string
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
	during = manyarchLinks(t)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if gerr != nil || body != "served-from-container\n" {
		t.Fatalf("GET through the published port: %q, %v\ncontainer output:\n%s", body, gerr, out.String())
	}
	o := out.String()
	m := regexp.MustCompile(`inet (10\.231\.[0-9.]+)/30`).FindStringSubmatch(o)
	if m == nil || !strings.Contains(o, "default via") || !strings.Contains(o, "lo-up") {
		t.Fatalf("container network: want eth0 in %s with a default route and lo up, got:\n%s", netns.Subnet, o)
	}
	// Its own link (other tests may run links of their own meanwhile).
	link := netns.LinkOf(netip.MustParseAddr(m[1]))
	if link == "" || !contains(during, link) {
		t.Errorf("link %q of container address %s was not on the host while it ran (links: %v)", link, m[1], during)
	}
	if contains(manyarchLinks(t), link) {
		t.Errorf("%s is left on the host after Run", link)
	}
	if _, err := os.Stat(filepath.Join(netns.StateDir, "slot-"+strings.TrimPrefix(link, netns.LinkPrefix)+".lock")); err == nil {
		t.Errorf("slot lock of %s left in %s", link, netns.StateDir)
	}
	if out, _ := exec.Command("ip", "-4", "-o", "addr").CombinedOutput(); strings.Contains(string(out), " "+link+" ") {
		t.Errorf("an address of %s is left on the host:\n%s", link, out)
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
