package buildkit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/builders"
	"github.com/manyarch/manyarch/internal/engine"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/progress"
)

func mustPlatforms(t *testing.T, s ...string) []specs.Platform {
	t.Helper()
	ps, err := platform.ParseList(s...)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestAssign(t *testing.T) {
	n0 := Status{Node: builders.Node{Name: "f0", Addr: "tcp://a:1"}, Native: mustPlatforms(t, "linux/amd64"),
		Platforms: mustPlatforms(t, "linux/amd64", "linux/386", "linux/arm64")}
	n1 := Status{Node: builders.Node{Name: "f1", Addr: "tcp://b:1"}, Native: mustPlatforms(t, "linux/arm64", "linux/arm/v7"),
		Platforms: mustPlatforms(t, "linux/arm64", "linux/arm/v7")}
	got, err := Assign("farm", []Status{n0, n1}, mustPlatforms(t, "linux/arm64", "linux/amd64", "linux/386", "linux/arm/v7"))
	if err != nil {
		t.Fatal(err)
	}
	// arm64 goes to f1 (native) though f0, first, emulates it; 386 to f0
	// (emulated: no node has it natively).
	if formatList(got[0]) != "linux/amd64, linux/386" || formatList(got[1]) != "linux/arm64, linux/arm/v7" {
		t.Fatalf("Assign = %s | %s, want linux/amd64, linux/386 | linux/arm64, linux/arm/v7", formatList(got[0]), formatList(got[1]))
	}
	_, err = Assign("farm", []Status{n0, n1}, mustPlatforms(t, "linux/s390x"))
	var pe *PlatformError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "f1 (tcp://b:1): linux/arm64, linux/arm/v7") || !strings.Contains(err.Error(), "linux/s390x") {
		t.Fatalf("Assign(s390x) = %v, want a PlatformError naming each node's platforms", err)
	}
}

func TestTrackerLabels(t *testing.T) {
	var events []progress.Event
	n := builders.Node{Name: "farm1", Addr: "unix:///x"}
	tr := newTracker(n, mustPlatforms(t, "linux/arm64", "linux/arm/v7"), func(e progress.Event) { events = append(events, e) })
	tr.dfName = "build/Dockerfile.arm"
	d := digest.FromString("run")
	now := timeNow()
	tr.update(&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{{Digest: d, Name: "[linux/arm/v7 2/3] RUN make", Started: &now}}})
	tr.update(&bkclient.SolveStatus{Logs: []*bkclient.VertexLog{{Vertex: d, Data: []byte("line 1\nline 2\npart")}}})
	tr.update(&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{{Digest: d, Name: "[linux/arm/v7 2/3] RUN make", Started: &now, Completed: &now, Error: "exit code: 2"}}})
	if len(events) != 2 || events[0].Status != progress.StatusRunning || events[1].Status != progress.StatusFailed {
		t.Fatalf("events = %+v, want running then failed", events)
	}
	if events[0].Platform != "linux/arm/v7" || !strings.HasPrefix(events[0].Name, "farm1: ") {
		t.Fatalf("event = %+v, want platform linux/arm/v7 and the node's name", events[0])
	}
	err := tr.explain(errors.New("failed to solve: exit code: 2"))
	var se *StepError
	if !errors.As(err, &se) || se.Platform != "linux/arm/v7" || !strings.Contains(err.Error(), "line 2\n  part") || !strings.Contains(err.Error(), "node farm1 (unix:///x)") {
		t.Fatalf("explain = %v, want a StepError naming node, platform and the log", err)
	}
	// A lost connection is the node's failure, whatever a step reported.
	if err := tr.explain(errors.New("rpc error: code = Unavailable desc = error reading from server: EOF")); !errors.As(err, new(*NodeError)) {
		t.Fatalf("explain(lost connection) = %v, want a NodeError", err)
	}
	// No failed step: the node itself failed.
	tr2 := newTracker(n, nil, nil)
	var ne *NodeError
	if err := tr2.explain(errors.New("connection reset")); !errors.As(err, &ne) || !strings.Contains(err.Error(), "farm1") {
		t.Fatalf("explain without a failed step = %v, want a NodeError naming farm1", err)
	}
}

func TestCheckTLS(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		tls  builders.TLS
		want string
	}{
		{builders.TLS{CA: bad}, "--tls-ca " + bad + ": no PEM certificate"},
		{builders.TLS{CA: filepath.Join(dir, "gone.pem")}, "gone.pem"},
		{builders.TLS{Cert: bad, Key: bad}, "--tls-cert " + bad + " with --tls-key " + bad},
	} {
		err := checkTLS(builders.Node{Name: "n0", Addr: "tcp://h:1", TLS: tt.tls})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("checkTLS(%+v) = %v, want %q", tt.tls, err, tt.want)
		}
	}
}

func TestContextKey(t *testing.T) {
	for in, want := range map[string]string{
		"fixtures/busybox:1.35":           "context:fixtures/busybox:1.35",
		"alpine":                          "context:alpine",
		"docker.io/library/alpine:latest": "context:alpine",
		"127.0.0.1:5000/x/y:2":            "context:127.0.0.1:5000/x/y:2",
	} {
		if got, err := ContextKey(in); err != nil || got != want {
			t.Errorf("ContextKey(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
}

func timeNow() time.Time { return time.Now() }

func TestCheckRequest(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		req  engine.Request
		want string
	}{
		{engine.Request{ContextDir: dir, CheckOnly: true}, "--check"},
		{engine.Request{ContextDir: dir, MemoryLimit: 1 << 30}, "--memory-limit"},
		{engine.Request{ContextDir: dir, Attest: engine.Attest{SBOM: true}}, "--sbom"},
		{engine.Request{ContextDir: filepath.Join(dir, "gone")}, "gone"},
		{engine.Request{}, "no context directory"},
	} {
		if err := checkRequest(&tt.req); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("checkRequest(%+v) = %v, want %q", tt.req, err, tt.want)
		}
	}
	if err := checkRequest(&engine.Request{ContextDir: dir}); err != nil {
		t.Errorf("checkRequest(plain) = %v", err)
	}
}
