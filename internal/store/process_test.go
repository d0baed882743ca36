package store

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// The test binary re-executes itself as a writer process when childEnv is set:
// "loop" writes images and tags until killed; "count:N" writes N and exits.
const (
	childEnv     = "MANYARCH_STORE_TEST_CHILD"
	childRootEnv = "MANYARCH_STORE_TEST_ROOT"
	childIDEnv   = "MANYARCH_STORE_TEST_ID"
)

func runChild(mode string) int {
	ctx := context.Background()
	s, err := Open(ctx, os.Getenv(childRootEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if mode == "read" {
		// Holds the store and resolves a name, as a reader command does.
		release, err := s.Hold(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer release()
		d, err := s.Resolve(ctx, "app:1")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Println(d.Digest)
		return 0
	}
	if mode == "hold" {
		// Holds the store for reading until stdin closes.
		release, err := s.Hold(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Println("held")
		io.Copy(io.Discard, os.Stdin)
		release()
		return 0
	}
	id := os.Getenv(childIDEnv)
	n := -1
	if c, ok := strings.CutPrefix(mode, "count:"); ok {
		n, _ = strconv.Atoi(c)
	}
	ready := false
	for i := 0; n < 0 || i < n; i++ {
		if i == 1 && !ready {
			// One complete image is tagged: from here on the parent's kill
			// lands somewhere inside the loop's writes.
			fmt.Println("ready")
			ready = true
		}
		err := s.Transaction(ctx, func(ctx context.Context) error {
			if i%3 == 2 {
				idx, err := random.Index(64<<10, 2, 2)
				if err != nil {
					return err
				}
				d, err := s.WriteIndex(ctx, idx)
				if err != nil {
					return err
				}
				return s.Tag(ctx, fmt.Sprintf("w%s:%d", id, i%5), d)
			}
			size, layers := int64(256<<10), int64(3)
			if i%3 == 1 {
				// Layers over directMinSize, so the kill also lands
				// inside O_DIRECT writes and their unaligned tails.
				size, layers = 9<<20+1000, 2
			}
			img, err := random.Image(size, layers)
			if err != nil {
				return err
			}
			if i%3 == 1 {
				// A pull's way: the layers through a BlobBatch, one
				// commit, then the image (which finds them present).
				if err := writeBatch(ctx, s, img); err != nil {
					return err
				}
			}
			d, err := s.WriteImage(ctx, img)
			if err != nil {
				return err
			}
			if err := s.Tag(ctx, fmt.Sprintf("w%s:%d", id, i%5), d); err != nil {
				return err
			}
			return s.Tag(ctx, "shared", d)
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if !ready {
		fmt.Println("ready")
	}
	return 0
}

// writeBatch writes img's layers through one BlobBatch, as ref.Pull does.
func writeBatch(ctx context.Context, s *Store, img v1.Image) error {
	b, err := s.NewBlobBatch(ctx)
	if err != nil {
		return err
	}
	defer b.Abort()
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range ls {
		h, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		size, err := l.Size()
		if err != nil {
			rc.Close()
			return err
		}
		_, err = b.Write(ctx, rc, h, size)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return b.Commit(ctx)
}

func startChild(t *testing.T, root, mode, id string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childRootEnv+"="+root, childIDEnv+"="+id)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewReader(out)
}

// verifyStore checks every name resolves to a complete, verified tree.
func verifyStore(t *testing.T, s *Store) int {
	t.Helper()
	names, err := s.Names(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := verifyTreeErr(t.Context(), s, n.Descriptor); err != nil {
			t.Errorf("name %s -> %s: %v", n.Name, n.Descriptor.Digest, err)
		}
	}
	return len(names)
}

func TestCrashSafety(t *testing.T) {
	Short(t)
	root := filepath.Join(t.TempDir(), "store")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	const iterations = 20
	for i := range iterations {
		cmd, out := startChild(t, root, "loop", strconv.Itoa(i%3))
		if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child %d: %q, %v", i, line, err)
		}
		time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("child %d ended by itself (%v), not by SIGKILL: the writer loop failed", i, err)
		}
		// After every kill the store must be consistent.
		s, err := Open(t.Context(), root)
		if err != nil {
			t.Fatalf("after kill %d: Open: %v", i, err)
		}
		verifyStore(t, s)
	}
	s, err := Open(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	n := verifyStore(t, s)
	t.Logf("%d names after %d kills", n, iterations)
	if n < 3 {
		t.Fatalf("%d names after %d runs of 3 writers, want at least 3", n, iterations)
	}
	// The next writer works, and GC cleans the debris without breaking names.
	img := randomImage(t, 4096, 2)
	d, err := s.WriteImage(t.Context(), img)
	if err != nil {
		t.Fatalf("write after crashes: %v", err)
	}
	if err := s.Tag(t.Context(), "after", d); err != nil {
		t.Fatalf("tag after crashes: %v", err)
	}
	st, err := s.GC(t.Context())
	if err != nil {
		t.Fatalf("GC after crashes: %v", err)
	}
	t.Logf("GC after crashes: %+v", st)
	if ents, _ := os.ReadDir(filepath.Join(root, "ingest")); len(ents) != 0 {
		t.Errorf("%d temp files left after GC", len(ents))
	}
	if got := verifyStore(t, s); got != n+1 {
		t.Errorf("%d names after GC, want %d", got, n+1)
	}
}

func TestConcurrentWriters(t *testing.T) {
	Short(t)
	root := filepath.Join(t.TempDir(), "store")
	const writers, each = 3, 6
	var cmds []*exec.Cmd
	for i := range writers {
		cmd, _ := startChild(t, root, "count:"+strconv.Itoa(each), strconv.Itoa(i))
		cmds = append(cmds, cmd)
	}
	// GC runs concurrently too; it must never break a writer.
	s, err := Open(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	gcDone := make(chan error, 1)
	go func() {
		for range 5 {
			if _, err := s.GC(t.Context()); err != nil {
				gcDone <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		gcDone <- nil
	}()
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if err := <-gcDone; err != nil {
		t.Errorf("concurrent GC: %v", err)
	}
	n := verifyStore(t, s)
	// Each writer has names w<i>:0..4, plus "shared".
	if want := writers*5 + 1; n != want {
		t.Errorf("%d names, want %d", n, want)
	}
	for i := range writers {
		for k := range 5 {
			if _, err := s.Resolve(t.Context(), fmt.Sprintf("w%d:%d", i, k)); err != nil {
				t.Errorf("Resolve: %v", err)
			}
		}
	}
}

// Short skips slow tests in -short mode.
func Short(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow (re-executes writer processes); runs without -short")
	}
}
