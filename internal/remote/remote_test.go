package remote_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/progress"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/testutil"
)

var threePlatforms = []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}

// anonymous keeps tests independent of the machine's ~/.docker/config.json.
var anonymous = remote.WithKeychain(authn.NewMultiKeychain())

// events records progress events.
type events struct {
	mu sync.Mutex
	es []progress.Event
}

func (e *events) add(ev progress.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.es = append(e.es, ev)
}

// final counts final blob events by status.
func (e *events) final(kind progress.Kind) map[progress.Status]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := map[progress.Status]int{}
	for _, ev := range e.es {
		if ev.Kind == kind && ev.Status.Final() {
			m[ev.Status]++
		}
	}
	return m
}

func mustManifests(t *testing.T, idx v1.ImageIndex) []v1.Descriptor {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return im.Manifests
}

func digestOf(t *testing.T, a image.Artifact) v1.Hash {
	t.Helper()
	h, err := a.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// checkComplete reads ref back from the registry and every manifest and blob
// under it, checking each against its digest: nothing the tag reaches may be
// missing.
func checkComplete(t *testing.T, ref string, want v1.Hash) {
	t.Helper()
	ctx := context.Background()
	a, desc, err := remote.Read(ctx, ref, anonymous)
	if err != nil {
		t.Fatalf("Read(%q) = %v", ref, err)
	}
	if desc.Digest != want {
		t.Fatalf("Read(%q) digest = %s, want %s", ref, desc.Digest, want)
	}
	var walk func(a image.Artifact)
	walk = func(a image.Artifact) {
		switch a := a.(type) {
		case v1.ImageIndex:
			im, err := a.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range im.Manifests {
				if d.MediaType.IsIndex() {
					c, err := a.ImageIndex(d.Digest)
					if err != nil {
						t.Fatal(err)
					}
					walk(c)
					continue
				}
				c, err := a.Image(d.Digest)
				if err != nil {
					t.Fatalf("reading child %s of %s: %v", d.Digest, ref, err)
				}
				walk(c)
			}
		case v1.Image:
			if _, err := a.RawConfigFile(); err != nil {
				t.Fatalf("reading config under %s: %v", ref, err)
			}
			ls, err := a.Layers()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range ls {
				want, _ := l.Digest()
				rc, err := l.Compressed()
				if err != nil {
					t.Fatalf("reading layer %s under %s: %v", want, ref, err)
				}
				got, _, err := v1.SHA256(rc)
				rc.Close()
				if err != nil || got != want {
					t.Fatalf("layer %s under %s hashes to %s (%v)", want, ref, got, err)
				}
			}
		}
	}
	walk(a)
}

func TestPushPullRoundTrip(t *testing.T) { // long: one push, pull and re-push story against a real registry, checked at each step
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	ctx := context.Background()
	idx := testutil.PlatformIndex(t, 2, 1024, threePlatforms...)
	want := digestOf(t, idx)
	ref := reg.Ref("app:1.0")

	var ev events
	desc, err := remote.Write(ctx, ref, idx, anonymous, remote.WithProgress(ev.add))
	if err != nil {
		t.Fatalf("Write(%q) = %v", ref, err)
	}
	if desc.Digest != want || desc.MediaType != types.OCIImageIndex {
		t.Fatalf("Write(%q) = %v, want digest %s, OCI index", ref, desc, want)
	}
	// 3 images × (config + 2 layers), all uploaded.
	if got := ev.final(progress.KindBlob); got[progress.StatusDone] != 9 || len(got) != 1 {
		t.Errorf("blob events after a cold push = %v, want 9 done", got)
	}
	if got := ev.final(progress.KindManifest); got[progress.StatusDone] != 4 {
		t.Errorf("manifest events after a cold push = %v, want 4 done", got)
	}

	for _, r := range []string{ref, reg.Ref("app@" + want.String())} {
		t.Run(r, func(t *testing.T) {
			checkComplete(t, r, want)
			a, _, err := remote.Read(ctx, r, anonymous)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := a.(v1.ImageIndex)
			if !ok {
				t.Fatalf("Read(%q) = %T, want an index", r, a)
			}
			gm, _ := got.IndexManifest()
			wm, _ := idx.IndexManifest()
			for i := range wm.Manifests {
				if gm.Manifests[i].Digest != wm.Manifests[i].Digest || gm.Manifests[i].Platform.String() != wm.Manifests[i].Platform.String() {
					t.Errorf("child %d = %s %s, want %s %s", i, gm.Manifests[i].Digest, gm.Manifests[i].Platform, wm.Manifests[i].Digest, wm.Manifests[i].Platform)
				}
			}
		})
	}

	t.Run("raw blobs", func(t *testing.T) {
		blobs, err := remote.OpenBlobs(ctx, ref, anonymous)
		if err != nil {
			t.Fatal(err)
		}
		img, _ := idx.Image(mustManifests(t, idx)[2].Digest)
		ls, _ := img.Layers()
		want, _ := ls[1].Digest()
		rc, err := blobs.Open(ctx, want)
		if err != nil {
			t.Fatalf("Open(%s) = %v", want, err)
		}
		got, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil || got != want {
			t.Errorf("blob %s read back as %s (%v)", want, got, err)
		}
		missing := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("e", 64)}
		if _, err := blobs.Open(ctx, missing); !errors.Is(err, remote.ErrNotFound) || !strings.Contains(err.Error(), missing.String()) {
			t.Errorf("Open(missing blob) = %v, want ErrNotFound naming it", err)
		}
	})

	t.Run("skopeo reads the same bytes", func(t *testing.T) {
		skopeo := testutil.RequireCommand(t, "skopeo", "skopeo")
		out, err := exec.Command(skopeo, "inspect", "--raw", "--tls-verify=false", "docker://"+ref).Output()
		if err != nil {
			t.Fatalf("skopeo inspect --raw: %v", err)
		}
		raw, _ := idx.RawManifest()
		if !bytes.Equal(out, raw) {
			t.Errorf("skopeo inspect --raw docker://%s =\n%s\nwant\n%s", ref, out, raw)
		}
	})

	t.Run("crane reads the same bytes", func(t *testing.T) {
		crane, err := exec.LookPath("crane")
		if err != nil {
			t.Skip("crane is not installed (GOBIN=/usr/local/bin go install github.com/google/go-containerregistry/cmd/crane@v0.22.1)")
		}
		out, err := exec.Command(crane, "manifest", "--insecure", ref).Output()
		if err != nil {
			t.Fatalf("crane manifest: %v", err)
		}
		raw, _ := idx.RawManifest()
		if !bytes.Equal(out, raw) {
			t.Errorf("crane manifest %s =\n%s\nwant\n%s", ref, out, raw)
		}
	})

	t.Run("second push skips everything", func(t *testing.T) {
		var ev events
		if _, err := remote.Write(ctx, ref, idx, anonymous, remote.WithProgress(ev.add)); err != nil {
			t.Fatal(err)
		}
		if got := ev.final(progress.KindBlob); len(got) != 0 {
			t.Errorf("blob events pushing the same tag again = %v, want none", got)
		}
		if got := ev.final(progress.KindManifest); got[progress.StatusExists] != 1 || got[progress.StatusDone] != 0 {
			t.Errorf("manifest events pushing the same tag again = %v, want 1 exists", got)
		}
	})

	t.Run("new tag reuses child manifests", func(t *testing.T) {
		var ev events
		if _, err := remote.Write(ctx, reg.Ref("app:1"), idx, anonymous, remote.WithProgress(ev.add)); err != nil {
			t.Fatal(err)
		}
		if got := ev.final(progress.KindBlob); len(got) != 0 {
			t.Errorf("blob events for a new tag of pushed content = %v, want none", got)
		}
		if got := ev.final(progress.KindManifest); got[progress.StatusDone] != 1 {
			t.Errorf("manifest events for a new tag = %v, want only the index", got)
		}
		checkComplete(t, reg.Ref("app:1"), want)
	})

	t.Run("copy to another repository mounts blobs", func(t *testing.T) {
		src, _, err := remote.Read(ctx, ref, anonymous)
		if err != nil {
			t.Fatal(err)
		}
		var ev events
		dst := reg.Ref("other/app:1.0")
		if _, err := remote.Write(ctx, dst, src, anonymous, remote.WithProgress(ev.add)); err != nil {
			t.Fatal(err)
		}
		if got := ev.final(progress.KindBlob); got[progress.StatusDone] != 0 || got[progress.StatusMounted] != 9 {
			t.Errorf("blob events copying inside one registry = %v, want 9 mounted, no bytes moved", got)
		}
		checkComplete(t, dst, want)
	})

	t.Run("pushing a new image under an existing tag moves it", func(t *testing.T) {
		img := testutil.PlatformImage(t, "linux/riscv64", 1, 512)
		d, err := remote.Write(ctx, reg.Ref("app:latest"), img, anonymous)
		if err != nil {
			t.Fatal(err)
		}
		checkComplete(t, reg.Ref("app:latest"), d.Digest)
		a, _, err := remote.Read(ctx, reg.Ref("app:latest"), anonymous)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := a.(v1.Image); !ok {
			t.Errorf("Read of a pushed image = %T, want v1.Image", a)
		}
	})
}

