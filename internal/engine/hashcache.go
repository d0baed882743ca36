package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/store"
)

// contentHashes makes the content part of COPY and bind-mount cache keys
// cheap to compute again. Across builds it remembers the sha256 of each
// context file under what stat says of it (size, modification and change
// times in nanoseconds, inode), as git's index does, in
// ROOT/contexthash/CONTEXT.sums (contextHashesPath, binary: encodeSums); a file whose stat
// differs is hashed again.
// Within one build it computes each source tree's description once, however
// many target platforms copy it.
//
// A file modified within racyWindow of being hashed is not remembered (its
// times may not change on a second write in the same clock tick), so the
// next build hashes it again.
type contentHashes struct {
	path string

	mu    sync.Mutex
	files map[string]fileSum
	used  map[string]bool
	dirty bool
	trees map[string]*treeSum
}

type fileSum struct {
	Size  int64
	Mtime int64
	Ctime int64
	Ino   uint64
	Sum   string // hex sha256
}

type treeSum struct {
	once sync.Once
	desc []byte
	err  error
}

// racyWindow is a variable so tests can remember files they just wrote.
var racyWindow = 2 * time.Second

const maxRememberedSums = 200_000

// contextHashesPath is the file of remembered sums of one context
// directory: one file per context, so a build reads only the sums of its
// own context, however many others the store has built.
func contextHashesPath(root, ctxDir string) string {
	sum := sha256.Sum256([]byte(ctxDir))
	return filepath.Join(store.NewLayout(root).ContextHash(), hex.EncodeToString(sum[:16])+".sums")
}

// loadContentHashes reads the remembered sums at path; a missing or damaged
// file is an empty cache.
func loadContentHashes(path string) *contentHashes {
	c := &contentHashes{path: path, files: map[string]fileSum{}, used: map[string]bool{}, trees: map[string]*treeSum{}}
	if b, err := os.ReadFile(path); err == nil {
		if files, err := decodeSums(b); err == nil {
			c.files = files
		}
	}
	return c
}

// sumsMagic starts the file of remembered sums. The file is binary (a JSON
// one of a 20,000-file context took 32 ms to parse at every build): the
// magic, then per file its path (uvarint length, bytes), size, mtime and
// ctime (varints), inode (uvarint) and the 32 bytes of its sha256.
const sumsMagic = "manyarch-sums-1\n"

func encodeSums(files map[string]fileSum) ([]byte, error) {
	b := make([]byte, 0, len(sumsMagic)+len(files)*96)
	b = append(b, sumsMagic...)
	for p, f := range files {
		sum, err := hex.DecodeString(f.Sum)
		if err != nil || len(sum) != sha256.Size {
			continue // not a sum: not remembered
		}
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
		b = binary.AppendVarint(b, f.Size)
		b = binary.AppendVarint(b, f.Mtime)
		b = binary.AppendVarint(b, f.Ctime)
		b = binary.AppendUvarint(b, f.Ino)
		b = append(b, sum...)
	}
	return b, nil
}

var errBadSums = errors.New("damaged file of remembered sums")

func decodeSums(b []byte) (map[string]fileSum, error) {
	if !bytes.HasPrefix(b, []byte(sumsMagic)) {
		return nil, errBadSums
	}
	b = b[len(sumsMagic):]
	files := map[string]fileSum{}
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	varint := func() (int64, bool) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	for len(b) > 0 {
		n, ok := uvarint()
		if !ok || n > uint64(len(b)) {
			return nil, errBadSums
		}
		p := string(b[:n])
		b = b[n:]
		var f fileSum
		var ok1, ok2, ok3, ok4 bool
		f.Size, ok1 = varint()
		f.Mtime, ok2 = varint()
		f.Ctime, ok3 = varint()
		f.Ino, ok4 = uvarint()
		if !ok1 || !ok2 || !ok3 || !ok4 || len(b) < sha256.Size {
			return nil, errBadSums
		}
		f.Sum = hex.EncodeToString(b[:sha256.Size])
		b = b[sha256.Size:]
		files[p] = f
	}
	return files, nil
}

// tree returns the description hashTree writes for the tree at host, computed
// once per build.
func (c *contentHashes) tree(key string, compute func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	t, ok := c.trees[key]
	if !ok {
		t = &treeSum{}
		c.trees[key] = t
	}
	c.mu.Unlock()
	t.once.Do(func() { t.desc, t.err = compute() })
	return t.desc, t.err
}

// sum returns the hex sha256 of the regular file p whose Lstat is fi.
func (c *contentHashes) sum(p string, fi fs.FileInfo) (string, error) {
	want, keyed := fileSumKey(fi)
	if c != nil && keyed {
		c.mu.Lock()
		got, ok := c.files[p]
		if ok {
			c.used[p] = true
		}
		c.mu.Unlock()
		if ok && got.Size == want.Size && got.Mtime == want.Mtime && got.Ctime == want.Ctime && got.Ino == want.Ino {
			return got.Sum, nil
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if c != nil && keyed && time.Since(time.Unix(0, max(want.Mtime, want.Ctime))) > racyWindow {
		want.Sum = sum
		c.mu.Lock()
		c.files[p], c.used[p], c.dirty = want, true, true
		c.mu.Unlock()
	}
	return sum, nil
}

// save writes the remembered sums back (temp file and rename), keeping only
// this build's when there are too many. Failing to save only costs time.
func (c *contentHashes) save() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return
	}
	files := c.files
	if len(files) > maxRememberedSums {
		files = map[string]fileSum{}
		for p := range c.used {
			files[p] = c.files[p]
		}
	}
	b, err := encodeSums(files)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return
	}
	// Remembered sums are a cache: a lost write costs rehashing, so no fsync.
	_ = fsutil.WriteFileBytes(c.path, 0o600, b, fsutil.NoSync())
	// The JSON files that earlier versions kept: one of all contexts, then
	// one of each.
	os.Remove(filepath.Join(filepath.Dir(c.path), "files.json"))
	os.Remove(strings.TrimSuffix(c.path, ".sums") + ".json")
}
