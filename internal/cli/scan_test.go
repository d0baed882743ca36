//go:build linux

package cli

import (
	"archive/zip"
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/sbom"
	"github.com/manyarch/manyarch/internal/testutil"
)

// stdlibRecord is an OSV record in the Go database's shape: the standard
// library at version (as the build info gives it, "1.26.8") affected,
// fixed in the next patch release, no severity.
func stdlibRecord(t *testing.T, version string) string {
	t.Helper()
	i := strings.LastIndexByte(version, '.')
	n, err := strconv.Atoi(version[i+1:])
	if err != nil {
		t.Skipf("the Go that built the test is %q, not a release", version)
	}
	fixed := fmt.Sprintf("%s.%d", version[:i], n+1)
	return `{"schema_version": "1.3.1", "id": "GO-2099-0001", "modified": "2099-01-01T00:00:00Z",
  "aliases": ["CVE-2099-1111"], "summary": "Test vulnerability in net/http",
  "affected": [{"package": {"name": "stdlib", "ecosystem": "Go"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.21.11"}, {"introduced": "1.22.0-0"}, {"fixed": "` + fixed + `"}]}]}]}`
}

const (
	glibcRecord = `{"id": "DEBIAN-CVE-2099-2222", "modified": "2099-01-01T00:00:00Z", "aliases": ["CVE-2099-2222"],
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
  "affected": [{"package": {"name": "glibc", "ecosystem": "Debian:12"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u10"}]}]}]}`
	busyboxRecord = `{"id": "ALPINE-CVE-2099-3333", "modified": "2099-01-01T00:00:00Z",
  "affected": [{"package": {"name": "busybox", "ecosystem": "Alpine:v3.20"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.36.1-r30"}]}]}]}`
)

