package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/sbom"
)

func inventories() []sbom.PlatformInventory {
	deb := &sbom.Inventory{Distro: &sbom.Distro{ID: "debian", VersionID: "12"}, Packages: []sbom.Package{
		{Type: sbom.TypeDeb, Name: "libc6", Source: "glibc", Version: "2.36-9+deb12u4", Arch: "amd64", Locations: []string{"/var/lib/dpkg/status"}},
		{Type: sbom.TypeDeb, Name: "libc-bin", Source: "glibc", Version: "2.36-9+deb12u10", Locations: []string{"/var/lib/dpkg/status"}},
		{Type: sbom.TypeGolang, Name: "stdlib", Version: "1.22.3", Locations: []string{"/bin/app"}},
		{Type: sbom.TypeGolang, Name: "example.com/app", Version: "(devel)", Locations: []string{"/bin/app"}},
	}}
	apk := &sbom.Inventory{Distro: &sbom.Distro{ID: "alpine", VersionID: "3.20.3"}, Packages: []sbom.Package{
		{Type: sbom.TypeAPK, Name: "busybox-binsh", Source: "busybox", Version: "1.36.1-r29", Locations: []string{"/lib/apk/db/installed"}},
		{Type: sbom.TypeGolang, Name: "stdlib", Version: "1.22.4", Locations: []string{"/bin/app"}},
	}}
	return []sbom.PlatformInventory{
		{Platform: specs.Platform{OS: "linux", Architecture: "amd64"}, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}, Inventory: deb},
		{Platform: specs.Platform{OS: "linux", Architecture: "arm64"}, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}, Inventory: apk},
	}
}

func TestMatch(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Go", "GO-2099-0001.json"), goRecord)
	writeZip(t, filepath.Join(dir, "Debian", "all.zip"), map[string]string{"DEBIAN-CVE-2099-2222.json": debianRecord})
	writeZip(t, filepath.Join(dir, "Alpine.zip"), map[string]string{"ALPINE-CVE-2099-3333.json": alpineRecord})
	writeFile(t, filepath.Join(dir, "README"), "not a record")
	invs := inventories()
	db, err := Load(context.Background(), dir, Wanted(invs))
	if err != nil {
		t.Fatal(err)
	}
	if db.Records != 3 {
		t.Errorf("Load read %d records, want 3", db.Records)
	}
	r, err := Match(db, invs)
	if err != nil {
		t.Fatal(err)
	}
	amd, arm := r.Platforms[0], r.Platforms[1]
	var got []string
	for _, f := range amd.Findings {
		got = append(got, f.ID+" "+f.Package+" "+string(f.Severity)+" "+strings.Join(f.Fixed, ","))
	}
	// libc-bin is at the fixed version; example.com/app (devel) cannot be compared.
	want := "DEBIAN-CVE-2099-2222 libc6 HIGH 2.36-9+deb12u10|GO-2099-0001 stdlib UNKNOWN 1.22.4"
	if strings.Join(got, "|") != want {
		t.Errorf("linux/amd64 findings = %q, want %q", strings.Join(got, "|"), want)
	}
	if f := amd.Findings[0]; f.Source != "glibc" || f.Score != 7.5 || f.Ecosystem != "Debian:12" || !strings.HasSuffix(f.Record, filepath.Join("Debian", "all.zip")+": DEBIAN-CVE-2099-2222.json") {
		t.Errorf("Debian finding = %+v, want source glibc, score 7.5, ecosystem Debian:12 and the zip entry it came from", f)
	}
	if len(amd.Unmatched) != 1 || !strings.Contains(amd.Unmatched[0], "example.com/app (devel)") {
		t.Errorf("unmatched = %q, want the (devel) main module", amd.Unmatched)
	}
	if len(arm.Findings) != 1 || arm.Findings[0].ID != "ALPINE-CVE-2099-3333" || arm.Findings[0].Severity != Medium || arm.Findings[0].Fixed[0] != "1.36.1-r30" {
		t.Errorf("linux/arm64 findings = %+v, want the Alpine record alone (MODERATE is MEDIUM; stdlib 1.22.4 is fixed)", arm.Findings)
	}
	if n := r.AtLeast(High); n != 1 {
		t.Errorf("AtLeast(HIGH) = %d, want 1", n)
	}
	if n := r.AtLeast(Unknown); n != 3 {
		t.Errorf("AtLeast(UNKNOWN) = %d, want 3", n)
	}

	var tb, js, sarif bytes.Buffer
	r.Reference = "demo:1"
	if err := WriteTable(&tb, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"linux/amd64", "HIGH      DEBIAN-CVE-2099-2222  libc6 (glibc)", "GO-2099-0001", "CVE-2099-1111", "3 vulnerabilities on 2 platforms"} {
		if !strings.Contains(tb.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, tb.String())
		}
	}
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Platforms []struct {
			Findings []map[string]any `json:"findings"`
		} `json:"platforms"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || doc.Platforms[0].Findings[0]["installed"] != "2.36-9+deb12u4" {
		t.Errorf("JSON = %v\n%s", err, js.String())
	}
	if err := WriteSARIF(&sarif, r); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID         string         `json:"id"`
						Properties map[string]any `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(sarif.Bytes(), &log); err != nil || log.Version != "2.1.0" || len(log.Runs[0].Results) != 3 || log.Runs[0].Results[0].Level != "error" {
		t.Errorf("SARIF = %v\n%s", err, sarif.String())
	}
	for _, rule := range log.Runs[0].Tool.Driver.Rules {
		if rule.ID == "DEBIAN-CVE-2099-2222" && rule.Properties["security-severity"] != "7.5" {
			t.Errorf("rule %s properties %v, want security-severity 7.5", rule.ID, rule.Properties)
		}
	}
}

