package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/fsutil"
)

// lockDir takes an exclusive lock on a directory, or fails at once when
// someone holds a lock on it; the returned function releases it. A build
// holds its directory's for as long as it runs (one nobody holds belongs
// to a build that was killed); prune takes a cache mount's to know no
// build uses it (builds hold those shared: lockShared).
//
// A directory removed (or renamed away) by the one that held it before us,
// between our open and our lock, is no longer dir: that is an error that
// is fs.ErrNotExist.
func lockDir(dir string) (func(), error) {
	l, err := fsutil.TryLockDir(dir, true)
	if err != nil {
		return nil, err
	}
	afterDirLock(dir)
	if !l.AtPath() {
		l.Unlock()
		return nil, fmt.Errorf("locking %s: it was removed while being locked: %w", dir, fs.ErrNotExist)
	}
	return func() { l.Unlock() }, nil
}

// makeBuildDir creates and locks a new build directory under tmpRoot. A
// build starting at the same time may sweep the new directory away as a
// killed build's between its creation and our lock (it is not locked
// yet): then it makes another.
func makeBuildDir(tmpRoot string) (dir string, unlock func(), err error) {
	for range 10 {
		dir, err = os.MkdirTemp(tmpRoot, "build-")
		if err != nil {
			return "", nil, fmt.Errorf("creating build directory: %w", err)
		}
		beforeBuildDirLock(dir)
		unlock, err = lockDir(dir)
		if err == nil {
			return dir, unlock, nil
		}
		if err != fsutil.ErrLocked && !errors.Is(err, fs.ErrNotExist) {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("locking build directory: %w", err)
		}
		// Another build's sweep has it and removes it.
	}
	return "", nil, fmt.Errorf("locking build directory under %s: other builds kept sweeping it away", tmpRoot)
}

// afterDirLock is a test hook: it runs in lockDir once the lock is taken,
// before it checks that the locked directory is still at its path.
var afterDirLock = func(string) {}

// beforeBuildDirLock is a test hook: it runs between the creation of a
// build directory and its lock.
var beforeBuildDirLock = func(string) {}

// removeStaleBuildDirs removes the directories of killed builds under
// tmpRoot: it unmounts what such a build left mounted there (the file
// systems COPY and WORKDIR steps mount on the host) and deletes the rest.
// Directories of running builds, which hold their lock, are left alone.
func removeStaleBuildDirs(tmpRoot string) {
	ents, err := os.ReadDir(tmpRoot)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "build-") {
			continue
		}
		dir := filepath.Join(tmpRoot, e.Name())
		unlock, err := lockDir(dir)
		if err != nil {
			continue // a live build
		}
		unmountUnder(dir)
		os.RemoveAll(dir)
		unlock()
	}
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		unix.Unmount(p, unix.MNT_DETACH)
	}
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// lockShared holds a shared lock on directory dir, which must be the one
// that path names when the lock is held (prune may replace it); it returns
// the function that releases the lock.
func lockShared(dir string) (func(), error) {
	for range 10 {
		l, err := fsutil.LockDir(context.Background(), dir, false)
		if err != nil {
			return nil, err
		}
		if l.AtPath() {
			return func() { l.Unlock() }, nil
		}
		l.Unlock() // removed while we waited: lock the new one
	}
	return nil, fmt.Errorf("locking %s: it keeps being replaced", dir)
}
