package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestLockNames(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	unlock, err := s.LockNames(ctx, "app:1", "app:2", "app:1") // a name twice: no self-deadlock
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if u, err := s.LockNames(short, "app:2"); !errors.Is(err, context.DeadlineExceeded) {
		if u != nil {
			u()
		}
		t.Fatalf("LockNames of a held name = %v, want it to wait until the deadline", err)
	}
	other, err := s.LockNames(ctx, "app:3")
	if err != nil {
		t.Fatalf("LockNames of another name while app:1 and app:2 are held = %v", err)
	}
	other()
	got := make(chan error, 1)
	go func() {
		u, err := s.LockNames(ctx, "app:2", "app:1")
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("LockNames returned (%v) while the names were held", err)
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("LockNames after the unlock = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LockNames still waits after the unlock")
	}
	if _, err := s.LockNames(ctx, "../x:1"); err == nil {
		t.Error("LockNames of an invalid name succeeded")
	}
}

// A store being made by one process and used at once (its snapshots/ made)
// is a store to another process that looked for oci-layout before it was
// written, not "it has no oci-layout file but holds snapshots".
func TestOpenWhileAnotherCreates(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "store")
	old := initListing
	once := false
	initListing = func() {
		if once {
			return
		}
		once = true
		st, err := Open(ctx, root) // the other process
		if err != nil {
			t.Errorf("the other Open = %v", err)
			return
		}
		if err := os.MkdirAll(st.Layout().Snapshots(), 0o755); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { initListing = old })
	if _, err := Open(ctx, root); err != nil {
		t.Fatalf("Open while another process made and used the store = %v", err)
	}
	if !once {
		t.Fatal("the hook did not run")
	}
	initListing = old
	// Many at once, each using the store as soon as it has it.
	for i := range 20 {
		root := filepath.Join(t.TempDir(), fmt.Sprint("store", i))
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for j := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := Open(ctx, root)
				if err == nil {
					err = os.MkdirAll(st.Layout().BuildTmp(), 0o700)
				}
				errs[j] = err
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("store %d: Open at once with others = %v", i, err)
			}
		}
	}
	// A directory that is not a store is still refused.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644)
	var nl *NotLayoutError
	if _, err := Open(ctx, other); !errors.As(err, &nl) {
		t.Errorf("Open of a directory holding notes.txt = %v, want a *NotLayoutError", err)
	}
}

// A roots file removed between GC's listing of roots/ and its read (prune
// removing a build cache record while a gc runs) is not an error: GC goes
// on without it.
func TestGCWhileRootsGo(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for i := range 3 {
		d, err := s.WriteBlob(ctx, strings.NewReader(fmt.Sprint("blob ", i)), v1.Hash{}, -1)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetRoots(ctx, fmt.Sprint("r", i), []v1.Hash{d.Digest}); err != nil {
			t.Fatal(err)
		}
	}
	old := readingRoot
	readingRoot = func(p string) {
		if filepath.Base(p) == "r1" {
			os.Remove(p)
		}
	}
	t.Cleanup(func() { readingRoot = old })
	st, err := s.GC(ctx)
	if err != nil {
		t.Fatalf("GC while a roots file went = %v", err)
	}
	if st.BlobsRemoved != 1 {
		t.Errorf("GC removed %d blobs, want 1 (the removed root's)", st.BlobsRemoved)
	}
}

// An image another process writes and tags while check rehashes the blobs
// is not reported missing: check reads index.json before it lists blobs.
func TestCheckWhileTagging(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	d, err := s.WriteImage(ctx, randomImage(t, 512, 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "before:1", d); err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, s.Root()) // another process
	if err != nil {
		t.Fatal(err)
	}
	old := checkRehashed
	checkRehashed = func() {
		// Inside Check's shared GC lock, as another writer would be.
		d, err := other.WriteImage(ctx, randomImage(t, 512, 2))
		if err == nil {
			err = other.Tag(ctx, "during:1", d)
		}
		if err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { checkRehashed = old })
	rep, err := s.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Errorf("check while another process tagged found %d problems: %+v", len(rep.Problems), rep.Problems)
	}
	checkRehashed = old
	if rep, err := s.Check(ctx); err != nil || len(rep.Problems) != 0 || rep.Images != 2 {
		t.Errorf("check after = %+v, %v; want both images sound", rep, err)
	}
}

// A process that holds the store for reading (push, copy, run until its
// layers are unpacked) keeps GC in another process waiting, so the blobs it
// reads stay; GC in the holding process itself is an error, not a wait
// for ever.
func TestHold(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	d, err := s.WriteImage(ctx, randomImage(t, 512, 1))
	if err != nil {
		t.Fatal(err)
	}
	// Untagged: the next GC removes it, unless a reader holds the store.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=hold", childRootEnv+"="+s.Root())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "held\n" {
		t.Fatalf("the holder said %q, %v", line, err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s.GC(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GC while another process holds the store = %v, want it to wait", err)
	}
	if _, ok, _ := s.HasBlob(ctx, d.Digest); !ok {
		t.Fatal("the held store lost a blob")
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the holder: %v", err)
	}
	if st, err := s.GC(ctx); err != nil || st.BlobsRemoved == 0 {
		t.Fatalf("GC after the holder ended = %+v, %v; want the untagged image removed", st, err)
	}

	release, err := s.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx); !errors.Is(err, ErrGCWhileHeld) {
		t.Errorf("GC in the process holding the store = %v, want ErrGCWhileHeld", err)
	}
	release()
	release() // twice is safe
	if _, err := s.GC(ctx); err != nil {
		t.Errorf("GC after the release = %v", err)
	}
}
