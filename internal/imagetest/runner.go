package imagetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	mimage "github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
)

// DefaultTimeout bounds each test when neither the test's timeout nor
// WithTimeout says otherwise.
const DefaultTimeout = 5 * time.Minute

// Option configures Run.
type Option func(*options) error

type options struct {
	exec      Executor
	platforms []specs.Platform
	jobs      int
	timeout   time.Duration
	logger    *slog.Logger
	progress  func(Event)
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
	faults    FaultRunner // service tests' faults (service_fault.go)
	mkdirMu   sync.Mutex  // bind mount sources are created one at a time
}

// WithExecutor sets the executor of command and consistency tests.
// Default: none, and a run with such tests is ErrNoExecutor.
func WithExecutor(e Executor) Option {
	return func(o *options) error {
		if e == nil {
			return errors.New("WithExecutor: nil executor")
		}
		o.exec = e
		return nil
	}
}

// WithPlatforms limits the run to these platforms of the image, which must
// all be there. Default: every platform of the image.
func WithPlatforms(ps ...specs.Platform) Option {
	return func(o *options) error {
		o.platforms = append(o.platforms, ps...)
		return nil
	}
}

// WithJobs sets how many tests run at the same time, across all platforms.
// Default: the number of CPUs.
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("jobs must be at least 1, not %d", n)
		}
		o.jobs = n
		return nil
	}
}

// WithTimeout sets the time a test may take unless its file gives a
// timeout. Default: DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("timeout must be positive, not %s", d)
		}
		o.timeout = d
		return nil
	}
}

// WithLogger sets the logger for debug records. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		return nil
	}
}

// Event reports one finished test on one platform, for progress displays.
type Event struct {
	Test     Test
	Platform specs.Platform
	Result   Result
}

// WithProgress calls f after each test on each platform (from several
// goroutines, never at once). Default: nothing.
func WithProgress(f func(Event)) Option {
	return func(o *options) error {
		o.progress = f
		return nil
	}
}

// WithEnviron sets how containerRunOptions.envVars and envFile are read
// (for tests). Default: os.LookupEnv and os.ReadFile.
func WithEnviron(lookup func(string) (string, bool), readFile func(string) ([]byte, error)) Option {
	return func(o *options) error {
		o.lookupEnv, o.readFile = lookup, readFile
		return nil
	}
}

// column is one platform's image and what the tests read from it, each
// loaded once, when a test first needs it.
type column struct {
	platform specs.Platform
	vars     Vars
	image    func() (v1.Image, error)
	config   func() (*v1.ConfigFile, error)
	fs       func() (fileView, error)
	view     fileView // what fs made, closed when the run ends
	prepare  func() (Prepared, error)
}

// unit is one test of a configuration.
type unit struct {
	test      Test
	cfg       *Config
	platforms []specs.Platform
	run       func(ctx context.Context, c *column) Result
	// consistency tests keep their per-platform outputs for the final
	// comparison.
	consistency *ConsistencyTest
}

// Run runs the tests of configs on every platform of a (or those of
// WithPlatforms) and reports the results. Tests run in parallel (WithJobs);
// command tests each in a fresh container of the Executor; file, license
// and metadata tests read the image without running anything. Test
// failures are in the report, not errors; an error means the run itself
// could not happen (a platform the image lacks, no executor for command
// tests, the artifact cannot be read).
func Run(ctx context.Context, a mimage.Artifact, configs []*Config, opts ...Option) (*Report, error) {
	o := options{jobs: runtime.NumCPU(), timeout: DefaultTimeout, lookupEnv: os.LookupEnv, readFile: os.ReadFile}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	entries, err := runEntries(ctx, a, o.platforms)
	if err != nil {
		return nil, err
	}
	r := &Report{}
	units, services, needExec, err := collectUnits(configs, &o, entries, r)
	if err != nil {
		return nil, err
	}

	cols := make([]*column, len(entries))
	defer func() {
		// After g.Wait: no test reads a view any more.
		for _, c := range cols {
			if c != nil && c.view != nil {
				if err := c.view.close(); err != nil {
					o.logger.Warn("releasing the image's root file system", "platform", platform.Format(c.platform), "err", err)
				}
			}
		}
	}()
	for j, e := range entries {
		cols[j] = newColumn(ctx, a, e, o.exec, o.logger)
		r.Platforms = append(r.Platforms, PlatformSummary{Platform: e.Platform})
	}
	r.Results = make([][]Result, len(r.Tests))
	for i := range r.Tests {
		r.Results[i] = make([]Result, len(cols))
	}
	if err := runUnits(ctx, &o, units, cols, r); err != nil {
		return nil, err
	}
	// Service tests run after the others, one platform at a time, so
	// their loads have the machine to themselves.
	var serviceProgress func(Test, int, Result)
	if o.progress != nil {
		serviceProgress = func(t Test, j int, res Result) {
			o.progress(Event{Test: t, Platform: cols[j].platform, Result: res})
		}
	}
	if err := runServices(ctx, &o, services, cols, r, serviceProgress); err != nil {
		return nil, err
	}
	r.summarize(platformSummaries(cols, r, needExec && o.exec != nil))
	r.Duration = time.Since(start)
	return r, nil
}

