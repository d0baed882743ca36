package store

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FuzzIndexJSON: index.json as the store reads it. A damaged file is an
// error, never a panic, and never an empty index (which GC would take for
// "no roots": issue #25 item 9).
func FuzzIndexJSON(f *testing.F) {
	for _, s := range []string{
		`{"schemaVersion":2,"manifests":[]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":2,"annotations":{"org.opencontainers.image.ref.name":"a:1"}}]}`,
		`null`, `{}`, `[]`, `{"manifests":null}`, `{"schemaVersion":2,"manifests":[{"digest":"sha256:zz"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseIndexJSON(b)
		if err != nil {
			return
		}
		if m.Manifests == nil {
			t.Fatalf("parseIndexJSON(%q) = an index without a manifests array", b)
		}
		for _, d := range m.Manifests {
			if checkHash(d.Digest) != nil || d.Size < 0 {
				t.Fatalf("parseIndexJSON(%q) accepted descriptor %+v", b, d)
			}
		}
	})
}

// FuzzStoreManifest: a manifest (or index) and a config blob as the store
// reads them back (Image, Index, Tag's tree check, GC, Check): errors, never
// panics, hangs or unbounded reads.
func FuzzStoreManifest(f *testing.F) {
	cfg := `{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"CONFIG","size":SIZE},"layers":[]}`), []byte(cfg))
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"CONFIG","size":SIZE}]}`), []byte(cfg))
	f.Add([]byte(`{"schemaVersion":2,"config":{"digest":"CONFIG","size":-1},"layers":[{"digest":"CONFIG","size":99999999999}]}`), []byte(`{}`))
	f.Add([]byte(`null`), []byte(`null`))
	root := filepath.Join(f.TempDir(), "store")
	s, err := Open(f.Context(), root, WithFsync(false))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, manifest, config []byte) {
		ctx := t.Context()
		cd, err := s.WriteBlob(ctx, bytes.NewReader(config), v1.Hash{}, -1)
		if err != nil {
			t.Fatal(err)
		}
		manifest = bytes.ReplaceAll(manifest, []byte("CONFIG"), []byte(cd.Digest.String()))
		manifest = bytes.ReplaceAll(manifest, []byte("SIZE"), []byte(itoa(cd.Size)))
		md, err := s.WriteBlob(ctx, bytes.NewReader(manifest), v1.Hash{}, -1)
		if err != nil {
			t.Fatal(err)
		}
		if img, err := s.Image(ctx, md.Digest); err == nil {
			img.Manifest()
			img.ConfigFile()
			if ls, err := img.Layers(); err == nil {
				for _, l := range ls {
					if rc, err := l.Compressed(); err == nil {
						io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
						rc.Close()
					}
				}
			}
		}
		if idx, err := s.Index(ctx, md.Digest); err == nil {
			if im, err := idx.IndexManifest(); err == nil {
				for _, d := range im.Manifests {
					idx.Image(d.Digest)
				}
			}
		}
		if s.Tag(ctx, "fuzz:1", v1.Descriptor{Digest: md.Digest, Size: md.Size}) == nil {
			if _, err := s.Check(ctx); err != nil {
				t.Fatalf("Check after tagging %q: %v", manifest, err)
			}
			s.Untag(ctx, "fuzz:1")
		}
	})
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
