//go:build linux

package cli

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// closedAddr is a loopback TCP address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "tcp://" + addr
}

func TestBuilderCommands(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("MANYARCH_BUILDER", "")
	root := t.TempDir()
	addr := closedAddr(t)
	mustRun(t, root, "builder", "create", "farm", "--node", "linux/amd64="+addr, "--node", "linux/arm64,linux/arm/v7=unix:///nonexistent/bk.sock")

	out := mustRun(t, root, "builder", "ls", "--timeout", "2s", "--format", "json")
	var views []builderView
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("builder ls --format json: %v\n%s", err, out)
	}
	if len(views) != 1 || len(views[0].Nodes) != 2 || views[0].Default {
		t.Fatalf("builder ls = %+v, want farm with 2 nodes, not the default", views)
	}
	n := views[0].Nodes[0]
	if n.Name != "farm0" || n.Reachable || !strings.Contains(n.Error, addr) || !strings.Contains(n.Error, "farm0") {
		t.Fatalf("node 0 = %+v, want farm0 unreachable naming %s", n, addr)
	}
	table := mustRun(t, root, "builder", "ls", "--timeout", "2s")
	for _, want := range []string{"local *", "farm0", "unreachable", "connection refused"} {
		if !strings.Contains(table, want) {
			t.Errorf("builder ls lacks %q:\n%s", want, table)
		}
	}

	// A build on it fails before anything runs, naming node and address,
	// and tags nothing.
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY Dockerfile /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, root, "build", "--builder", "farm", "--platform", "linux/amd64", "-t", "x:1", ctxDir)
	if err == nil || !strings.Contains(err.Error(), "farm0 ("+addr+")") || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("build --builder farm = %v, want farm0 (%s) unreachable", err, addr)
	}
	if out := mustRun(t, root, "images", "--format", "{{.Name}}"); strings.Contains(out, "x") {
		t.Fatalf("a failed build tagged: %s", out)
	}
	// One-off address and MANYARCH_BUILDER.
	if _, _, err := runCLI(t, root, "build", "--builder", addr, "-t", "x:1", ctxDir); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("build --builder %s = %v, want it named", addr, err)
	}
	t.Setenv("MANYARCH_BUILDER", "nosuch")
	if _, _, err := runCLI(t, root, "build", "-t", "x:1", ctxDir); err == nil || !strings.Contains(err.Error(), "no such builder: nosuch") {
		t.Fatalf("MANYARCH_BUILDER=nosuch build = %v, want no such builder", err)
	}
	t.Setenv("MANYARCH_BUILDER", "")

	mustRun(t, root, "builder", "use", "farm")
	var v builderView
	if err := json.Unmarshal([]byte(mustRun(t, root, "builder", "inspect", "--timeout", "1s", "--format", "json")), &v); err != nil || v.Name != "farm" || !v.Default {
		t.Fatalf("builder inspect after use = %+v, %v, want farm, default", v, err)
	}
	if _, _, err := runCLI(t, root, "builder", "create", "farm", "--node", addr); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("create farm twice = %v", err)
	}
	mustRun(t, root, "builder", "rm", "farm")
	if _, _, err := runCLI(t, root, "builder", "rm", "farm"); err == nil || !strings.Contains(err.Error(), "no such builder") {
		t.Fatalf("rm farm twice = %v", err)
	}
}

func TestBuilderCreateBadInput(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	root := t.TempDir()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte("x"), 0o600)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"local", "--node", "tcp://h:1"}, "built-in engine"},
		{[]string{"f", "--node", "linux/amd64=http://h:1"}, "want unix:///PATH.sock or tcp://HOST:PORT"},
		{[]string{"f"}, "at least one --node"},
		{[]string{"f", "--node", "tcp://a:1", "--node", "tcp://b:1", "--node", "tcp://c:1", "--tls-ca", ca, "--tls-ca", ca}, "--tls-ca given 2 times for 3 --node values"},
		{[]string{"f", "--node", "tcp://a:1", "--tls-ca", "/nonexistent/ca.pem"}, "/nonexistent/ca.pem"},
	} {
		_, _, err := runCLI(t, root, append([]string{"builder", "create"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("builder create %v = %v, want %q", tt.args, err, tt.want)
		}
	}
}
