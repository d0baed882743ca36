//go:build linux

package cli

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/testutil"
)

var (
	verifyBinMu sync.Mutex
	verifyBins  = map[string][]byte{}
)

// goHelloFor cross-compiles a static Go program for goarch.
func goHelloFor(t *testing.T, goarch string) []byte {
	t.Helper()
	verifyBinMu.Lock()
	defer verifyBinMu.Unlock()
	if b, ok := verifyBins[goarch]; ok {
		return b
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command on PATH to build test binaries")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println(\"hello\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", "hello", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build for %s: %v\n%s", goarch, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	verifyBins[goarch] = b
	return b
}

// verifyImage is an image for platform ("linux/arm64") holding files
// (path → contents, all executable) with /hello as its entrypoint.
func verifyImage(t *testing.T, plat string, files map[string][]byte) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, b := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "COPY --from=build /out/ /"}})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	parts := strings.Split(plat, "/")
	cf.OS, cf.Architecture = parts[0], parts[1]
	cf.Config.Entrypoint = []string{"/hello"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// verifyLayout writes an OCI layout holding one index of images (platform →
// image) and returns its oci: reference.
func verifyLayout(t *testing.T, images map[string]v1.Image) string {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, plat := range []string{"linux/amd64", "linux/arm64"} {
		img, ok := images[plat]
		if !ok {
			continue
		}
		parts := strings.Split(plat, "/")
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: parts[0], Architecture: parts[1]}}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx); err != nil {
		t.Fatal(err)
	}
	return "oci:" + dir
}

func exitCode(err error) int {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if err != nil {
		return 1
	}
	return 0
}

func TestVerifyCommand(t *testing.T) {
	amd64, arm64 := goHelloFor(t, "amd64"), goHelloFor(t, "arm64")
	clean := verifyLayout(t, map[string]v1.Image{
		"linux/amd64": verifyImage(t, "linux/amd64", map[string][]byte{"hello": amd64}),
		"linux/arm64": verifyImage(t, "linux/arm64", map[string][]byte{"hello": arm64}),
	})
	bad := verifyLayout(t, map[string]v1.Image{
		"linux/amd64": verifyImage(t, "linux/amd64", map[string][]byte{"hello": amd64}),
		"linux/arm64": verifyImage(t, "linux/arm64", map[string][]byte{"hello": amd64}),
	})
	warnOnly := verifyLayout(t, map[string]v1.Image{
		"linux/amd64": verifyImage(t, "linux/amd64", map[string][]byte{"hello": amd64, "junk.bin": []byte("\x7fELF\x09garbage")}),
	})
	root := t.TempDir()
	cases := []struct {
		args     []string
		code     int
		contains []string
	}{
		{[]string{"verify", clean}, 0, []string{"linux/amd64", "linux/arm64", "no findings on 2 platforms"}},
		{[]string{"verify", "--require", "linux/amd64,linux/arm64", clean}, 0, nil},
		{[]string{"verify", "--require", "linux/arm/v7", clean}, 1, []string{"missing-platform", "the index has no image for linux/arm/v7"}},
		{[]string{"verify", bad}, 1, []string{"entrypoint-wrong-arch", `"/hello" is a linux/amd64 Go executable in the linux/arm64 image`, "COPY --from=build", "GOARCH=$TARGETARCH", "1 error,"}},
		{[]string{"verify", "--platform", "linux/amd64", bad}, 0, []string{"no findings on 1 platform"}},
		{[]string{"verify", "--ignore", "/hello", bad}, 1, []string{"entrypoint-wrong-arch"}},
		{[]string{"verify", "--ignore", "hello", bad}, 1, nil},
		{[]string{"verify", warnOnly}, 0, []string{"malformed-elf", "0 errors, 1 warning"}},
		{[]string{"verify", "--strict", warnOnly}, 1, []string{"malformed-elf"}},
		{[]string{"verify", "--format", "json", bad, clean}, 1, []string{`"code": "entrypoint-wrong-arch"`, `"schemaVersion": 1`}},
		{[]string{"verify", "--format", "sarif", bad}, 1, []string{`"version": "2.1.0"`, `"ruleId": "entrypoint-wrong-arch"`}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[:len(c.args)-1], " "), func(t *testing.T) {
			out, stderr, err := runCLI(t, root, c.args...)
			if got := exitCode(err); got != c.code {
				t.Fatalf("manyarch %v: exit %d (%v), want %d\n%s%s", c.args, got, err, c.code, out, stderr)
			}
			for _, s := range c.contains {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}

	out, _, _ := runCLI(t, root, "verify", "--format", "json", bad, clean)
	var reports []struct {
		Reference string
		Errors    int
	}
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("--format json: %v", err)
	}
	if len(reports) != 2 || reports[0].Errors == 0 || reports[1].Errors != 0 || reports[0].Reference != bad {
		t.Errorf("--format json reports = %+v, want two, the first with errors", reports)
	}
}

func TestVerifyCommandErrors(t *testing.T) {
	root := t.TempDir()
	for _, args := range [][]string{
		{"verify"},
		{"verify", "--format", "yaml", "x"},
		{"verify", "--require", "linux/nope", "x"},
		{"verify", "oci:" + t.TempDir()},
	} {
		if _, _, err := runCLI(t, root, args...); err == nil {
			t.Errorf("manyarch %v = nil error, want one", args)
		}
	}
}

// The fixture images of hack/fixtures.sh are clean on every platform.
func TestVerifyFixtures(t *testing.T) {
	f := testutil.RequireFixtures(t)
	root := t.TempDir()
	for _, c := range []struct {
		archive   string
		platforms int
	}{{f.Busybox, 8}, {f.Hello, 0}} {
		out, stderr, err := runCLI(t, root, "verify", "--strict", "--format", "json", "oci-archive:"+c.archive)
		if err != nil {
			t.Fatalf("verify --strict %s: %v\n%s%s", c.archive, err, out, stderr)
		}
		var reports []struct {
			Errors, Warnings int
			Platforms        []struct{ Platform string }
		}
		if err := json.Unmarshal([]byte(out), &reports); err != nil {
			t.Fatal(err)
		}
		if len(reports) != 1 || (c.platforms > 0 && len(reports[0].Platforms) != c.platforms) || len(reports[0].Platforms) < 8 {
			t.Errorf("verify %s: %+v, want one report with %d platforms", c.archive, reports, c.platforms)
		}
	}
}