func TestPlatformSelection(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	ctx := context.Background()
	idx := testutil.PlatformIndex(t, 1, 256, threePlatforms...)
	ref := reg.Ref("sel:1")
	if _, err := remote.Write(ctx, ref, idx, anonymous); err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()

	tests := []struct {
		want []specs.Platform
		got  []v1.Hash // children expected, in order
	}{
		{[]specs.Platform{{OS: "linux", Architecture: "arm64", Variant: "v8"}}, []v1.Hash{im.Manifests[1].Digest}},
		{[]specs.Platform{{OS: "linux", Architecture: "arm"}, {OS: "linux", Architecture: "amd64"}}, []v1.Hash{im.Manifests[0].Digest, im.Manifests[2].Digest}},
	}
	for _, tt := range tests {
		a, desc, err := remote.Read(ctx, ref, anonymous, remote.WithPlatforms(tt.want))
		if err != nil {
			t.Fatalf("Read(%q, %v) = %v", ref, tt.want, err)
		}
		sel := a.(v1.ImageIndex)
		sm, _ := sel.IndexManifest()
		var got []v1.Hash
		for _, d := range sm.Manifests {
			got = append(got, d.Digest)
		}
		if len(got) != len(tt.got) || (len(got) > 0 && got[0] != tt.got[0]) || got[len(got)-1] != tt.got[len(tt.got)-1] {
			t.Errorf("Read(%q, %v) children = %v, want %v", ref, tt.want, got, tt.got)
		}
		if raw, _ := sel.RawManifest(); bytes.Contains(raw, []byte("artifactType")) {
			t.Errorf("selection %s adds artifactType to plain images", raw)
		}
		if d := digestOf(t, sel); desc.Digest != d {
			t.Errorf("Read(%q, %v) descriptor digest %s, want the selection's %s", ref, tt.want, desc.Digest, d)
		}
		// The selection pushes as an index of its own.
		dst := reg.Ref("sel:" + strings.ReplaceAll(tt.want[0].Architecture, "/", "-"))
		if _, err := remote.Write(ctx, dst, sel, anonymous); err != nil {
			t.Fatal(err)
		}
		checkComplete(t, dst, desc.Digest)
	}

	_, _, err := remote.Read(ctx, ref, anonymous, remote.WithPlatforms([]specs.Platform{{OS: "linux", Architecture: "s390x"}}))
	if !errors.Is(err, remote.ErrNoMatchingPlatform) || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("Read(%q, s390x) = %v, want ErrNoMatchingPlatform listing what is there", ref, err)
	}
}

