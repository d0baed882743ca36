package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/manyarch/manyarch/internal/store"
	"github.com/manyarch/manyarch/internal/testutil"
)

// runAtOnce runs each of cmds as its own manyarch process on the store at
// root, all at once, and fails the test for each that fails.
func runAtOnce(t *testing.T, root string, cmds ...[]string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(cmds))
	outs := make([]bytes.Buffer, len(cmds))
	for i, args := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := command(root, args...)
			cmd.Stderr = &outs[i]
			errs[i] = cmd.Run()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("manyarch %s: %v\n%s", strings.Join(cmds[i], " "), err, outs[i].String())
		}
	}
}

// Edits of one index by processes at once all land: each reads the index,
// changes it and tags the result, and without the name's lock the later
// tag wrote what it had read before the earlier one's change.
func TestConcurrentIndexEdits(t *testing.T) {
	testutil.Short(t, "runs many manyarch processes at once")
	root := t.TempDir()
	platforms := []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x", "linux/riscv64", "linux/386", "linux/mips64le"}
	for i, p := range platforms {
		dir := filepath.Join(t.TempDir(), "rootfs")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "which"), []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
		manyarch(t, root, "import", "-t", fmt.Sprintf("p%d:1", i), "--platform", p+"="+dir)
	}
	for round := range 3 {
		idx := fmt.Sprintf("idx:%d", round)
		manyarch(t, root, "index", "create", "-q", idx, "p0:1")
		var appends, annotates, removes [][]string
		for i, p := range platforms[1:] {
			appends = append(appends, []string{"index", "append", "-q", idx, fmt.Sprintf("p%d:1", i+1)})
			annotates = append(annotates, []string{"index", "annotate", "-q", idx, "--platform", p, "--annotation", "com.example.n=" + p})
			removes = append(removes, []string{"index", "remove", "-q", idx, "--platform", p})
		}
		runAtOnce(t, root, appends...)
		if n := strings.TrimSpace(manyarch(t, root, "inspect", "--format", "{{len .manifests}}", idx)); n != fmt.Sprint(len(platforms)) {
			t.Fatalf("round %d: after %d appends at once %s has %s platforms, want %d", round, len(appends), idx, n, len(platforms))
		}
		runAtOnce(t, root, annotates...)
		var inspected struct {
			Manifests []struct{ Annotations map[string]string }
		}
		out := manyarch(t, root, "inspect", "--format", "json", idx)
		if err := json.Unmarshal([]byte(out), &inspected); err != nil {
			t.Fatal(err)
		}
		annotated := 0
		for _, m := range inspected.Manifests {
			if m.Annotations["com.example.n"] != "" {
				annotated++
			}
		}
		if annotated != len(annotates) {
			t.Fatalf("round %d: after %d annotates at once %s has %d annotated:\n%s", round, len(annotates), idx, annotated, out)
		}
		runAtOnce(t, root, removes...)
		if n := strings.TrimSpace(manyarch(t, root, "inspect", "--format", "{{len .manifests}}", idx)); n != "1" {
			t.Fatalf("round %d: after %d removes at once %s has %s platforms, want 1", round, len(removes), idx, n)
		}
	}
	manyarch(t, root, "check") // the name locks are no stray files
}

// gc (and rmi) wait for a command that reads the store, saying so, and
// remove nothing it reads until it ends.
func TestGCWaitsForReaders(t *testing.T) {
	testutil.Short(t, "runs manyarch processes")
	root := t.TempDir()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("layer"), 0o644); err != nil {
		t.Fatal(err)
	}
	manyarch(t, root, "import", "-t", "app:1", "--platform", "linux/amd64="+dir)
	st, err := store.Open(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	release, err := st.Hold(t.Context()) // a reader: push, copy, run
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	rmi := command(root, "rmi", "app:1")
	var out, errb testutil.SyncBuffer
	rmi.Stdout, rmi.Stderr = &out, &errb
	if err := rmi.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rmi.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(errb.String(), "waiting for the other manyarch commands using") {
		if time.Now().After(deadline) {
			t.Fatalf("rmi did not say it waits; stderr: %q", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("rmi ended (%v) while a reader held the store: %s", err, out.String())
	case <-time.After(300 * time.Millisecond):
	}
	ents, _ := os.ReadDir(filepath.Join(root, "blobs", "sha256"))
	if len(ents) != 3 { // manifest, config, layer
		t.Errorf("%d blobs while a reader held the store, want all 3", len(ents))
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("rmi: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "Deleted 3 blobs") {
		t.Errorf("rmi said %q, want its 3 blobs deleted once the reader ended", out.String())
	}
}

// Two `index create --immutable` of one local tag at once with different
// images: one writes, the other is refused, never both.
func TestConcurrentImmutableCreates(t *testing.T) {
	testutil.Short(t, "runs many manyarch processes at once")
	root := t.TempDir()
	for i, p := range []string{"linux/amd64", "linux/arm64"} {
		dir := filepath.Join(t.TempDir(), "rootfs")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		manyarch(t, root, "import", "-t", fmt.Sprintf("p%d:1", i), "--platform", p+"="+dir)
	}
	for round := range 8 {
		tag := fmt.Sprintf("fixed:%d", round)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = command(root, "index", "create", "-q", "--immutable", tag, fmt.Sprintf("p%d:1", i)).Run()
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: two --immutable creates of %s at once: %v and %v, want exactly one to succeed", round, tag, errs[0], errs[1])
		}
	}
}
