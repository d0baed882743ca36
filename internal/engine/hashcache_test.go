//go:build unix

package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sha(b string) string { s := sha256.Sum256([]byte(b)); return hex.EncodeToString(s[:]) }

func TestContentHashes(t *testing.T) {
	old := racyWindow
	racyWindow = -time.Hour // remember even files written just now
	defer func() { racyWindow = old }()

	dir := t.TempDir()
	db := contextHashesPath(filepath.Join(dir, "root"), dir)
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := func(c *contentHashes) string {
		t.Helper()
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.sum(p, fi)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if other := contextHashesPath(filepath.Join(dir, "root"), filepath.Join(dir, "other")); other == db || filepath.Dir(other) != filepath.Dir(db) {
		t.Errorf("contexts %s and its sibling share %s, %s; want a file each in one directory", dir, db, other)
	}
	c := loadContentHashes(db)
	if got := sum(c); got != sha("one") {
		t.Fatalf("sum = %s, want sha256 of the content", got)
	}
	c.save()

	// A saved sum is used while stat says the file is unchanged: plant a
	// wrong sum to see that the cache, not the file, answered.
	b, _ := os.ReadFile(db)
	files, err := decodeSums(b)
	if err != nil || files[p].Sum != sha("one") {
		t.Fatalf("saved cache %q: %v, want the file's sum", b, err)
	}
	planted := files[p]
	planted.Sum = sha("planted")
	files[p] = planted
	b, _ = encodeSums(files)
	os.WriteFile(db, b, 0o644)
	if got := sum(loadContentHashes(db)); got != sha("planted") {
		t.Errorf("sum of an unchanged file = %s, want the remembered one", got)
	}

	// The same size written again and the old mtime put back: the change
	// time still differs, so the file is hashed again.
	fi, _ := os.Stat(p)
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(p, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	if got := sum(loadContentHashes(db)); got != sha("two") {
		t.Errorf("sum after an edit that kept size and mtime = %s, want the new content's", got)
	}

	// A damaged cache file is an empty cache.
	os.WriteFile(db, append([]byte(sumsMagic), 0xff, 0xff), 0o644)
	if got := sum(loadContentHashes(db)); got != sha("two") {
		t.Errorf("sum with a damaged cache = %s, want the content's", got)
	}
}

func TestHashTreeOncePerBuild(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644)
	c := loadContentHashes(filepath.Join(t.TempDir(), "files.json"))
	var first, second strings.Builder
	if err := hashTree(context.Background(), &first, c, "", dir, "", nil); err != nil {
		t.Fatal(err)
	}
	// Within the build the description is computed once: a change now is
	// not seen (the build reads the context as it was when it first looked).
	os.WriteFile(filepath.Join(dir, "b"), []byte("b"), 0o644)
	if err := hashTree(context.Background(), &second, c, "", dir, "", nil); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() || !strings.Contains(first.String(), sha("a")) {
		t.Errorf("hashTree twice in one build = %q then %q, want one description with a's sum", first.String(), second.String())
	}
	// Without the per-build cache every call reads the tree.
	var fresh strings.Builder
	if err := hashTree(context.Background(), &fresh, nil, "", dir, "", nil); err != nil || !strings.Contains(fresh.String(), sha("b")) {
		t.Errorf("hashTree without a cache = %q, %v; want b's sum too", fresh.String(), err)
	}
}

// FuzzDecodeSums: any bytes decode to sums or an error, never a panic, and
// what decodes encodes back to the same sums.
func FuzzDecodeSums(f *testing.F) {
	good, _ := encodeSums(map[string]fileSum{"/ctx/a": {Size: 3, Mtime: 1, Ctime: 2, Ino: 7, Sum: sha("a")}, "/ctx/b": {Sum: sha("b")}})
	f.Add(good)
	f.Add([]byte(sumsMagic))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		files, err := decodeSums(b)
		if err != nil {
			return
		}
		again, err := encodeSums(files)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeSums(again)
		if err != nil || len(back) != len(files) {
			t.Fatalf("decode(encode(%v)) = %v, %v", files, back, err)
		}
		for p, s := range files {
			if back[p] != s {
				t.Fatalf("%q: %+v, then %+v", p, s, back[p])
			}
		}
	})
}