func TestNestedIndex(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	ctx := context.Background()
	inner1 := testutil.PlatformIndex(t, 1, 256, "linux/amd64", "linux/arm64")
	inner2 := testutil.PlatformIndex(t, 1, 256, "linux/s390x")
	outer := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: inner1}, mutate.IndexAddendum{Add: inner2})
	ref := reg.Ref("nested:1")
	desc, err := remote.Write(ctx, ref, outer, anonymous)
	if err != nil {
		t.Fatalf("Write(index of indexes) = %v", err)
	}
	checkComplete(t, ref, desc.Digest)

	a, _, err := remote.Read(ctx, ref, anonymous, remote.WithPlatforms([]specs.Platform{{OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "s390x"}}))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := a.(v1.ImageIndex).IndexManifest()
	if len(im.Manifests) != 2 || im.Manifests[0].Platform.Architecture != "arm64" || im.Manifests[1].Platform.Architecture != "s390x" {
		t.Errorf("selection from an index of indexes = %+v, want arm64 and s390x images, flattened", im.Manifests)
	}
}

func TestAuth(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{Username: "alice", Password: "s3cret"})
	ctx := context.Background()
	img := testutil.PlatformImage(t, "linux/arm64", 1, 256)
	ref := reg.Ref("private/app:1")

	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials
	_, err := remote.Write(ctx, ref, img)
	if !errors.Is(err, remote.ErrUnauthorized) || !strings.Contains(err.Error(), "docker login "+reg.Host()) {
		t.Fatalf("Write(%q) without credentials = %v, want ErrUnauthorized saying how to log in", ref, err)
	}
	if _, _, err := remote.Read(ctx, ref); !errors.Is(err, remote.ErrUnauthorized) {
		t.Errorf("Read(%q) without credentials = %v, want ErrUnauthorized", ref, err)
	}

	t.Setenv("DOCKER_CONFIG", reg.DockerConfig(t))
	d, err := remote.Write(ctx, ref, img)
	if err != nil {
		t.Fatalf("Write(%q) with credentials in DOCKER_CONFIG = %v", ref, err)
	}
	a, _, err := remote.Read(ctx, ref)
	if err != nil || digestOf(t, a) != d.Digest {
		t.Fatalf("Read(%q) with credentials = %v", ref, err)
	}
	if ok, err := remote.Exists(ctx, ref); !ok || err != nil {
		t.Errorf("Exists(%q) = %v, %v, want true", ref, ok, err)
	}

	blobs, err := remote.OpenBlobs(ctx, ref)
	if err != nil {
		t.Fatalf("OpenBlobs(%q) with credentials = %v", ref, err)
	}
	cfgName, _ := img.ConfigName()
	if rc, err := blobs.Open(ctx, cfgName); err != nil {
		t.Errorf("Open(config) with credentials = %v", err)
	} else {
		rc.Close()
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	if b, err := remote.OpenBlobs(ctx, ref); err == nil {
		_, err = b.Open(ctx, cfgName)
		if !errors.Is(err, remote.ErrUnauthorized) {
			t.Errorf("blob Open without credentials = %v, want ErrUnauthorized", err)
		}
	} else if !errors.Is(err, remote.ErrUnauthorized) {
		t.Errorf("OpenBlobs without credentials = %v, want ErrUnauthorized", err)
	}

	wrong := authn.NewMultiKeychain(staticKeychain{authn.FromConfig(authn.AuthConfig{Username: "alice", Password: "wrong"})})
	_, _, err = remote.Read(ctx, ref, remote.WithKeychain(wrong))
	if !errors.Is(err, remote.ErrUnauthorized) || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("Read(%q) with a wrong password = %v, want ErrUnauthorized saying the credentials were rejected", ref, err)
	}
}

