package imagetest

import (
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Kind is the kind of a test.
type Kind string

const (
	KindCommand       Kind = "command"
	KindFileExistence Kind = "fileExistence"
	KindFileContent   Kind = "fileContent"
	KindMetadata      Kind = "metadata"
	KindLicense       Kind = "license"
	KindConsistency   Kind = "consistency"
)

// Status is the outcome of one test on one platform.
type Status string

const (
	StatusPass Status = "pass"
	StatusFail Status = "fail"
	StatusSkip Status = "skip" // the test's platforms leave this platform out
)

// Test describes one test of the run, in the order of the files: per file,
// command, file existence, file content, license and metadata tests (CST's
// order), then consistency tests.
type Test struct {
	Name string // as CST names it: "Command Test: hello"
	Kind Kind
	Pos  Pos
}

// Failure is one failed check, with what was expected and what was found
// when the check compares them.
type Failure struct {
	Message  string
	Expected string `json:",omitempty"`
	Actual   string `json:",omitempty"`
}

// Result is the outcome of one test on one platform.
type Result struct {
	Status   Status
	Failures []Failure
	Stdout   string
	Stderr   string
	ExitCode int
	Duration time.Duration
	// SkipReason says why a skipped test did not run.
	SkipReason string

	started time.Time // when the runner started it (zero: not known)
}

// PlatformSummary is one column of the matrix.
type PlatformSummary struct {
	Platform specs.Platform
	// Emulation says how commands ran: "native", "host handler
	// qemu-aarch64 (/usr/bin/qemu-aarch64-static)", ...; "" when no
	// command ran.
	Emulation string
	Emulated  bool
	// Err is a problem with the platform as a whole (no config file, no
	// emulator); every test that needed the missing part failed with it.
	Err string

	Pass, Fail, Skip int
	Duration         time.Duration // wall time of the platform's tests (from the first one's start to the last one's end)
	CommandTime      time.Duration // command and consistency tests
	// Overhead is this platform's command time over the native platform's
	// for the same command tests (2.5 = 2.5 times as long); 0 when the run
	// has no native platform or no command test ran on both.
	Overhead float64
}

// Report is the outcome of a run: Results[test][platform].
type Report struct {
	Image     string
	Platforms []PlatformSummary
	Tests     []Test
	Results   [][]Result
	Warnings  []string
	Duration  time.Duration
	// Services are the service tests' detailed results (load numbers,
	// faults, logs), in file order; their rows are in Tests too.
	Services []ServiceReport
}

// Failed reports whether any test failed on any platform.
func (r *Report) Failed() bool {
	for _, p := range r.Platforms {
		if p.Fail > 0 {
			return true
		}
	}
	return false
}

// Counts returns the numbers of passed, failed and skipped results.
func (r *Report) Counts() (pass, fail, skip int) {
	for _, p := range r.Platforms {
		pass += p.Pass
		fail += p.Fail
		skip += p.Skip
	}
	return pass, fail, skip
}

// summarize fills the per-platform counts, times and overheads.
func (r *Report) summarize(native int) {
	for j := range r.Platforms {
		s := &r.Platforms[j]
		s.Pass, s.Fail, s.Skip, s.Duration, s.CommandTime = 0, 0, 0, 0, 0
		var first, last time.Time
		var unplaced time.Duration // results without a start time
		for i, t := range r.Tests {
			res := r.Results[i][j]
			switch res.Status {
			case StatusPass:
				s.Pass++
			case StatusFail:
				s.Fail++
			case StatusSkip:
				s.Skip++
			}
			if res.started.IsZero() {
				unplaced += res.Duration
			} else {
				if first.IsZero() || res.started.Before(first) {
					first = res.started
				}
				if end := res.started.Add(res.Duration); end.After(last) {
					last = end
				}
			}
			if (t.Kind == KindCommand || t.Kind == KindConsistency) && res.Status != StatusSkip {
				s.CommandTime += res.Duration
			}
		}
		// Tests of one platform overlap (-j, consistency tests): their
		// sum would exceed the run's own time. The span does not.
		s.Duration = last.Sub(first) + unplaced
	}
	if native < 0 {
		return
	}
	for j := range r.Platforms {
		if j == native {
			continue
		}
		var mine, theirs time.Duration
		for i, t := range r.Tests {
			if t.Kind != KindCommand && t.Kind != KindConsistency {
				continue
			}
			a, b := r.Results[i][j], r.Results[i][native]
			if a.Status == StatusSkip || b.Status == StatusSkip || a.Duration == 0 || b.Duration == 0 {
				continue
			}
			mine += a.Duration
			theirs += b.Duration
		}
		if theirs > 0 {
			r.Platforms[j].Overhead = float64(mine) / float64(theirs)
		}
	}
}
