package imagetest

import (
	"context"
	"errors"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
)

const helloTests = `schemaVersion: 2.0.0
commandTests:
- name: greets
  command: /hello
  expectedOutput: ["^Hello, {{.GOARCH}}!\n$"]
consistency:
- name: greeting
  command: /hello
`

func TestHelloEveryPlatformAndPlantedWrongArch(t *testing.T) {
	good := index(t,
		helloImage(t, "linux/amd64", "amd64"),
		helloImage(t, "linux/arm64", "arm64"),
		helloImage(t, "linux/arm/v7", "arm"),
		helloImage(t, "linux/riscv64", "riscv64"),
	)
	c := mustParse(t, helloTests)
	r := run(t, good, &fakeExec{}, []*Config{c})
	if got, want := statuses(r), []string{"pass pass pass pass", "pass pass pass pass"}; !slices.Equal(got, want) {
		t.Fatalf("good image: statuses = %q, want %q", got, want)
	}
	if r.Failed() {
		t.Fatal("good image: Failed() = true")
	}

	// The arm64 entry holds the amd64 program.
	planted := index(t,
		helloImage(t, "linux/amd64", "amd64"),
		helloImage(t, "linux/arm64", "amd64"),
		helloImage(t, "linux/arm/v7", "arm"),
		helloImage(t, "linux/riscv64", "riscv64"),
	)
	r = run(t, planted, &fakeExec{}, []*Config{c})
	if got, want := statuses(r), []string{"pass fail pass pass", "pass fail pass pass"}; !slices.Equal(got, want) {
		t.Fatalf("planted image: statuses = %q, want %q", got, want)
	}
	f := r.Results[0][1].Failures[0]
	if f.Expected != `"^Hello, arm64!\n$"` || f.Actual != "Hello, amd64!\n" {
		t.Errorf("planted failure = %+v, want expected ^Hello, arm64!\\n$ and actual Hello, amd64!\\n", f)
	}
	if !r.Failed() || r.Platforms[1].Fail != 2 || r.Platforms[0].Fail != 0 {
		t.Errorf("summaries = %+v, want 2 failures on linux/arm64 only", r.Platforms)
	}
}

func TestCommandSpec(t *testing.T) {
	c := mustParse(t, `schemaVersion: 2.0.0
globalEnvVars:
- {key: GLOBAL, value: "g-{{.Arch}}"}
- {key: PATH, value: "/env/bin:$PATH"}
commandTests:
- name: spec
  setup: [["touch", "/tmp/{{.GOARCH}}"], ["true"]]
  teardown: [["rm", "/tmp/x"]]
  envVars:
  - {key: LOCAL, value: "$GLOBAL-local"}
  command: echo
  args: ["$HOME", "$UNSET", "{{.UnameMachine}}"]
  timeout: 7s
containerRunOptions:
  user: nobody
  envVars: [FROM_HOST, NOT_SET]
  envFile: my.env
  bindMounts: ["BIND/data:/data:ro", "BIND/tmp:/host-tmp"]
  network: none
`)
	bind := t.TempDir()
	c.ContainerRunOptions.BindMounts = []string{bind + "/data:/data:ro", bind + "/tmp:/host-tmp"}
	img := image(t, "linux/arm64", v1.Config{Env: []string{"PATH=/usr/bin:/bin", "HOME=/root"}, User: "root", WorkingDir: "/work"}, layer(t, file("x", "", 0o644)))
	x := &fakeExec{}
	lookup := func(k string) (string, bool) {
		if k == "FROM_HOST" || k == "FROM_FILE_HOST" {
			return "host-" + k, true
		}
		return "", false
	}
	read := func(name string) ([]byte, error) {
		if name != "my.env" {
			return nil, errors.New("no such file")
		}
		return []byte("# comment\n\nFILE=1\nFROM_FILE_HOST\n"), nil
	}
	r := run(t, img, x, []*Config{c}, WithEnviron(lookup, read))
	if r.Failed() {
		t.Fatalf("run failed: %+v", r.Results)
	}
	e := x.runs[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"Args", e.Args, []string{"echo", "/root", "${UNSET}", "aarch64"}},
		{"Setup", e.Setup, [][]string{{"touch", "/tmp/arm64"}, {"true"}}},
		{"Teardown", e.Teardown, [][]string{{"rm", "/tmp/x"}}},
		{"Env", e.Env, []string{"PATH=/env/bin:/usr/bin:/bin", "HOME=/root", "FILE=1", "FROM_FILE_HOST=host-FROM_FILE_HOST", "FROM_HOST=host-FROM_HOST", "GLOBAL=g-arm64", "LOCAL=g-arm64-local"}},
		{"User", e.User, "nobody"},
		{"Dir", e.Dir, "/work"},
		{"Network", e.Network, "none"},
		{"Mounts", e.Mounts, []Mount{{Source: bind + "/data", Target: "/data", ReadOnly: true}, {Source: bind + "/tmp", Target: "/host-tmp"}}},
		{"Timeout", e.Timeout, 7 * time.Second},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("Exec.%s = %q, want %q", c.what, c.got, c.want)
		}
	}
}