// runEntries lists the runnable images of a, those of want when given.
func runEntries(ctx context.Context, a mimage.Artifact, want []specs.Platform) ([]mimage.Entry, error) {
	entries, err := mimage.Entries(ctx, a)
	if err != nil {
		if _, ok := a.(v1.Image); ok {
			return nil, fmt.Errorf("the image has no readable config file, so neither its platform nor its settings are known (%w): rebuild or re-import it", err)
		}
		return nil, fmt.Errorf("listing the image's platforms: %w", err)
	}
	if len(entries) == 0 {
		return nil, errors.New("the index has no runnable image (only attestations or unknown media types)")
	}
	return selectEntries(entries, want)
}

// collectUnits makes the units and service units of configs, filling r's
// Warnings and Tests (service tests' rows after every other test's);
// needExec says some test runs a container (ErrNoExecutor without one).
func collectUnits(configs []*Config, o *options, entries []mimage.Entry, r *Report) (units []*unit, services []*serviceUnit, needExec bool, err error) {
	var serviceTests []Test
	for _, c := range configs {
		r.Warnings = append(r.Warnings, c.Warnings...)
		if f := c.ContainerRunOptions.EnvFile; f != "" {
			if _, err := o.readFile(f); err != nil {
				// CST warns and runs the tests without the file.
				r.Warnings = append(r.Warnings, fmt.Sprintf("%s: containerRunOptions.envFile: %v; the tests run without it, as container-structure-test runs them", c.File, err))
			}
		}
		us, err := c.units(o)
		if err != nil {
			return nil, nil, false, err
		}
		units = append(units, us...)
		var su []*serviceUnit
		su, serviceTests = serviceUnits(c, serviceTests)
		services = append(services, su...)
	}
	for _, u := range units {
		needExec = needExec || u.test.Kind == KindCommand || u.test.Kind == KindConsistency
		r.Tests = append(r.Tests, u.test)
		for _, p := range u.platforms {
			if !hasPlatform(entries, p) {
				r.Warnings = append(r.Warnings, fmt.Sprintf("%s:%d: %s names platform %s, which the image does not have (it has %s)",
					u.test.Pos.File, u.test.Pos.Line, u.test.Name, platform.Format(p), entryList(entries)))
			}
		}
	}
	for _, su := range services {
		su.offset(len(r.Tests))
		needExec = true
	}
	r.Tests = append(r.Tests, serviceTests...)
	if needExec && o.exec == nil {
		return nil, nil, false, ErrNoExecutor
	}
	return units, services, needExec, nil
}

