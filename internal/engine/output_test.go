//go:build unix

package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/platform"
)

func TestParseAnnotations(t *testing.T) {
	a, err := parseAnnotations([]string{"k=v", "index:i=1", "manifest[linux/arm64]:m=2", "manifest-descriptor:d=3", "url=http://x:1/y"})
	if err != nil {
		t.Fatal(err)
	}
	if a.index["i"] != "1" || len(a.index) != 1 {
		t.Errorf("index annotations = %v, want i=1", a.index)
	}
	arm, _ := platform.Parse("linux/arm64")
	amd, _ := platform.Parse("linux/amd64")
	if got := a.forPlatform(a.manifest, arm); got["k"] != "v" || got["m"] != "2" || got["url"] != "http://x:1/y" {
		t.Errorf("arm64 manifest annotations = %v", got)
	}
	if got := a.forPlatform(a.manifest, amd); got["m"] != "" || got["k"] != "v" {
		t.Errorf("amd64 manifest annotations = %v, want no m", got)
	}
	if got := a.forPlatform(a.descriptor, amd); got["d"] != "3" {
		t.Errorf("descriptor annotations = %v, want d=3", got)
	}
	for _, bad := range []string{"novalue", "index[linux/arm64]:k=v", "blob:k=v", "manifest[linux/nope]:k=v"} {
		if _, err := parseAnnotations([]string{bad}); err == nil {
			t.Errorf("parseAnnotations(%q) = nil error, want one", bad)
		}
	}
}

func TestCheckOutputs(t *testing.T) {
	two, _ := platform.ParseList("linux/amd64,linux/arm64")
	for _, tc := range []struct {
		name string
		req  Request
		want string // "" = ok
	}{
		{"docker with two platforms", Request{Platforms: two, Outputs: []Output{{Type: "docker", Dest: "x.tar"}}}, "type=docker holds one image"},
		{"docker without dest", Request{Outputs: []Output{{Type: "docker"}}}, "needs dest=FILE"},
		{"push without a name", Request{Push: true}, "--push needs a name"},
		{"digest tag", Request{Tags: []string{"app@sha256:" + strings.Repeat("a", 64)}}, "cannot be a digest"},
		{"archive tag", Request{Tags: []string{"oci-archive:x.tar"}}, "write other destinations with -o"},
		{"two compressions", Request{Outputs: []Output{{Type: "oci", Dest: "a", Attrs: map[string]string{"compression": "zstd"}},
			{Type: "local", Dest: "b", Attrs: map[string]string{"compression": "gzip"}}}}, "different compressions"},
		{"bad compression", Request{Outputs: []Output{{Type: "oci", Dest: "a", Attrs: map[string]string{"compression": "xz"}}}}, "want gzip, zstd or uncompressed"},
		{"ok", Request{Platforms: two, Tags: []string{"app:1", "registry.example.com/app:1"}, Push: true,
			Outputs: []Output{{Type: "oci", Dest: "a", Attrs: map[string]string{"compression": "zstd"}}}}, ""},
	} {
		op, err := checkOutputs(&tc.req)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: checkOutputs = %v, want no error", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: checkOutputs = %v, want an error containing %q", tc.name, err, tc.want)
		case tc.want == "":
			if op.compression != CompressionZstd || len(op.tags) != 2 || len(op.push) != 2 {
				t.Errorf("%s: checkOutputs = %+v", tc.name, op)
			}
		}
		if tc.want == "type=docker holds one image" && !errors.Is(err, ErrBadOutput) {
			t.Errorf("%s: error does not wrap ErrBadOutput", tc.name)
		}
	}
}

func TestSummary(t *testing.T) {
	ctx := context.Background()
	f, err := dockerfile.Parse(ctx, "Dockerfile", strings.NewReader("FROM busybox AS build\nRUN make\nFROM scratch\nCOPY --from=build /x /x\n"))
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := platform.ParseList("linux/amd64,linux/arm64")
	pl, err := plan.New(ctx, f, plan.Options{Platforms: ps, BuildPlatform: ps[0]})
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{Plan: pl, Platforms: []PlatformResult{
		{Platform: ps[0], Steps: []StepResult{{Key: "a", Stage: "build", Duration: time.Second}}},
		{Platform: ps[1], Steps: []StepResult{{Key: "b", Stage: "build", Emulated: true, Duration: 2 * time.Second}}},
	}}
	got := strings.Join(Summary(res), "\n")
	for _, want := range []string{"1 RUN step(s) ran under emulation, 2.0s", "stage build: 2.0s emulated", "Dockerfile:1: hint:", "--platform=$BUILDPLATFORM"} {
		if !strings.Contains(got, want) {
			t.Errorf("Summary = %q, want it to contain %q", got, want)
		}
	}
	res.Platforms[1].Steps[0].Cached = true
	if got := strings.Join(Summary(res), "\n"); !strings.Contains(got, "no step ran under emulation (1 emulated RUN step(s) came from the cache)") {
		t.Errorf("Summary of a cached build = %q", got)
	}
}
