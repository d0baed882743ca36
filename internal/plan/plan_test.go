//go:build unix

package plan_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/plan/plantest"
	"github.com/manyarch/manyarch/internal/platform"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/dockerfile")

const goldenDir = "../../testdata/dockerfile"

// TestGolden plans every testdata/dockerfile/*.Dockerfile and compares the
// rendered plan (or the error, for error-*.Dockerfile) with NAME.plan.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no Dockerfiles in %s", goldenDir)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".Dockerfile")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			opts := plantest.Options(t, string(src))
			r := &plantest.Resolver{}
			opts.ResolveBase = r.Resolve
			got := render(t, name, src, opts)
			golden := filepath.Join(goldenDir, name+".plan")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("plan of %s differs from %s (go test -update rewrites it):\n%s", path, golden, diffLines(string(want), got))
			}
			for call, n := range r.Calls {
				if n != 1 {
					t.Errorf("ResolveBase(%s) called %d times, want once", call, n)
				}
			}
		})
	}
}

func render(t *testing.T, name string, src []byte, opts plan.Options) string {
	t.Helper()
	ctx := context.Background()
	f, err := dockerfile.Parse(ctx, name+".Dockerfile", strings.NewReader(string(src)))
	if err == nil {
		var p *plan.Plan
		p, err = plan.New(ctx, f, opts)
		if err == nil {
			if strings.HasPrefix(name, "error-") {
				t.Errorf("%s planned without error, want an error", name)
			}
			return p.String()
		}
	}
	var de *dockerfile.Error
	if !errors.As(err, &de) {
		t.Errorf("error %v is %T, want a *dockerfile.Error", err, err)
	}
	if !strings.HasPrefix(name, "error-") {
		t.Errorf("%s: unexpected error: %v", name, err)
	}
	return "error: " + err.Error() + "\n"
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
		}
	}
	return b.String()
}

var (
	amd64 = specs.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = specs.Platform{OS: "linux", Architecture: "arm64"}
	armv7 = specs.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
)

// TestSharedNativeStage checks that a $BUILDPLATFORM stage without TARGET*
// arguments is planned once for three targets, and one using TARGETARCH is not.
func TestSharedNativeStage(t *testing.T) {
	src := `FROM --platform=$BUILDPLATFORM busybox AS tools
RUN echo tools > /tools
FROM --platform=$BUILDPLATFORM busybox AS cross
ARG TARGETARCH
RUN echo $TARGETARCH > /arch
FROM busybox
COPY --from=tools /tools /tools
COPY --from=cross /arch /arch
`
	p := plantest.Plan(t, src, plan.Options{Platforms: []specs.Platform{amd64, arm64, armv7}, BuildPlatform: amd64})
	count := map[string]int{}
	for _, s := range p.Stages {
		count[s.Name]++
	}
	want := map[string]int{"tools": 1, "cross": 3, "stage-2": 3}
	for name, n := range want {
		if count[name] != n {
			t.Errorf("stage %s planned %d times, want %d", name, count[name], n)
		}
	}
	for _, pp := range p.Platforms {
		tools := pp.Stages[0]
		if tools.Name != "tools" || !tools.Shared() || len(tools.Targets) != 3 {
			t.Errorf("%s: first stage %s shared=%v targets=%v, want tools shared by 3", platforms.Format(pp.Platform), tools.Name, tools.Shared(), tools.Targets)
		}
		if got := pp.Result.Steps[0].Copy.From.Stage; got != tools {
			t.Errorf("%s: COPY --from=tools points at %p, want the shared stage %p", platforms.Format(pp.Platform), got, tools)
		}
		if !platforms.Only(amd64).Match(pp.Stages[1].Platform) {
			t.Errorf("cross stage platform = %v, want the build platform", pp.Stages[1].Platform)
		}
		if !platforms.Only(pp.Platform).Match(pp.Result.Platform) {
			t.Errorf("result platform = %v, want %v", pp.Result.Platform, pp.Platform)
		}
	}
}