// The OSV schema's range semantics, each event kind.
func TestAffects(t *testing.T) {
	ev := func(kind, v string) Event {
		switch kind {
		case "i":
			return Event{Introduced: v}
		case "f":
			return Event{Fixed: v}
		case "l":
			return Event{LastAffected: v}
		}
		return Event{Limit: v}
	}
	two := []Event{ev("i", "1.0.0"), ev("f", "1.5.0"), ev("i", "2.0.0"), ev("f", "2.5.0")}
	for _, tt := range []struct {
		name     string
		events   []Event
		versions []string
		v        string
		hit      bool
		fixed    string
	}{
		{"below", two, nil, "0.9.0", false, ""},
		{"introduced", two, nil, "1.0.0", true, "1.5.0"},
		{"fixed", two, nil, "1.5.0", false, ""},
		{"between", two, nil, "1.7.0", false, ""},
		{"second", two, nil, "2.4.9", true, "2.5.0"},
		{"after", two, nil, "3.0.0", false, ""},
		{"unsorted", []Event{ev("f", "2.5.0"), ev("i", "2.0.0"), ev("f", "1.5.0"), ev("i", "1.0.0")}, nil, "2.1.0", true, "2.5.0"},
		{"zero", []Event{ev("i", "0")}, nil, "0.0.1", true, ""},
		{"last_affected", []Event{ev("i", "0"), ev("l", "1.2.0")}, nil, "1.2.0", true, ""},
		{"after last_affected", []Event{ev("i", "0"), ev("l", "1.2.0")}, nil, "1.2.1", false, ""},
		{"limit", []Event{ev("i", "0"), ev("lim", "2.0.0")}, nil, "2.0.0", false, ""},
		{"below limit", []Event{ev("i", "0"), ev("lim", "2.0.0")}, nil, "1.9.0", true, ""},
		{"listed", nil, []string{"0.1.0", "3.0.0"}, "3.0.0", true, ""},
		{"not listed", nil, []string{"0.1.0"}, "3.0.0", false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := &Affected{Versions: tt.versions}
			if tt.events != nil {
				a.Ranges = []Range{{Type: "SEMVER", Events: tt.events}}
			}
			hit, fixed, err := affects(a, semverScheme{}, tt.v)
			if err != nil || hit != tt.hit || strings.Join(fixed, ",") != tt.fixed {
				t.Errorf("affects(%s) = %v %v %v, want %v %q", tt.v, hit, fixed, err, tt.hit, tt.fixed)
			}
		})
	}
	// A version the ecosystem cannot read is an error naming it.
	a := &Affected{Ranges: []Range{{Type: "ECOSYSTEM", Events: []Event{ev("i", "0"), ev("f", "1.0_bogus")}}}}
	if _, _, err := affects(a, apkScheme{}, "1.0-r0"); err == nil || !strings.Contains(err.Error(), `"1.0_bogus" is not an Alpine package version`) {
		t.Errorf("affects with a bad apk version = %v", err)
	}
}

