package buildkit

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/testutil"
)

// withFile is the store's busybox for linux/amd64 with one more layer
// holding the file name.
func withFile(t *testing.T, f *fixture, name, content string) v1.Image {
	t.Helper()
	ctx := context.Background()
	src, _ := ref.NewStore("fixtures/busybox:1.35")
	a, err := ref.Read(ctx, f.env, src)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := ref.Select(ctx, a, []specs.Platform{{OS: "linux", Architecture: "amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	b := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(sel.(v1.Image), layer)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// put writes img to the reference s (a registry, the store or oci:DIR:TAG).
func put(t *testing.T, f *fixture, s string, img v1.Image) {
	t.Helper()
	r, err := ref.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ref.Write(context.Background(), f.env, r, img); err != nil {
		t.Fatalf("writing %s: %v", s, err)
	}
}

// TestPullAndBuildContexts: issue #22 item 3 on BuildKit nodes. build
// --pull makes the node read a base named with a registry host from the
// registry (image-resolve-mode=pull) although the store has an older copy;
// --build-context NAME=docker-image://REF (a store image, a registry
// image) and NAME=oci-layout://DIR:TAG reach the node's frontend as
// context:NAME, for FROM NAME and COPY --from=NAME.
func TestPullAndBuildContexts(t *testing.T) { // long: one registry and daemon for both stories
	_, b := oneNode(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	f := newFixture(t, "ARG BASE\nFROM ${BASE}\nRUN (cat /marker 2>/dev/null || echo none) > /seen\n")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	eng := New(Options{Builder: b, Env: f.env})
	amd64 := specs.Platform{OS: "linux", Architecture: "amd64"}

	// The store has HOST/base:1 without /marker; the registry's base:1
	// has moved on to an image with it.
	base := reg.Ref("base:1")
	put(t, f, "store:"+base, withFile(t, f, "old", "old\n"))
	put(t, f, "docker://"+base, withFile(t, f, "marker", "v2\n"))

	req := f.request(t, "bk/nopull:1", "linux/amd64")
	req.BuildArgs = map[string]string{"BASE": base}
	if _, err := eng.Build(ctx, req); err != nil {
		t.Fatalf("Build FROM %s: %v", base, err)
	}
	if got := topFiles(t, imageFor(t, f.st, "bk/nopull:1", amd64))["seen"]; got != "none\n" {
		t.Errorf("without --pull the node saw /marker = %q, want the store's copy (none)", got)
	}
	req = f.request(t, "bk/pull:1", "linux/amd64")
	req.BuildArgs = map[string]string{"BASE": base}
	req.Pull = true
	if _, err := eng.Build(ctx, req); err != nil {
		t.Fatalf("Build --pull FROM %s: %v", base, err)
	}
	if got := topFiles(t, imageFor(t, f.st, "bk/pull:1", amd64))["seen"]; got != "v2\n" {
		t.Errorf("with --pull the node saw /marker = %q, want the registry's (v2)", got)
	}

	// Named contexts: FROM a store image, COPY --from a registry image
	// the store lacks and from an OCI layout; a stage named like a
	// context is replaced by it.
	lay := t.TempDir()
	put(t, f, "oci:"+lay+":v1", withFile(t, f, "layout-marker", "layout\n"))
	put(t, f, "docker://"+reg.Ref("other:1"), withFile(t, f, "reg-marker", "registry\n"))
	req = f.request(t, "bk/contexts:1", "linux/amd64")
	req.Dockerfile = []byte("FROM scratch AS fromlayout\n" +
		"FROM mybase\n" +
		"COPY --from=fromreg /reg-marker /r\n" +
		"COPY --from=fromlayout /layout-marker /l\n" +
		"RUN cat /r /l > /seen && test -x /bin/busybox\n")
	req.Contexts = map[string]string{
		"mybase":     "fixtures/busybox:1.35",
		"fromreg":    reg.Ref("other:1"),
		"fromlayout": "oci:" + lay + ":v1",
	}
	if _, err := eng.Build(ctx, req); err != nil {
		t.Fatalf("Build with --build-context: %v", err)
	}
	if got := topFiles(t, imageFor(t, f.st, "bk/contexts:1", amd64))["seen"]; got != "registry\nlayout\n" {
		t.Errorf("/seen = %q, want the registry context's and the layout context's markers", got)
	}
	cfg, err := imageFor(t, f.st, "bk/contexts:1", amd64).ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.RootFS.DiffIDs); n != 4 {
		t.Errorf("image has %d layers, want 4: busybox's (the mybase context), two COPYs and the RUN", n)
	}
}
