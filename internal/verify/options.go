package verify

import (
	"fmt"
	"log/slog"
	"path"
	"runtime"
	"strings"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// Option configures Run.
type Option func(*options) error

type options struct {
	ignore       []string
	require      []specs.Platform
	only         []specs.Platform
	jobs         int
	findingLimit int
	logger       *slog.Logger
}

func defaultOptions() options {
	return options{
		jobs:         runtime.GOMAXPROCS(0),
		findingLimit: 100,
		logger:       slog.New(slog.DiscardHandler),
	}
}

// WithRequire makes each of ps a required platform of an index: a missing
// one is a missing-platform error. Default: none required.
func WithRequire(ps ...specs.Platform) Option {
	return func(o *options) error {
		for _, p := range ps {
			if p.OS == "" || p.Architecture == "" {
				return fmt.Errorf("required platform %q needs an OS and an architecture", platform.Format(p))
			}
		}
		o.require = append(o.require, ps...)
		return nil
	}
}

// WithPlatforms verifies only the index's images for ps; each must be
// present (a missing one is a missing-platform error). Default: every
// platform of the index.
func WithPlatforms(ps ...specs.Platform) Option {
	return func(o *options) error {
		for _, p := range ps {
			if p.OS == "" || p.Architecture == "" {
				return fmt.Errorf("platform %q needs an OS and an architecture", platform.Format(p))
			}
		}
		o.only = append(o.only, ps...)
		return nil
	}
}

// WithIgnore leaves out of the file checks the files whose absolute path
// matches one of patterns (path.Match syntax: "/usr/share/qemu/*"); a
// pattern ending in "/" matches everything under that directory
// ("/opt/cross/"). For images that ship foreign binaries on purpose
// (cross toolchains, emulators, test data). Default: none.
func WithIgnore(patterns ...string) Option {
	return func(o *options) error {
		for _, p := range patterns {
			if !strings.HasPrefix(p, "/") {
				return fmt.Errorf("ignore pattern %q must be an absolute path", p)
			}
			if _, err := path.Match(strings.TrimSuffix(p, "/"), ""); err != nil {
				return fmt.Errorf("ignore pattern %q: %w", p, err)
			}
		}
		o.ignore = append(o.ignore, patterns...)
		return nil
	}
}

// ignored reports whether abs matches one of the ignore patterns.
func (o *options) ignored(abs string) bool {
	for _, p := range o.ignore {
		if dir, ok := strings.CutSuffix(p, "/"); ok {
			if strings.HasPrefix(abs, dir+"/") {
				return true
			}
			// A pattern directory with wildcards: match each parent.
			for d := path.Dir(abs); d != "/"; d = path.Dir(d) {
				if m, _ := path.Match(dir, d); m {
					return true
				}
			}
			continue
		}
		if m, _ := path.Match(p, abs); m {
			return true
		}
	}
	return false
}

// WithJobs sets how many layers are read at once. Default: GOMAXPROCS.
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("jobs must be at least 1, not %d", n)
		}
		o.jobs = n
		return nil
	}
}

// WithFindingLimit keeps at most n findings of each code per platform; the
// rest are counted in PlatformReport.Omitted. 0 keeps all. Default: 100.
func WithFindingLimit(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("finding limit must not be negative, not %d", n)
		}
		o.findingLimit = n
		return nil
	}
}

// WithLogger sets the logger for debug messages. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("nil logger")
		}
		o.logger = l
		return nil
	}
}
