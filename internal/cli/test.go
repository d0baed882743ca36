package cli

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/imagetest"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/store"
)

type testOptions struct {
	configs   []string
	platform  platformFlags
	jobs      int
	output    string
	report    string
	timeout   time.Duration
	emulation string
	insecure  bool
	quiet     bool
	strict    bool
}

func newTestCmd(g *globalOptions) *cobra.Command {
	o := &testOptions{}
	cmd := &cobra.Command{
		Use:   "test [flags] IMAGE -c TESTS.yaml [-c MORE.yaml]",
		Short: "Run container-structure-test files on every platform of an image",
		Long: `Run container-structure-test (CST) test files against every platform of IMAGE
(any reference form), with no daemon. Each command test runs in a fresh
throwaway container of its platform, under QEMU emulation where the host
cannot run it natively (as 'manyarch run' does); file, license and metadata
tests read the image's layers without running anything.

Test files are CST schema 2.0.0 (or 1.0.0), YAML or JSON, read as CST reads them (see
docs/cst-compatibility.md): YAML as yaml.v2 (yes/no/on/off booleans, merge
keys; an unknown field is an error naming its line, as in CST), JSON as
encoding/json (keys in any case; an unknown field is a warning). A test CST
would fail when it runs (an invalid regex, no name) fails alone, with the
reason; --strict refuses the file for those instead. $VAR in commands, args
and paths expands against the image's env, globalEnvVars and the test's
envVars, as in CST. Extensions, which a CST file may use:
  platforms: [linux/arm64]       on any test: run it only there
  {{.Platform}} {{.OS}} {{.Arch}} {{.Variant}} {{.UnameMachine}} {{.GOARCH}}
                                 in commands, args, env values, paths and
                                 expectations, e.g. expectedOutput: ["Hello, {{.GOARCH}}!"];
                                 any other {{...}} is left as written;
                                 {{"{{"}} is a literal {{ before a variable name
  metadataTest: {os, architecture, variant}
  timeout: 30s                   on command tests (default --timeout)
  consistency: [{name, command, args}]
                                 output must be the same on every platform,
                                 once platform values read as {{.Var}}
  serviceTests: [{name, port, readiness, checks, consistency, load, faults}]
                                 start the image as a service on each platform
                                 (one at a time; root: a private network with
                                 the port published on 127.0.0.1), wait until
                                 it is ready, check its HTTP API, compare the
                                 answers across platforms, load it (as ab -n
                                 -c) with thresholds, inject faults; the text
                                 report shows the load side by side
                                 (docs/service-tests.md)

The report is a matrix of tests by platforms with timings and each platform's
emulation overhead (its command time over the native platform's), then every
failure with expected and actual output. -o json is CST's JSON with a Platform
field per result, -o junit has one testsuite per platform, -o html is a
self-contained page. --test-report FILE writes a report to FILE as well: by
its extension (.xml junit, .html, .json), else in the -o format (json for
-o text). The exit status is 1 when any test fails.`,
		Example: `  printf '%s\n' 'schemaVersion: 2.0.0' 'commandTests:' '- name: greets in its own architecture' '  command: /hello' '  expectedOutput: ["Hello, {{.GOARCH}}!"]' 'fileExistenceTests:' '- {name: hello, path: /hello, isExecutableBy: any}' 'metadataTest:' '  entrypoint: ["/hello"]' '  architecture: "{{.Arch}}"' > /tmp/hello-tests.yaml
  manyarch test fixtures/hello:1.0 -c /tmp/hello-tests.yaml
  manyarch test fixtures/hello:1.0 -c /tmp/hello-tests.yaml --platform linux/amd64,linux/arm64 -o junit > /tmp/hello-junit.xml
  manyarch test fixtures/hello:1.0 -c /tmp/hello-tests.yaml -o html > /tmp/hello-report.html
  manyarch test fixtures/hello:1.0 -c /tmp/hello-tests.yaml --test-report /tmp/hello-report.json -j 4 --timeout 1m
  manyarch test service:1.0 -c examples/service/tests.yaml   # after the build in examples/service/Dockerfile`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("test takes one IMAGE, got %d arguments: manyarch test IMAGE -c TESTS.yaml", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, g, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.configs, "config", "c", nil, "test file, YAML or JSON (repeatable; required)")
	o.platform.AddFlags(cmd, "platforms to test, e.g. linux/amd64,linux/arm64 (comma list, repeatable; default: every platform of the image)")
	f.IntVarP(&o.jobs, "jobs", "j", runtime.NumCPU(), "tests run at the same time, across platforms")
	f.StringVarP(&o.output, "output", "o", "text", "report format: text, json, junit or html")
	f.StringVar(&o.report, "test-report", "", "also write a report to this file (format by extension: .xml junit, .html, .json; else -o, json for text)")
	f.DurationVar(&o.timeout, "timeout", imagetest.DefaultTimeout, "time each test may take unless its file says timeout:")
	f.StringVar(&o.emulation, "emulation", string(emulation.ModeAuto), "how to run other architectures: auto, host, private or none (see manyarch run); private and host emulate even a platform the host runs natively (linux/386 on amd64), to test the emulated path on any host")
	f.BoolVar(&o.insecure, "insecure", false, "allow plain HTTP and unverified TLS for registries")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress lines on stderr")
	f.BoolVar(&o.strict, "strict", false, "refuse a test file for what CST only warns of or fails one test for: unknown JSON fields, a missing name, an invalid regex or isExecutableBy")
	return cmd
}

func (o *testOptions) validate() error {
	if len(o.configs) == 0 {
		return errors.New("no test file: give one or more with -c TESTS.yaml")
	}
	if o.jobs < 1 {
		return fmt.Errorf("--jobs must be at least 1, not %d", o.jobs)
	}
	if o.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, not %s", o.timeout)
	}
	switch o.output {
	case "text", "json", "junit", "html":
	default:
		return fmt.Errorf("unknown -o %q: want text, json, junit or html", o.output)
	}
	return nil
}

