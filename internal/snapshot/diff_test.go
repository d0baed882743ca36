//go:build linux

package snapshot

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDiffTrees(t *testing.T) {
	ctx := context.Background()
	lowerTar := mkTar(t, dir("etc"), file("etc/a", "a"), file("etc/b", "b"), dir("d"), file("d/x", "x"), file("f", "f"), symlink("s", "etc/a"))
	lower := flatten(t, lowerTar)
	upper := flatten(t, lowerTar)
	must(t, os.Remove(filepath.Join(upper, "etc/b")))
	mustWrite(t, filepath.Join(upper, "etc/a"), "changed", 0o644)
	must(t, os.RemoveAll(filepath.Join(upper, "d")))
	mustWrite(t, filepath.Join(upper, "d"), "file now", 0o644)
	must(t, os.Remove(filepath.Join(upper, "f")))
	must(t, os.MkdirAll(filepath.Join(upper, "f/g"), 0o755))
	must(t, os.Remove(filepath.Join(upper, "s")))
	must(t, os.Symlink("etc/b", filepath.Join(upper, "s")))

	var buf bytes.Buffer
	if err := Diff(ctx, &buf, lower, upper, TarOptions{}); err != nil {
		t.Fatalf("Diff = %v", err)
	}
	got := listTar(t, buf.Bytes())
	want := []string{"d", "etc/", "etc/a", "etc/.wh.b", "f/", "f/g/", "s -> etc/b"}
	if !slices.Equal(got, want) {
		t.Errorf("Diff entries = %q, want %q", got, want)
	}
	diffTrees(t, describe(t, flatten(t, lowerTar, buf.Bytes())), describe(t, upper))

	// No change, no entries.
	buf.Reset()
	if err := Diff(ctx, &buf, lower, lower, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := listTar(t, buf.Bytes()); len(got) != 0 {
		t.Errorf("Diff of a tree with itself = %q, want no entries", got)
	}
}
