package remote

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The clients this package makes itself bound redirects and keep the SSRF
// check go-containerregistry's clients have.
func TestCheckRedirect(t *testing.T) {
	req := func(u string) *http.Request {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: p}
	}
	start := req("https://registry.example.com/v2/a/blobs/sha256:00")
	tests := []struct {
		name string
		to   string
		via  int
		ok   bool
	}{
		{"same host", "https://registry.example.com/other", 1, true},
		{"public storage", "https://storage.example.net/blob", 1, true},
		{"metadata service", "http://169.254.169.254/latest/meta-data", 1, false},
		{"private network", "http://10.0.0.1/x", 1, false},
		{"loopback of another host", "http://127.0.0.1:8080/x", 1, false},
		{"tenth redirect", "https://registry.example.com/x", 9, true},
		{"eleventh redirect", "https://registry.example.com/x", 10, false},
	}
	for _, tt := range tests {
		via := make([]*http.Request, tt.via)
		for i := range via {
			via[i] = start
		}
		err := checkRedirect(req(tt.to), via)
		if (err == nil) != tt.ok {
			t.Errorf("checkRedirect(%s, %d before) = %v, want ok %v", tt.to, tt.via, err, tt.ok)
		}
		if tt.via >= MaxRedirects && !errors.Is(err, ErrTooManyRedirects) {
			t.Errorf("checkRedirect after %d = %v, want ErrTooManyRedirects", tt.via, err)
		}
	}
}

// An index listing a nested index many times, nested deep, is refused
// after maxIndexEntries descriptors instead of costing a fetch per path
// (100 wide and 6 deep is 10^12 images).
func TestFlattenBudget(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		_, err := flatten(&wideIndex{}, 0)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("flatten(100 wide, 6 deep) = %v, want ErrTooLarge", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("flatten of a 100-wide, 6-deep index did not end in 10s")
	}
}

// wideIndex lists 100 nested indexes, or at depth 6, 100 images.
type wideIndex struct{ depth int }

func (r *wideIndex) raw() []byte {
	mt := "application/vnd.oci.image.index.v1+json"
	if r.depth >= 6 {
		mt = "application/vnd.oci.image.manifest.v1+json"
	}
	d := `{"mediaType":"` + mt + `","digest":"sha256:` + strings.Repeat("a", 64) + `","size":1,"platform":{"os":"linux","architecture":"arm64"}}`
	return []byte(`{"schemaVersion":2,"manifests":[` + strings.Repeat(d+",", 99) + d + `]}`)
}
func (r *wideIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }
func (r *wideIndex) Digest() (v1.Hash, error)            { return v1.Hash{}, nil }
func (r *wideIndex) Size() (int64, error)                { return int64(len(r.raw())), nil }
func (r *wideIndex) RawManifest() ([]byte, error)        { return r.raw(), nil }
func (r *wideIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(r.raw()))
}
func (r *wideIndex) Image(v1.Hash) (v1.Image, error) {
	return partial.CompressedToImage(&rawImage{manifest: []byte(`{"schemaVersion":2}`)})
}
func (r *wideIndex) ImageIndex(v1.Hash) (v1.ImageIndex, error) {
	return &wideIndex{depth: r.depth + 1}, nil
}

func TestIsManifestRequest(t *testing.T) {
	for _, tt := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/v2/a/b/manifests/latest", true},
		{"GET", "/v2/a/manifests/sha256:00", true},
		{"HEAD", "/v2/a/manifests/latest", false},
		{"GET", "/v2/a/manifests/b/blobs/sha256:00", false}, // a repository named a/manifests/b
		{"GET", "/v2/a/blobs/sha256:00", false},
		{"GET", "/v2/a/referrers/sha256:00", true},
	} {
		u, _ := url.Parse("http://r" + tt.path)
		if got := isManifestRequest(&http.Request{Method: tt.method, URL: u}); got != tt.want {
			t.Errorf("isManifestRequest(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}
