package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// NewSnapshotter returns a Snapshotter keeping its layers below root (the
// store passes ROOT/snapshots), creating the directory when missing.
func NewSnapshotter(root string) (*Snapshotter, error) {
	for _, d := range []string{"sha256", "tmp", "locks"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("creating snapshot directory %s: %w", root, err)
		}
	}
	return &Snapshotter{root: root}, nil
}

// Dir returns the directory of the layer with the given chain ID, whether or
// not it has been prepared.
func (s *Snapshotter) Dir(chainID v1.Hash) string {
	return filepath.Join(s.root, "sha256", chainID.Hex, "fs")
}

// Prepare makes sure every layer of a stack (bottom first, as in a
// manifest) is unpacked in its own directory and returns those directories
// top first, as overlayfs' lowerdir wants them. A layer already unpacked, by
// this or another process, is not unpacked again; layers missing are
// unpacked in parallel. Each layer's uncompressed content is checked against
// its diff ID (ErrCorruptLayer) before its directory appears.
func (s *Snapshotter) Prepare(ctx context.Context, layers []v1.Layer) ([]string, error) {
	diffIDs := make([]v1.Hash, len(layers))
	for i, l := range layers {
		d, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("preparing layer %d: reading its diff ID: %w", i, err)
		}
		if d.Algorithm != "sha256" {
			return nil, fmt.Errorf("preparing layer %d: diff ID %s: only sha256 diff IDs are supported", i, d)
		}
		diffIDs[i] = d
	}
	chains := ChainIDs(diffIDs)
	dirs := make([]string, len(layers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range layers {
		g.Go(func() error {
			if err := s.unpack(gctx, chains[i], diffIDs[i], layers[i]); err != nil {
				return fmt.Errorf("preparing layer %s: %w", diffIDs[i], err)
			}
			dirs[len(layers)-1-i] = s.Dir(chains[i])
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return dirs, nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func (s *Snapshotter) unpack(ctx context.Context, chain, diffID v1.Hash, layer v1.Layer) error {
	final := filepath.Join(s.root, "sha256", chain.Hex)
	if exists(final) {
		return nil
	}
	unlock, err := s.lock(ctx, chain, true)
	if err != nil {
		return err
	}
	defer unlock()
	if exists(final) {
		return nil // another process finished it while we waited
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), chain.Hex+".")
	if err != nil {
		return fmt.Errorf("creating unpack directory: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = removeTree(tmp)
		}
	}()
	rc, err := layer.Uncompressed()
	if err != nil {
		return fmt.Errorf("opening layer: %w", err)
	}
	defer rc.Close()
	h := sha256.New()
	tee := io.TeeReader(rc, h)
	if _, err := Extract(ctx, tee, filepath.Join(tmp, "fs"), ExtractOptions{
		Name:      "layer " + diffID.String(),
		Whiteouts: OverlayWhiteouts,
	}); err != nil {
		return err
	}
	if _, err := copyAll(io.Discard, tee); err != nil { // the tar's padding counts for the diff ID
		return fmt.Errorf("reading layer: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != diffID.Hex {
		return fmt.Errorf("%w: got sha256:%s; the layer blob is corrupt, pull it again", ErrCorruptLayer, got)
	}
	if err := os.WriteFile(filepath.Join(tmp, "diffid"), []byte(diffID.String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("recording diff ID: %w", err)
	}
	if err := syncFS(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		if exists(final) {
			return nil // someone else's rename won; ours is removed
		}
		return fmt.Errorf("committing unpacked layer: %w", err)
	}
	done = true
	return nil
}

// syncFS flushes the file system holding dir, so a crash cannot leave a
// committed layer directory with lost contents.
func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// lock takes the lock of one chain ID, waiting until ctx is done when
// wait is set, and returns its release. Locks are flock(2) locks, so they
// exclude other processes and other goroutines alike and vanish with a
// crashed process.
func (s *Snapshotter) lock(ctx context.Context, chain v1.Hash, wait bool) (func(), error) {
	p := filepath.Join(s.root, "locks", chain.Hex+".lock")
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", p, err)
	}
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Close(fd) }, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			unix.Close(fd)
			return nil, fmt.Errorf("locking %s: %w", p, err)
		}
		if !wait {
			unix.Close(fd)
			return nil, nil
		}
		select {
		case <-ctx.Done():
			unix.Close(fd)
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Remove deletes the directory of one chain ID; a missing one is no error.
// The caller makes sure no mount uses it.
func (s *Snapshotter) Remove(ctx context.Context, chainID v1.Hash) error {
	unlock, err := s.lock(ctx, chainID, true)
	if err != nil {
		return err
	}
	defer unlock()
	final := filepath.Join(s.root, "sha256", chainID.Hex)
	if !exists(final) {
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), chainID.Hex+".")
	if err != nil {
		return fmt.Errorf("removing snapshot %s: %w", chainID, err)
	}
	if err := os.Rename(final, filepath.Join(tmp, "old")); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("removing snapshot %s: %w", chainID, err)
	}
	if err := removeTree(tmp); err != nil {
		return fmt.Errorf("removing snapshot %s: %w", chainID, err)
	}
	return nil
}

// Prune removes the directory of every chain ID for which keep returns
// false, and unpack directories left by crashed processes, and returns the
// chain IDs removed.
func (s *Snapshotter) Prune(ctx context.Context, keep func(chainID v1.Hash) bool) ([]v1.Hash, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "sha256"))
	if err != nil {
		return nil, fmt.Errorf("pruning snapshots in %s: %w", s.root, err)
	}
	var removed []v1.Hash
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		h := v1.Hash{Algorithm: "sha256", Hex: e.Name()}
		if keep(h) {
			continue
		}
		if err := s.Remove(ctx, h); err != nil {
			return removed, err
		}
		removed = append(removed, h)
	}
	tmps, err := os.ReadDir(filepath.Join(s.root, "tmp"))
	if err != nil {
		return removed, fmt.Errorf("pruning snapshots in %s: %w", s.root, err)
	}
	for _, e := range tmps {
		hexPart, _, ok := strings.Cut(e.Name(), ".")
		if !ok {
			continue
		}
		unlock, err := s.lock(ctx, v1.Hash{Algorithm: "sha256", Hex: hexPart}, false)
		if err != nil {
			return removed, err
		}
		if unlock == nil {
			continue // in use by a live process
		}
		err = removeTree(filepath.Join(s.root, "tmp", e.Name()))
		unlock()
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("pruning %s: %w", e.Name(), err)
		}
	}
	return removed, nil
}
