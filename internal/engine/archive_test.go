//go:build unix

package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"
)

// tarFile is a tar archive holding one file.
func tarFile(t *testing.T, name, content string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: int64(len(content)), Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func xzOf(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := xz.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipOf(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// unpackTo runs ADD's unpacking of archive (written as name) into /dest of
// a fresh root and returns the root.
func unpackTo(t *testing.T, name string, archive []byte) (string, error) {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, name)
	if err := os.WriteFile(src, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &copier{ctx: context.Background(), fsys: hostFS{root: root}}
	return root, c.unpack(copySource{host: src, rel: name}, "/dest")
}

// TestUnpackXz: ADD unpacks an xz-compressed tar as BuildKit does
// (testDockerfileAddArchive in frontend/dockerfile/dockerfile_add_test.go,
// corpus case add-archive-formats), and recognises it by content.
func TestUnpackXz(t *testing.T) {
	archive := xzOf(t, tarFile(t, "compressed", "XZ:"))
	root, err := unpackTo(t, "t.tar.xz", archive)
	if err != nil {
		t.Fatalf("unpacking t.tar.xz: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "dest/compressed")); err != nil || string(b) != "XZ:" {
		t.Errorf("dest/compressed = %q, %v; want %q", b, err, "XZ:")
	}
	p := filepath.Join(t.TempDir(), "no-suffix")
	if err := os.WriteFile(p, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	if !isArchive(p) {
		t.Errorf("isArchive(an xz tar named no-suffix) = false, want true")
	}
	// Not a tar inside: copied as a file, as BuildKit does.
	if err := os.WriteFile(p, xzOf(t, []byte("just text, no tar header")), 0o644); err != nil {
		t.Fatal(err)
	}
	if isArchive(p) {
		t.Errorf("isArchive(xz of plain text) = true, want false")
	}
}

// TestUnpackCorrupt: an archive cut short fails with the file's name, not a
// panic or a silently partial directory.
func TestUnpackCorrupt(t *testing.T) {
	plain := tarFile(t, "a", strings.Repeat("a", 100_000))
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"cut.tar.xz", xzOf(t, plain)},
		{"cut.tar.gz", gzipOf(t, plain)},
	} {
		_, err := unpackTo(t, tc.name, tc.data[:len(tc.data)/2])
		if err == nil || !strings.Contains(err.Error(), "ADD "+tc.name) {
			t.Errorf("unpacking half of %s: error %v, want one naming ADD %s", tc.name, err, tc.name)
		}
	}
}

// TestUnpackBound: what an archive unpacks to is bounded (maxUnpacked): a
// small compressed file of a huge tar stops with an error naming the file
// and the bound; an archive of exactly the bound unpacks.
func TestUnpackBound(t *testing.T) {
	plain := tarFile(t, "zeros", strings.Repeat("\x00", 1<<20))
	defer func(v int64) { maxUnpacked = v }(maxUnpacked)
	maxUnpacked = int64(len(plain))
	if _, err := unpackTo(t, "exact.tar.xz", xzOf(t, plain)); err != nil {
		t.Errorf("unpacking an archive of exactly the bound: %v", err)
	}
	maxUnpacked = int64(len(plain)) - 1
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"bomb.tar.xz", xzOf(t, plain)},
		{"bomb.tar.gz", gzipOf(t, plain)},
		{"bomb.tar", plain},
	} {
		_, err := unpackTo(t, tc.name, tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.name+" unpacks to more than") {
			t.Errorf("unpacking %s past the bound: error %v, want one saying it unpacks to more than the bound", tc.name, err)
		}
	}
}
