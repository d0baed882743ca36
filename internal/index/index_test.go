package index_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/index"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/testutil"
)

var ctx = context.Background()

func digest(t *testing.T, a image.Artifact) v1.Hash {
	t.Helper()
	h, err := a.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func manifests(t *testing.T, idx v1.ImageIndex) []v1.Descriptor {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return im.Manifests
}

func platforms(ds []v1.Descriptor) []string {
	var out []string
	for _, d := range ds {
		if d.Platform == nil {
			out = append(out, "<nil>")
			continue
		}
		out = append(out, d.Platform.String())
	}
	return out
}

// lying returns an index whose only descriptor says claim while the image's
// config says what img's does.
func lying(img v1.Image, claim v1.Platform) v1.ImageIndex {
	return mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &claim}})
}

// attestation returns an attestation manifest for img, as BuildKit makes them.
func attestation(t *testing.T, img v1.Image) (v1.Image, v1.Descriptor) {
	att := testutil.PlatformImage(t, "unknown/unknown", 1, 64)
	return att, v1.Descriptor{
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{image.AnnotationReferenceType: image.AttestationManifest, image.AnnotationReferenceDigest: digest(t, img).String()},
	}
}

func TestCreate(t *testing.T) { // long: subtests over the same three images, each a few lines
	amd := testutil.PlatformImage(t, "linux/amd64", 1, 128)
	arm := testutil.PlatformImage(t, "linux/arm/v7", 1, 128)
	arm64 := testutil.PlatformImage(t, "linux/arm64", 1, 128)

	t.Run("from images, platforms from configs", func(t *testing.T) {
		idx, err := index.Create(ctx, []image.Artifact{amd, arm})
		if err != nil {
			t.Fatal(err)
		}
		if mt, _ := idx.MediaType(); mt != types.OCIImageIndex {
			t.Errorf("media type = %s, want OCI index", mt)
		}
		ds := manifests(t, idx)
		if got, want := platforms(ds), []string{"linux/amd64", "linux/arm/v7"}; !slices.Equal(got, want) {
			t.Errorf("platforms = %v, want %v", got, want)
		}
		if ds[0].Digest != digest(t, amd) || ds[1].Digest != digest(t, arm) {
			t.Errorf("digests = %s %s, want the images'", ds[0].Digest, ds[1].Digest)
		}
		if p := index.Validate(ctx, idx); len(p) != 0 {
			t.Errorf("Validate(created index) = %v, want nothing", p)
		}
		// skopeo 1.9 drops artifactType from plain image descriptors when it
		// copies an index, which would change the digest.
		if raw, _ := idx.RawManifest(); strings.Contains(string(raw), "artifactType") {
			t.Errorf("created index %s has artifactType on plain images", raw)
		}
	})

	t.Run("docker list with annotations", func(t *testing.T) {
		a1, _ := index.ParseAnnotation("org.opencontainers.image.version=1.0")
		a2, _ := index.ParseAnnotation("manifest-descriptor[linux/arm/v7]:com.example.note=slow")
		idx, err := index.Create(ctx, []image.Artifact{amd, arm}, index.WithMediaType(index.MediaTypeDocker), index.WithAnnotations(a1, a2))
		if err != nil {
			t.Fatal(err)
		}
		im, _ := idx.IndexManifest()
		if im.MediaType != types.DockerManifestList || im.Annotations["org.opencontainers.image.version"] != "1.0" {
			t.Errorf("index = %s %v, want a Docker list with the version annotation", im.MediaType, im.Annotations)
		}
		if im.Manifests[0].Annotations != nil || im.Manifests[1].Annotations["com.example.note"] != "slow" {
			t.Errorf("descriptor annotations = %v, %v, want only arm/v7's", im.Manifests[0].Annotations, im.Manifests[1].Annotations)
		}
		a3, _ := index.ParseAnnotation("manifest-descriptor[linux/s390x]:k=v")
		if _, err := index.Create(ctx, []image.Artifact{amd}, index.WithAnnotations(a3)); !errors.Is(err, index.ErrNoMatch) {
			t.Errorf("Create with an annotation for an absent platform = %v, want ErrNoMatch", err)
		}
	})

	t.Run("indexes are flattened and filtered", func(t *testing.T) {
		inner, err := index.Create(ctx, []image.Artifact{amd, arm})
		if err != nil {
			t.Fatal(err)
		}
		nested := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: inner})
		idx, err := index.Create(ctx, []image.Artifact{nested, arm64, amd})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := platforms(manifests(t, idx)), []string{"linux/amd64", "linux/arm/v7", "linux/arm64"}; !slices.Equal(got, want) {
			t.Errorf("flattened platforms = %v, want %v (the repeated amd64 image once)", got, want)
		}
		idx, err = index.Create(ctx, []image.Artifact{nested, arm64}, index.WithPlatforms([]specs.Platform{{OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "arm"}}))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := platforms(manifests(t, idx)), []string{"linux/arm/v7", "linux/arm64"}; !slices.Equal(got, want) {
			t.Errorf("filtered platforms = %v, want %v", got, want)
		}
		_, err = index.Create(ctx, []image.Artifact{amd}, index.WithPlatforms([]specs.Platform{{OS: "linux", Architecture: "ppc64le"}}))
		if !errors.Is(err, index.ErrNoMatch) || !strings.Contains(err.Error(), "linux/amd64") {
			t.Errorf("Create filtering everything out = %v, want ErrNoMatch listing linux/amd64", err)
		}
	})

	t.Run("two images for one platform are refused", func(t *testing.T) {
		other := testutil.PlatformImage(t, "linux/amd64", 1, 128)
		_, err := index.Create(ctx, []image.Artifact{amd, other})
		var ie *index.InconsistentError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), digest(t, other).String()) || !strings.Contains(err.Error(), digest(t, amd).String()) {
			t.Errorf("Create(two amd64 images) = %v, want an InconsistentError naming both", err)
		}
	})

	t.Run("a lying source is refused", func(t *testing.T) {
		src := lying(arm64, v1.Platform{OS: "linux", Architecture: "amd64"})
		_, err := index.Create(ctx, []image.Artifact{src})
		if !errors.Is(err, index.ErrInconsistent) || !strings.Contains(err.Error(), digest(t, arm64).String()) || !strings.Contains(err.Error(), "its config says linux/arm64") {
			t.Errorf("Create(lying source) = %v, want ErrInconsistent naming %s and its config's platform", err, digest(t, arm64))
		}
		// arm64/v8 in the descriptor is the same platform as arm64 in the config.
		if _, err := index.Create(ctx, []image.Artifact{lying(arm64, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})}); err != nil {
			t.Errorf("Create(descriptor arm64/v8 for an arm64 config) = %v, want success", err)
		}
	})

	t.Run("attestations stay beside their image", func(t *testing.T) {
		att, ad := attestation(t, arm64)
		src := mutate.AppendManifests(empty.Index,
			mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
			mutate.IndexAddendum{Add: arm64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
			mutate.IndexAddendum{Add: att, Descriptor: ad})
		idx, err := index.Create(ctx, []image.Artifact{src})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := platforms(manifests(t, idx)), []string{"linux/amd64", "linux/arm64", "unknown/unknown"}; !slices.Equal(got, want) {
			t.Errorf("platforms = %v, want %v", got, want)
		}
		idx, err = index.Create(ctx, []image.Artifact{src}, index.WithPlatforms([]specs.Platform{{OS: "linux", Architecture: "amd64"}}))
		if err != nil {
			t.Fatal(err)
		}
		if got := platforms(manifests(t, idx)); !slices.Equal(got, []string{"linux/amd64"}) {
			t.Errorf("amd64 only = %v, want the attestation of arm64 dropped", got)
		}
		idx, err = index.Remove(ctx, mustCreate(t, src), []specs.Platform{{OS: "linux", Architecture: "arm64"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := platforms(manifests(t, idx)); !slices.Equal(got, []string{"linux/amd64"}) {
			t.Errorf("after removing arm64 = %v, want its attestation gone too", got)
		}
	})
}

func mustCreate(t *testing.T, srcs ...image.Artifact) v1.ImageIndex {
	t.Helper()
	idx, err := index.Create(ctx, srcs)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestEdit(t *testing.T) {
	amd := testutil.PlatformImage(t, "linux/amd64", 1, 128)
	arm64 := testutil.PlatformImage(t, "linux/arm64", 1, 128)
	armv7 := testutil.PlatformImage(t, "linux/arm/v7", 1, 128)
	base := mustCreate(t, amd, arm64)
	a, _ := index.ParseAnnotation("k=v")
	base, _ = index.Append(ctx, base, nil, index.WithAnnotations(a))

	t.Run("append", func(t *testing.T) {
		idx, err := index.Append(ctx, base, []image.Artifact{armv7})
		if err != nil {
			t.Fatal(err)
		}
		if got := platforms(manifests(t, idx)); !slices.Equal(got, []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}) {
			t.Errorf("after append = %v", got)
		}
		if im, _ := idx.IndexManifest(); im.Annotations["k"] != "v" {
			t.Errorf("append lost the index annotations: %v", im.Annotations)
		}
		_, err = index.Append(ctx, base, []image.Artifact{testutil.PlatformImage(t, "linux/arm64", 1, 64)})
		if !errors.Is(err, index.ErrInconsistent) || !strings.Contains(err.Error(), "index remove --platform linux/arm64") {
			t.Errorf("Append(second arm64) = %v, want ErrInconsistent saying how to remove the first", err)
		}
		idx, err = index.Append(ctx, base, []image.Artifact{armv7}, index.WithMediaType(index.MediaTypeDocker))
		if mt, _ := idx.MediaType(); err != nil || mt != types.DockerManifestList {
			t.Errorf("Append with docker media type = %s, %v", mt, err)
		}
	})

	t.Run("remove", func(t *testing.T) {
		idx, err := index.Remove(ctx, base, []specs.Platform{{OS: "linux", Architecture: "arm64", Variant: "v8"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := platforms(manifests(t, idx)); !slices.Equal(got, []string{"linux/amd64"}) {
			t.Errorf("after remove = %v", got)
		}
		if _, err := index.Remove(ctx, base, []specs.Platform{{OS: "linux", Architecture: "s390x"}}); !errors.Is(err, index.ErrNoMatch) {
			t.Errorf("Remove(absent) = %v, want ErrNoMatch", err)
		}
		if _, err := index.Remove(ctx, base, []specs.Platform{{OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "amd64"}}); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("Remove(everything) = %v, want an error", err)
		}
	})

	t.Run("annotate", func(t *testing.T) {
		s := func(v string) *string { return &v }
		amd64 := specs.Platform{OS: "linux", Architecture: "amd64"}
		tests := []struct {
			name   string
			target specs.Platform
			c      index.Change
			force  bool
			want   error
		}{
			{"label arm64 as amd64", specs.Platform{OS: "linux", Architecture: "arm64"}, index.Change{Architecture: s("amd64")}, false, index.ErrContradictsConfig},
			{"variant the config lacks", amd64, index.Change{Variant: s("v3")}, false, index.ErrContradictsConfig},
			{"os.version the config lacks", amd64, index.Change{OSVersion: s("10.0.17763")}, false, index.ErrContradictsConfig},
			{"os.features the config lacks", amd64, index.Change{OSFeatures: &[]string{"win32k"}}, false, index.ErrContradictsConfig},
			{"arm64 is arm64/v8", specs.Platform{OS: "linux", Architecture: "arm64"}, index.Change{Variant: s("v8")}, false, nil},
			{"descriptor annotations", amd64, index.Change{Annotations: map[string]string{"com.example": "x"}}, false, nil},
			{"absent platform", specs.Platform{OS: "linux", Architecture: "riscv64"}, index.Change{Variant: s("v1")}, false, index.ErrNoMatch},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := index.Annotate(ctx, base, tt.target, tt.c, tt.force)
				if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
					t.Errorf("Annotate(%v, %+v) = %v, want %v", tt.target, tt.c, err, tt.want)
				}
			})
		}
		_, err := index.Annotate(ctx, base, specs.Platform{OS: "linux", Architecture: "arm64"}, index.Change{Architecture: s("amd64")}, false)
		if err == nil || !strings.Contains(err.Error(), digest(t, arm64).String()) || !strings.Contains(err.Error(), "--force") {
			t.Errorf("Annotate(lie) = %v, want the descriptor named and --force mentioned", err)
		}
		forced, err := index.Annotate(ctx, base, specs.Platform{OS: "linux", Architecture: "arm64"}, index.Change{Architecture: s("amd64")}, true)
		if err != nil {
			t.Fatalf("Annotate(lie, force) = %v", err)
		}
		probs := index.Validate(ctx, forced)
		if len(probs) != 2 || probs[0].Digest != digest(t, arm64) || !strings.Contains(probs[0].Reason, "its config says linux/arm64") || !strings.Contains(probs[1].Reason, "already in the index") {
			t.Errorf("Validate(forced lie) = %v, want the lie and the duplicate amd64", probs)
		}
	})
}

func TestValidate(t *testing.T) {
	img := testutil.PlatformImage(t, "linux/arm64", 1, 128)
	d := digest(t, img)
	p := &v1.Platform{OS: "linux", Architecture: "arm64"}
	tests := []struct {
		name string
		desc v1.Descriptor
		want string
	}{
		{"no platform", v1.Descriptor{}, "no platform"},
		{"wrong size", v1.Descriptor{Platform: p, Size: 7}, "the descriptor says 7"},
		{"wrong media type", v1.Descriptor{Platform: p, MediaType: types.OCIManifestSchema1}, "the manifest says application/vnd.docker.distribution.manifest.v2+json"},
		{"image called an index", v1.Descriptor{Platform: p, MediaType: types.OCIImageIndex}, "descriptor " + d.String()},
		{"wrong digest", v1.Descriptor{Platform: p, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}}, "its manifest hashes to " + d.String()},
		{"dangling attestation", v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}, Annotations: map[string]string{image.AnnotationReferenceType: image.AttestationManifest, image.AnnotationReferenceDigest: "sha256:" + strings.Repeat("b", 64)}}, "not an image of this index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img, Descriptor: tt.desc})
			probs := index.Validate(ctx, idx)
			var all []string
			for _, p := range probs {
				all = append(all, p.String())
			}
			if !strings.Contains(strings.Join(all, "\n"), tt.want) {
				t.Errorf("Validate(%s) = %v, want a problem mentioning %q", tt.name, all, tt.want)
			}
		})
	}
}

