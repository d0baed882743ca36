//go:build unix

package engine

import (
	"flag"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/plan/plantest"
)

// The planner's own tests are in internal/plan; these are what the
// executor's tests share with them.

var update = flag.Bool("update", false, "rewrite the golden files in testdata/dockerfile")

type PlanOptions = plan.Options

func goldenOptions(t *testing.T, src string) plan.Options { return plantest.Options(t, src) }

func mustPlan(t *testing.T, src string, opts plan.Options) *plan.Plan {
	t.Helper()
	return plantest.Plan(t, src, opts)
}

var (
	amd64 = specs.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = specs.Platform{OS: "linux", Architecture: "arm64"}
	armv7 = specs.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
)
