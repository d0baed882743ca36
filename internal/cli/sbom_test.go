//go:build linux

package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// sbomRootfs is a root file system with a dpkg status file naming arch and
// a copy of the test binary (a Go binary) as /bin/app.
func sbomRootfs(t *testing.T, arch string) string {
	t.Helper()
	dir := makeRootfs(t, arch)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"var/lib/dpkg/status": "Package: libc6\nStatus: install ok installed\nArchitecture: " + arch + "\nVersion: 2.36-9\n",
		"etc/os-release":      "ID=debian\nVERSION_ID=12\n",
	} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "app"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSBOM(t *testing.T) {
	root := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1000")
	mustRun(t, root, "import", "-t", "pkgs:1",
		"--platform", "linux/amd64="+sbomRootfs(t, "amd64"),
		"--platform", "linux/arm64="+sbomRootfs(t, "arm64"))
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info in the test binary")
	}
	std := "pkg:golang/stdlib@" + strings.TrimPrefix(bi.GoVersion, "go")

	out := mustRun(t, root, "sbom", "pkgs:1")
	for _, want := range []string{"linux/amd64 (sha256:", "linux/arm64 (sha256:", "libc6", "2.36-9", "stdlib", "/bin/app"} {
		if !strings.Contains(out, want) {
			t.Errorf("sbom pkgs:1 lacks %q:\n%s", want, out)
		}
	}

	_, _, err := runCLI(t, root, "sbom", "--format", "spdx-json", "pkgs:1")
	if err == nil || !strings.Contains(err.Error(), "has 2 platforms (linux/amd64, linux/arm64)") || !strings.Contains(err.Error(), "--platform") {
		t.Errorf("sbom --format spdx-json of two platforms = %v, want an error naming them and --platform", err)
	}

	out = mustRun(t, root, "sbom", "--format", "spdx-json", "--platform", "linux/arm64", "pkgs:1")
	var doc struct {
		SPDXVersion  string `json:"spdxVersion"`
		CreationInfo struct {
			Created string `json:"created"`
		} `json:"creationInfo"`
		Packages []struct {
			Name         string `json:"name"`
			ExternalRefs []struct {
				Locator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("sbom --format spdx-json: %v\n%s", err, out)
	}
	var purls []string
	for _, p := range doc.Packages {
		for _, r := range p.ExternalRefs {
			purls = append(purls, r.Locator)
		}
	}
	all := strings.Join(purls, " ")
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "1970-01-01T00:16:40Z" ||
		!strings.Contains(all, "pkg:deb/debian/libc6@2.36-9?arch=arm64&distro=debian-12") || !strings.Contains(all, std) {
		t.Errorf("SPDX of linux/arm64: version %s created %s purls %s; want SPDX-2.3, SOURCE_DATE_EPOCH, libc6 for arm64 and %s",
			doc.SPDXVersion, doc.CreationInfo.Created, all, std)
	}

	dir := filepath.Join(t.TempDir(), "sboms")
	mustRun(t, root, "sbom", "--format", "cyclonedx-json", "-o", dir, "pkgs:1")
	for _, name := range []string{"linux_amd64.cdx.json", "linux_arm64.cdx.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !strings.Contains(string(b), `"bomFormat": "CycloneDX"`) || !strings.Contains(string(b), std) {
			t.Errorf("%s: %v\n%s", name, err, b)
		}
	}

	if _, _, err := runCLI(t, root, "sbom", "--format", "xml", "pkgs:1"); err == nil || !strings.Contains(err.Error(), `--format "xml"`) {
		t.Errorf("sbom --format xml = %v", err)
	}
}

// TestBuildAttestCommand: build --sbom --provenance attaches one
// attestation manifest per platform, inspect shows it, and verify, run,
// test and sbom look past it as they look past BuildKit's.
func TestBuildAttestCommand(t *testing.T) {
	root := busyboxStore(t, "linux/amd64=amd64")
	dir := t.TempDir()
	df := "FROM t/busybox:1\nRUN echo hi > /x\n"
	if _, stderr, code := runManyarch(t, df, "--root", root, "build", "-f", "-", "-q", "--platform", "linux/amd64",
		"--sbom", "--provenance=mode=max", "-t", "t/att:1", dir); code != 0 {
		t.Fatalf("manyarch build --sbom --provenance: exit %d: %s", code, stderr)
	}
	v := inspectJSON(t, root, "t/att:1")
	var atts, images int
	for _, m := range v.Manifests {
		if m.Attestation {
			atts++
			if m.Platform != "unknown/unknown" || m.Describes != v.Manifests[0].Digest {
				t.Errorf("attestation %+v, want unknown/unknown describing %s", m, v.Manifests[0].Digest)
			}
		} else {
			images++
		}
	}
	if atts != 1 || images != 1 {
		t.Fatalf("inspect: %d images and %d attestations, want one of each: %+v", images, atts, v.Manifests)
	}
	if out, stderr, code := runManyarch(t, "", "--root", root, "verify", "t/att:1"); code != 0 || !strings.Contains(out+stderr, "attestation manifest") {
		t.Errorf("verify t/att:1 = exit %d\n%s\n%s; want success, the attestation skipped", code, out, stderr)
	}
	if out, stderr, code := runManyarch(t, "", "--root", root, "run", "t/att:1", "cat", "/x"); code != 0 || out != "hi\n" {
		t.Errorf("run t/att:1 = %q (exit %d, %s)", out, code, stderr)
	}
	files := filepath.Join(dir, "files.yaml")
	if err := os.WriteFile(files, []byte("schemaVersion: 2.0.0\nfileExistenceTests:\n- {name: x, path: /x, shouldExist: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := runManyarch(t, "", "--root", root, "test", "t/att:1", "-c", files); code != 0 || !strings.Contains(out, "1 passed, 0 failed") {
		t.Errorf("test t/att:1 = exit %d\n%s\n%s; want one platform, one pass", code, out, stderr)
	}
	if out, stderr, code := runManyarch(t, "", "--root", root, "sbom", "t/att:1"); code != 0 || strings.Contains(out, "unknown") {
		t.Errorf("sbom t/att:1 = exit %d\n%s\n%s; want the image alone", code, out, stderr)
	}
	if _, stderr, code := runManyarch(t, df, "--root", root, "build", "-f", "-", "--provenance=mode=full", dir); code == 0 || !strings.Contains(stderr, "use mode=min or mode=max") {
		t.Errorf("build --provenance=mode=full = exit %d, %s; want a usage error", code, stderr)
	}
}