func TestTags(t *testing.T) {
	tests := []struct {
		tag            string
		semver, latest bool
		want           []string
		err            error
	}{
		{"v1.2.3", true, false, []string{"1.2.3", "1.2", "1"}, nil},
		{"1.2.3", true, true, []string{"1.2.3", "1.2", "1", "latest"}, nil},
		{"v0.10.0", true, false, []string{"0.10.0", "0.10", "0"}, nil},
		{"v1.2.3-rc.1", true, true, []string{"1.2.3-rc.1"}, nil},
		{"2.0.0-beta", true, false, []string{"2.0.0-beta"}, nil},
		{"1.2", true, false, nil, index.ErrNotSemver},
		{"01.2.3", true, false, nil, index.ErrNotSemver},
		{"latest", true, false, nil, index.ErrNotSemver},
		{"edge", false, true, []string{"edge", "latest"}, nil},
		{"v1.2.3", false, false, []string{"v1.2.3"}, nil},
	}
	for _, tt := range tests {
		got, err := index.Tags(tt.tag, tt.semver, tt.latest)
		if !errors.Is(err, tt.err) || !slices.Equal(got, tt.want) {
			t.Errorf("Tags(%q, %v, %v) = %v, %v, want %v, %v", tt.tag, tt.semver, tt.latest, got, err, tt.want, tt.err)
		}
	}
}