type staticKeychain struct{ a authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

func TestBadInputs(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	ctx := context.Background()
	img := testutil.PlatformImage(t, "linux/amd64", 1, 256)
	d, err := remote.Write(ctx, reg.Ref("bad:1"), img, anonymous)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, ref string
		want      error
		text      string
	}{
		{"unknown host", "nosuch-registry.invalid/app:1", remote.ErrUnknownHost, `"nosuch-registry.invalid" does not resolve`},
		{"missing tag", reg.Ref("bad:2"), remote.ErrNotFound, "check the name and tag"},
		{"missing repository", reg.Ref("nothing:1"), remote.ErrNotFound, "check the name and tag"},
		{"missing digest", reg.Ref("bad@sha256:" + strings.Repeat("0", 64)), remote.ErrNotFound, "check the name and digest"},
		{"nothing listening", "127.0.0.1:1/app:1", remote.ErrUnreachable, "is the registry running"},
		{"bad reference", "UPPER/Case:1", nil, "parsing registry reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := remote.Read(ctx, tt.ref, anonymous, remote.WithRetry(1, time.Millisecond))
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), tt.ref) {
				t.Errorf("Read(%q) = %v, want %v mentioning %q and the reference", tt.ref, err, tt.want, tt.text)
			}
		})
	}

	t.Run("manifest with a bad digest", func(t *testing.T) {
		proxy := testutil.StartFaultProxy(t, reg.Host(), testutil.Fault{
			Method: http.MethodGet, Path: "/manifests/", Kind: testutil.FaultRewrite, Times: -1,
			Rewrite: func(b []byte) []byte { return append(b, ' ') }, // still JSON, another digest
		})
		ref := proxy.Host() + "/bad@" + d.Digest.String()
		_, _, err := remote.Read(ctx, ref, anonymous)
		if !errors.Is(err, remote.ErrDigestMismatch) {
			t.Errorf("Read(%q) through a corrupting proxy = %v, want ErrDigestMismatch", ref, err)
		}
	})

	t.Run("push by a digest that is not the content's", func(t *testing.T) {
		other := testutil.PlatformImage(t, "linux/amd64", 1, 256)
		ref := reg.Ref("bad@" + d.Digest.String())
		if _, err := remote.Write(ctx, ref, other, anonymous); !errors.Is(err, remote.ErrDigestMismatch) {
			t.Errorf("Write(%q, other image) = %v, want ErrDigestMismatch", ref, err)
		}
	})

	t.Run("options are checked", func(t *testing.T) {
		for _, o := range []remote.Option{remote.WithJobs(0), remote.WithRetry(-1, time.Second), remote.WithStallTimeout(0), remote.WithKeychain(nil)} {
			if _, err := remote.Head(ctx, reg.Ref("bad:1"), o); err == nil {
				t.Errorf("Head with a bad option = nil error")
			}
		}
	})
}

