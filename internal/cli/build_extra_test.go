package cli

import (
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/engine"
	"github.com/manyarch/manyarch/internal/platform"
)

// TestPlatformLocal: --platform local is the host's platform, alone or in
// a list, as buildx's.
func TestPlatformLocal(t *testing.T) {
	f := platformFlags{raw: []string{"local, linux/s390x"}}
	ps, err := f.Platforms()
	if err != nil || len(ps) != 2 || platform.Format(ps[0]) != platform.Format(platform.Host()) || platform.Format(ps[1]) != "linux/s390x" {
		t.Errorf("--platform 'local, linux/s390x' = %v, %v; want the host's and linux/s390x", ps, err)
	}
	f = platformFlags{raw: []string{"locale"}}
	if _, err := f.Platforms(); err == nil {
		t.Error("--platform locale was accepted")
	}
}

func TestBuildSummary(t *testing.T) {
	res := &engine.Result{Platforms: []engine.PlatformResult{
		{Platform: specs.Platform{OS: "linux", Architecture: "amd64"}, Steps: []engine.StepResult{
			{Duration: time.Second}, {}, {Cached: true},
		}},
		{Platform: specs.Platform{OS: "linux", Architecture: "arm64"}, Steps: []engine.StepResult{
			{Duration: time.Second}, {Emulated: true, Duration: 2 * time.Second}, {Emulated: true, Cached: true},
		}},
	}}
	got := strings.Join(buildSummary(res, 3500*time.Millisecond), "\n")
	want := "built 2 platform(s) in 3.5s\n" +
		"  linux/amd64    1 step(s) ran, 1 cached\n" +
		"  linux/arm64    2 step(s) ran (1 emulated, 2.0s), 1 cached"
	if got != want {
		t.Errorf("summary =\n%s\nwant\n%s", got, want)
	}
}