func TestCheckImmutable(t *testing.T) {
	want := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("1", 64)}
	other := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("2", 64)}
	tags := map[string]v1.Hash{"1.2.3": want, "1.2": other}
	resolve := func(_ context.Context, tag string) (v1.Descriptor, bool, error) {
		h, ok := tags[tag]
		return v1.Descriptor{Digest: h}, ok, nil
	}
	if err := index.CheckImmutable(ctx, resolve, []string{"1.2.3", "1"}, want); err != nil {
		t.Errorf("CheckImmutable(same digest, missing tag) = %v, want nil", err)
	}
	err := index.CheckImmutable(ctx, resolve, []string{"1.2.3", "1.2", "1"}, want)
	if !errors.Is(err, index.ErrTagExists) || !strings.Contains(err.Error(), "1.2 points at "+other.String()) {
		t.Errorf("CheckImmutable(moved tag) = %v, want ErrTagExists naming 1.2", err)
	}
}

func TestParseAnnotation(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{"a=b", "index:a=b", false},
		{"index:a=b=c", "index:a=b=c", false},
		{"manifest-descriptor:org.x=1", "manifest-descriptor:org.x=1", false},
		{"manifest-descriptor[arm64]:k=v", "manifest-descriptor[linux/arm64]:k=v", false},
		{"com.example:thing=v", "", true}, // a typo of a target must not become an index annotation
		{"manifest:k=v", "", true},
		{"manifest-descriptor[nope/x]:k=v", "", true},
		{"other:k=v", "", true},
		{"novalue", "", true},
		{"=v", "", true},
	}
	for _, tt := range tests {
		a, err := index.ParseAnnotation(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && a.String() != tt.want) {
			t.Errorf("ParseAnnotation(%q) = %v, %v, want %q (error %v)", tt.in, a, err, tt.want, tt.bad)
		}
	}
}