func (o *testOptions) run(cmd *cobra.Command, g *globalOptions, image string) error {
	ctx := cmd.Context()
	if err := o.validate(); err != nil {
		return err
	}
	ps, err := o.platform.Platforms()
	if err != nil {
		return err
	}
	mode, err := emulation.ParseMode(o.emulation)
	if err != nil {
		return fmt.Errorf("--emulation: %w", err)
	}
	var configs []*imagetest.Config
	var cerrs []string
	for _, file := range o.configs {
		var popts []imagetest.ParseOption
		if o.strict {
			popts = append(popts, imagetest.Strict())
		}
		c, err := imagetest.Load(file, popts...)
		if err != nil {
			cerrs = append(cerrs, err.Error())
			continue
		}
		configs = append(configs, c)
	}
	if len(cerrs) > 0 {
		return fmt.Errorf("invalid test file:\n%s", strings.Join(cerrs, "\n"))
	}

	r, err := ref.Parse(image)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	env := g.newEnv(stderr, &remoteFlags{insecure: o.insecure, jobs: 4})
	defer env.Close()
	a, err := ref.Read(ctx, env, r)
	if err != nil {
		return err
	}
	log := g.logger(stderr)
	opts := []imagetest.Option{imagetest.WithJobs(o.jobs), imagetest.WithTimeout(o.timeout), imagetest.WithLogger(log)}
	if len(ps) > 0 {
		opts = append(opts, imagetest.WithPlatforms(ps...))
	}
	// Command tests run in the executor's containers; file tests read the
	// root file system those containers get (as root on Linux), or the
	// flattened layers where the executor cannot be had.
	if needsExecutor(configs) || readsFiles(configs) {
		x, err := imagetest.NewSandboxExecutor(store.NewLayout(g.storeRoot()).Snapshots(), "", mode, log)
		switch {
		case err == nil:
			opts = append(opts, imagetest.WithExecutor(x))
		case needsExecutor(configs):
			return err
		default:
			log.Debug("file tests read the flattened layers", "reason", err)
		}
	}
	if !o.quiet {
		opts = append(opts, imagetest.WithProgress(func(e imagetest.Event) {
			if e.Result.Status == imagetest.StatusSkip {
				return
			}
			fmt.Fprintf(stderr, "%-4s %-14s %s (%s)\n", statusLabel(e.Result.Status), platform.Format(e.Platform), e.Test.Name, e.Result.Duration.Round(time.Millisecond))
		}))
	}
	rep, err := imagetest.Run(ctx, a, configs, opts...)
	if err != nil {
		return fmt.Errorf("testing %s: %w", r.String(), err)
	}
	rep.Image = r.String()
	if !o.quiet {
		fmt.Fprintln(stderr)
	}
	if err := writeReport(cmd.OutOrStdout(), rep, o.output); err != nil {
		return err
	}
	if o.report != "" {
		if err := writeReportFile(o.report, rep, reportFormat(o.report, o.output)); err != nil {
			return err
		}
	}
	if rep.Failed() {
		return &ExitError{Code: 1}
	}
	return nil
}

// reportFormat is the format of --test-report FILE: by its extension
// (.xml junit, .html, .json), else -o's, and json when -o is text.
func reportFormat(file, output string) string {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".xml":
		return "junit"
	case ".html", ".htm":
		return "html"
	case ".json":
		return "json"
	}
	if output == "text" {
		return "json"
	}
	return output
}

func statusLabel(s imagetest.Status) string {
	if s == imagetest.StatusPass {
		return "ok"
	}
	return "FAIL"
}

func needsExecutor(cs []*imagetest.Config) bool {
	for _, c := range cs {
		if len(c.CommandTests) > 0 || len(c.Consistency) > 0 || len(c.ServiceTests) > 0 {
			return true
		}
	}
	return false
}

// readsFiles reports whether cs have tests that read the image's files.
func readsFiles(cs []*imagetest.Config) bool {
	for _, c := range cs {
		if len(c.FileExistenceTests) > 0 || len(c.FileContentTests) > 0 || len(c.LicenseTests) > 0 {
			return true
		}
	}
	return false
}

func writeReport(w io.Writer, r *imagetest.Report, format string) error {
	switch format {
	case "json":
		return r.WriteJSON(w)
	case "junit":
		return r.WriteJUnit(w)
	case "html":
		return r.WriteHTML(w)
	}
	return r.WriteText(w)
}

// writeReportFile writes the report atomically (fsutil.WriteFile), so a
// reader never sees half a report.
func writeReportFile(path string, r *imagetest.Report, format string) error {
	err := fsutil.WriteFile(path, 0o644, func(w io.Writer) error { return writeReport(w, r, format) })
	if err != nil {
		return fmt.Errorf("writing --test-report %s: %w", path, err)
	}
	return nil
}
