// Package fsutil owns manyarch's two file-system disciplines, once: atomic
// file writes (WriteFile: a temporary file beside the target, filled,
// fsynced, renamed over it, the directory fsynced; a crash leaves the old
// file or the whole new one) and advisory file locks (Lock: flock(2) on
// unix, LockFileEx on Windows; shared or exclusive, waiting under a context
// or not at all).
//
// The store, ref's archive writes, the snapshotter's lease, the build cache
// records and context sums, `manyarch test --test-report`, the build's work
// and cache-mount directories, the sandbox's state directories, netns slot
// locks and imagetest's view directories use it instead of their own copies.
//
// It must not know any manyarch layout (no store areas, no names): callers
// pass paths. It imports nothing of manyarch.
package fsutil
