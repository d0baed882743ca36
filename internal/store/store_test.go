package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	code := m.Run()
	benchCleanup()
	os.Exit(code)
}

func newStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "store"), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func randomImage(t testing.TB, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t testing.TB, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func sha(b []byte) v1.Hash {
	h, _, _ := v1.SHA256(bytes.NewReader(b))
	return h
}

// verifyTree reads every blob under d, verified, failing t on any error.
func verifyTree(t testing.TB, s *Store, d v1.Descriptor) {
	t.Helper()
	if err := verifyTreeErr(t.Context(), s, d); err != nil {
		t.Fatalf("verifying %s: %v", d.Digest, err)
	}
}

func verifyTreeErr(ctx context.Context, s *Store, d v1.Descriptor) error {
	raw, err := s.readBlob(ctx, d.Digest, d.Size)
	if err != nil {
		return err
	}
	m, err := parseManifestish(raw)
	if err != nil {
		return err
	}
	var blobs []v1.Descriptor
	if m.Config != nil {
		blobs = append(blobs, *m.Config)
	}
	for _, b := range append(blobs, m.Layers...) {
		rc, err := s.openBlob(ctx, b.Digest, b.Size)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	for _, c := range m.Manifests {
		if err := verifyTreeErr(ctx, s, c); err != nil {
			return err
		}
	}
	return nil
}

func TestOpenCreatesLayout(t *testing.T) {
	s := newStore(t)
	b, err := os.ReadFile(filepath.Join(s.Root(), "oci-layout"))
	if err != nil || string(b) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %q, %v; want {\"imageLayoutVersion\":\"1.0.0\"}", b, err)
	}
	b, err = os.ReadFile(filepath.Join(s.Root(), "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx map[string]any
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json %q: %v", b, err)
	}
	if idx["schemaVersion"] != 2.0 || idx["mediaType"] != string(types.OCIImageIndex) {
		t.Errorf("index.json = %s, want schemaVersion 2 and mediaType %s", b, types.OCIImageIndex)
	}
	if fi, err := os.Stat(filepath.Join(s.Root(), "blobs", "sha256")); err != nil || !fi.IsDir() {
		t.Errorf("blobs/sha256: %v", err)
	}
	// An existing empty directory becomes a layout.
	empty := t.TempDir()
	if _, err := Open(t.Context(), empty); err != nil {
		t.Errorf("Open(empty dir) = %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, "oci-layout")); err != nil {
		t.Errorf("Open(empty dir) wrote no oci-layout: %v", err)
	}
	// Reopening keeps what is there.
	if _, err := Open(t.Context(), s.Root()); err != nil {
		t.Errorf("reopening: %v", err)
	}
}

func TestOpenRefusesNonLayout(t *testing.T) {
	dir := t.TempDir()
	notEmpty := filepath.Join(dir, "stuff")
	os.MkdirAll(notEmpty, 0o755)
	os.WriteFile(filepath.Join(notEmpty, "notes.txt"), []byte("hi"), 0o644)
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	badLayout := filepath.Join(dir, "bad")
	os.MkdirAll(badLayout, 0o755)
	os.WriteFile(filepath.Join(badLayout, "oci-layout"), []byte("nope"), 0o644)

	for _, p := range []string{notEmpty, file, badLayout} {
		_, err := Open(t.Context(), p)
		var nl *NotLayoutError
		if !errors.As(err, &nl) || !strings.Contains(err.Error(), p) {
			t.Errorf("Open(%q) = %v, want *NotLayoutError naming the path", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(notEmpty, "index.json")); err == nil {
		t.Errorf("Open wrote index.json into a non-layout directory")
	}
	if _, err := Open(t.Context(), "", nil); err == nil {
		t.Errorf("Open with empty root and nil option succeeded")
	}
}

func TestDefaultRoot(t *testing.T) {
	t.Setenv("MANYARCH_ROOT", "/srv/ma")
	if got := DefaultRoot(); got != "/srv/ma" {
		t.Errorf("DefaultRoot() with MANYARCH_ROOT = %q, want /srv/ma", got)
	}
	t.Setenv("MANYARCH_ROOT", "")
	t.Setenv("XDG_DATA_HOME", "/home/u/data")
	want := "/home/u/data/manyarch"
	if os.Geteuid() == 0 {
		want = "/var/lib/manyarch"
	}
	if got := DefaultRoot(); got != want {
		t.Errorf("DefaultRoot() = %q, want %q", got, want)
	}
}

func TestWriteBlob(t *testing.T) {
	content := []byte("hello, blob")
	good := sha(content)
	other := sha([]byte("something else"))
	tests := []struct {
		name    string
		want    v1.Hash
		size    int64
		wantErr bool
	}{
		{"digest and size", good, int64(len(content)), false},
		{"compute digest", v1.Hash{}, -1, false},
		{"digest only", good, -1, false},
		{"wrong digest", other, int64(len(content)), true},
		{"too short", good, int64(len(content)) + 5, true},
		{"too long", good, 3, true},
		{"size without digest wrong", v1.Hash{}, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			d, err := s.WriteBlob(t.Context(), bytes.NewReader(content), tt.want, tt.size)
			if tt.wantErr {
				var me *MismatchError
				if !errors.As(err, &me) {
					t.Fatalf("WriteBlob(%v, %d) = %v, want *MismatchError", tt.want, tt.size, err)
				}
				if _, ok, _ := s.HasBlob(t.Context(), good); ok {
					t.Errorf("blob present after a failed write")
				}
				ents, _ := os.ReadDir(filepath.Join(s.Root(), "blobs", "sha256"))
				tmp, _ := os.ReadDir(filepath.Join(s.Root(), "ingest"))
				if len(ents)+len(tmp) != 0 {
					t.Errorf("failed write left %d blobs and %d temp files", len(ents), len(tmp))
				}
				return
			}
			if err != nil {
				t.Fatalf("WriteBlob: %v", err)
			}
			if d.Digest != good || d.Size != int64(len(content)) {
				t.Errorf("WriteBlob = %v/%d, want %v/%d", d.Digest, d.Size, good, len(content))
			}
			got, err := s.ReadBlob(t.Context(), good)
			if err != nil || !bytes.Equal(got, content) {
				t.Errorf("ReadBlob = %q, %v; want %q", got, err, content)
			}
		})
	}
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("must not be read") }

func TestWriteBlobIdempotent(t *testing.T) {
	s := newStore(t)
	content := []byte("once")
	h := sha(content)
	if _, err := s.WriteBlob(t.Context(), bytes.NewReader(content), h, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteBlob(t.Context(), failReader{}, h, 4); err != nil {
		t.Errorf("WriteBlob of a present blob read its input: %v", err)
	}
	if _, err := s.WriteBlob(t.Context(), failReader{}, h, -1); err != nil {
		t.Errorf("WriteBlob of a present blob, unknown size, read its input: %v", err)
	}
	// With verification on, the input is read and checked.
	sv, err := Open(t.Context(), s.Root(), WithVerifyExisting(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sv.WriteBlob(t.Context(), failReader{}, h, 4); err == nil {
		t.Errorf("WriteBlob with WithVerifyExisting did not read its input")
	}
	if _, err := s.WriteBlob(t.Context(), bytes.NewReader(content), v1.Hash{Algorithm: "sha512", Hex: "00"}, 4); !errors.Is(err, ErrUnsupportedDigest) {
		t.Errorf("WriteBlob(sha512) = %v, want ErrUnsupportedDigest", err)
	}
}

func TestOpenBlobDetectsCorruption(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 100000) // 1.6 MB: several reads
	h := sha(content)
	tests := []struct {
		name   string
		damage func(path string) error
	}{
		{"flip last byte", func(p string) error {
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 0xff
			return os.WriteFile(p, b, 0o644)
		}},
		{"flip first byte", func(p string) error {
			b, _ := os.ReadFile(p)
			b[0] ^= 1
			return os.WriteFile(p, b, 0o644)
		}},
		{"truncate", func(p string) error { return os.Truncate(p, int64(len(content)/2)) }},
		{"extend", func(p string) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			f.Write([]byte("junk"))
			return f.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			if _, err := s.WriteBlob(t.Context(), bytes.NewReader(content), h, int64(len(content))); err != nil {
				t.Fatal(err)
			}
			if err := tt.damage(s.blobPath(h)); err != nil {
				t.Fatal(err)
			}
			rc, err := s.OpenBlob(t.Context(), h)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(rc)
			rc.Close()
			var ce *CorruptBlobError
			if !errors.As(err, &ce) || ce.Digest != h || ce.Path != s.blobPath(h) {
				t.Fatalf("reading damaged blob: err = %v, want *CorruptBlobError for %s", err, h)
			}
			if !strings.Contains(err.Error(), "manyarch check --repair") {
				t.Errorf("error %q gives no advice", err)
			}
			if _, err := s.ReadBlob(t.Context(), h); !errors.As(err, &ce) {
				t.Errorf("ReadBlob of damaged blob = %v, want *CorruptBlobError", err)
			}
		})
	}
	s := newStore(t)
	_, err := s.OpenBlob(t.Context(), h)
	var me *MissingBlobError
	if !errors.As(err, &me) || !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), h.String()) {
		t.Errorf("OpenBlob(missing) = %v, want *MissingBlobError naming %s", err, h)
	}
}

func TestImageRoundTrip(t *testing.T) {
	s := newStore(t)
	img := randomImage(t, 4096, 3)
	d, err := s.WriteImage(t.Context(), img)
	if err != nil {
		t.Fatalf("WriteImage: %v", err)
	}
	if want := digestOf(t, img); d.Digest != want {
		t.Errorf("WriteImage digest = %v, want %v", d.Digest, want)
	}
	wantMT, _ := img.MediaType()
	if d.MediaType != wantMT || d.Size == 0 {
		t.Errorf("WriteImage descriptor = %+v, want media type %s and a size", d, wantMT)
	}
	got, err := s.Image(t.Context(), d.Digest)
	if err != nil {
		t.Fatalf("Image: %v", err)
	}
	compareImages(t, got, img)

	// Writing again is a no-op that returns the same descriptor.
	d2, err := s.WriteImage(t.Context(), got)
	if err != nil || d2.Digest != d.Digest {
		t.Errorf("rewriting image = %v, %v; want %v", d2.Digest, err, d.Digest)
	}
}

func compareImages(t *testing.T, got, want v1.Image) {
	t.Helper()
	gm, _ := got.RawManifest()
	wm, _ := want.RawManifest()
	if !bytes.Equal(gm, wm) {
		t.Errorf("manifest differs:\n got %s\nwant %s", gm, wm)
	}
	gc, err := got.RawConfigFile()
	if err != nil {
		t.Fatalf("RawConfigFile: %v", err)
	}
	wc, _ := want.RawConfigFile()
	if !bytes.Equal(gc, wc) {
		t.Errorf("config differs")
	}
	if digestOf(t, got) != digestOf(t, want) {
		t.Errorf("digest %v, want %v", digestOf(t, got), digestOf(t, want))
	}
	if _, err := got.ConfigFile(); err != nil {
		t.Errorf("ConfigFile: %v", err)
	}
	gl, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	wl, _ := want.Layers()
	if len(gl) != len(wl) {
		t.Fatalf("%d layers, want %d", len(gl), len(wl))
	}
	for i := range gl {
		rc, err := gl[i].Compressed()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		gb, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		rc, _ = wl[i].Compressed()
		wb, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(gb, wb) {
			t.Errorf("layer %d content differs", i)
		}
		if _, err := gl[i].DiffID(); err != nil {
			t.Errorf("layer %d DiffID: %v", i, err)
		}
	}
}

// testIndex builds an index of two images with platforms, a nested index and
// an attestation-style artifact manifest.
func testIndex(t testing.TB) v1.ImageIndex {
	t.Helper()
	amd := randomImage(t, 2048, 2)
	arm := randomImage(t, 2048, 1)
	inner := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: randomImage(t, 512, 1)})
	att := mutate.MediaType(mutate.ConfigMediaType(randomImage(t, 256, 1), "application/vnd.in-toto+json"), types.OCIManifestSchema1)
	return mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: inner},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
		}},
	)
}