// helloBinary builds examples/hello (a small Go binary) once per test.
func helloBinary(t *testing.T) []byte {
	t.Helper()
	top, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "hello")
	build := exec.Command("go", "build", "-o", out, "./examples/hello")
	build.Dir = top
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/hello: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// scanRootfs is a root file system with a Go binary as /bin/app and the
// given files.
func scanRootfs(t *testing.T, arch string, app []byte, files map[string]string) string {
	t.Helper()
	dir := makeRootfs(t, arch)
	files["bin/app"] = string(app)
	for name, body := range files {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeOSVZip(t *testing.T, path string, entries map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range entries {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// scanExit is the status manyarch exits with for err.
func scanExit(err error) int { return ExitCode(err, io.Discard) }

// TestScan: issue #21's scan. A three-platform image (Debian, Debian,
// Alpine, each with a Go binary) against a database with a Go standard
// library record affecting the Go that built the binary (a directory
// entry), a Debian glibc record and an Alpine busybox record (zips).
func TestScan(t *testing.T) {
	root := t.TempDir()
	app := helloBinary(t)
	bi, err := buildinfo.Read(bytes.NewReader(app))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := sbom.GoVersion(bi.GoVersion)
	debian := map[string]string{
		"etc/os-release":      "ID=debian\nVERSION_ID=12\n",
		"var/lib/dpkg/status": "Package: libc6\nStatus: install ok installed\nSource: glibc (2.36-9+deb12u4)\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\n",
	}
	debian2 := map[string]string{}
	for k, v := range debian {
		debian2[k] = v
	}
	mustRun(t, root, "import", "-t", "vuln:1",
		"--platform", "linux/amd64="+scanRootfs(t, "amd64", app, debian),
		"--platform", "linux/arm64="+scanRootfs(t, "arm64", app, debian2),
		"--platform", "linux/arm/v7="+scanRootfs(t, "arm", app, map[string]string{
			"etc/os-release":       "ID=alpine\nVERSION_ID=3.20.3\n",
			"lib/apk/db/installed": "P:busybox-binsh\nV:1.36.1-r29\nA:armv7\no:busybox\n",
		}))
	db := t.TempDir()
	if err := os.MkdirAll(filepath.Join(db, "Go"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(db, "Go", "GO-2099-0001.json"), []byte(stdlibRecord(t, goVersion)), 0o644); err != nil {
		t.Fatal(err)
	}
	writeOSVZip(t, filepath.Join(db, "Debian.zip"), map[string]string{"DEBIAN-CVE-2099-2222.json": glibcRecord})
	writeOSVZip(t, filepath.Join(db, "Alpine.zip"), map[string]string{"ALPINE-CVE-2099-3333.json": busyboxRecord})

	out := mustRun(t, root, "scan", "--db", db, "vuln:1")
	for _, want := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "debian-12", "alpine-3.20.3",
		"HIGH      DEBIAN-CVE-2099-2222  libc6 (glibc)", "UNKNOWN   GO-2099-0001", "UNKNOWN   ALPINE-CVE-2099-3333  busybox-binsh (busybox)",
		"6 vulnerabilities on 3 platforms"} {
		if !strings.Contains(out, want) {
			t.Errorf("scan vuln:1 lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "GO-2099-0001"); n != 3 {
		t.Errorf("GO-2099-0001 reported %d times, want once per platform:\n%s", n, out)
	}

	for _, tt := range []struct {
		failOn string
		code   int
	}{{"unknown", 1}, {"high", 1}, {"critical", 0}} {
		_, _, err := runCLI(t, root, "scan", "--db", db, "--fail-on", tt.failOn, "vuln:1")
		if got := scanExit(err); got != tt.code {
			t.Errorf("scan --fail-on %s = exit %d (%v), want %d", tt.failOn, got, err, tt.code)
		}
	}

	out = mustRun(t, root, "scan", "--db", db, "--format", "json", "--platform", "linux/arm/v7", "vuln:1")
	var rep struct {
		Platforms []struct {
			Platform string `json:"platform"`
			Findings []struct {
				ID        string   `json:"id"`
				Installed string   `json:"installed"`
				Fixed     []string `json:"fixed"`
				Severity  string   `json:"severity"`
			} `json:"findings"`
		} `json:"platforms"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("scan --format json: %v\n%s", err, out)
	}
	if len(rep.Platforms) != 1 || rep.Platforms[0].Platform != "linux/arm/v7" || len(rep.Platforms[0].Findings) != 2 {
		t.Fatalf("scan --platform linux/arm/v7 --format json = %+v, want that platform's two findings", rep)
	}
	for _, f := range rep.Platforms[0].Findings {
		if f.ID == "GO-2099-0001" && (f.Installed != goVersion || len(f.Fixed) != 1) {
			t.Errorf("stdlib finding %+v, want installed %s and one fixed version", f, goVersion)
		}
	}

	out = mustRun(t, root, "scan", "--db", db, "--format", "sarif", "vuln:1")
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil || log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) != 6 {
		t.Errorf("scan --format sarif: %v, %+v", err, log)
	}

	// A malformed record is an error naming the zip and the entry.
	writeOSVZip(t, filepath.Join(db, "Bad.zip"), map[string]string{"BAD-1.json": `{"id": "BAD-1", "affected": [{"package": {}}]}`})
	_, _, err = runCLI(t, root, "scan", "--db", db, "vuln:1")
	if err == nil || !strings.Contains(err.Error(), "Bad.zip: BAD-1.json: BAD-1: affected[0] has no package ecosystem and name") {
		t.Errorf("scan with a malformed record = %v, want an error naming Bad.zip and BAD-1.json", err)
	}
	for _, args := range [][]string{{"--fail-on", "severe"}, {"--format", "xml"}, {}} {
		a := append([]string{"scan"}, args...)
		if len(args) > 0 {
			a = append(a, "--db", db)
		}
		_, _, err := runCLI(t, root, append(a, "vuln:1")...)
		if scanExit(err) != 2 {
			t.Errorf("scan %v = %v (exit %d), want a usage error", args, err, scanExit(err))
		}
	}
}

// TestScanHello: the done-when of issue #21. examples/hello's image
// (every platform the fixtures build) against a Go standard library
// record affecting the Go it was built with: reported on every platform,
// and --fail-on exits 1.
func TestScanHello(t *testing.T) {
	f := testutil.RequireFixtures(t)
	root := t.TempDir()
	mustRun(t, root, "copy", "oci-archive:"+f.Hello, "fixtures/hello:1.0")
	out := mustRun(t, root, "sbom", "--platform", "linux/amd64", "fixtures/hello:1.0")
	version := ""
	for _, line := range strings.Split(out, "\n") {
		if w := strings.Fields(line); len(w) >= 2 && w[0] == "stdlib" {
			version = w[1]
		}
	}
	if version == "" {
		t.Fatalf("sbom of fixtures/hello:1.0 lists no stdlib:\n%s", out)
	}
	db := t.TempDir()
	if err := os.WriteFile(filepath.Join(db, "GO-2099-0001.json"), []byte(stdlibRecord(t, version)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, root, "scan", "--db", db, "--fail-on", "unknown", "fixtures/hello:1.0")
	if scanExit(err) != 1 || err == nil || !strings.Contains(err.Error(), "rated UNKNOWN or worse (--fail-on unknown)") {
		t.Errorf("scan --fail-on unknown fixtures/hello:1.0 = %v, want exit 1 naming the findings", err)
	}
	platforms := strings.Count(out, "\nlinux/")
	if platforms < 2 || strings.Count(out, "GO-2099-0001") != platforms || !strings.Contains(out, "stdlib   "+version) {
		t.Errorf("scan of fixtures/hello:1.0 reports GO-2099-0001 %d times on %d platforms, want every one:\n%s",
			strings.Count(out, "GO-2099-0001"), platforms, out)
	}
}
