package earlyinit_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	_ "google.golang.org/grpc" // for its initializers: see TestInitSkipsLaterInitializers

	"github.com/manyarch/manyarch/internal/sandbox"
	_ "github.com/manyarch/manyarch/internal/sandbox/earlyinit"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestMain does not call sandbox.Init: only earlyinit's initializer makes a
// re-exec of this binary a sandbox init. A re-exec that gets here anyway
// (earlyinit broken) ends at once, failing the tests, rather than running
// them again inside the container.
func TestMain(m *testing.M) {
	if os.Getenv("_MANYARCH_SANDBOX_INIT") != "" {
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// TestInitFromInitializer: a re-exec of this test binary as a sandbox init
// runs the container through earlyinit's initializer (TestMain does not).
func TestInitFromInitializer(t *testing.T) {
	testutil.RequireRoot(t)
	root := testutil.BusyboxRootfs(t, "amd64")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := sandbox.Run(ctx, sandbox.Spec{RootDir: root, Args: []string{"sh", "-c", "echo ran in the container; exit 7"}, Stdout: &out})
	if err != nil {
		t.Fatalf("sandbox.Run: %v", err)
	}
	if got, want := out.String(), "ran in the container\n"; got != want || res.ExitCode != 7 {
		t.Errorf("sandbox.Run = %q, exit %d; want %q, exit 7", got, res.ExitCode, want)
	}
}

// TestInitSkipsLaterInitializers: as a sandbox init, this test binary
// stops in earlyinit's initializer, before the initializers of packages
// the init does not need: package sandbox's, net's, regexp's, gRPC's
// (imported here for its initializers) and gopkg.in/yaml.v3's (its import
// path sorts last). The init ends with status 125 at once, for its config
// pipe is closed.
func TestInitSkipsLaterInitializers(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer cfgR.Close()
	cfgW.Close()
	var stderr bytes.Buffer
	cmd := &exec.Cmd{
		Path:       self,
		Args:       []string{"manyarch-sandbox-init"},
		Env:        []string{"_MANYARCH_SANDBOX_INIT=1", "GODEBUG=inittrace=1"},
		ExtraFiles: []*os.File{cfgR, nil},
		Stderr:     &stderr,
	}
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 125 {
		t.Fatalf("the init with a closed config pipe: %v, want exit status 125; stderr:\n%s", err, stderr.String())
	}
	trace := stderr.String()
	if !strings.Contains(trace, "init os @") {
		t.Fatalf("the init's GODEBUG=inittrace output does not show package os initialized:\n%s", trace)
	}
	// Package sandbox (whose closure holds net, regexp and
	// containerd/platforms) and gRPC are imported by this test binary
	// but not by the init (package sandboxinit).
	for _, pkg := range []string{"gopkg.in/yaml", "github.com/manyarch/manyarch/internal/sandbox @", "google.golang.org/grpc @", "net @", "regexp @"} {
		if strings.Contains(trace, "init "+pkg) {
			t.Errorf("the sandbox init ran the initializer of %s, which it does not need: earlyinit's initializer did not run the init first", strings.TrimSuffix(pkg, " @"))
		}
	}
}
