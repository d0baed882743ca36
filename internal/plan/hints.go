package plan

import (
	"fmt"
	"strings"

	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/platform"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Hint is advice about a plan for the build summary.
type Hint struct {
	Location dockerfile.Location
	Stage    string           // stage name
	Targets  []specs.Platform // the target platforms concerned
	Message  string
}

// CrossCompileHints names the stages that will run RUN steps under emulation
// although they only provide files to other stages (COPY --from, RUN --mount
// from=): a builder stage without FROM --platform, built for each foreign
// target. Such a stage can usually run natively on the build platform with
// FROM --platform=$BUILDPLATFORM and cross-compile for $TARGETOS/$TARGETARCH,
// which is much faster than emulation. One hint per Dockerfile stage, in file
// order.
func (p *Plan) CrossCompileHints() []Hint {
	asBase := map[*Stage]bool{}
	results := map[*Stage]bool{}
	for _, pp := range p.Platforms {
		results[pp.Result] = true
		for _, s := range pp.Stages {
			if s.Base.Stage != nil {
				asBase[s.Base.Stage] = true
			}
		}
	}
	var hints []Hint
	byIndex := map[int]int{}
	for _, s := range p.Stages {
		if s.FromPlatform != "" || results[s] || asBase[s] || platform.MatchCompat(s.Platform, p.BuildPlatform) {
			continue
		}
		runs := 0
		for _, st := range s.Steps {
			if st.Kind == StepRun {
				runs++
			}
		}
		if runs == 0 {
			continue
		}
		if i, ok := byIndex[s.Index]; ok {
			hints[i].Targets = append(hints[i].Targets, s.Targets...)
			continue
		}
		byIndex[s.Index] = len(hints)
		hints = append(hints, Hint{Location: s.Location, Stage: s.Name, Targets: append([]specs.Platform(nil), s.Targets...)})
		hints[len(hints)-1].Message = fmt.Sprintf("stage %s runs %d RUN step(s) under emulation but only provides files to other stages", s.Name, runs)
	}
	for i := range hints {
		var ts []string
		for _, t := range hints[i].Targets {
			ts = append(ts, platform.Format(t))
		}
		hints[i].Message += fmt.Sprintf(" (for %s): if they compile, FROM --platform=$BUILDPLATFORM and ARG TARGETOS TARGETARCH let it cross-compile natively on %s",
			strings.Join(ts, ", "), platform.Format(p.BuildPlatform))
	}
	return hints
}