// TestCreateInRegistry creates an index from two single-platform images read
// from a real registry, pushes it, and checks skopeo reads it.
func TestCreateInRegistry(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	kc := remote.WithKeychain(authn.NewMultiKeychain())
	var srcs []image.Artifact
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		ref := reg.Ref("app:1.0-" + strings.ReplaceAll(p[6:], "/", ""))
		if _, err := remote.Write(ctx, ref, testutil.PlatformImage(t, p, 2, 512), kc); err != nil {
			t.Fatal(err)
		}
		a, _, err := remote.Read(ctx, ref, kc)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, a)
	}
	idx, err := index.Create(ctx, srcs, index.WithMediaType(index.MediaTypeDocker))
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Ref("app:1.0")
	if _, err := remote.Write(ctx, ref, idx, kc); err != nil {
		t.Fatal(err)
	}
	skopeo := testutil.RequireCommand(t, "skopeo", "skopeo")
	out, err := exec.Command(skopeo, "inspect", "--raw", "--tls-verify=false", "docker://"+ref).Output()
	if err != nil {
		t.Fatalf("skopeo inspect --raw docker://%s: %v", ref, err)
	}
	raw, _ := idx.RawManifest()
	if !bytes.Equal(out, raw) {
		t.Errorf("skopeo read\n%s\nwant\n%s", out, raw)
	}
	out, err = exec.Command(skopeo, "inspect", "--tls-verify=false", "--override-arch", "arm64", "docker://"+ref).Output()
	if err != nil || !bytes.Contains(out, []byte(`"Architecture": "arm64"`)) {
		t.Errorf("skopeo inspect --override-arch arm64 = %s, %v, want the arm64 image", out, err)
	}
	a, _, err := remote.Read(ctx, ref, kc)
	if err != nil {
		t.Fatal(err)
	}
	if p := index.Validate(ctx, a.(v1.ImageIndex)); len(p) != 0 {
		t.Errorf("Validate(pushed index) = %v", p)
	}
}