// TestFaults pushes through a proxy that fails, drops and stalls requests. A
// push either completes with identical digests or fails clearly; the tag never
// points at anything missing.
func TestFaults(t *testing.T) {
	testutil.Short(t, "waits out retries and stalls")
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	ctx := context.Background()
	// A recoverable push must survive a slow, loaded machine: a second of
	// silence before a stall counts. Pushes meant to fail give up sooner.
	fast := []remote.Option{anonymous, remote.WithRetry(4, 20*time.Millisecond), remote.WithStallTimeout(time.Second)}
	failFast := []remote.Option{anonymous, remote.WithRetry(2, 20*time.Millisecond), remote.WithStallTimeout(300 * time.Millisecond)}

	recoverable := []struct {
		name  string
		fault testutil.Fault
	}{
		{"500 on blob uploads", testutil.Fault{Method: http.MethodPut, Path: "/blobs/uploads/", Kind: testutil.FaultStatus, Times: 3}},
		{"503 on blob HEAD", testutil.Fault{Method: http.MethodHead, Path: "/blobs/", Kind: testutil.FaultStatus, Status: 503, Times: 2}},
		{"429 on upload start", testutil.Fault{Method: http.MethodPost, Path: "/blobs/uploads/", Kind: testutil.FaultStatus, Status: 429, Times: 2}},
		{"dropped blob uploads", testutil.Fault{Method: http.MethodPut, Path: "/blobs/uploads/", Kind: testutil.FaultDrop, Times: 2}},
		{"dropped manifest PUT", testutil.Fault{Method: http.MethodPut, Path: "/manifests/", Kind: testutil.FaultDrop, Times: 1}},
		{"500 on the tag PUT", testutil.Fault{Method: http.MethodPut, Path: "/manifests/1", Kind: testutil.FaultStatus, Times: 2}},
		{"stalled blob upload", testutil.Fault{Method: http.MethodPut, Path: "/blobs/uploads/", Kind: testutil.FaultStall, Times: 1}},
		{"stalled manifest GET", testutil.Fault{Method: http.MethodHead, Path: "/manifests/", Kind: testutil.FaultStall, Times: 1}},
	}
	for i, tt := range recoverable {
		t.Run(tt.name, func(t *testing.T) {
			idx := testutil.PlatformIndex(t, 2, 100<<10, "linux/amd64", "linux/arm64")
			proxy := testutil.StartFaultProxy(t, reg.Host(), tt.fault)
			repo := "faults" + string(rune('a'+i))
			desc, err := remote.Write(ctx, proxy.Host()+"/"+repo+":1", idx, fast...)
			if err != nil {
				t.Fatalf("Write through %q = %v, want success after retries", tt.name, err)
			}
			if n := proxy.Injected()[0]; n == 0 {
				t.Fatalf("the fault %q was never injected", tt.name)
			}
			if desc.Digest != digestOf(t, idx) {
				t.Errorf("Write through %q = %s, want %s", tt.name, desc.Digest, digestOf(t, idx))
			}
			checkComplete(t, reg.Ref(repo+":1"), digestOf(t, idx))
		})
	}

	fatal := []struct {
		name  string
		fault testutil.Fault
		text  string
	}{
		{"blob uploads always fail", testutil.Fault{Method: http.MethodPut, Path: "/blobs/uploads/", Kind: testutil.FaultStatus, Times: -1}, "retries"},
		{"child manifest PUT always dropped", testutil.Fault{Method: http.MethodPut, Path: "/manifests/sha256:", Kind: testutil.FaultDrop, Times: -1}, "retries"},
		{"tag PUT always stalls", testutil.Fault{Method: http.MethodPut, Path: "/manifests/1", Kind: testutil.FaultStall, Times: -1}, "stall"},
	}
	for i, tt := range fatal {
		t.Run(tt.name, func(t *testing.T) {
			idx := testutil.PlatformIndex(t, 2, 100<<10, "linux/amd64", "linux/arm64")
			proxy := testutil.StartFaultProxy(t, reg.Host(), tt.fault)
			repo := "fatal" + string(rune('a'+i))
			ref := proxy.Host() + "/" + repo + ":1"
			_, err := remote.Write(ctx, ref, idx, failFast...)
			if err == nil || !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), ref) {
				t.Fatalf("Write through %q = %v, want an error naming %s and mentioning %q", tt.name, err, ref, tt.text)
			}
			t.Logf("error: %v", err)
			ok, err := remote.Exists(ctx, reg.Ref(repo+":1"), anonymous)
			if err != nil || ok {
				t.Errorf("after a failed push the tag exists = %v (%v), want no tag", ok, err)
			}
		})
	}
}