// TestPlatformArgs checks the automatic arguments against BuildKit's values.
func TestPlatformArgs(t *testing.T) {
	src := `FROM busybox
ARG BUILDPLATFORM BUILDOS BUILDARCH BUILDVARIANT TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT TARGETSTAGE
RUN env
`
	tests := []struct {
		target specs.Platform
		want   []string
	}{
		{arm64, []string{"TARGETPLATFORM=linux/arm64", "TARGETOS=linux", "TARGETARCH=arm64", "TARGETVARIANT="}},
		{specs.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, []string{"TARGETPLATFORM=linux/arm64", "TARGETVARIANT="}},
		{armv7, []string{"TARGETPLATFORM=linux/arm/v7", "TARGETARCH=arm", "TARGETVARIANT=v7"}},
		{specs.Platform{OS: "linux", Architecture: "arm"}, []string{"TARGETPLATFORM=linux/arm/v7", "TARGETVARIANT=v7"}},
		{amd64, []string{"BUILDPLATFORM=linux/amd64", "BUILDOS=linux", "BUILDARCH=amd64", "BUILDVARIANT=", "TARGETSTAGE=default"}},
	}
	for _, tt := range tests {
		t.Run(platforms.Format(tt.target), func(t *testing.T) {
			p := plantest.Plan(t, src, plan.Options{Platforms: []specs.Platform{tt.target}, BuildPlatform: amd64})
			env := p.Platforms[0].Result.Steps[1].Env
			for _, w := range tt.want {
				found := false
				for _, e := range env {
					found = found || e == w
				}
				if !found {
					t.Errorf("RUN env = %q, want it to hold %q", env, w)
				}
			}
		})
	}
}

