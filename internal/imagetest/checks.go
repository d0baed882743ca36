package imagetest

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// units lists the tests of c in CST's order, then the consistency tests.
func (c *Config) units(o *options) ([]*unit, error) {
	var us []*unit
	for i := range c.CommandTests {
		t := &c.CommandTests[i]
		us = append(us, &unit{test: Test{Name: "Command Test: " + t.Name, Kind: KindCommand, Pos: t.Pos}, cfg: c, platforms: t.Platforms,
			run: invalidOr(t.Invalid, func(ctx context.Context, col *column) Result { return runCommand(ctx, o, col, c, t) })})
	}
	for i := range c.FileExistenceTests {
		t := &c.FileExistenceTests[i]
		us = append(us, &unit{test: Test{Name: "File Existence Test: " + t.Name, Kind: KindFileExistence, Pos: t.Pos}, cfg: c, platforms: t.Platforms,
			run: invalidOr(t.Invalid, func(ctx context.Context, col *column) Result { return runFileExistence(col, c, t) })})
	}
	for i := range c.FileContentTests {
		t := &c.FileContentTests[i]
		us = append(us, &unit{test: Test{Name: "File Content Test: " + t.Name, Kind: KindFileContent, Pos: t.Pos}, cfg: c, platforms: t.Platforms,
			run: invalidOr(t.Invalid, func(ctx context.Context, col *column) Result { return runFileContent(ctx, col, c, t) })})
	}
	for i := range c.LicenseTests {
		t := &c.LicenseTests[i]
		us = append(us, &unit{test: Test{Name: "License Test", Kind: KindLicense, Pos: t.Pos}, cfg: c, platforms: t.Platforms,
			run: func(ctx context.Context, col *column) Result { return runLicense(ctx, col, c, t) }})
	}
	if t := c.MetadataTest; t != nil {
		us = append(us, &unit{test: Test{Name: "Metadata Test", Kind: KindMetadata, Pos: t.Pos}, cfg: c, platforms: t.Platforms,
			run: invalidOr(t.Invalid, func(ctx context.Context, col *column) Result { return runMetadata(col, t) })})
	}
	for i := range c.Consistency {
		t := &c.Consistency[i]
		us = append(us, &unit{test: Test{Name: "Consistency Test: " + t.Name, Kind: KindConsistency, Pos: t.Pos}, cfg: c, platforms: t.Platforms, consistency: t})
	}
	return us, nil
}

// invalidOr returns run, or for a test with problems found when its file
// was read (Config's Invalid) one that fails with them without running
// anything, as CST fails such a test alone.
func invalidOr(invalid []string, run func(context.Context, *column) Result) func(context.Context, *column) Result {
	if len(invalid) == 0 {
		return run
	}
	return func(context.Context, *column) Result { return invalidResult(invalid) }
}

func invalidResult(invalid []string) Result {
	r := Result{Status: StatusFail}
	for _, m := range invalid {
		r.Failures = append(r.Failures, Failure{Message: "invalid test: " + m})
	}
	return r
}

// failed returns a failed result with one message.
func failed(format string, args ...any) Result {
	return Result{Status: StatusFail, Failures: []Failure{{Message: fmt.Sprintf(format, args...)}}}
}

func (r *Result) fail(f Failure) {
	r.Status = StatusFail
	r.Failures = append(r.Failures, f)
}

func finish(r Result) Result {
	if r.Status == "" {
		r.Status = StatusPass
		if len(r.Failures) > 0 {
			r.Status = StatusFail
		}
	}
	return r
}

// imageEnv returns the image's environment as a map and a list.
func imageEnv(cf *v1.ConfigFile) map[string]string {
	m := map[string]string{}
	for _, kv := range cf.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// substituteImageEnv expands $VAR and ${VAR} that the image's config
// defines, as CST does for commands and paths; other references are kept
// for the shell in the container.
func substituteImageEnv(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	return os.Expand(s, func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if k == "$" {
			return "$$"
		}
		return "${" + k + "}"
	})
}

