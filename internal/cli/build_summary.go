package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/manyarch/manyarch/internal/engine"
	"github.com/manyarch/manyarch/internal/platform"
)

// buildSummary is the end of a build's progress (issue #22 item 2): the
// total time, then per platform how many steps ran, how many of those
// under emulation and at what cost, and how many came from the cache. A
// step shared by several platforms (a stage built once) counts for each.
func buildSummary(res *engine.Result, took time.Duration) []string {
	if res == nil {
		return nil
	}
	out := []string{fmt.Sprintf("built %d platform(s) in %.1fs", len(res.Platforms), took.Seconds())}
	for _, pr := range res.Platforms {
		var ran, cached, emulated int
		var emuTime time.Duration
		for _, s := range pr.Steps {
			switch {
			case s.Cached:
				cached++
			case s.Duration > 0: // config steps (ENV, ARG, ...) run nothing
				ran++
				if s.Emulated {
					emulated++
					emuTime += s.Duration
				}
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "  %-14s %d step(s) ran", platform.Format(pr.Platform), ran)
		if emulated > 0 {
			fmt.Fprintf(&b, " (%d emulated, %.1fs)", emulated, emuTime.Seconds())
		}
		fmt.Fprintf(&b, ", %d cached", cached)
		out = append(out, b.String())
	}
	return out
}
