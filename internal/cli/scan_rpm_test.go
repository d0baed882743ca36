//go:build linux

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/testutil"
)

// rpmRootfs is a root file system with os-release and an rpm database
// made by rpm (internal/rpmdb/testdata, hack/rpmdb-fixtures.sh) at path.
func rpmRootfs(t *testing.T, arch, osRelease, fixture, path string) string {
	t.Helper()
	top, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(top, "internal/rpmdb/testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	dir := makeRootfs(t, arch)
	for name, body := range map[string][]byte{"etc/os-release": []byte(osRelease), path: db} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestScanRPM: issue #21's rpm cataloger as a user runs it. An image
// with a Rocky Linux 9 platform (rpm's sqlite database) and a RHEL 8
// one (Berkeley DB): `sbom` lists the rpms with their exact versions and
// purls; `scan --db` reports a Rocky Linux record (by source package) and
// a Red Hat one (by binary package) each on its own platform, and
// --fail-on exits 1.
func TestScanRPM(t *testing.T) {
	root := t.TempDir()
	mustRun(t, root, "import", "-t", "rpms:1",
		"--platform", "linux/amd64="+rpmRootfs(t, "amd64", "ID=\"rocky\"\nVERSION_ID=\"9.3\"\n", "rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite"),
		"--platform", "linux/arm64="+rpmRootfs(t, "arm64", "ID=\"rhel\"\nVERSION_ID=\"8.8\"\n", "Packages", "var/lib/rpm/Packages"))

	out := mustRun(t, root, "sbom", "--platform", "linux/arm64", "rpms:1")
	for _, want := range []string{"openssl-libs   1:3.0.7-24.el9       rpm   /var/lib/rpm/Packages",
		"snapshot-tool  1.0~rc1^git2-3.fc40  rpm"} {
		if !strings.Contains(out, want) {
			t.Errorf("sbom rpms:1 lacks %q:\n%s", want, out)
		}
	}
	out = mustRun(t, root, "sbom", "--platform", "linux/amd64", "--format", "spdx-json", "rpms:1")
	if want := `pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=x86_64\u0026distro=rocky-9.3\u0026epoch=1\u0026upstream=openssl-3.0.7-24.el9.src.rpm`; !strings.Contains(out, want) {
		t.Errorf("sbom --format spdx-json lacks %s:\n%s", want, out)
	}

	db := t.TempDir()
	writeOSVZip(t, filepath.Join(db, "Rocky Linux.zip"), map[string]string{"RLSA-2099-0001.json": `{"id": "RLSA-2099:0001", "modified": "2099-01-01T00:00:00Z",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [{"package": {"ecosystem": "Rocky Linux:9", "name": "openssl"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-27.el9"}]}]}]}`})
	writeOSVZip(t, filepath.Join(db, "Red Hat.zip"), map[string]string{"RHSA-2099-0002.json": `{"id": "RHSA-2099:0002", "modified": "2099-01-01T00:00:00Z",
  "affected": [{"package": {"ecosystem": "Red Hat:enterprise_linux:8::baseos", "name": "bash"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0:5.1.8-10.el9"}]}]}]}`})
	out = mustRun(t, root, "scan", "--db", db, "rpms:1")
	amd, arm, _ := strings.Cut(out, "linux/arm64")
	if !strings.Contains(amd, "CRITICAL  RLSA-2099:0001  openssl-libs (openssl)  1:3.0.7-24.el9  1:3.0.7-27.el9") || strings.Contains(amd, "RHSA") {
		t.Errorf("linux/amd64 (rocky 9.3): want RLSA-2099:0001 on openssl-libs only:\n%s", amd)
	}
	if !strings.Contains(arm, "UNKNOWN   RHSA-2099:0002  bash") || strings.Contains(arm, "RLSA") {
		t.Errorf("linux/arm64 (rhel 8.8): want RHSA-2099:0002 on bash only:\n%s", arm)
	}
	if _, _, err := runCLI(t, root, "scan", "--db", db, "--fail-on", "critical", "rpms:1"); scanExit(err) != 1 {
		t.Errorf("scan --fail-on critical = %v (exit %d), want exit 1", err, scanExit(err))
	}
}
