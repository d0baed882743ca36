package cli

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/engine"
	"github.com/manyarch/manyarch/internal/plan"
)

func TestPlatformMismatchWarnings(t *testing.T) {
	amd64 := specs.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := specs.Platform{OS: "linux", Architecture: "arm64"}
	tools := &plan.Stage{Name: "tools", Platform: amd64, FromPlatform: "$BUILDPLATFORM"}
	final := &plan.Stage{Name: "stage-1", Platform: arm64}
	res := &engine.Result{Plan: &plan.Plan{Platforms: []*plan.PlatformPlan{
		{Platform: amd64, Result: tools},
		{Platform: arm64, Result: tools},
	}}}
	got := platformMismatchWarnings(res)
	if len(got) != 1 || !strings.Contains(got[0], `the linux/arm64 image is stage "tools" built for linux/amd64 (FROM --platform=$BUILDPLATFORM)`) {
		t.Errorf("--target of a $BUILDPLATFORM stage for amd64 and arm64 warns %q; want one warning about linux/arm64", got)
	}
	res.Plan.Platforms[1].Result = final
	if got := platformMismatchWarnings(res); len(got) != 0 {
		t.Errorf("each platform's own stage warns %q; want nothing", got)
	}
	if got := platformMismatchWarnings(&engine.Result{}); got != nil {
		t.Errorf("a result without a plan warns %q", got)
	}
}
