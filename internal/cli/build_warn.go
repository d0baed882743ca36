package cli

import (
	"fmt"

	"github.com/manyarch/manyarch/internal/engine"
	"github.com/manyarch/manyarch/internal/platform"
)

// platformMismatchWarnings warns about target platforms whose image is
// the result of a stage of another platform (a --target stage FROM
// --platform=$BUILDPLATFORM): its programs are the build machine's, only
// labelled as the target's, which `manyarch verify` then reports (issue
// #22 item 13). BuildKit builds the same silently; this is almost never
// meant.
func platformMismatchWarnings(res *engine.Result) []string {
	if res == nil || res.Plan == nil {
		return nil
	}
	var out []string
	for _, pp := range res.Plan.Platforms {
		if pp.Result == nil || platform.Format(pp.Result.Platform) == platform.Format(pp.Platform) {
			continue
		}
		from := ""
		if pp.Result.FromPlatform != "" {
			from = fmt.Sprintf(" (FROM --platform=%s)", pp.Result.FromPlatform)
		}
		out = append(out, fmt.Sprintf("the %s image is stage %q built for %s%s: its programs are %s's, labelled %s; build a stage of the target platform (FROM without --platform, or COPY --from the cross-compiling stage), or check with manyarch verify",
			platform.Format(pp.Platform), pp.Result.Name, platform.Format(pp.Result.Platform), from,
			platform.Format(pp.Result.Platform), platform.Format(pp.Platform)))
	}
	return out
}
