package scan

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/sbom"
)

// rpmvercmpCases is rpm's own table (tests/rpmvercmp.at): a, b,
// rpm.vercmp(a, b).
const rpmvercmpCases = `
1.0 1.0 0
1.0 2.0 -1
2.0 1.0 1
2.0.1 2.0.1 0
2.0 2.0.1 -1
2.0.1 2.0 1
2.0.1a 2.0.1a 0
2.0.1a 2.0.1 1
2.0.1 2.0.1a -1
5.5p1 5.5p1 0
5.5p1 5.5p2 -1
5.5p2 5.5p1 1
5.5p10 5.5p10 0
5.5p1 5.5p10 -1
5.5p10 5.5p1 1
10xyz 10.1xyz -1
10.1xyz 10xyz 1
xyz10 xyz10 0
xyz10 xyz10.1 -1
xyz10.1 xyz10 1
xyz.4 xyz.4 0
xyz.4 8 -1
8 xyz.4 1
xyz.4 2 -1
2 xyz.4 1
5.5p2 5.6p1 -1
5.6p1 5.5p2 1
5.6p1 6.5p1 -1
6.5p1 5.6p1 1
6.0.rc1 6.0 1
6.0 6.0.rc1 -1
10b2 10a1 1
10a2 10b2 -1
1.0aa 1.0aa 0
1.0a 1.0aa -1
1.0aa 1.0a 1
10.0001 10.0001 0
10.0001 10.1 0
10.1 10.0001 0
10.0001 10.0039 -1
10.0039 10.0001 1
4.999.9 5.0 -1
5.0 4.999.9 1
20101121 20101121 0
20101121 20101122 -1
20101122 20101121 1
2_0 2_0 0
2.0 2_0 0
2_0 2.0 0
a a 0
a+ a+ 0
a+ a_ 0
a_ a+ 0
+a +a 0
+a _a 0
_a +a 0
+_ +_ 0
_+ +_ 0
_+ _+ 0
+ _ 0
_ + 0
1.0~rc1 1.0~rc1 0
1.0~rc1 1.0 -1
1.0 1.0~rc1 1
1.0~rc1 1.0~rc2 -1
1.0~rc2 1.0~rc1 1
1.0~rc1~git123 1.0~rc1~git123 0
1.0~rc1~git123 1.0~rc1 -1
1.0~rc1 1.0~rc1~git123 1
1.0^ 1.0^ 0
1.0^ 1.0 1
1.0 1.0^ -1
1.0^git1 1.0^git1 0
1.0^git1 1.0 1
1.0 1.0^git1 -1
1.0^git1 1.0^git2 -1
1.0^git2 1.0^git1 1
1.0^git1 1.01 -1
1.01 1.0^git1 1
1.0^20160101 1.0^20160101 0
1.0^20160101 1.0.1 -1
1.0.1 1.0^20160101 1
1.0^20160101^git1 1.0^20160101^git1 0
1.0^20160102 1.0^20160101^git1 1
1.0^20160101^git1 1.0^20160102 -1
1.0~rc1^git1 1.0~rc1^git1 0
1.0~rc1^git1 1.0~rc1 1
1.0~rc1 1.0~rc1^git1 -1
1.0^git1~pre 1.0^git1~pre 0
1.0^git1 1.0^git1~pre 1
1.0^git1~pre 1.0^git1 -1
`

// TestRPMVercmp: every case of rpm's own rpmvercmp table.
func TestRPMVercmp(t *testing.T) {
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(rpmvercmpCases), "\n") {
		f := strings.Fields(line)
		want, _ := strconv.Atoi(f[2])
		if got := rpmvercmp(f[0], f[1]); got != want {
			t.Errorf("rpmvercmp(%q, %q) = %d, want %d (rpm's tests/rpmvercmp.at)", f[0], f[1], got, want)
		}
		n++
	}
	if n != 91 {
		t.Errorf("%d cases, want rpm's 91", n)
	}
}

