package index_test

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/index"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestEditArmelIsArmV5: index create --platform and index remove take
// linux/armel as linux/arm/v5, as every selection of manyarch does
// (containerd's Normalize would say arm/v6).
func TestEditArmelIsArmV5(t *testing.T) {
	armel := []specs.Platform{{OS: "linux", Architecture: "armel"}}
	src := testutil.PlatformIndex(t, 0, 0, "linux/arm/v6", "linux/arm/v5", "linux/arm/v7")
	variants := func(idx v1.ImageIndex) []string {
		t.Helper()
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range im.Manifests {
			out = append(out, d.Platform.Variant)
		}
		return out
	}

	created, err := index.Create(ctx, []image.Artifact{src}, index.WithPlatforms(armel))
	if err != nil {
		t.Fatalf("Create(WithPlatforms(armel)) = %v", err)
	}
	if got := variants(created); len(got) != 1 || got[0] != "v5" {
		t.Errorf("Create(WithPlatforms(armel)) has variants %v, want [v5]", got)
	}

	all, err := index.Create(ctx, []image.Artifact{src})
	if err != nil {
		t.Fatal(err)
	}
	removed, err := index.Remove(ctx, all, armel)
	if err != nil {
		t.Fatalf("Remove(armel) = %v", err)
	}
	if got := variants(removed); len(got) != 2 || got[0] != "v6" || got[1] != "v7" {
		t.Errorf("Remove(armel) left variants %v, want [v6 v7]", got)
	}
}