// TestErrors checks error kinds and locations.
func TestErrors(t *testing.T) {
	tests := []struct {
		name, src string
		opts      plan.Options
		kind      error
		want      string
	}{
		{"unknown instruction", "FROM busybox\n\nRUNN echo\n", plan.Options{}, dockerfile.ErrUnknownInstruction,
			`Dockerfile:3: unknown instruction: "RUNN" (did you mean RUN?)`},
		{"bad flag", "FROM busybox\nCOPY --form=x a b\n", plan.Options{}, dockerfile.ErrBadFlag,
			"Dockerfile:2:6: COPY unknown flag: --form (did you mean from?)"},
		{"bad network", "FROM busybox\nRUN --network=bogus true\n", plan.Options{}, dockerfile.ErrBadFlag,
			`Dockerfile:2: RUN invalid network mode "bogus"`},
		{"missing target", "FROM busybox AS a\nFROM a AS b\n", plan.Options{Target: "c"}, dockerfile.ErrStageNotFound,
			`Dockerfile: target stage "c" could not be found (did you mean a?)`},
		{"bad index", "FROM busybox\nCOPY --from=3 /a /b\n", plan.Options{}, dockerfile.ErrStageNotFound,
			"Dockerfile:2: COPY --from=3: invalid stage index 3: the Dockerfile has stages 0 to 0"},
		{"later stage", "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\n", plan.Options{Target: "a"}, dockerfile.ErrStageNotFound,
			`Dockerfile:2: COPY: cannot copy from stage "b", it needs to be defined before current stage "a"`},
		{"cycle", "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n", plan.Options{Target: "b"}, dockerfile.ErrCycle,
			"Dockerfile:2: circular dependency detected on stage a: a -> b -> a (COPY at Dockerfile:2, COPY at Dockerfile:4)"},
		{"self", "FROM busybox AS a\nRUN --mount=from=a,target=/x true\n", plan.Options{}, dockerfile.ErrCycle,
			"Dockerfile:2: circular dependency detected on stage a: a -> a (RUN at Dockerfile:2)"},
		{"duplicate", "FROM busybox AS a\nFROM busybox AS A\n", plan.Options{}, dockerfile.ErrDuplicateStage,
			`Dockerfile:2: duplicate stage name "a", first defined at Dockerfile:1: give each stage its own name`},
		{"blank base", "ARG IMG\nFROM $IMG\n", plan.Options{}, dockerfile.ErrExpansion,
			"Dockerfile:2: base name ($IMG) should not be blank: define the ARG before the first FROM or pass --build-arg"},
		{"required var", "FROM busybox\nARG V\nENV X=\"${V:?set V with --build-arg}\"\n", plan.Options{}, dockerfile.ErrExpansion,
			"set V with --build-arg"},
		{"from var", "ARG S=a\nFROM busybox AS a\nFROM busybox\nCOPY --from=$S /x /x\n", plan.Options{}, dockerfile.ErrExpansion,
			"variable expansion is not supported for --from"},
		{"missing image", "FROM nosuchimage\n", plan.Options{}, dockerfile.ErrBaseImage,
			"Dockerfile:1: resolving base image nosuchimage for linux/amd64: image nosuchimage not found"},
		{"run before from", "RUN true\nFROM busybox\n", plan.Options{}, dockerfile.ErrNoStage,
			"Dockerfile:1: RUN before the first FROM: only ARG may come before FROM"},
		{"empty", "# just a comment\n", plan.Options{}, dockerfile.ErrEmpty, "Dockerfile: the Dockerfile has no instructions"},
		{"bad signal", "FROM busybox\nSTOPSIGNAL SIGFOO\n", plan.Options{}, dockerfile.ErrInvalidValue, "Dockerfile:2: STOPSIGNAL SIGFOO: invalid signal"},
		{"copy url", "FROM busybox\nCOPY https://example.com/a /a\n", plan.Options{}, dockerfile.ErrInvalidValue, "source can't be a URL for COPY"},
		{"bad chmod", "FROM busybox\nCOPY --chmod=8888 a /a\n", plan.Options{}, dockerfile.ErrInvalidValue, "invalid chmod parameter"},
		{"bad platform", "FROM --platform=nope busybox\n", plan.Options{}, dockerfile.ErrInvalidValue, "Dockerfile:1: FROM --platform=nope"},
		{"unterminated heredoc", "FROM busybox\nRUN <<EOF\necho hi\n", plan.Options{}, dockerfile.ErrSyntax, "unterminated heredoc"},
		{"chown wraps", "FROM busybox\nCOPY --chown=4294967296:0 a /a\n", plan.Options{}, dockerfile.ErrInvalidValue,
			"Dockerfile:2: COPY: --chown=4294967296:0: uid 4294967296 is out of range: want a number from 0 to 2147483647"},
		{"chown negative", "FROM busybox\nADD --chown=0:-1 a /a\n", plan.Options{}, dockerfile.ErrInvalidValue,
			"Dockerfile:2: ADD: --chown=0:-1: gid -1 is out of range"},
		{"chown arg", "FROM busybox\nARG U=-1\nCOPY --chown=$U a /a\n", plan.Options{}, dockerfile.ErrInvalidValue,
			"Dockerfile:3: COPY: --chown=-1: uid -1 is out of range"},
		{"bare run", "FROM busybox\nRUN\n", plan.Options{}, dockerfile.ErrInvalidValue,
			"Dockerfile:2: RUN: there is no command to run"},
		{"empty exec run", "FROM busybox\nRUN []\n", plan.Options{}, dockerfile.ErrInvalidValue,
			"Dockerfile:2: RUN: there is no command to run"},
		{"empty user", "FROM busybox\nUSER \"\"\n", plan.Options{}, dockerfile.ErrInvalidValue,
			`Dockerfile:2: USER "": the user is empty`},
		{"unset user", "FROM busybox\nARG U\nUSER $U\n", plan.Options{}, dockerfile.ErrInvalidValue,
			"Dockerfile:3: USER $U: the user is empty"},
		{"empty workdir", "FROM busybox\nWORKDIR \"\"\n", plan.Options{}, dockerfile.ErrInvalidValue,
			`Dockerfile:2: WORKDIR "": the path is empty`},
		{"unset workdir", "FROM busybox\nARG W\nWORKDIR ${W}\n", plan.Options{}, dockerfile.ErrInvalidValue,
			"Dockerfile:3: WORKDIR ${W}: the path is empty"},
		{"mount root", "FROM busybox\nRUN --mount=type=cache,target=/ true\n", plan.Options{}, dockerfile.ErrBadFlag, "invalid mount target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f, err := dockerfile.Parse(ctx, "Dockerfile", strings.NewReader(tt.src))
			if err == nil {
				tt.opts.ResolveBase = (&plantest.Resolver{}).Resolve
				_, err = plan.New(ctx, f, tt.opts)
			}
			if err == nil {
				t.Fatalf("planning %q succeeded, want an error containing %q", tt.src, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q is not %v", err, tt.kind)
			}
			var de *dockerfile.Error
			if !errors.As(err, &de) {
				t.Errorf("error %q is %T, want *dockerfile.Error", err, err)
			}
		})
	}
}

// TestUnusedBuildArg checks the warning for --build-arg values no ARG uses.
func TestUnusedBuildArg(t *testing.T) {
	src := "ARG USED\nFROM busybox\nARG ALSO\nRUN true\n"
	p := plantest.Plan(t, src, plan.Options{BuildArgs: map[string]string{"USED": "1", "ALSO": "2", "UNUSED": "3", "HTTP_PROXY": "x", "TARGETARCH": "arm64"}})
	var got []string
	for _, w := range p.Warnings {
		if w.Rule == "UnusedBuildArg" {
			got = append(got, w.Message)
		}
	}
	sort.Strings(got)
	want := []string{"build-arg UNUSED was not consumed: no ARG UNUSED is in scope in the stages built"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("unused build-arg warnings = %q, want %q", got, want)
	}
}

