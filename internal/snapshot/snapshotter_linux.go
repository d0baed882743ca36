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
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/layer"
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

// Dir returns the directory of the layer with the given diff ID, whether
// or not it has been prepared.
func (s *Snapshotter) Dir(diffID v1.Hash) string {
	return filepath.Join(s.root, "sha256", diffID.Hex, "fs")
}

// Prepare makes sure every layer of a stack (bottom first, as in a
// manifest) is unpacked in its own directory and returns those directories
// top first, as overlayfs' lowerdir wants them. A layer already unpacked, by
// this or another process, is not unpacked again; layers missing are
// unpacked in parallel. Each layer's uncompressed content is checked against
// its diff ID (ErrCorruptLayer) before its directory appears. A layer that
// occurs again higher in the stack is left out below: the higher copy sets
// every path the lower one does, and overlayfs refuses a directory twice.
//
// The first Prepare takes the snapshotter's lease (see Snapshotter), so
// PruneUnused leaves the directories alone until Close.
func (s *Snapshotter) Prepare(ctx context.Context, layers []v1.Layer) ([]string, error) {
	if err := s.hold(ctx); err != nil {
		return nil, err
	}
	diffIDs := make([]v1.Hash, len(layers))
	for i, l := range layers {
		d, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("preparing layer %d: reading its diff ID: %w", i, err)
		}
		if d.Algorithm != "sha256" || !validHex(d.Hex) {
			return nil, fmt.Errorf("preparing layer %d: diff ID %s: only sha256 diff IDs are supported", i, d)
		}
		diffIDs[i] = d
	}
	// Top first, each layer once (its highest occurrence).
	var order []int
	seen := map[v1.Hash]bool{}
	for i := len(layers) - 1; i >= 0; i-- {
		if !seen[diffIDs[i]] {
			seen[diffIDs[i]] = true
			order = append(order, i)
		}
	}
	dirs := make([]string, len(order))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for j, i := range order {
		g.Go(func() error {
			if err := s.unpack(gctx, diffIDs[i], layers[i]); err != nil {
				return fmt.Errorf("preparing %w", layerError(gctx, i, len(layers), layers[i], diffIDs[i], err))
			}
			dirs[j] = s.Dir(diffIDs[i])
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return dirs, nil
}

func validHex(h string) bool {
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// hold takes the snapshotter's lease: a shared lock on ROOT/lease.lock,
// waiting while PruneUnused holds it exclusively.
func (s *Snapshotter) hold(ctx context.Context) error {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if s.lease != nil {
		return nil
	}
	f, err := flockPath(ctx, s.leasePath(), false, true)
	if err != nil {
		return err
	}
	s.lease = f
	return nil
}

func (s *Snapshotter) leasePath() string { return filepath.Join(s.root, "lease.lock") }

// Close releases the snapshotter's lease. The directories Prepare returned
// must no longer be in use. Prepare may be called again afterwards.
func (s *Snapshotter) Close() error {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if s.lease == nil {
		return nil
	}
	err := s.lease.Unlock()
	s.lease = nil
	return err
}

// PruneUnused removes layer directories, least recently used first, until
// the rest take at most keep bytes (keep <= 0: all of them), and what
// crashed unpacks left. It removes nothing and returns ErrInUse while
// another Snapshotter of the root holds its lease; Prepare waits while it
// runs.
func (s *Snapshotter) PruneUnused(ctx context.Context, keep int64) (PruneStats, error) {
	var stats PruneStats
	f, err := flockPath(ctx, s.leasePath(), true, false)
	if err != nil {
		return stats, err
	}
	if f == nil {
		return stats, ErrInUse
	}
	defer f.Unlock()
	entries, err := os.ReadDir(filepath.Join(s.root, "sha256"))
	if err != nil {
		return stats, fmt.Errorf("pruning snapshots in %s: %w", s.root, err)
	}
	type layerDir struct {
		key  v1.Hash
		used time.Time
		size int64
	}
	var dirs []layerDir
	var total int64
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !validHex(e.Name()) {
			continue
		}
		d := layerDir{key: v1.Hash{Algorithm: "sha256", Hex: e.Name()}, used: fi.ModTime(), size: TreeSize(filepath.Join(s.root, "sha256", e.Name()))}
		total += d.size
		dirs = append(dirs, d)
	}
	slices.SortFunc(dirs, func(a, b layerDir) int { return a.used.Compare(b.used) })
	for _, d := range dirs {
		if keep > 0 && total <= keep {
			break
		}
		if err := s.Remove(ctx, d.key); err != nil {
			return stats, err
		}
		stats.Removed++
		stats.Bytes += d.size
		total -= d.size
	}
	if err := s.pruneTmp(ctx); err != nil {
		return stats, err
	}
	return stats, nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func (s *Snapshotter) unpack(ctx context.Context, diffID v1.Hash, l v1.Layer) error {
	final := filepath.Join(s.root, "sha256", diffID.Hex)
	if touch(final) {
		return nil
	}
	unlock, err := s.lock(ctx, diffID, true)
	if err != nil {
		return err
	}
	defer unlock()
	if touch(final) {
		return nil // another process finished it while we waited
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), diffID.Hex+".")
	if err != nil {
		return fmt.Errorf("creating unpack directory: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = removeTree(tmp)
		}
	}()
	rc, err := layer.Open(ctx, l)
	if err != nil {
		return err
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

// touch reports whether the layer directory dir exists and, when it does,
// records the use (its modification time, once a minute at most) for
// PruneUnused's least-recently-used order.
func touch(dir string) bool {
	fi, err := os.Lstat(dir)
	if err != nil {
		return false
	}
	if time.Since(fi.ModTime()) >= time.Minute {
		now := time.Now()
		_ = os.Chtimes(dir, now, now)
	}
	return true
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

// lock takes the lock of one layer, waiting until ctx is done when wait is
// set, and returns its release (nil when wait is unset and the lock is
// held elsewhere). Locks are flock(2) locks, so they exclude other
// processes and other goroutines alike and vanish with a crashed process.
func (s *Snapshotter) lock(ctx context.Context, diffID v1.Hash, wait bool) (func(), error) {
	f, err := flockPath(ctx, filepath.Join(s.root, "locks", diffID.Hex+".lock"), true, wait)
	if f == nil || err != nil {
		return nil, err
	}
	return func() { f.Unlock() }, nil
}

// flockPath opens (creating, mode 0600) the lock file at p and takes a
// shared or exclusive lock on it (fsutil), waiting until ctx is done when
// wait is set. It returns the lock, or nil when wait is unset and another
// holder conflicts.
func flockPath(ctx context.Context, p string, exclusive, wait bool) (*fsutil.Lock, error) {
	if wait {
		return fsutil.LockFile(ctx, p, 0o600, exclusive)
	}
	l, err := fsutil.TryLockFile(p, 0o600, exclusive)
	if err == fsutil.ErrLocked {
		return nil, nil
	}
	return l, err
}

// Remove deletes the directory of one layer (by diff ID); a missing one is
// no error. The caller makes sure no mount uses it.
func (s *Snapshotter) Remove(ctx context.Context, diffID v1.Hash) error {
	unlock, err := s.lock(ctx, diffID, true)
	if err != nil {
		return err
	}
	defer unlock()
	final := filepath.Join(s.root, "sha256", diffID.Hex)
	if !exists(final) {
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), diffID.Hex+".")
	if err != nil {
		return fmt.Errorf("removing snapshot %s: %w", diffID, err)
	}
	if err := os.Rename(final, filepath.Join(tmp, "old")); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("removing snapshot %s: %w", diffID, err)
	}
	if err := removeTree(tmp); err != nil {
		return fmt.Errorf("removing snapshot %s: %w", diffID, err)
	}
	return nil
}

// Prune removes the directory of every layer (by diff ID) for which keep
// returns false, and unpack directories left by crashed processes, and
// returns the diff IDs removed. Unlike PruneUnused it does not look at
// leases: the caller knows what is in use.
func (s *Snapshotter) Prune(ctx context.Context, keep func(diffID v1.Hash) bool) ([]v1.Hash, error) {
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
	return removed, s.pruneTmp(ctx)
}

// pruneTmp removes the unpack directories of crashed processes.
func (s *Snapshotter) pruneTmp(ctx context.Context) error {
	tmps, err := os.ReadDir(filepath.Join(s.root, "tmp"))
	if err != nil {
		return fmt.Errorf("pruning snapshots in %s: %w", s.root, err)
	}
	for _, e := range tmps {
		hexPart, _, ok := strings.Cut(e.Name(), ".")
		if !ok {
			continue
		}
		unlock, err := s.lock(ctx, v1.Hash{Algorithm: "sha256", Hex: hexPart}, false)
		if err != nil {
			return err
		}
		if unlock == nil {
			continue // in use by a live process
		}
		err = removeTree(filepath.Join(s.root, "tmp", e.Name()))
		unlock()
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pruning %s: %w", e.Name(), err)
		}
	}
	return nil
}