func TestIndexRoundTrip(t *testing.T) {
	s := newStore(t)
	idx := testIndex(t)
	d, err := s.WriteIndex(t.Context(), idx)
	if err != nil {
		t.Fatalf("WriteIndex: %v", err)
	}
	if d.Digest != digestOf(t, idx) || d.MediaType != types.OCIImageIndex {
		t.Errorf("WriteIndex = %+v, want %v %s", d, digestOf(t, idx), types.OCIImageIndex)
	}
	got, err := s.Index(t.Context(), d.Digest)
	if err != nil {
		t.Fatalf("Index: %v", err)
	}
	gm, _ := got.RawManifest()
	wm, _ := idx.RawManifest()
	if !bytes.Equal(gm, wm) {
		t.Errorf("index manifest differs")
	}
	im, _ := idx.IndexManifest()
	for _, c := range im.Manifests {
		if isIndex(c.MediaType) {
			gi, err := got.ImageIndex(c.Digest)
			if err != nil {
				t.Fatalf("ImageIndex(%v): %v", c.Digest, err)
			}
			if digestOf(t, gi) != c.Digest {
				t.Errorf("nested index digest %v, want %v", digestOf(t, gi), c.Digest)
			}
			continue
		}
		gi, err := got.Image(c.Digest)
		if err != nil {
			t.Fatalf("Image(%v): %v", c.Digest, err)
		}
		wi, _ := idx.Image(c.Digest)
		compareImages(t, gi, wi)
	}
	verifyTree(t, s, d)

	// Copy store to store: the store's index is a blob source (raw artifact path).
	s2 := newStore(t)
	d2, err := s2.WriteIndex(t.Context(), got)
	if err != nil || d2.Digest != d.Digest {
		t.Fatalf("copying index between stores = %v, %v; want %v", d2.Digest, err, d.Digest)
	}
	verifyTree(t, s2, d2)
}

