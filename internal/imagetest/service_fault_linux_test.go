package imagetest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/fault"
	"github.com/manyarch/manyarch/internal/testutil"
)

// hogService is a small HTTP service that, when built with a non-zero
// hogMiB (the planted defect), allocates that much memory per request.
const hogService = `package main

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
)

var hogMiB = "0"

func main() {
	n, _ := strconv.Atoi(hogMiB)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if n > 0 {
			b := make([]byte, n<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1 // one byte a page commits the page
			}
			defer debug.FreeOSMemory()
		}
		fmt.Fprintf(w, "ok %s\n", runtime.GOARCH)
	})
	if err := http.ListenAndServe(":8080", nil); err != nil {
		panic(err)
	}
}
`

// goHogService builds hogService for goarch as an image of platform p.
func goHogService(t *testing.T, p, goarch string, hogMiB int) v1.Image {
	t.Helper()
	goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = testutil.RequireCommand(t, "go", "golang")
	}
	work, out := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "main.go"), []byte(hogService), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w -X main.hogMiB="+strconv.Itoa(hogMiB), "-o", filepath.Join(out, "service"), "main.go")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0", "GO111MODULE=off", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the hog service for %s: %v\n%s", goarch, err, b)
	}
	return image(t, p, v1.Config{Entrypoint: []string{"/service"}}, dirLayer(t, out))
}

// TestServiceFaultMemoryPlantedDefect: a service whose linux/386 build
// needs 64MiB per request is OOM-killed under a 32MiB memory fault, so the
// fault row fails on linux/386 only, with the kill named; linux/amd64's
// build passes the same fault. Both run in real containers with private
// networks and cgroups (386 natively or under QEMU, as the host can).
func TestServiceFaultMemoryPlantedDefect(t *testing.T) {
	testutil.Short(t, "builds a service twice and runs it in containers")
	x := requireSandbox(t)
	testutil.RequireCommand(t, "ip", "iproute2")
	testutil.RequireCommand(t, "nsenter", "util-linux")
	if c, err := fault.NewContainer("linux/amd64"); err != nil {
		t.Skipf("needs a memory cgroup: %v", err)
	} else {
		c.Close()
	}
	cfg := mustParse(t, `schemaVersion: 2.0.0
serviceTests:
- name: hog
  port: 8080
  readiness: {http: /, status: 200, timeout: 30s}
  load: {path: /, requests: 12, concurrency: 2}
  faults:
  - name: memory limit
    kind: memory
    memory: 32m
    duration: 3s
    recoverWithin: 5s
    during: {minSuccessRate: "90%"}
    after: {minSuccessRate: "90%"}
`)
	idx := index(t, goHogService(t, "linux/amd64", "amd64", 0), goHogService(t, "linux/386", "386", 64))
	r := run(t, idx, x, []*Config{cfg})
	t.Log("\n" + textReport(t, r))
	var row = -1
	for i, tt := range r.Tests {
		if tt.Kind == KindFault {
			row = i
		}
	}
	if row < 0 {
		t.Fatalf("no fault row in %v", statuses(r))
	}
	got := r.Results[row]
	if got[0].Status != StatusPass {
		t.Errorf("linux/amd64 (no defect): fault row %s %v, want pass", got[0].Status, got[0].Failures)
	}
	if got[1].Status != StatusFail {
		t.Fatalf("linux/386 (64MiB per request): fault row %s, want fail", got[1].Status)
	}
	msgs := ""
	for _, f := range got[1].Failures {
		msgs += f.Message + "\n"
	}
	for _, want := range []string{"linux/386: during memory 32MiB for 3s: success rate", "out-of-memory killer", "did not recover"} {
		if !strings.Contains(msgs, want) {
			t.Errorf("linux/386 failures do not say %q:\n%s", want, msgs)
		}
	}
	// The other rows pass on both: the defect shows under the fault only.
	for i, tt := range r.Tests {
		if i != row && (r.Results[i][0].Status == StatusFail || r.Results[i][1].Status == StatusFail) {
			t.Errorf("%s: %s / %s, want pass", tt.Name, r.Results[i][0].Status, r.Results[i][1].Status)
		}
	}
	f386 := r.Services[0].Results[1].Faults[0]
	if f386.During == nil || f386.During.SuccessRate >= 0.9 {
		t.Errorf("linux/386 during the fault: %+v, want a success rate below 90%%", f386.During)
	}
	famd := r.Services[0].Results[0].Faults[0]
	if famd.During == nil || famd.After == nil || !famd.Recovered {
		t.Errorf("linux/amd64 fault result %+v, want during and after loads and recovered", famd)
	}
	checkClosed(t, r)
}

// TestServiceFaultUnsupported: a fault kind the host cannot inject fails
// its row with an error naming the platform and what to do, and the other
// rows still run.
func TestServiceFaultUnsupported(t *testing.T) {
	testutil.Short(t, "builds a service and runs it in a container")
	x := requireSandbox(t)
	testutil.RequireCommand(t, "ip", "iproute2")
	testutil.RequireCommand(t, "nsenter", "util-linux")
	spec := fault.Spec{Kind: fault.KindLatency, Delay: 50 * time.Millisecond, Duration: time.Second}
	cerr := fault.Check("linux/amd64", spec)
	var ue *fault.UnsupportedError
	if !errors.As(cerr, &ue) {
		t.Skipf("this host can add latency (%v): the fault would be injected", cerr)
	}
	cfg := mustParse(t, `schemaVersion: 2.0.0
serviceTests:
- name: svc
  port: 8080
  readiness: {http: /, timeout: 30s}
  load: {path: /, requests: 20, concurrency: 2}
  faults:
  - {name: slow network, kind: latency, delay: 50ms, duration: 1s}
`)
	r := run(t, index(t, goHogService(t, "linux/amd64", "amd64", 0)), x, []*Config{cfg})
	t.Log("\n" + textReport(t, r))
	for i, tt := range r.Tests {
		res := r.Results[i][0]
		if tt.Kind != KindFault {
			if res.Status != StatusPass {
				t.Errorf("%s: %s %v, want pass", tt.Name, res.Status, res.Failures)
			}
			continue
		}
		if res.Status != StatusFail || len(res.Failures) == 0 {
			t.Fatalf("%s: %s, want fail", tt.Name, res.Status)
		}
		for _, want := range []string{"linux/amd64", "cannot inject a latency fault", "netem", "modprobe sch_netem"} {
			if !strings.Contains(res.Failures[0].Message, want) {
				t.Errorf("fault row message %q does not say %q", res.Failures[0].Message, want)
			}
		}
	}
	checkClosed(t, r)
}
