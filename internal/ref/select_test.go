package ref

import (
	"context"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/testutil"
)

// TestSelectArmelIsArmV5: linux/armel is linux/arm/v5 in ref.Select, as in
// every selection of manyarch (containerd's Normalize would say arm/v6).
func TestSelectArmelIsArmV5(t *testing.T) {
	ctx := context.Background()
	idx := testutil.PlatformIndex(t, 0, 0, "linux/arm/v6", "linux/arm/v5", "linux/arm/v7")
	got, err := Select(ctx, idx, []specs.Platform{{OS: "linux", Architecture: "armel"}})
	if err != nil {
		t.Fatalf("Select(armel) = %v", err)
	}
	img, ok := got.(v1.Image)
	if !ok {
		t.Fatalf("Select(armel) = %T, want one image", got)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != "arm" || cf.Variant != "v5" {
		t.Errorf("Select(armel) = linux/%s/%s, want linux/arm/v5", cf.Architecture, cf.Variant)
	}

	// Several platforms: the first match of each, in the index's order.
	got, err = Select(ctx, idx, []specs.Platform{{OS: "linux", Architecture: "arm", Variant: "v7"}, {OS: "linux", Architecture: "armel"}})
	if err != nil {
		t.Fatalf("Select(arm/v7, armel) = %v", err)
	}
	entries, err := image.Entries(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if s := entryPlatforms(entries); len(s) != 2 || s[0] != "linux/arm/v5" || s[1] != "linux/arm/v7" {
		t.Errorf("Select(arm/v7, armel) = %v, want [linux/arm/v5 linux/arm/v7] (the index's order)", s)
	}

	_, err = Select(ctx, testutil.PlatformIndex(t, 0, 0, "linux/arm/v6"), []specs.Platform{{OS: "linux", Architecture: "armel"}})
	if e, ok := err.(*NoPlatformError); !ok || platform.Format(e.Want) != "linux/arm/v5" {
		t.Errorf("Select(armel) of an arm/v6 index = %v, want a NoPlatformError for linux/arm/v5", err)
	}
}