func TestCommandChecks(t *testing.T) {
	c := mustParse(t, `schemaVersion: 2.0.0
commandTests:
- name: exit code
  command: fail
  args: ["3"]
  exitCode: 3
  expectedError: ["failing with 3"]
  excludedError: ["panic"]
  excludedOutput: [".+"]
- name: wrong exit code
  command: fail
  args: ["1"]
- name: excluded output present
  command: echo
  args: [secret]
  excludedOutput: ["sec.et"]
- name: hangs
  command: sleep
  timeout: 1s
- name: runs after the hang
  command: echo
  args: [still here]
  expectedOutput: [still here]
- name: setup fails
  setup: [["fail"]]
  command: echo
- name: teardown fails
  command: echo
  teardown: [["fail"]]
`)
	r := run(t, image(t, "linux/amd64", v1.Config{}, layer(t)), &fakeExec{}, []*Config{c})
	want := []string{"pass", "fail", "fail", "fail", "pass", "fail", "fail"}
	if got := statuses(r); !slices.Equal(got, want) {
		t.Fatalf("statuses = %q, want %q", got, want)
	}
	msgs := func(i int) string {
		var s []string
		for _, f := range r.Results[i][0].Failures {
			s = append(s, f.Message)
		}
		return strings.Join(s, "; ")
	}
	for i, want := range map[int]string{
		1: "exited with incorrect error code. Expected: 0, Actual: 1",
		2: "Excluded string 'sec.et' found in output",
		3: "timed out after 1s",
		5: "setup command [\"fail\"] exited with 1",
		6: "teardown command [\"fail\"] exited with 2",
	} {
		if !strings.Contains(msgs(i), want) {
			t.Errorf("%s: failures %q do not mention %q", r.Tests[i].Name, msgs(i), want)
		}
	}
}

func TestPlatformSelection(t *testing.T) {
	idx := index(t, helloImage(t, "linux/amd64", "amd64"), helloImage(t, "linux/arm64", "arm64"), helloImage(t, "linux/s390x", "s390x"))
	c := mustParse(t, `schemaVersion: 2.0.0
commandTests:
- name: only arm64
  command: /hello
  expectedOutput: ["arm64"]
  platforms: [arm64]
- name: riscv64 the image lacks
  command: /hello
  platforms: linux/riscv64,linux/amd64
`)
	r := run(t, idx, &fakeExec{}, []*Config{c})
	if got, want := statuses(r), []string{"skip pass skip", "pass skip skip"}; !slices.Equal(got, want) {
		t.Errorf("statuses = %q, want %q", got, want)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "names platform linux/riscv64, which the image does not have") {
		t.Errorf("warnings = %q, want one about linux/riscv64", r.Warnings)
	}

	// --platform narrows the run.
	r = run(t, idx, &fakeExec{}, []*Config{c}, WithPlatforms(mustPlatform(t, "linux/s390x"), mustPlatform(t, "linux/arm64")))
	var got []string
	for _, p := range r.Platforms {
		got = append(got, platform.Format(p.Platform))
	}
	if want := []string{"linux/s390x", "linux/arm64"}; !slices.Equal(got, want) {
		t.Errorf("platforms = %q, want %q", got, want)
	}

	// A platform the image lacks is an error naming what it has.
	_, err := Run(context.Background(), idx, []*Config{c}, WithExecutor(&fakeExec{}), WithPlatforms(mustPlatform(t, "linux/ppc64le")))
	var npe *ref.NoPlatformError
	if !errors.As(err, &npe) || !strings.Contains(err.Error(), "linux/amd64, linux/arm64, linux/s390x") {
		t.Errorf("Run with a missing platform: err = %v, want a NoPlatformError listing the image's platforms", err)
	}
}