// Ecosystem releases: Debian:12 records apply to Debian 12 only, the
// release-less ones to every release, Alpine's by branch.
func TestReleaseMatch(t *testing.T) {
	for _, tt := range []struct {
		typ, id, rel, eco string
		want              bool
	}{
		{sbom.TypeDeb, "debian", "12", "Debian:12", true},
		{sbom.TypeDeb, "debian", "12", "Debian:11", false},
		{sbom.TypeDeb, "debian", "12", "Debian", true},
		{sbom.TypeDeb, "", "", "Debian:12", false},
		{sbom.TypeDeb, "ubuntu", "22.04", "Ubuntu:22.04:LTS", true},
		{sbom.TypeDeb, "ubuntu", "22.04", "Ubuntu:Pro:22.04:LTS", false},
		{sbom.TypeAPK, "alpine", "3.20.3", "Alpine:v3.20", true},
		{sbom.TypeAPK, "alpine", "3.20.3", "Alpine:v3.2", false},
		{sbom.TypeAPK, "alpine", "3.20.3", "Alpine:v3.19", false},
	} {
		var d *sbom.Distro
		if tt.id != "" {
			d = &sbom.Distro{ID: tt.id, VersionID: tt.rel}
		}
		tg, why := targetOf(sbom.Package{Type: tt.typ, Name: "x", Source: "x", Version: "1"}, d)
		if why != "" {
			t.Fatalf("targetOf(%s on %s) = %s", tt.typ, tt.id, why)
		}
		if got := tg.release(tt.eco); got != tt.want {
			t.Errorf("%s %s %s matches %s = %v, want %v", tt.typ, tt.id, tt.rel, tt.eco, got, tt.want)
		}
	}
}

// An affected entry without a package is allowed for GIT ranges (a
// repository's commits), and its events are checked like any other's.
func TestParseRecordPackagelessGitRange(t *testing.T) {
	ok := `{"id":"X","affected":[{"ranges":[{"type":"GIT","repo":"https://example.com/r","events":[{"introduced":"0"},{"fixed":"abc"}]}]}]}`
	if _, err := ParseRecord([]byte(ok)); err != nil {
		t.Errorf("package-less GIT range: %v", err)
	}
	bad := `{"id":"X","affected":[{"ranges":[{"type":"GIT","events":[{"lim":"*"}]}]}]}`
	if _, err := ParseRecord([]byte(bad)); err == nil || !strings.Contains(err.Error(), "affected[0].ranges[0].events[0] sets 0 of") {
		t.Errorf("package-less GIT range with an empty event: %v, want it refused by path", err)
	}
	noPkg := `{"id":"X","affected":[{"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`
	if _, err := ParseRecord([]byte(noPkg)); err == nil || !strings.Contains(err.Error(), "no package ecosystem and name") {
		t.Errorf("package-less ECOSYSTEM range: %v, want refused", err)
	}
}