// TestKeysChange checks that step keys change exactly when an input changes.
func TestKeysChange(t *testing.T) {
	base := "FROM busybox\nARG V=1\nRUN echo $V\nCOPY a /a\n"
	key := func(src string, args map[string]string) []string {
		p := plantest.Plan(t, src, plan.Options{BuildArgs: args})
		var out []string
		for _, s := range p.Platforms[0].Result.Steps {
			out = append(out, s.Key)
		}
		return out
	}
	k0 := key(base, nil)
	if k1 := key(base, nil); strings.Join(k0, ",") != strings.Join(k1, ",") {
		t.Errorf("keys differ between two plans of the same input: %v vs %v", k0, k1)
	}
	k2 := key(base, map[string]string{"V": "2"})
	for i := range k0 {
		if k0[i] == k2[i] {
			t.Errorf("step %d key unchanged by --build-arg V=2", i)
		}
	}
	k3 := key("FROM busybox\nARG V=1\nRUN echo $V\nCOPY b /a\n", nil)
	if k3[1] != k0[1] || k3[2] == k0[2] {
		t.Errorf("editing the COPY source: RUN key changed=%v, COPY key changed=%v; want false, true", k3[1] != k0[1], k3[2] != k0[2])
	}
}

// TestResolveBaseErrorUnwraps checks that the resolver's error stays
// reachable through the located error, and that ctx reaches the resolver.
func TestResolveBaseErrorUnwraps(t *testing.T) {
	errMissing := errors.New("not in the store")
	f, err := dockerfile.Parse(context.Background(), "Dockerfile", strings.NewReader("FROM busybox\nFROM app:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	_, err = plan.New(ctx, f, plan.Options{ResolveBase: func(ctx context.Context, ref string, p specs.Platform) (*v1.ConfigFile, error) {
		if ctx.Value(key{}) != "v" {
			t.Errorf("ResolveBase got a context without the caller's values")
		}
		return nil, fmt.Errorf("%s: %w", ref, errMissing)
	}})
	if !errors.Is(err, errMissing) || !errors.Is(err, dockerfile.ErrBaseImage) {
		t.Errorf("New error = %v, want it to wrap the resolver's error and ErrBaseImage", err)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "Dockerfile:2: resolving base image app:1 for ") {
		t.Errorf("New error = %v, want it located at the FROM app:1 (the busybox stage is pruned)", err)
	}
}

func TestDuplicatePlatforms(t *testing.T) {
	f, err := dockerfile.Parse(context.Background(), "Dockerfile", strings.NewReader("FROM busybox\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = plan.New(context.Background(), f, plan.Options{Platforms: []specs.Platform{arm64, {OS: "linux", Architecture: "arm64", Variant: "v8"}}})
	if err == nil || !strings.Contains(err.Error(), "linux/arm64 is given twice") {
		t.Errorf("New with arm64 twice = %v, want an error naming linux/arm64", err)
	}
}

// TestLintError checks "# check=error=true": lint warnings fail the plan,
// manyarch's own warnings do not, and skipped rules do not count.
func TestLintError(t *testing.T) {
	tests := []struct {
		src  string
		want string // "" = no error
	}{
		{"# check=error=true\nFROM busybox\nCMD echo hi\n", "lint violation found for rules: JSONArgsRecommended"},
		{"# check=error=true;skip=JSONArgsRecommended\nFROM busybox\nCMD echo hi\n", ""},
		{"# check=error=true\nFROM busybox\nCMD [\"echo\"]\n", ""},
		{"FROM busybox\nCMD echo hi\n", ""},
	}
	for _, tt := range tests {
		f, err := dockerfile.Parse(context.Background(), "Dockerfile", strings.NewReader(tt.src))
		if err != nil {
			t.Fatal(err)
		}
		_, err = plan.New(context.Background(), f, plan.Options{
			BuildArgs:   map[string]string{"UNUSED": "1"},
			ResolveBase: (&plantest.Resolver{}).Resolve,
		})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("plan.New(%q) = %v, want no error", tt.src, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, dockerfile.ErrLint)):
			t.Errorf("plan.New(%q) = %v, want an ErrLint error containing %q", tt.src, err, tt.want)
		}
	}
}