// runUnits runs every unit on every column it runs on, o.jobs at a time,
// into r.Results (units first, in r.Tests' order), then compares the
// consistency tests' outputs across the columns.
func runUnits(ctx context.Context, o *options, units []*unit, cols []*column, r *Report) error {
	outputs := make([][]consistencyOutput, len(units))
	for i, u := range units {
		if u.consistency != nil {
			outputs[i] = make([]consistencyOutput, len(cols))
		}
	}
	var progressMu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.jobs)
	for i, u := range units {
		for j, c := range cols {
			if !u.runsOn(c.platform) {
				r.Results[i][j] = Result{Status: StatusSkip, SkipReason: "the test's platforms leave out " + platform.Format(c.platform)}
				continue
			}
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				t0 := time.Now()
				var res Result
				if u.consistency != nil {
					res, outputs[i][j] = runConsistency(gctx, o, c, u.cfg, u.consistency)
				} else {
					res = u.run(gctx, c)
				}
				if res.Duration == 0 {
					res.Duration = time.Since(t0)
				}
				res.started = t0
				if err := gctx.Err(); err != nil {
					return err
				}
				r.Results[i][j] = res
				if o.progress != nil && u.consistency == nil {
					progressMu.Lock()
					o.progress(Event{Test: u.test, Platform: c.platform, Result: res})
					progressMu.Unlock()
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, u := range units {
		if u.consistency != nil {
			compareConsistency(u.consistency, cols, r.Results[i], outputs[i])
			if o.progress != nil {
				for j, c := range cols {
					o.progress(Event{Test: u.test, Platform: c.platform, Result: r.Results[i][j]})
				}
			}
		}
	}
	return nil
}

// platformSummaries fills r.Platforms' emulation and errors (containers
// were prepared when ran says an executor ran tests) and returns the
// column run natively on the host, or -1.
func platformSummaries(cols []*column, r *Report, ran bool) int {
	native := -1
	host := platform.Host()
	for j, c := range cols {
		s := &r.Platforms[j]
		if ran && anyRan(r.Results, j, r.Tests) {
			if p, err := c.prepare(); err == nil {
				s.Emulation, s.Emulated = p.Emulation, p.Emulated
				if !p.Emulated && native < 0 && platform.Match(c.platform, host) {
					native = j
				}
			} else {
				s.Err = err.Error()
			}
		}
		if _, err := c.config(); err != nil && s.Err == "" {
			s.Err = err.Error()
		}
	}
	return native
}

func anyRan(results [][]Result, j int, tests []Test) bool {
	for i, t := range tests {
		if (t.Kind == KindCommand || t.Kind == KindConsistency || t.Kind == KindService) && results[i][j].Status != StatusSkip {
			return true
		}
	}
	return false
}

func (u *unit) runsOn(p specs.Platform) bool {
	if len(u.platforms) == 0 {
		return true
	}
	for _, w := range u.platforms {
		if platform.Match(w, p) {
			return true
		}
	}
	return false
}

// selectEntries picks, for each wanted platform in want's order, its entry
// (platform.Select with platform.Only: the one selection of manyarch, so
// linux/armel is arm/v5 here as in ref.Select); none wanted: all.
func selectEntries(entries []mimage.Entry, want []specs.Platform) ([]mimage.Entry, error) {
	if len(want) == 0 {
		return entries, nil
	}
	have := make([]specs.Platform, len(entries))
	for i, e := range entries {
		have[i] = e.Platform
	}
	sel := platform.Select(have, want, platform.Only)
	if len(sel.Missing) > 0 {
		names := make([]string, len(have))
		for i, p := range have {
			names[i] = platform.Format(p)
		}
		return nil, fmt.Errorf("%w: drop it from --platform", &ref.NoPlatformError{Want: sel.Missing[0], Have: names})
	}
	out := make([]mimage.Entry, len(sel.Best))
	for i, b := range sel.Best {
		out[i] = entries[b]
	}
	return out, nil
}

func hasPlatform(entries []mimage.Entry, p specs.Platform) bool {
	for _, e := range entries {
		if platform.Match(p, e.Platform) {
			return true
		}
	}
	return false
}

func entryList(entries []mimage.Entry) string {
	s := make([]string, len(entries))
	for i, e := range entries {
		s[i] = platform.Format(e.Platform)
	}
	return strings.Join(s, ", ")
}

func newColumn(ctx context.Context, a mimage.Artifact, e mimage.Entry, exec Executor, logger *slog.Logger) *column {
	name := platform.Format(e.Platform)
	c := &column{platform: e.Platform, vars: VarsFor(e.Platform)}
	c.image = sync.OnceValues(func() (v1.Image, error) {
		switch v := a.(type) {
		case v1.ImageIndex:
			img, err := v.Image(e.Descriptor.Digest)
			if err != nil {
				return nil, fmt.Errorf("%s: reading image %s: %w", name, e.Descriptor.Digest, err)
			}
			return img, nil
		case v1.Image:
			return v, nil
		}
		return nil, fmt.Errorf("%s: %T is neither an image nor an index", name, a)
	})
	c.config = sync.OnceValues(func() (*v1.ConfigFile, error) {
		img, err := c.image()
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("%s: the image has no readable config file (%w): rebuild or re-import it", name, err)
		}
		if cf == nil || (cf.OS == "" && cf.Architecture == "" && len(cf.RootFS.DiffIDs) == 0) {
			return nil, fmt.Errorf("%s: the image's config file is empty (no os, architecture or rootfs): it is not a runnable container image", name)
		}
		return cf, nil
	})
	c.fs = sync.OnceValues(func() (fileView, error) {
		img, err := c.image()
		if err != nil {
			return nil, err
		}
		if rv, ok := exec.(rootViewer); ok {
			// The root file system containers run on, as the kernel shows it.
			v, err := rv.rootView(ctx, Target{Platform: e.Platform, Image: img})
			if err == nil {
				c.view = v
				logger.Debug("file tests read the container's root file system", "platform", name, "view", v.kind())
				return containerView{v}, nil
			}
			if !errors.Is(err, errNoKernelView) {
				return nil, fmt.Errorf("%s: preparing the image's root file system for file tests: %w", name, err)
			}
			logger.Debug("file tests read the flattened layers", "platform", name, "reason", err)
		}
		f, err := newFlatFS(ctx, img)
		if err != nil {
			return nil, fmt.Errorf("%s: reading the image's file system: %w", name, err)
		}
		return containerView{f}, nil
	})
	c.prepare = sync.OnceValues(func() (Prepared, error) {
		if exec == nil {
			return Prepared{}, ErrNoExecutor
		}
		img, err := c.image()
		if err != nil {
			return Prepared{}, err
		}
		if _, err := c.config(); err != nil {
			return Prepared{}, err
		}
		p, err := exec.Prepare(ctx, Target{Platform: e.Platform, Image: img})
		if err != nil {
			return Prepared{}, fmt.Errorf("%s: %w", name, err)
		}
		return p, nil
	})
	return c
}