// expansionEnv is what $VAR in a test's command, arguments and paths
// expands against, in CST's order: the image's environment, then
// globalEnvVars (CST commits them into the image it tests), then the test's
// own envVars; each value may refer to what came before ($PATH; one to a
// variable none of them sets is empty, as in CST). substituteImageEnv
// leaves $VAR of a variable none of them sets for the container's shell.
func expansionEnv(image map[string]string, v Vars, lists ...[]EnvVar) (map[string]string, error) {
	env := make(map[string]string, len(image))
	for k, val := range image {
		env[k] = val
	}
	for _, list := range lists {
		for _, ev := range list {
			val, err := expand(ev.Value, v)
			if err != nil {
				return nil, err
			}
			env[ev.Key] = os.Expand(val, func(k string) string { return env[k] })
		}
	}
	return env, nil
}

// commandSpec builds the container of a command or consistency test.
func commandSpec(o *options, col *column, cf *v1.ConfigFile, c *Config, command string, args []string, setup, teardown [][]string, envVars []EnvVar, timeout time.Duration) (Exec, error) {
	v := col.vars
	ienv := imageEnv(cf)
	var e Exec
	argv, err := expandAll(append([]string{command}, args...), v)
	if err != nil {
		return e, err
	}
	xenv, err := expansionEnv(ienv, v, c.GlobalEnvVars, envVars)
	if err != nil {
		return e, err
	}
	for i := range argv {
		argv[i] = substituteImageEnv(argv[i], xenv)
	}
	e.Args = argv
	for _, s := range setup {
		x, err := expandAll(s, v)
		if err != nil {
			return e, err
		}
		e.Setup = append(e.Setup, x)
	}
	for _, s := range teardown {
		x, err := expandAll(s, v)
		if err != nil {
			return e, err
		}
		e.Teardown = append(e.Teardown, x)
	}

	// The environment: the image's, then containerRunOptions (envFile,
	// envVars), then globalEnvVars, then the test's; values may refer to
	// what came before ($PATH).
	order := []string{}
	env := map[string]string{}
	set := func(k, val string) {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = val
	}
	for _, kv := range cf.Config.Env {
		k, val, _ := strings.Cut(kv, "=")
		set(k, val)
	}
	ro := c.ContainerRunOptions
	if ro.EnvFile != "" {
		kvs, err := readEnvFile(o, ro.EnvFile)
		if err != nil {
			return e, err
		}
		for _, kv := range kvs {
			k, val, _ := strings.Cut(kv, "=")
			set(k, val)
		}
	}
	for _, k := range ro.EnvVars {
		if val, ok := o.lookupEnv(k); ok {
			set(k, val)
		}
	}
	for _, list := range [][]EnvVar{c.GlobalEnvVars, envVars} {
		for _, ev := range list {
			val, err := expand(ev.Value, v)
			if err != nil {
				return e, err
			}
			val = os.Expand(val, func(k string) string { return env[k] })
			set(ev.Key, val)
		}
	}
	for _, k := range order {
		e.Env = append(e.Env, k+"="+env[k])
	}

	e.User = cf.Config.User
	if ro.User != nil {
		e.User = *ro.User
	}
	e.Dir = cf.Config.WorkingDir
	e.Network = ro.Network
	for _, m := range ro.BindMounts {
		bm, err := parseBindMount(m)
		if err != nil {
			return e, err
		}
		src, err := filepath.Abs(bm.Source)
		if err != nil {
			return e, fmt.Errorf("bind mount %q: %w", m, err)
		}
		if err := bindSource(o, src, m); err != nil {
			return e, err
		}
		e.Mounts = append(e.Mounts, Mount{Source: src, Target: bm.Target, ReadOnly: bm.ReadOnly})
	}
	e.Timeout = timeout
	if e.Timeout == 0 {
		e.Timeout = o.timeout
	}
	return e, nil
}