// TestRPMCompare: epoch and release, as rpmverCmp orders
// [epoch:]version-release.
func TestRPMCompare(t *testing.T) {
	testScheme(t, rpmScheme{}, []cmpCase{
		{"1:3.0.7-24.el9", "1:3.0.7-27.el9", -1},
		{"3.0.7-24.el9", "0:3.0.7-24.el9", 0}, // no epoch is 0
		{"1:1.0-1", "9.9-9", 1},               // the epoch first
		{"0:1.9.5p2-10.el9_6.1", "1.9.5p2-9.el9", 1},
		{"2.28-225.el8_8.6", "2.28-225.el8_8.11", -1},
		{"1.0~rc1^git2-3.fc40", "1.0-1.fc40", -1},
		{"1.2", "1.2-1", -1}, // a missing release sorts before any
		{"5.14.0-362.8.1.el9_3", "5.14.0-362.13.1.el9_3", -1},
		{"1:22.23.2-2.module+el9.8.0+24958+80b2ac6e", "1:22.23.2-1.module+el9.8.0+24958+80b2ac6e", 1},
	})
	if _, err := (rpmScheme{}).compare("1.0 beta", "1.0"); err == nil {
		t.Errorf("compare accepted a version with white space")
	}
}

const rockyRecord = `{"id": "RLSA-2099:0001", "modified": "2099-01-01T00:00:00Z", "summary": "openssl security update",
 "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
 "affected": [
  {"package": {"ecosystem": "Rocky Linux:9", "name": "openssl"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-27.el9"}]}]},
  {"package": {"ecosystem": "Rocky Linux:8", "name": "bash"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.9-1.el8"}]}]}]}`

const redHatRecord = `{"id": "RHSA-2099:0002", "modified": "2099-01-01T00:00:00Z",
 "affected": [
  {"package": {"ecosystem": "Red Hat:enterprise_linux:9::baseos", "name": "openssl-libs"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-27.el9"}]}]},
  {"package": {"ecosystem": "Red Hat:enterprise_linux:9::appstream", "name": "openssl"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-27.el9"}]}]},
  {"package": {"ecosystem": "Red Hat:rhel_eus:9.2::baseos", "name": "bash"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.9-1.el9"}]}]},
  {"package": {"ecosystem": "Red Hat:enterprise_linux:9::baseos", "name": "tzdata"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2024a-1.el9"}]}]}]}`

