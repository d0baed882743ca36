package dockerfile

import (
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Warning is a located, non-fatal finding: one of BuildKit's lint rules
// (https://docs.docker.com/go/dockerfile/rule/) or a manyarch check such as an
// unused --build-arg (UnusedBuildArg) or an ignored "# syntax=" frontend
// (UnsupportedSyntax).
type Warning struct {
	Location Location
	Rule     string // BuildKit's rule name ("UndefinedVar"), or "UnusedBuildArg"
	Message  string // "Usage of undefined variable '$FOO'"
	URL      string // documentation of the rule, "" if none
}

func (w Warning) String() string {
	s := w.Location.String() + ": " + w.Message
	if w.Rule != "" {
		s += " (" + w.Rule + ")"
	}
	return s
}

// Linter returns a BuildKit linter configured by the file's "# check="
// directive that reports each finding to warn as a located Warning. The
// planner uses it for the rules that depend on argument values.
func (f *File) Linter(warn func(Warning)) *linter.Linter {
	cfg := f.lintConfig
	cfg.ReturnAsError = false // manyarch reports; the caller decides (LintFailOnWarning)
	cfg.Warn = func(rule, _, url, msg string, loc []parser.Range) {
		w := Warning{Rule: rule, Message: msg, URL: url, Location: f.rangeLocation(loc)}
		if len(loc) == 0 {
			w.Location = Location{File: f.Name}
		}
		warn(w)
	}
	return linter.New(&cfg)
}

// LintFailOnWarning reports whether the file's "# check=error=true" directive
// asks for warnings to fail the build.
func (f *File) LintFailOnWarning() bool { return f.lintConfig.ReturnAsError }
