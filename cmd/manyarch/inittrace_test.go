package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// maxInitAllocs bounds the heap allocations of each of manyarch's own
// package initializers. Every command, and every sandbox init re-exec,
// pays for all of them before main; tables and regular expressions that
// only some commands use are built on first use (sync.OnceValue) instead.
// A counted repetition such as {0,200} compiles to hundreds of
// instructions: one such expression in a package initializer is thousands
// of allocations.
const maxInitAllocs = 64

// initTrace runs `manyarch version` with GODEBUG=inittrace=1 and returns
// its standard error: one line per package initializer.
func initTrace(t *testing.T) *bytes.Buffer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "version")
	cmd.Env = []string{"MANYARCH_TEST_MAIN=1", "GODEBUG=inittrace=1", "PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("manyarch version: %v\n%s", err, stderr.String())
	}
	return &stderr
}

// TestPackageInitializersAreSmall runs `manyarch version` with
// GODEBUG=inittrace=1 and checks the allocations each of manyarch's own
// packages makes in its initializer (allocations, unlike times, do not
// depend on the machine's load).
func TestPackageInitializersAreSmall(t *testing.T) {
	stderr := initTrace(t)
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(stderr.Bytes()))
	for sc.Scan() {
		// init PKG @T ms, C ms clock, B bytes, A allocs
		f := strings.Fields(sc.Text())
		if len(f) != 11 || f[0] != "init" || f[10] != "allocs" || !strings.HasPrefix(f[1], "github.com/manyarch/manyarch/") {
			continue
		}
		seen++
		allocs, err := strconv.Atoi(f[9])
		if err != nil {
			t.Fatalf("inittrace line %q: %v", sc.Text(), err)
		}
		if allocs > maxInitAllocs {
			t.Errorf("package %s: its initializers make %d allocations (%s bytes), more than %d: build what only some commands need on first use (sync.OnceValue)", f[1], allocs, f[7], maxInitAllocs)
		}
	}
	if seen < 10 {
		t.Fatalf("GODEBUG=inittrace=1 showed %d of manyarch's packages, want at least 10; stderr:\n%s", seen, stderr.String())
	}
}

// TestPrefaultInitializesFirst: package prefault maps in the heap the
// initializers are about to fill, so its initializer must run before
// nearly all of their allocations (it runs once package syscall has).
func TestPrefaultInitializesFirst(t *testing.T) {
	stderr := initTrace(t)
	var before, total int
	found := false
	sc := bufio.NewScanner(bytes.NewReader(stderr.Bytes()))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 11 || f[0] != "init" || f[8] != "bytes," {
			continue
		}
		if f[1] == "github.com/manyarch/manyarch/internal/prefault" {
			found = true
		}
		n, err := strconv.Atoi(f[7])
		if err != nil {
			t.Fatalf("inittrace line %q: %v", sc.Text(), err)
		}
		total += n
		if !found {
			before += n
		}
	}
	if !found {
		t.Fatalf("GODEBUG=inittrace=1 does not show package prefault initialized; stderr:\n%s", stderr.String())
	}
	if before*20 > total {
		t.Errorf("initializers allocated %d of their %d bytes before package prefault's ran, want under 5%%: it must import nothing but syscall and unsafe, so that it is ready early", before, total)
	}
}