// bindSource creates a bind mount's host directory when it does not
// exist, as docker run -v (which CST uses) does, and says so at -v 1.
func bindSource(o *options, src, m string) error {
	o.mkdirMu.Lock()
	defer o.mkdirMu.Unlock()
	if _, err := os.Lstat(src); err == nil {
		return nil
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		return fmt.Errorf("containerRunOptions.bindMounts %q: the host path %s does not exist and cannot be created (docker would create it): %w; create it yourself or fix the path", m, src, err)
	}
	o.logger.Info("created the host directory of a bind mount, as docker run -v does", "path", src, "bindMount", m)
	return nil
}

// readEnvFile reads a docker --env-file: KEY=value lines, KEY alone takes
// the value from manyarch's environment, # comments and blank lines. A file
// that cannot be read gives nothing (Run warns once, as CST does); a line
// that is not KEY=value is an error.
func readEnvFile(o *options, file string) ([]string, error) {
	data, err := o.readFile(file)
	if err != nil {
		return nil, nil
	}
	var out []string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		t := strings.TrimLeft(line, " \t")
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		k, val, hasValue := strings.Cut(t, "=")
		if k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: %q is not KEY=value", file, i+1, line)
		}
		if !hasValue {
			v, ok := o.lookupEnv(k)
			if !ok {
				continue
			}
			val = v
		}
		out = append(out, k+"="+val)
	}
	return out, nil
}

func runCommand(ctx context.Context, o *options, col *column, c *Config, t *CommandTest) Result {
	if _, err := col.prepare(); err != nil {
		return failed("%v", err)
	}
	cf, err := col.config()
	if err != nil {
		return failed("%v", err)
	}
	spec, err := commandSpec(o, col, cf, c, t.Command, t.Args, t.Setup, t.Teardown, t.EnvVars, t.Timeout)
	if err != nil {
		return failed("%v", err)
	}
	img, err := col.image()
	if err != nil {
		return failed("%v", err)
	}
	t0 := time.Now()
	er, err := o.exec.Run(ctx, Target{Platform: col.platform, Image: img}, spec)
	d := time.Since(t0)
	if err != nil {
		return Result{Status: StatusFail, Duration: d, Failures: []Failure{{Message: fmt.Sprintf("running %s: %v", quoteArgs(spec.Args), err)}}}
	}
	r := Result{Stdout: string(er.Stdout), Stderr: string(er.Stderr), ExitCode: er.ExitCode, Duration: d}
	if er.SetupFailed != nil {
		r.fail(stepFailure("setup", er.SetupFailed, spec.Timeout))
		return finish(r)
	}
	if er.TimedOut {
		r.fail(Failure{Message: fmt.Sprintf("%s timed out after %s and was killed: raise the test's timeout: or --timeout if it needs longer", quoteArgs(spec.Args), spec.Timeout)})
		return finish(r)
	}
	checkOutput(&r, col.vars, "output", r.Stdout, t.ExpectedOutput, t.ExcludedOutput)
	checkOutput(&r, col.vars, "error", r.Stderr, t.ExpectedError, t.ExcludedError)
	if er.ExitCode != t.ExitCode {
		r.fail(Failure{Message: fmt.Sprintf("Test '%s' exited with incorrect error code. Expected: %d, Actual: %d", t.Name, t.ExitCode, er.ExitCode),
			Expected: fmt.Sprint(t.ExitCode), Actual: fmt.Sprint(er.ExitCode)})
	}
	for i := range er.Teardown {
		r.fail(stepFailure("teardown", &er.Teardown[i], spec.Timeout))
	}
	return finish(r)
}

