package build

import (
	"strings"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/plan"
)

// The executor consumes plans made by internal/plan. The names below let
// the executor's files (exec.go, copy.go, cache.go, ...) keep naming the
// plan's types and helpers unqualified while internal/build is split and
// renamed (issue #17: internal/builder); they are aliases, not copies, and
// go away when those files say plan.Step.
type (
	Plan     = plan.Plan
	Stage    = plan.Stage
	Step     = plan.Step
	Source   = plan.Source
	Mount    = plan.Mount
	CopyStep = plan.CopyStep
	Hint     = plan.Hint
)

const (
	BaseScratch = plan.BaseScratch
	BaseStage   = plan.BaseStage
	BaseImage   = plan.BaseImage

	SourceContext = plan.SourceContext
	SourceStage   = plan.SourceStage
	SourceImage   = plan.SourceImage

	StepConfig  = plan.StepConfig
	StepRun     = plan.StepRun
	StepCopy    = plan.StepCopy
	StepWorkdir = plan.StepWorkdir
)

// hashKey derives the executor's cache keys from plan keys (plan.HashKey).
func hashKey(parts ...string) string { return plan.HashKey(parts...) }

func platformKey(p specs.Platform) string { return plan.PlatformKey(p) }

func short(key string) string { return plan.ShortKey(key) }

func isURL(s string) bool    { return plan.IsURL(s) }
func isGitURL(s string) bool { return plan.IsGitURL(s) }

func checkChown(s string) error { return plan.CheckChown(s) }
func checkChmod(s string) error { return plan.CheckChmod(s) }

// firstLine is the first line of an error for a progress line, " ..." when
// there is more.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
