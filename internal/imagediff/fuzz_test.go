package imagediff

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// FuzzReadLayer feeds arbitrary bytes to the layer reader: it returns
// entries or an error, never panics, and the entries compare with
// themselves as equal.
func FuzzReadLayer(f *testing.F) {
	f.Add(tarOf(f, baseFiles()))
	f.Add(tarOf(f, []file{reg("./a/../b", "x"), {name: "dev/null", typ: tar.TypeChar, mode: 0o666}}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			t.Skip()
		}
		entries, err := readLayer(context.Background(), l)
		if err != nil {
			return
		}
		var lr LayerReport
		comparePaths(&lr, entries, entries, 0)
		if lr.PathsDiffering != 0 {
			t.Fatalf("a layer compared with itself has %d differing paths: %+v", lr.PathsDiffering, lr.Paths)
		}
	})
}