// TestMatchRPM: rpms against Rocky Linux records (by source package, the
// image's major release) and Red Hat ones (by binary or source name, the
// mainline streams of the image's major release), in rpm's order with
// epochs; distributions OSV has no ecosystem for are "not compared".
func TestMatchRPM(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Rocky Linux", "RLSA-2099-0001.json"), rockyRecord)
	writeFile(t, filepath.Join(dir, "Red Hat", "RHSA-2099-0002.json"), redHatRecord)
	pkgs := []sbom.Package{
		{Type: sbom.TypeRPM, Name: "openssl-libs", Source: "openssl", Version: "1:3.0.7-24.el9", Arch: "x86_64"},
		{Type: sbom.TypeRPM, Name: "bash", Source: "bash", Version: "5.1.8-9.el9", Arch: "x86_64"},
		{Type: sbom.TypeRPM, Name: "tzdata", Source: "tzdata", Version: "2024a-1.el9", Arch: "noarch"},
	}
	inv := func(d *sbom.Distro) *sbom.Inventory { return &sbom.Inventory{Distro: d, Packages: pkgs} }
	invs := []sbom.PlatformInventory{
		{Platform: specs.Platform{OS: "linux", Architecture: "amd64"}, Inventory: inv(&sbom.Distro{ID: "rocky", VersionID: "9.3"})},
		{Platform: specs.Platform{OS: "linux", Architecture: "arm64"}, Inventory: inv(&sbom.Distro{ID: "rhel", VersionID: "9.4"})},
		{Platform: specs.Platform{OS: "linux", Architecture: "s390x"}, Inventory: inv(&sbom.Distro{ID: "fedora", VersionID: "40"})},
	}
	db, err := Load(context.Background(), dir, Wanted(invs))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Match(db, invs)
	if err != nil {
		t.Fatal(err)
	}
	got := func(pr PlatformResult) string {
		var out []string
		for _, f := range pr.Findings {
			out = append(out, f.ID+" "+f.Package+"("+f.Source+") "+f.Ecosystem+" "+string(f.Severity)+" "+strings.Join(f.Fixed, ","))
		}
		return strings.Join(out, "|")
	}
	// Rocky: openssl-libs by its source openssl, in 9 only (bash's record is 8's).
	if g, want := got(r.Platforms[0]), "RLSA-2099:0001 openssl-libs(openssl) Rocky Linux:9 CRITICAL 1:3.0.7-27.el9"; g != want {
		t.Errorf("rocky 9.3 findings = %q, want %q", g, want)
	}
	// Red Hat: one finding for openssl-libs (named as binary and as source),
	// bash's EUS stream is not the image's, tzdata is at the fixed version.
	if g, want := got(r.Platforms[1]), "RHSA-2099:0002 openssl-libs() Red Hat:enterprise_linux:9::baseos UNKNOWN 1:3.0.7-27.el9"; g != want {
		t.Errorf("rhel 9.4 findings = %q, want %q", g, want)
	}
	if pr := r.Platforms[2]; len(pr.Findings) != 0 || len(pr.Unmatched) != 3 || !strings.Contains(pr.Unmatched[0], "an rpm of fedora, a distribution OSV has no ecosystem for") {
		t.Errorf("fedora: findings %v, unmatched %q; want none, and all three not compared", pr.Findings, pr.Unmatched)
	}
}

func TestRPMTargetReleases(t *testing.T) {
	p := sbom.Package{Type: sbom.TypeRPM, Name: "libopenssl3", Source: "openssl-3", Version: "3.0.8-150500.5.8.1"}
	for _, tt := range []struct {
		distro    sbom.Distro
		ecosystem string
		want      bool
	}{
		{sbom.Distro{ID: "sles", VersionID: "15.5", Name: "SUSE Linux Enterprise Server 15 SP5"}, "SUSE:Linux Enterprise Server 15 SP5", true},
		{sbom.Distro{ID: "sles", VersionID: "15.5", Name: "SUSE Linux Enterprise Server 15 SP5"}, "SUSE:Linux Enterprise Server 15 SP4", false},
		{sbom.Distro{ID: "opensuse-leap", VersionID: "15.5", Name: "openSUSE Leap 15.5"}, "openSUSE:Leap 15.5", true},
		{sbom.Distro{ID: "opensuse-tumbleweed", VersionID: "20240101", Name: "openSUSE Tumbleweed"}, "openSUSE:Tumbleweed", true},
		{sbom.Distro{ID: "almalinux", VersionID: "8.10"}, "AlmaLinux:8", true},
		{sbom.Distro{ID: "almalinux", VersionID: "8.10"}, "AlmaLinux:9", false},
		{sbom.Distro{ID: "rhel", VersionID: "8.8"}, "Red Hat:enterprise_linux:8::appstream", true},
		{sbom.Distro{ID: "rhel", VersionID: "8.8"}, "Red Hat:enterprise_linux:9::appstream", false},
		{sbom.Distro{ID: "rhel", VersionID: "8.8"}, "Red Hat:rhel_aus:8.8::baseos", false},
	} {
		tg, why := targetOf(p, &tt.distro)
		if why != "" {
			t.Errorf("targetOf(%s) = %s", tt.distro.ID, why)
			continue
		}
		if got := tg.release(tt.ecosystem); got != tt.want {
			t.Errorf("%s %s: release(%q) = %v, want %v", tt.distro.ID, tt.distro.VersionID, tt.ecosystem, got, tt.want)
		}
	}
}