// TestConcurrentPlans plans one parsed File from several goroutines (run
// with -race): a File is shared read-only and plans are deterministic.
func TestConcurrentPlans(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(goldenDir, "instructions.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := dockerfile.Parse(context.Background(), "instructions.Dockerfile", strings.NewReader(string(src)))
	if err != nil {
		t.Fatal(err)
	}
	opts := plantest.Options(t, string(src))
	out := make([]string, 6)
	done := make(chan struct{})
	for i := range out {
		go func() {
			defer func() { done <- struct{}{} }()
			o := opts
			o.ResolveBase = (&plantest.Resolver{}).Resolve
			p, err := plan.New(context.Background(), f, o)
			if err != nil {
				out[i] = err.Error()
				return
			}
			out[i] = p.String()
		}()
	}
	for range out {
		<-done
	}
	for i := range out {
		if out[i] != out[0] {
			t.Fatalf("plan %d differs from plan 0:\n%s", i, diffLines(out[0], out[i]))
		}
	}
}

// TestArmelMeansArmV5 checks that linux/armel means what platform.Parse
// says (linux/arm/v5; containerd's Normalize says linux/arm/v6) whether it
// comes as a target platform (TARGETPLATFORM, stage key) or as FROM
// --platform of a linux/amd64 build (the stage's and its base's platform).
func TestArmelMeansArmV5(t *testing.T) {
	want, err := platform.Parse("linux/armel")
	if err != nil {
		t.Fatal(err)
	}
	if platform.Format(want) != "linux/arm/v5" {
		t.Fatalf("platform.Parse(linux/armel) = %s, want linux/arm/v5", platform.Format(want))
	}
	src := "FROM busybox\nARG TARGETPLATFORM\nRUN echo $TARGETPLATFORM\n"
	pinned := "FROM --platform=linux/armel busybox\nARG TARGETPLATFORM\nRUN echo $TARGETPLATFORM\n"
	reference := plantest.Plan(t, src, plan.Options{Platforms: []specs.Platform{want}, BuildPlatform: amd64})
	tests := []struct {
		name, src string
		target    specs.Platform
	}{
		{"--platform linux/armel", src, specs.Platform{OS: "linux", Architecture: "armel"}},
		{"FROM --platform=linux/armel", pinned, amd64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plantest.Plan(t, tt.src, plan.Options{Platforms: []specs.Platform{tt.target}, BuildPlatform: amd64})
			st := p.Platforms[0].Result
			if got := platform.Format(st.Platform); got != "linux/arm/v5" {
				t.Errorf("stage platform = %s, want linux/arm/v5", got)
			}
			if got := platform.Format(st.Base.Platform); got != "linux/arm/v5" {
				t.Errorf("base image platform = %s, want linux/arm/v5", got)
			}
			if env := st.Steps[1].Env; tt.src == src && !slices.Contains(env, "TARGETPLATFORM=linux/arm/v5") {
				t.Errorf("RUN env = %q, want TARGETPLATFORM=linux/arm/v5", env)
			}
			if tt.src == src && st.Key != reference.Platforms[0].Result.Key {
				t.Errorf("stage key %s differs from the plan for linux/arm/v5 (%s)", plan.ShortKey(st.Key), plan.ShortKey(reference.Platforms[0].Result.Key))
			}
		})
	}
}

// TestProxyEnv: BuildKit's RUN gets each proxy variable in both spellings,
// valued by the last build argument of either spelling in sorted key order
// (testBuiltinArgs in frontend/dockerfile/dockerfile_args_test.go;
// proxyEnvFromBuildArgs in dockerfile2llb, proxyEnvList in the exec op).
func TestProxyEnv(t *testing.T) {
	tests := []struct {
		args map[string]string
		want []string
	}{
		{map[string]string{"FOO": "x"}, nil},
		{map[string]string{"http_proxy": "hpvalue", "HTTP_PROXY": "hpvalue2"},
			[]string{"HTTP_PROXY=hpvalue", "http_proxy=hpvalue"}},
		{map[string]string{"HTTP_PROXY": "u"}, []string{"HTTP_PROXY=u", "http_proxy=u"}},
		{map[string]string{"all_proxy": "a", "no_proxy": "n", "Ftp_Proxy": "f", "HTTPS_PROXY": "s", "http_proxy": "h"},
			[]string{"HTTP_PROXY=h", "http_proxy=h", "HTTPS_PROXY=s", "https_proxy=s", "FTP_PROXY=f", "ftp_proxy=f",
				"NO_PROXY=n", "no_proxy=n", "ALL_PROXY=a", "all_proxy=a"}},
		// The lower-case spelling sorts last: its empty value clears the proxy.
		{map[string]string{"HTTP_PROXY": "u", "http_proxy": ""}, nil},
	}
	for _, tt := range tests {
		p := plantest.Plan(t, "FROM busybox\nRUN true\n", plan.Options{BuildArgs: tt.args})
		got := p.Platforms[0].Result.Steps[0].Run.ProxyEnv
		if !slices.Equal(got, tt.want) {
			t.Errorf("ProxyEnv for build args %v = %q, want %q", tt.args, got, tt.want)
		}
	}
}
