//go:build linux

package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRelativeArchivePaths: archives and layouts named by a relative path
// (as users and hack/release.sh write them: -o type=oci,dest=dist/x.tar)
// are written and read back; writing an archive once failed with
// "Rel: can't make /abs/... relative to dist/...".
func TestRelativeArchivePaths(t *testing.T) {
	root := t.TempDir()
	importTwo(t, root, "demo:1")
	t.Chdir(t.TempDir())
	if err := os.Mkdir("dist", 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, root, "copy", "demo:1", "oci-archive:dist/demo.tar")
	mustRun(t, root, "copy", "demo:1", "oci:dist/layout:v1")
	mustRun(t, root, "copy", "oci-archive:dist/demo.tar", "demo:from-archive")
	mustRun(t, root, "copy", "oci:dist/layout:v1", "demo:from-layout")
	want := inspectJSON(t, root, "demo:1").Digest
	for _, n := range []string{"demo:from-archive", "demo:from-layout"} {
		if got := inspectJSON(t, root, n).Digest; got != want {
			t.Errorf("%s digest = %s, want %s", n, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join("dist", "demo.tar")); err != nil {
		t.Error(err)
	}
}