func stepFailure(what string, s *Step, timeout time.Duration) Failure {
	switch {
	case s.Err != "":
		return Failure{Message: fmt.Sprintf("%s command %s could not run: %s", what, quoteArgs(s.Args), s.Err)}
	case s.TimedOut:
		return Failure{Message: fmt.Sprintf("%s command %s timed out (the test's timeout is %s)", what, quoteArgs(s.Args), timeout), Actual: s.Output}
	}
	return Failure{Message: fmt.Sprintf("%s command %s exited with %d", what, quoteArgs(s.Args), s.ExitCode), Expected: "exit status 0", Actual: s.Output}
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// checkOutput applies expected and excluded regular expressions to the
// standard output or error, with CST's messages.
func checkOutput(r *Result, v Vars, stream, text string, expected, excluded []string) {
	for _, pat := range expected {
		re, x, err := compile(pat, v)
		if err != nil {
			r.fail(Failure{Message: err.Error()})
			continue
		}
		if !re.MatchString(text) {
			r.fail(Failure{Message: fmt.Sprintf("Expected string %s not found in %s", showPattern(x), stream), Expected: showPattern(x), Actual: text})
		}
	}
	for _, pat := range excluded {
		re, x, err := compile(pat, v)
		if err != nil {
			r.fail(Failure{Message: err.Error()})
			continue
		}
		if m := re.FindString(text); re.MatchString(text) {
			r.fail(Failure{Message: fmt.Sprintf("Excluded string %s found in %s (matched %q)", showPattern(x), stream, m), Expected: "no match for " + showPattern(x), Actual: text})
		}
	}
}

// showPattern quotes a pattern as CST does ('...'), or as a Go string when
// it holds a newline or another control character, so it shows on one line.
func showPattern(x string) string {
	if strings.ContainsFunc(x, func(r rune) bool { return r < ' ' }) {
		return strconv.Quote(x)
	}
	return "'" + x + "'"
}

func compile(pat string, v Vars) (*regexp.Regexp, string, error) {
	x, err := expand(pat, v)
	if err != nil {
		return nil, "", err
	}
	re, err := regexp.Compile(x)
	if err != nil {
		return nil, x, fmt.Errorf("invalid regular expression %q: %w", x, err)
	}
	return re, x, nil
}

func runFileExistence(col *column, c *Config, t *FileExistenceTest) Result {
	f, err := col.fs()
	if err != nil {
		return failed("%v", err)
	}
	p, err := testPath(col, c, t.Path)
	if err != nil {
		return failed("%v", err)
	}
	var r Result
	e, err := f.stat(p, false)
	switch {
	case err != nil && t.ShouldExist:
		r.fail(Failure{Message: fmt.Sprintf("File %s should exist but does not: %v", p, err)})
		return finish(r)
	case err != nil:
		return finish(r)
	case !t.ShouldExist:
		r.fail(Failure{Message: fmt.Sprintf("File %s should not exist but does", p), Actual: e.mode.String()})
		return finish(r)
	}
	mode := e.mode
	if t.Permissions != "" && mode.String() != t.Permissions {
		r.fail(Failure{Message: fmt.Sprintf("%s has incorrect permissions. Expected: %s, Actual: %s", p, t.Permissions, mode), Expected: t.Permissions, Actual: mode.String()})
	}
	if t.IsExecutableBy != "" {
		bits := map[string]uint32{"owner": 0o100, "group": 0o010, "other": 0o001, "any": 0o111}[t.IsExecutableBy]
		if uint32(mode.Perm())&bits == 0 {
			r.fail(Failure{Message: fmt.Sprintf("%s has incorrect executable bit. Expected to be executable by %s, Actual: %s", p, t.IsExecutableBy, mode), Expected: "executable by " + t.IsExecutableBy, Actual: mode.String()})
		}
	}
	if t.UID >= 0 && e.uid != t.UID {
		r.fail(Failure{Message: fmt.Sprintf("%s has incorrect user ownership. Expected: %d, Actual: %d", p, t.UID, e.uid), Expected: fmt.Sprint(t.UID), Actual: fmt.Sprint(e.uid)})
	}
	if t.GID >= 0 && e.gid != t.GID {
		r.fail(Failure{Message: fmt.Sprintf("%s has incorrect group ownership. Expected: %d, Actual: %d", p, t.GID, e.gid), Expected: fmt.Sprint(t.GID), Actual: fmt.Sprint(e.gid)})
	}
	return finish(r)
}

// testPath substitutes the template variables, then the image's
// environment and c's globalEnvVars, in a test's path.
func testPath(col *column, c *Config, p string) (string, error) {
	x, err := expand(p, col.vars)
	if err != nil {
		return "", err
	}
	if cf, err := col.config(); err == nil {
		env, err := expansionEnv(imageEnv(cf), col.vars, c.GlobalEnvVars)
		if err != nil {
			return "", err
		}
		x = substituteImageEnv(x, env)
	}
	return x, nil
}

func runFileContent(ctx context.Context, col *column, c *Config, t *FileContentTest) Result {
	f, err := col.fs()
	if err != nil {
		return failed("%v", err)
	}
	p, err := testPath(col, c, t.Path)
	if err != nil {
		return failed("%v", err)
	}
	data, errs, err := f.readFiles(ctx, []string{p})
	if err != nil {
		return failed("%v", err)
	}
	if err := errs[p]; err != nil {
		return failed("Failed to open %s. Error: %v", p, err)
	}
	var r Result
	checkOutput(&r, col.vars, "file content of "+p, string(data[p]), t.ExpectedContents, t.ExcludedContents)
	return finish(r)
}

// Licenses CST refuses, and the packages it lets pass anyway.
var (
	refusedLicenses  = []string{"AGPL", "WTFPL"}
	licenseAllowList = []string{"libgnutls30"}
)

const debianDocDir = "/usr/share/doc"

func runLicense(ctx context.Context, col *column, c *Config, t *LicenseTest) Result {
	f, err := col.fs()
	if err != nil {
		return failed("%v", err)
	}
	var r Result
	var files []string
	if t.Debian {
		names, err := f.readDir(debianDocDir)
		if err != nil {
			r.fail(Failure{Message: fmt.Sprintf("Error reading directory %s: %v (licenseTests debian: true needs a Debian-based image)", debianDocDir, err)})
			return finish(r)
		}
		for _, n := range names {
			e, err := f.stat(path.Join(debianDocDir, n), true)
			if err != nil || !e.mode.IsDir() || slices.Contains(licenseAllowList, n) {
				continue
			}
			files = append(files, path.Join(debianDocDir, n, "copyright"))
		}
	}
	for _, p := range t.Files {
		x, err := testPath(col, c, p)
		if err != nil {
			return failed("%v", err)
		}
		files = append(files, x)
	}
	data, errs, err := f.readFiles(ctx, files)
	if err != nil {
		return failed("%v", err)
	}
	for _, p := range files {
		if err := errs[p]; err != nil {
			r.fail(Failure{Message: fmt.Sprintf("Error reading license file %s: %v", p, err)})
			continue
		}
		upper := strings.ToUpper(string(data[p]))
		for _, bad := range refusedLicenses {
			if strings.Contains(upper, bad) {
				r.fail(Failure{Message: fmt.Sprintf("Invalid license for %s, license contains %s", p, bad), Expected: "no " + strings.Join(refusedLicenses, " or "), Actual: bad})
			}
		}
	}
	return finish(r)
}

func runMetadata(col *column, t *MetadataTest) Result {
	cf, err := col.config()
	if err != nil {
		return failed("%v", err)
	}
	v := col.vars
	var r Result
	env := imageEnv(cf)
	matchValue := func(what string, want EnvVar, got string) {
		wantV, err := expand(want.Value, v)
		if err != nil {
			r.fail(Failure{Message: err.Error()})
			return
		}
		ok := wantV == got
		if want.IsRegex {
			re, err := regexp.Compile(wantV)
			if err != nil {
				r.fail(Failure{Message: fmt.Sprintf("invalid regular expression %q: %v", wantV, err)})
				return
			}
			ok = re.MatchString(got)
		}
		if !ok {
			r.fail(Failure{Message: fmt.Sprintf("%s %s value %s does not match expected value: %s", what, want.Key, got, wantV), Expected: wantV, Actual: got})
		}
	}
	for _, e := range t.EnvVars {
		got, ok := env[e.Key]
		if !ok {
			r.fail(Failure{Message: fmt.Sprintf("variable %s not found in image env", e.Key), Expected: e.Key + "=" + e.Value, Actual: strings.Join(cf.Config.Env, "\n")})
			continue
		}
		matchValue("env var", e, got)
	}
	for _, e := range t.UnboundEnvVars {
		if got, ok := env[e.Key]; ok {
			r.fail(Failure{Message: fmt.Sprintf("env variable %s should not be present in image metadata", e.Key), Expected: "no " + e.Key, Actual: e.Key + "=" + got})
		}
	}
	for _, l := range t.Labels {
		got, ok := cf.Config.Labels[l.Key]
		if !ok {
			r.fail(Failure{Message: fmt.Sprintf("label %s not found in image metadata", l.Key), Expected: l.Key + "=" + l.Value})
			continue
		}
		matchValue("label", l, got)
	}
	list := func(what string, want *[]string, got []string) {
		if want == nil {
			return
		}
		w, err := expandAll(*want, v)
		if err != nil {
			r.fail(Failure{Message: err.Error()})
			return
		}
		if !slices.Equal(w, got) && !(len(w) == 0 && len(got) == 0) {
			r.fail(Failure{Message: fmt.Sprintf("Image %s %s does not match expected %s: %s", what, jsonList(got), what, jsonList(w)), Expected: jsonList(w), Actual: jsonList(got)})
		}
	}
	list("entrypoint", t.Entrypoint, cf.Config.Entrypoint)
	list("cmd", t.Cmd, cf.Config.Cmd)
	str := func(what string, want *string, got string, norm func(string) string) {
		if want == nil {
			return
		}
		w, err := expand(*want, v)
		if err != nil {
			r.fail(Failure{Message: err.Error()})
			return
		}
		if norm != nil {
			w, got = norm(w), norm(got)
		}
		if w != got {
			r.fail(Failure{Message: fmt.Sprintf("Image %s %q does not match expected %s: %q", what, got, what, w), Expected: w, Actual: got})
		}
	}
	str("workdir", t.Workdir, cf.Config.WorkingDir, nil)
	str("user", t.User, cf.Config.User, nil)
	str("os", t.OS, cf.OS, nil)
	str("architecture", t.Architecture, cf.Architecture, nil)
	str("variant", t.Variant, cf.Variant, func(s string) string {
		// arm64 and arm64/v8 are the same platform.
		if cf.Architecture == "arm64" && s == "v8" {
			return ""
		}
		return s
	})
	ports := func(port string) bool {
		for p := range cf.Config.ExposedPorts {
			if p == port || strings.SplitN(p, "/", 2)[0] == port {
				return true
			}
		}
		return false
	}
	for _, p := range t.ExposedPorts {
		if !ports(p) {
			r.fail(Failure{Message: fmt.Sprintf("Port %s not found in config", p), Expected: p, Actual: strings.Join(mapKeys(cf.Config.ExposedPorts), " ")})
		}
	}
	for _, p := range t.UnexposedPorts {
		if ports(p) {
			r.fail(Failure{Message: fmt.Sprintf("Port %s should not be exposed", p), Expected: "not " + p, Actual: strings.Join(mapKeys(cf.Config.ExposedPorts), " ")})
		}
	}
	for _, vol := range t.Volumes {
		if _, ok := cf.Config.Volumes[vol]; !ok {
			r.fail(Failure{Message: fmt.Sprintf("Volume %s not found in config", vol), Expected: vol, Actual: strings.Join(mapKeys(cf.Config.Volumes), " ")})
		}
	}
	for _, vol := range t.UnmountedVolumes {
		if _, ok := cf.Config.Volumes[vol]; ok {
			r.fail(Failure{Message: fmt.Sprintf("Volume %s should not be mounted", vol), Expected: "not " + vol, Actual: strings.Join(mapKeys(cf.Config.Volumes), " ")})
		}
	}
	return finish(r)
}

func mapKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func jsonList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// consistencyOutput is one platform's run of a consistency test.
type consistencyOutput struct {
	ran      bool
	output   string // normalized unless the test is raw
	exitCode int
}

func runConsistency(ctx context.Context, o *options, col *column, c *Config, t *ConsistencyTest) (Result, consistencyOutput) {
	if len(t.Invalid) > 0 {
		return invalidResult(t.Invalid), consistencyOutput{}
	}
	if _, err := col.prepare(); err != nil {
		return failed("%v", err), consistencyOutput{}
	}
	cf, err := col.config()
	if err != nil {
		return failed("%v", err), consistencyOutput{}
	}
	spec, err := commandSpec(o, col, cf, c, t.Command, t.Args, t.Setup, t.Teardown, t.EnvVars, t.Timeout)
	if err != nil {
		return failed("%v", err), consistencyOutput{}
	}
	img, err := col.image()
	if err != nil {
		return failed("%v", err), consistencyOutput{}
	}
	t0 := time.Now()
	er, err := o.exec.Run(ctx, Target{Platform: col.platform, Image: img}, spec)
	d := time.Since(t0)
	if err != nil {
		return Result{Status: StatusFail, Duration: d, Failures: []Failure{{Message: fmt.Sprintf("running %s: %v", quoteArgs(spec.Args), err)}}}, consistencyOutput{}
	}
	r := Result{Stdout: string(er.Stdout), Stderr: string(er.Stderr), ExitCode: er.ExitCode, Duration: d}
	switch {
	case er.SetupFailed != nil:
		r.fail(stepFailure("setup", er.SetupFailed, spec.Timeout))
		return r, consistencyOutput{}
	case er.TimedOut:
		r.fail(Failure{Message: fmt.Sprintf("%s timed out after %s and was killed", quoteArgs(spec.Args), spec.Timeout)})
		return r, consistencyOutput{}
	}
	out := r.Stdout
	if t.Stderr {
		out += "\n--- stderr ---\n" + r.Stderr
	}
	if !t.Raw {
		out = normalizeOutput(out, col.vars)
	}
	return r, consistencyOutput{ran: true, output: out, exitCode: er.ExitCode}
}

// compareConsistency fails the platforms whose output or exit status
// differs from the most common one (ties go to the earlier platform).
func compareConsistency(t *ConsistencyTest, cols []*column, results []Result, outs []consistencyOutput) {
	same := func(a, b consistencyOutput) bool {
		if a.exitCode != b.exitCode {
			return false
		}
		if t.Raw {
			return a.output == b.output
		}
		return sameOutput(a.output, b.output)
	}
	ref, best := -1, 0
	for j, o := range outs {
		if !o.ran {
			continue
		}
		n := 0
		for _, p := range outs {
			if p.ran && same(o, p) {
				n++
			}
		}
		if n > best {
			ref, best = j, n
		}
	}
	var refPlatforms []string
	for j, o := range outs {
		if ref >= 0 && o.ran && same(o, outs[ref]) {
			refPlatforms = append(refPlatforms, platform.Format(cols[j].platform))
		}
	}
	show := func(s string) string {
		if t.Raw {
			return s
		}
		return showOutput(s)
	}
	for j, o := range outs {
		r := &results[j]
		if r.Status == StatusSkip {
			continue
		}
		if o.ran {
			if t.ExitCode != nil && o.exitCode != *t.ExitCode {
				r.fail(Failure{Message: fmt.Sprintf("exited with %d, expected %d", o.exitCode, *t.ExitCode), Expected: fmt.Sprint(*t.ExitCode), Actual: fmt.Sprint(o.exitCode)})
			}
			if !same(o, outs[ref]) {
				msg := fmt.Sprintf("output differs from the output of %s", strings.Join(refPlatforms, ", "))
				if o.exitCode != outs[ref].exitCode {
					msg = fmt.Sprintf("exit status %d differs from %d on %s", o.exitCode, outs[ref].exitCode, strings.Join(refPlatforms, ", "))
				}
				r.fail(Failure{Message: msg, Expected: show(outs[ref].output), Actual: show(o.output)})
			}
		}
		*r = finish(*r)
	}
}