func TestArtifactChild(t *testing.T) {
	// A child whose media type is neither image nor index: its raw manifest and
	// blobs are copied from a blob source.
	src := newStore(t)
	cfg := []byte(`{}`)
	payload := []byte(`{"spdxVersion":"SPDX-2.3"}`)
	cd, _ := src.WriteBlob(t.Context(), bytes.NewReader(cfg), v1.Hash{}, -1)
	pd, _ := src.WriteBlob(t.Context(), bytes.NewReader(payload), v1.Hash{}, -1)
	art := fmt.Sprintf(`{"mediaType":"application/vnd.example.sbom.manifest.v1+json","config":{"mediaType":"application/vnd.example.config","digest":%q,"size":%d},"blobs":[{"mediaType":"application/spdx+json","digest":%q,"size":%d}]}`,
		cd.Digest, cd.Size, pd.Digest, pd.Size)
	ad, _ := src.WriteBlob(t.Context(), strings.NewReader(art), v1.Hash{}, -1)
	idxJSON := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.example.sbom.manifest.v1+json","digest":%q,"size":%d}]}`, ad.Digest, ad.Size)
	xd, err := src.WriteBlob(t.Context(), strings.NewReader(idxJSON), v1.Hash{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Tag(t.Context(), "sbom", v1.Descriptor{Digest: xd.Digest, Size: xd.Size}); err != nil {
		t.Fatalf("Tag: %v", err)
	}
	idx, err := src.Index(t.Context(), xd.Digest)
	if err != nil {
		t.Fatal(err)
	}
	dst := newStore(t)
	if _, err := dst.WriteIndex(t.Context(), idx); err != nil {
		t.Fatalf("WriteIndex with artifact child: %v", err)
	}
	for _, h := range []v1.Hash{cd.Digest, pd.Digest, ad.Digest, xd.Digest} {
		if _, ok, _ := dst.HasBlob(t.Context(), h); !ok {
			t.Errorf("blob %s not copied", h)
		}
	}
	got, err := dst.ResolveDigest(t.Context(), xd.Digest)
	if err != nil || got.MediaType != types.OCIImageIndex {
		t.Errorf("ResolveDigest = %+v, %v", got, err)
	}
}

func TestLayerCorruption(t *testing.T) {
	for _, mode := range []string{"flip", "truncate", "remove"} {
		t.Run(mode, func(t *testing.T) {
			s := newStore(t)
			d, err := s.WriteImage(t.Context(), randomImage(t, 100000, 2))
			if err != nil {
				t.Fatal(err)
			}
			img, _ := s.Image(t.Context(), d.Digest)
			layers, _ := img.Layers()
			h := digestOf(t, layers[1])
			p := s.blobPath(h)
			switch mode {
			case "flip":
				b, _ := os.ReadFile(p)
				b[len(b)/2] ^= 0x55
				os.WriteFile(p, b, 0o644)
			case "truncate":
				os.Truncate(p, 10)
			case "remove":
				os.Remove(p)
			}
			img, err = s.Image(t.Context(), d.Digest)
			if err != nil {
				t.Fatalf("Image: %v", err)
			}
			layers, _ = img.Layers()
			rc, err := layers[1].Compressed()
			if err == nil {
				_, err = io.ReadAll(rc)
				rc.Close()
			}
			var ce *CorruptBlobError
			var me *MissingBlobError
			switch {
			case mode == "remove" && errors.As(err, &me) && me.Digest == h:
			case mode != "remove" && errors.As(err, &ce) && ce.Digest == h:
			default:
				t.Fatalf("reading %s layer: %v, want a typed error naming %s", mode, err, h)
			}
			if !strings.Contains(err.Error(), h.String()) {
				t.Errorf("error %q does not name the digest", err)
			}
			// Copying the damaged image to another store fails on that blob
			// and leaves nothing of it behind.
			dst := newStore(t)
			if _, err := dst.WriteImage(t.Context(), img); err == nil || !strings.Contains(err.Error(), h.String()) {
				t.Errorf("copying damaged image = %v, want an error naming %s", err, h)
			}
			if _, ok, _ := dst.HasBlob(t.Context(), h); ok {
				t.Errorf("damaged blob %s was copied", h)
			}
			// The other layer still reads fine.
			rc, err = layers[0].Compressed()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(rc); err != nil {
				t.Errorf("intact layer: %v", err)
			}
			rc.Close()
		})
	}
}

func TestTagResolveUntag(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	img := randomImage(t, 1024, 1)
	d, err := s.WriteImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	idx := testIndex(t)
	xd, err := s.WriteIndex(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	// An unnamed entry, as another tool may write, survives our updates.
	unnamed := v1.Descriptor{MediaType: d.MediaType, Size: d.Size, Digest: d.Digest, Annotations: map[string]string{"x": "y"}}
	if err := s.updateIndex(ctx, func(m *v1.IndexManifest) error {
		m.Manifests = append(m.Manifests, unnamed)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	for _, n := range []string{"b:1", "a:1", "hello:1.0"} {
		if err := s.Tag(ctx, n, d); err != nil {
			t.Fatalf("Tag(%q): %v", n, err)
		}
	}
	// Retag replaces.
	pd := xd
	pd.Annotations = map[string]string{"org.opencontainers.image.created": "now"}
	if err := s.Tag(ctx, "hello:1.0", pd); err != nil {
		t.Fatal(err)
	}
	got, err := s.Resolve(ctx, "hello:1.0")
	if err != nil || got.Digest != xd.Digest || got.Annotations["org.opencontainers.image.created"] != "now" || got.Annotations[RefNameAnnotation] != "hello:1.0" {
		t.Errorf("Resolve(hello:1.0) = %+v, %v; want %v with annotations", got, err, xd.Digest)
	}
	names, err := s.Names(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	for _, n := range names {
		list = append(list, n.Name)
	}
	if strings.Join(list, ",") != "a:1,b:1,hello:1.0" {
		t.Errorf("Names() = %v, want [a:1 b:1 hello:1.0]", list)
	}
	m, _ := s.readIndexJSON()
	if len(m.Manifests) != 4 {
		t.Errorf("index.json has %d entries, want 4 (3 named + 1 unnamed)", len(m.Manifests))
	}
	// A retagged name keeps its place; tagging the same again does not
	// write index.json.
	if m.Manifests[3].Annotations[RefNameAnnotation] != "hello:1.0" {
		t.Errorf("index.json entries %v, want hello:1.0 still last", m.Manifests)
	}
	if err := s.Tag(ctx, "b:1", xd); err != nil {
		t.Fatal(err)
	}
	m, _ = s.readIndexJSON()
	if m.Manifests[1].Annotations[RefNameAnnotation] != "b:1" || m.Manifests[1].Digest != xd.Digest {
		t.Errorf("index.json entry 2 after retagging b:1 = %+v, want b:1 -> %s in its place", m.Manifests[1], xd.Digest)
	}
	fi1, err := os.Stat(s.path(indexFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "b:1", xd); err != nil {
		t.Fatal(err)
	}
	if fi2, err := os.Stat(s.path(indexFile)); err != nil || !os.SameFile(fi1, fi2) {
		t.Errorf("tagging b:1 with the digest it has rewrote index.json")
	}

	if err := s.Untag(ctx, "b:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "b:1"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "b:1") {
		t.Errorf("Resolve(untagged) = %v, want ErrNotFound naming b:1", err)
	}
	if err := s.Untag(ctx, "b:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Untag(absent) = %v, want ErrNotFound", err)
	}
	wrong := d
	wrong.Size++
	if err := s.Tag(ctx, "wrong", wrong); err == nil || !strings.Contains(err.Error(), "descriptor") {
		t.Errorf("Tag with a wrong size = %v, want an error about the descriptor", err)
	}
	for _, bad := range []string{"", "a\nb", "a\x00b", "../x:1", "a/../b:1", "a/..@sha256:00", "./x"} {
		if err := s.Tag(ctx, bad, d); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Tag(%q) = %v, want ErrInvalidName", bad, err)
		}
	}

	// ResolveDigest reads the media type from the blob.
	rd, err := s.ResolveDigest(ctx, d.Digest)
	if err != nil || rd.MediaType != d.MediaType || rd.Size != d.Size {
		t.Errorf("ResolveDigest(%v) = %+v, %v; want %+v", d.Digest, rd, err, d)
	}
	cfgName, _ := img.ConfigName()
	if _, err := s.ResolveDigest(ctx, cfgName); err == nil {
		t.Errorf("ResolveDigest(config) succeeded, want 'not a manifest'")
	}
	if _, err := s.ResolveDigest(ctx, sha([]byte("nothing"))); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResolveDigest(absent) = %v, want ErrNotFound", err)
	}
}

func TestTagRefusesMissingBlobs(t *testing.T) {
	ctx := t.Context()
	img := randomImage(t, 1024, 1)
	idx := testIndex(t)
	tests := []struct {
		name   string
		write  func(s *Store) v1.Descriptor
		remove func(s *Store) v1.Hash
	}{
		{"no manifest", func(s *Store) v1.Descriptor {
			raw, _ := img.RawManifest()
			return v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: sha(raw), Size: int64(len(raw))}
		}, nil},
		{"no config", func(s *Store) v1.Descriptor {
			d, _ := s.WriteImage(ctx, img)
			return d
		}, func(s *Store) v1.Hash { h, _ := img.ConfigName(); return h }},
		{"no layer", func(s *Store) v1.Descriptor {
			d, _ := s.WriteImage(ctx, img)
			return d
		}, func(s *Store) v1.Hash { l, _ := img.Layers(); return digestOf(t, l[0]) }},
		{"no child manifest", func(s *Store) v1.Descriptor {
			d, _ := s.WriteIndex(ctx, idx)
			return d
		}, func(s *Store) v1.Hash { m, _ := idx.IndexManifest(); return m.Manifests[1].Digest }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			d := tt.write(s)
			var gone v1.Hash = d.Digest
			if tt.remove != nil {
				gone = tt.remove(s)
				if err := os.Remove(s.blobPath(gone)); err != nil {
					t.Fatal(err)
				}
			}
			err := s.Tag(ctx, "x", d)
			var me *MissingBlobError
			if !errors.As(err, &me) || me.Digest != gone {
				t.Fatalf("Tag = %v, want *MissingBlobError for %s", err, gone)
			}
			if _, err := s.Resolve(ctx, "x"); !errors.Is(err, ErrNotFound) {
				t.Errorf("refused tag was written: Resolve = %v", err)
			}
		})
	}
}

func TestGC(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	keep := randomImage(t, 4096, 2)
	drop := randomImage(t, 4096, 2)
	kd, _ := s.WriteImage(ctx, keep)
	dd, _ := s.WriteImage(ctx, drop)
	xd, err := s.WriteIndex(ctx, testIndex(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "keep", kd); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "idx", xd); err != nil {
		t.Fatal(err)
	}
	cacheBlob, _ := s.WriteBlob(ctx, strings.NewReader("cache layer"), v1.Hash{}, -1)
	hookBlob, _ := s.WriteBlob(ctx, strings.NewReader("hook layer"), v1.Hash{}, -1)
	if err := s.SetRoots(ctx, "cache-1", []v1.Hash{cacheBlob.Digest}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRoots(ctx, "../x", nil); err == nil {
		t.Errorf("SetRoots(../x) succeeded")
	}
	os.WriteFile(filepath.Join(s.Root(), "ingest", "blob-stale"), []byte("partial"), 0o644)

	sg, err := Open(ctx, s.Root(), WithGCRoots(func(context.Context) ([]v1.Hash, error) {
		return []v1.Hash{hookBlob.Digest}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sg.GC(ctx)
	if err != nil {
		t.Fatalf("GC: %v", err)
	}
	// drop: manifest + config + 2 layers.
	if st.BlobsRemoved != 4 || st.TempsRemoved < 1 || len(st.Missing) != 0 {
		t.Errorf("GC stats = %+v, want 4 blobs and the temp file removed", st)
	}
	if _, ok, _ := s.HasBlob(ctx, dd.Digest); ok {
		t.Errorf("untagged manifest survived GC")
	}
	for _, h := range []v1.Hash{cacheBlob.Digest, hookBlob.Digest} {
		if _, ok, _ := s.HasBlob(ctx, h); !ok {
			t.Errorf("GC root %s removed", h)
		}
	}
	verifyTree(t, s, kd)
	verifyTree(t, s, xd)

	// Second GC removes nothing; after RemoveRoots the cache blob goes.
	if st, err := s.GC(ctx); err != nil || st.BlobsRemoved != 1 {
		t.Errorf("GC without hook = %+v, %v; want the hook blob removed", st, err)
	}
	s.RemoveRoots(ctx, "cache-1")
	if st, err := s.GC(ctx); err != nil || st.BlobsRemoved != 1 {
		t.Errorf("GC after RemoveRoots = %+v, %v; want 1 removed", st, err)
	}

	// Through a second Store of the same root too: the lock is per root.
	err = s.Transaction(ctx, func(ctx context.Context) error {
		_, err := sg.GC(ctx)
		return err
	})
	if !errors.Is(err, ErrGCInTransaction) {
		t.Errorf("GC in Transaction = %v, want ErrGCInTransaction", err)
	}

	// A damaged tagged manifest stops GC before it removes anything.
	p := s.blobPath(kd.Digest)
	b, _ := os.ReadFile(p)
	b[5] ^= 1
	os.WriteFile(p, b, 0o644)
	s.WriteBlob(ctx, strings.NewReader("garbage"), v1.Hash{}, -1)
	st, err = s.GC(ctx)
	var ce *CorruptBlobError
	if !errors.As(err, &ce) || st.BlobsRemoved != 0 {
		t.Errorf("GC with damaged manifest = %+v, %v; want *CorruptBlobError and nothing removed", st, err)
	}
}

func TestForeignLayer(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	base := randomImage(t, 1024, 1)
	fl, err := random.Layer(1024, types.DockerForeignLayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: fl, URLs: []string{"https://example.com/layer.tgz"}, MediaType: types.DockerForeignLayer})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.WriteImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	// The source could provide it, so it was stored; drop it as a registry would.
	fh := digestOf(t, fl)
	os.Remove(s.blobPath(fh))
	if err := s.Tag(ctx, "foreign", d); err != nil {
		t.Errorf("Tag of image lacking only a foreign layer: %v", err)
	}
	got, _ := s.Image(ctx, d.Digest)
	l, err := got.LayerByDigest(fh)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Compressed()
	var me *MissingBlobError
	if !errors.As(err, &me) || len(me.Foreign) == 0 || !strings.Contains(err.Error(), "example.com") {
		t.Errorf("reading absent foreign layer = %v, want *MissingBlobError with its URLs", err)
	}
}

// countBlobs counts the files under ROOT/blobs.
func countBlobs(t testing.TB, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(root, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Issue #25 item 9: GC refuses a root set it cannot fully read and removes
// nothing. Before the fix, an index.json holding null made GC remove every blob.
func TestGCRefusesDamagedRootSet(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name   string
		damage func(t *testing.T, s *Store, img v1.Descriptor)
		want   string
	}{
		{"index.json null", func(t *testing.T, s *Store, _ v1.Descriptor) {
			os.WriteFile(s.path(indexFile), []byte("null"), 0o644)
		}, "holds null"},
		{"index.json empty object", func(t *testing.T, s *Store, _ v1.Descriptor) {
			os.WriteFile(s.path(indexFile), []byte("{}"), 0o644)
		}, `no "manifests" array`},
		{"index.json manifests null", func(t *testing.T, s *Store, _ v1.Descriptor) {
			os.WriteFile(s.path(indexFile), []byte(`{"schemaVersion":2,"manifests":null}`), 0o644)
		}, `no "manifests" array`},
		{"index.json array", func(t *testing.T, s *Store, _ v1.Descriptor) {
			os.WriteFile(s.path(indexFile), []byte("[]"), 0o644)
		}, "index.json"},
		{"index.json truncated", func(t *testing.T, s *Store, _ v1.Descriptor) {
			b, _ := os.ReadFile(s.path(indexFile))
			os.WriteFile(s.path(indexFile), b[:len(b)/2], 0o644)
		}, "index.json"},
		{"index.json bad digest", func(t *testing.T, s *Store, _ v1.Descriptor) {
			b, _ := os.ReadFile(s.path(indexFile))
			os.WriteFile(s.path(indexFile), bytes.Replace(b, []byte(`"sha256:`), []byte(`"sha256:zz`), 1), 0o644)
		}, "non-hex"},
		{"tagged manifest missing", func(t *testing.T, s *Store, img v1.Descriptor) {
			os.Remove(s.blobPath(img.Digest))
		}, "keep:1"},
		{"small root blob corrupt", func(t *testing.T, s *Store, _ v1.Descriptor) {
			d, err := s.WriteBlob(ctx, strings.NewReader(`{"schemaVersion":2,"layers":[]}`), v1.Hash{}, -1)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetRoots(ctx, "cache-x", []v1.Hash{d.Digest}); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(s.blobPath(d.Digest), []byte(`{"schemaVersion":2,"layers":[{}]}`), 0o644)
		}, "GC root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			d, err := s.WriteImage(ctx, randomImage(t, 1024, 2))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Tag(ctx, "keep:1", d); err != nil {
				t.Fatal(err)
			}
			s.WriteBlob(ctx, strings.NewReader("unreferenced"), v1.Hash{}, -1)
			tt.damage(t, s, d)
			before := countBlobs(t, s.Root())
			st, err := s.GC(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nothing was removed") {
				t.Errorf("GC = %+v, %v; want an error naming %q and saying nothing was removed", st, err, tt.want)
			}
			if after := countBlobs(t, s.Root()); after != before || st.BlobsRemoved != 0 {
				t.Errorf("GC removed blobs of a damaged store: %d before, %d after", before, after)
			}
		})
	}
}
