package imagetest

import (
	"testing"
	"time"
)

// TestPlatformDurationIsWallTime: a platform's Duration is the span of its
// tests, not their sum: tests that overlap (-j, consistency tests) made
// one platform's time exceed the whole run's in `test -o json` (issue #22
// item 8).
func TestPlatformDurationIsWallTime(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)
	r := &Report{
		Platforms: []PlatformSummary{{}},
		Tests:     []Test{{Kind: KindCommand}, {Kind: KindCommand}, {Kind: KindFileExistence}},
		Results: [][]Result{
			{{Status: StatusPass, Duration: time.Second, started: t0}},
			{{Status: StatusPass, Duration: time.Second, started: t0.Add(500 * time.Millisecond)}},
			{{Status: StatusPass, Duration: 100 * time.Millisecond}}, // no start known: added
		},
		Duration: 1600 * time.Millisecond,
	}
	r.summarize(-1)
	p := r.Platforms[0]
	if p.Duration != 1600*time.Millisecond {
		t.Errorf("platform Duration = %v, want 1.6s (1.5s span + 0.1s unplaced), not the 2.1s sum", p.Duration)
	}
	if p.CommandTime != 2*time.Second {
		t.Errorf("CommandTime = %v, want the 2s its command tests took", p.CommandTime)
	}
	if p.Duration > r.Duration {
		t.Errorf("platform Duration %v exceeds the run's %v", p.Duration, r.Duration)
	}
}
