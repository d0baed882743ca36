package verify

import (
	"context"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/testutil"
)

// TestPlatformsArmelIsArmV5: verify --platform and --require take
// linux/armel as linux/arm/v5, as every selection of manyarch does
// (containerd's Normalize would say arm/v6).
func TestPlatformsArmelIsArmV5(t *testing.T) {
	ctx := context.Background()
	armel := specs.Platform{OS: "linux", Architecture: "armel"}
	idx := testutil.PlatformIndex(t, 0, 0, "linux/arm/v6", "linux/arm/v5", "linux/arm/v7")
	r, err := Run(ctx, idx, WithPlatforms(armel))
	if err != nil {
		t.Fatalf("Run(WithPlatforms(armel)) = %v", err)
	}
	if len(r.Platforms) != 1 || r.Platforms[0].Platform != "linux/arm/v5" {
		var got []string
		for _, p := range r.Platforms {
			got = append(got, p.Platform)
		}
		t.Errorf("Run(WithPlatforms(armel)) verified %v, want [linux/arm/v5]", got)
	}
	for _, f := range r.Findings {
		if f.Code == CodeMissingPlatform {
			t.Errorf("Run(WithPlatforms(armel)) found %s: %s", f.Code, f.Message)
		}
	}

	r, err = Run(ctx, testutil.PlatformIndex(t, 0, 0, "linux/arm/v6", "linux/arm/v7"), WithRequire(armel))
	if err != nil {
		t.Fatalf("Run(WithRequire(armel)) = %v", err)
	}
	missing := false
	for _, f := range r.Findings {
		missing = missing || (f.Code == CodeMissingPlatform && f.Platform == "linux/arm/v5")
	}
	if !missing {
		t.Errorf("Run(WithRequire(armel)) of an arm/v6+v7 index: findings %+v, want missing-platform linux/arm/v5", r.Findings)
	}
}
