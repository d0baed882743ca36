package remote

import (
	"errors"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/testutil"
)

// TestSelectPlatformsArmelIsArmV5: WithPlatforms(linux/armel) keeps the
// linux/arm/v5 image, as every selection of manyarch does (containerd's
// Normalize would say arm/v6).
func TestSelectPlatformsArmelIsArmV5(t *testing.T) {
	armel := []specs.Platform{{OS: "linux", Architecture: "armel"}}
	idx := testutil.PlatformIndex(t, 0, 0, "linux/arm/v6", "linux/arm/v5", "linux/arm/v7")
	got, err := selectPlatforms(idx, armel)
	if err != nil {
		t.Fatalf("selectPlatforms(armel) = %v", err)
	}
	im, err := got.(v1.ImageIndex).IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Platform == nil || im.Manifests[0].Platform.Variant != "v5" {
		t.Errorf("selectPlatforms(armel) = %+v, want the linux/arm/v5 image alone", im.Manifests)
	}

	_, err = selectPlatforms(testutil.PlatformImage(t, "linux/arm/v6", 0, 0), armel)
	if !errors.Is(err, ErrNoMatchingPlatform) {
		t.Errorf("selectPlatforms(armel) of an arm/v6 image = %v, want ErrNoMatchingPlatform", err)
	}
	if _, err := selectPlatforms(testutil.PlatformImage(t, "linux/arm/v5", 0, 0), armel); err != nil {
		t.Errorf("selectPlatforms(armel) of an arm/v5 image = %v, want it kept", err)
	}
}