// Each blob goes up as the monolithic upload of the distribution spec: a
// POST, then one PUT carrying the blob and its digest, never a PATCH (the
// chunked upload's extra round trip per blob). The proxy refuses every PATCH,
// so a push that sent one would fail.
func TestPushSendsEachBlobInOnePut(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	proxy := testutil.StartFaultProxy(t, reg.Host(), testutil.Fault{Method: http.MethodPatch, Path: "/blobs/uploads/", Kind: testutil.FaultStatus, Status: http.StatusMethodNotAllowed, Times: -1})
	idx := testutil.PlatformIndex(t, 2, 300<<10, "linux/amd64", "linux/arm64")
	var ev events
	d, err := remote.Write(t.Context(), proxy.Host()+"/mono:1", idx, anonymous, remote.WithRetry(0, 0), remote.WithProgress(ev.add))
	if err != nil {
		t.Fatalf("Write with PATCH refused = %v, want the blobs sent in one PUT each", err)
	}
	if n := proxy.Injected()[0]; n != 0 {
		t.Errorf("the push sent %d PATCH requests, want none", n)
	}
	if got := ev.final(progress.KindBlob); got[progress.StatusDone] != 6 {
		t.Errorf("blob events = %v, want 6 uploaded (2 configs, 4 layers)", got)
	}
	checkComplete(t, reg.Ref("mono:1"), d.Digest)
}

func TestInsecureTLS(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{TLS: true})
	ctx := context.Background()
	img := testutil.PlatformImage(t, "linux/arm64", 1, 256)
	ref := reg.Ref("tls:1")
	_, err := remote.Write(ctx, ref, img, anonymous, remote.WithRetry(0, 0))
	if !errors.Is(err, remote.ErrUnreachable) || !strings.Contains(err.Error(), "--insecure") {
		t.Errorf("Write(%q) to a self-signed registry = %v, want ErrUnreachable suggesting --insecure", ref, err)
	}
	d, err := remote.Write(ctx, ref, img, anonymous, remote.WithInsecure(true))
	if err != nil {
		t.Fatalf("Write(%q, insecure) = %v", ref, err)
	}
	a, _, err := remote.Read(ctx, ref, anonymous, remote.WithInsecure(true))
	if err != nil || digestOf(t, a) != d.Digest {
		t.Errorf("Read(%q, insecure) = %v, want %s", ref, err, d.Digest)
	}
}
