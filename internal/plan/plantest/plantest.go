package plantest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/platform"
)

// Images are the base images golden Dockerfiles may use, by reference.
var Images = map[string]v1.Config{
	"busybox": {Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, Cmd: []string{"sh"}},
	"golang:1.26": {
		Env:        []string{"PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GOLANG_VERSION=1.26.0", "GOPATH=/go"},
		WorkingDir: "/go",
	},
	"alpine":       {Cmd: []string{"/bin/sh"}},
	"nopath":       {Env: []string{"LANG=C.UTF-8"}, User: "nobody", WorkingDir: "/home/nobody/"},
	"onbuild-app":  {OnBuild: []string{"COPY . /app/src", "RUN make -C /app/src", "LABEL built.with=onbuild-app"}},
	"onbuild-from": {OnBuild: []string{"COPY --from=assets /srv /srv"}},
}

// Resolver serves Images for any platform and counts the calls per
// "REF PLATFORM". The zero value is ready; it is safe for concurrent use.
type Resolver struct {
	mu    sync.Mutex
	Calls map[string]int
}

// Resolve is a plan.BaseResolver; an unknown reference is an error.
func (r *Resolver) Resolve(_ context.Context, ref string, p specs.Platform) (*v1.ConfigFile, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Calls == nil {
		r.Calls = map[string]int{}
	}
	r.Calls[ref+" "+platform.Format(p)]++
	cfg, ok := Images[ref]
	if !ok {
		return nil, fmt.Errorf("image %s not found", ref)
	}
	return &v1.ConfigFile{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, Config: *cfg.DeepCopy()}, nil
}

// Options is ParseHeader(src) for a test: an error fails it.
func Options(t testing.TB, src string) plan.Options {
	t.Helper()
	opts, err := ParseHeader(src)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// ParseHeader reads the "# plan: key=value ..." lines of a golden
// Dockerfile: platforms=a,b build=P target=NAME arg=K=V (repeatable). The
// build platform is linux/amd64 unless build= says otherwise; ResolveBase is
// left nil. An unknown key or platform is an error naming the option.
func ParseHeader(src string) (plan.Options, error) {
	opts := plan.Options{BuildPlatform: specs.Platform{OS: "linux", Architecture: "amd64"}}
	for _, line := range strings.Split(src, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "# plan:")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(rest) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "platforms":
				for _, s := range strings.Split(v, ",") {
					p, err := platform.ParseAny(s)
					if err != nil {
						return opts, fmt.Errorf("plan option %q: %w", f, err)
					}
					opts.Platforms = append(opts.Platforms, p)
				}
			case "build":
				p, err := platform.ParseAny(v)
				if err != nil {
					return opts, fmt.Errorf("plan option %q: %w", f, err)
				}
				opts.BuildPlatform = p
			case "target":
				opts.Target = v
			case "arg":
				if opts.BuildArgs == nil {
					opts.BuildArgs = map[string]string{}
				}
				ak, av, _ := strings.Cut(v, "=")
				opts.BuildArgs[ak] = av
			default:
				return opts, fmt.Errorf("unknown plan option %q", f)
			}
		}
	}
	return opts, nil
}

// Plan parses src as "Dockerfile" and plans it with opts (ResolveBase, when
// nil, a fresh Resolver's), failing the test on any error.
func Plan(t testing.TB, src string, opts plan.Options) *plan.Plan {
	t.Helper()
	f, err := dockerfile.Parse(context.Background(), "Dockerfile", strings.NewReader(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if opts.ResolveBase == nil {
		opts.ResolveBase = (&Resolver{}).Resolve
	}
	p, err := plan.New(context.Background(), f, opts)
	if err != nil {
		t.Fatalf("plan.New: %v", err)
	}
	return p
}