func mustPlatform(t testing.TB, s string) (p specs.Platform) {
	t.Helper()
	p, err := platform.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNoExecutor(t *testing.T) {
	c := mustParse(t, "schemaVersion: 2.0.0\ncommandTests: [{name: x, command: echo}]\n")
	_, err := Run(context.Background(), helloImage(t, "linux/amd64", "amd64"), []*Config{c})
	if !errors.Is(err, ErrNoExecutor) {
		t.Errorf("Run without an executor: err = %v, want ErrNoExecutor", err)
	}
}

func TestPrepareErrorFailsTheColumn(t *testing.T) {
	idx := index(t, helloImage(t, "linux/amd64", "amd64"), helloImage(t, "linux/riscv64", "riscv64"))
	x := &fakeExec{prepErr: map[string]error{"linux/riscv64": errors.New("linux/riscv64 needs an emulator: install qemu-user-static")}}
	c := mustParse(t, helloTests+"fileExistenceTests: [{name: hello, path: /hello}]\n")
	r := run(t, idx, x, []*Config{c})
	if got, want := statuses(r), []string{"pass fail", "pass pass", "pass fail"}; !slices.Equal(got, want) {
		t.Fatalf("statuses = %q, want %q", got, want)
	}
	if msg := r.Results[0][1].Failures[0].Message; !strings.Contains(msg, "install qemu-user-static") {
		t.Errorf("failure = %q, want the executor's advice", msg)
	}
	if !strings.Contains(r.Platforms[1].Err, "needs an emulator") {
		t.Errorf("platform error = %q, want the prepare error", r.Platforms[1].Err)
	}
}

// noConfigImage is an image whose config blob cannot be read.
type noConfigImage struct{ v1.Image }

func (noConfigImage) ConfigFile() (*v1.ConfigFile, error) {
	return nil, errors.New("blob sha256:0123 not found")
}
func (noConfigImage) RawConfigFile() ([]byte, error) {
	return nil, errors.New("blob sha256:0123 not found")
}

func TestImageWithNoConfigFile(t *testing.T) {
	img := noConfigImage{helloImage(t, "linux/amd64", "amd64")}
	c := mustParse(t, helloTests+"metadataTest: {cmd: []}\n")
	r, err := Run(context.Background(), img, []*Config{c}, WithExecutor(&fakeExec{}))
	if err == nil {
		// Entries needs the config of a lone image to know its platform.
		t.Fatalf("Run = %v, want an error", statuses(r))
	}
	if !strings.Contains(err.Error(), "the image has no readable config file") || !strings.Contains(err.Error(), "not found") {
		t.Errorf("err = %v, want the config read error", err)
	}

	// In an index the platform is known and the column fails.
	idx := mutate.AppendManifests(index(t, helloImage(t, "linux/arm64", "arm64")),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	r = run(t, idx, &fakeExec{}, []*Config{c})
	if got, want := statuses(r), []string{"pass fail", "pass fail", "pass fail"}; !slices.Equal(got, want) {
		t.Fatalf("statuses = %q, want %q", got, want)
	}
	if msg := r.Results[2][1].Failures[0].Message; !strings.Contains(msg, "linux/amd64: the image has no readable config file") {
		t.Errorf("failure = %q, want it to name the platform and the missing config", msg)
	}
}

func TestEmptyConfigFile(t *testing.T) {
	img := helloImage(t, "linux/amd64", "amd64")
	empty, err := mutate.ConfigFile(img, &v1.ConfigFile{})
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(index(t, helloImage(t, "linux/arm64", "arm64")),
		mutate.IndexAddendum{Add: empty, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	r := run(t, idx, &fakeExec{}, []*Config{mustParse(t, "schemaVersion: 2.0.0\nmetadataTest: {cmd: []}\n")})
	if got := statuses(r); !slices.Equal(got, []string{"pass fail"}) {
		t.Fatalf("statuses = %q, want pass fail", got)
	}
	if msg := r.Results[0][1].Failures[0].Message; !strings.Contains(msg, "config file is empty") {
		t.Errorf("failure = %q", msg)
	}
}

func TestConsistency(t *testing.T) {
	idx := index(t,
		image(t, "linux/amd64", v1.Config{}, layer(t, file("out", "uname: x86_64 on linux/amd64 (amd64)\n", 0o644))),
		image(t, "linux/arm64", v1.Config{}, layer(t, file("out", "uname: aarch64 on linux/arm64 (arm64)\n", 0o644))),
		image(t, "linux/riscv64", v1.Config{}, layer(t, file("out", "uname: riscv64 on linux/riscv64 (riscv64)\n", 0o644))),
		image(t, "linux/s390x", v1.Config{}, layer(t, file("out", "uname: s390x on linux/s390x (amd64)\n", 0o644))),
	)
	c := mustParse(t, `schemaVersion: 2.0.0
consistency:
- name: normalized
  command: cat
  args: [/out]
- name: raw
  command: cat
  args: [/out]
  raw: true
`)
	r := run(t, idx, &fakeExec{}, []*Config{c})
	if got, want := statuses(r), []string{"pass pass pass fail", "pass fail fail fail"}; !slices.Equal(got, want) {
		t.Fatalf("statuses = %q, want %q", got, want)
	}
	f := r.Results[0][3].Failures[0]
	if f.Expected != "uname: {{.UnameMachine}} on {{.Platform}} ({{.GOARCH}})\n" || f.Actual != "uname: {{.GOARCH}} on {{.Platform}} (amd64)\n" {
		t.Errorf("failure = %+v", f)
	}
}

func TestNormalizeOutput(t *testing.T) {
	cases := []struct{ p, out, shown string }{
		{"linux/amd64", "Hello, amd64! x86_64 linux/amd64 amd64x", "Hello, {{.GOARCH}}! {{.UnameMachine}} {{.Platform}} amd64x"},
		{"linux/arm/v7", "armv7l arm v7 linux/arm/v7", "{{.UnameMachine}} {{.GOARCH}} {{.Variant}} {{.Platform}}"},
		{"linux/riscv64", "riscv64", "{{.GOARCH}}"},
	}
	for _, c := range cases {
		got := showOutput(normalizeOutput(c.out, VarsFor(mustPlatform(t, c.p))))
		if got != c.shown {
			t.Errorf("normalizeOutput(%q) on %s = %q, want %q", c.out, c.p, got, c.shown)
		}
	}
	// riscv64's uname -m is its GOARCH: it matches amd64's x86_64 as
	// {{.UnameMachine}} and amd64's amd64 as {{.GOARCH}}.
	rv := normalizeOutput("riscv64", VarsFor(mustPlatform(t, "linux/riscv64")))
	for _, s := range []string{"x86_64", "amd64"} {
		if !sameOutput(rv, normalizeOutput(s, VarsFor(mustPlatform(t, "linux/amd64")))) {
			t.Errorf("sameOutput(riscv64 on riscv64, %s on amd64) = false, want true", s)
		}
	}
	if sameOutput(normalizeOutput("x86_64", VarsFor(mustPlatform(t, "linux/amd64"))), normalizeOutput("arm64", VarsFor(mustPlatform(t, "linux/arm64")))) {
		t.Error("sameOutput(x86_64 on amd64, arm64 on arm64) = true, want false: uname -m against GOARCH")
	}
}

func TestEmulationOverhead(t *testing.T) {
	idx := index(t, helloImage(t, "linux/amd64", "amd64"), helloImage(t, "linux/arm64", "arm64"))
	x := &slowExec{fakeExec: fakeExec{emulated: map[string]bool{"linux/arm64": true}}}
	r := run(t, idx, x, []*Config{mustParse(t, helloTests)})
	p := r.Platforms
	if p[0].Emulation != "native" || p[1].Emulation != "fake qemu" || !p[1].Emulated {
		t.Fatalf("emulation = %q, %q", p[0].Emulation, p[1].Emulation)
	}
	// The fake takes 20x longer emulated; the bound leaves room for a
	// loaded machine stretching the native sleeps.
	if p[0].Overhead != 0 || p[1].Overhead < 2 {
		t.Errorf("overheads = %.2f, %.2f; want 0 for the native platform and about 20 for the emulated one", p[0].Overhead, p[1].Overhead)
	}
}

// slowExec takes 5ms per native command and 100ms per emulated one.
type slowExec struct{ fakeExec }

func (s *slowExec) Run(ctx context.Context, t Target, e Exec) (ExecResult, error) {
	d := 5 * time.Millisecond
	if t.Platform.Architecture != "amd64" {
		d = 100 * time.Millisecond
	}
	time.Sleep(d)
	return s.fakeExec.Run(ctx, t, e)
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, helloImage(t, "linux/amd64", "amd64"), []*Config{mustParse(t, helloTests)}, WithExecutor(&fakeExec{}))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context: err = %v, want context.Canceled", err)
	}
}

// TestEnvFileUnreadable: CST warns about an envFile it cannot read and runs
// the tests without it (measured side by side with CST v1.22.0).
func TestEnvFileUnreadable(t *testing.T) {
	c := mustParse(t, `schemaVersion: 2.0.0
commandTests:
- name: runs
  command: echo
containerRunOptions:
  envFile: no/such/.env
`)
	img := image(t, "linux/arm64", v1.Config{Env: []string{"PATH=/usr/bin:/bin"}}, layer(t, file("x", "", 0o644)))
	x := &fakeExec{}
	read := func(name string) ([]byte, error) { return nil, fs.ErrNotExist }
	r := run(t, img, x, []*Config{c}, WithEnviron(func(string) (string, bool) { return "", false }, read))
	if r.Failed() {
		t.Errorf("a run with an unreadable envFile failed: %+v; want the tests run without it, as CST does", r.Results)
	}
	if len(x.runs) != 1 {
		t.Errorf("commands run = %d, want 1", len(x.runs))
	}
	found := false
	for _, w := range r.Warnings {
		found = found || strings.Contains(w, "containerRunOptions.envFile")
	}
	if !found {
		t.Errorf("warnings = %q, want one naming containerRunOptions.envFile", r.Warnings)
	}
}
