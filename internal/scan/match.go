package scan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/sbom"
)

// Report is the result of a scan of one image, every platform.
type Report struct {
	Reference string           `json:"reference"`
	Database  string           `json:"database"` // the database's path
	Records   int              `json:"records"`  // records in it
	Platforms []PlatformResult `json:"platforms"`
}

// PlatformResult is what one platform's image holds.
type PlatformResult struct {
	Platform string    `json:"platform"`
	Digest   string    `json:"digest"`           // the image manifest's digest
	Distro   string    `json:"distro,omitempty"` // "debian-12", from os-release
	Packages int       `json:"packages"`         // packages compared with the database
	Findings []Finding `json:"findings"`         // worst first
	// Unmatched lists packages that could not be compared, each with why
	// ("example.com/app (devel): not a released version").
	Unmatched []string `json:"unmatched,omitempty"`
}

// Finding is one vulnerability of one installed package.
type Finding struct {
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases,omitempty"`
	Summary  string   `json:"summary,omitempty"`
	Severity Rating   `json:"severity"`
	Score    float64  `json:"score,omitempty"`  // CVSS base score, when rated by a vector
	Vector   string   `json:"vector,omitempty"` // that vector
	Package  string   `json:"package"`          // the installed package
	// Source is the package the record names when it is not Package:
	// a Debian source package, an apk origin.
	Source    string   `json:"source,omitempty"`
	Type      string   `json:"type"`      // deb, apk, golang (purl types)
	Ecosystem string   `json:"ecosystem"` // the record's: "Debian:12", "Go"
	Installed string   `json:"installed"`
	Fixed     []string `json:"fixed"` // versions that fix it; empty: no fix known
	PURL      string   `json:"purl"`
	Locations []string `json:"locations"` // image paths recording the package
	Record    string   `json:"record"`    // where the record was read: FILE or ZIP: ENTRY
}

// target is how one installed package is looked up in OSV.
type target struct {
	family  string // OSV ecosystem without release: Debian, Alpine, Go
	release func(ecosystem string) bool
	name    string // the name OSV records use
	alt     string // another name they may use (Red Hat: the source rpm's), or ""
	version string // the installed version as OSV writes it
	scheme  versionScheme
}

// targetOf maps a package to its OSV ecosystem, or says why it has none.
func targetOf(p sbom.Package, d *sbom.Distro) (target, string) {
	id, rel := "", ""
	if d != nil {
		id, rel = d.ID, d.VersionID
	}
	switch p.Type {
	case sbom.TypeDeb:
		fam := map[string]string{"": "Debian", "debian": "Debian", "ubuntu": "Ubuntu"}[id]
		if fam == "" {
			return target{}, fmt.Sprintf("a dpkg package of %s, a distribution OSV has no ecosystem for", id)
		}
		return target{family: fam, release: releaseMatch(fam, rel), name: p.Source, version: p.Version, scheme: dpkgScheme{}}, ""
	case sbom.TypeAPK:
		fam := map[string]string{"": "Alpine", "alpine": "Alpine", "wolfi": "Wolfi", "chainguard": "Chainguard"}[id]
		if fam == "" {
			return target{}, fmt.Sprintf("an apk package of %s, a distribution OSV has no ecosystem for", id)
		}
		if fam == "Alpine" && rel != "" {
			// Alpine's ecosystems name the branch: Alpine:v3.20.
			parts := strings.SplitN(rel, ".", 3)
			if len(parts) >= 2 {
				rel = "v" + parts[0] + "." + parts[1]
			}
		}
		return target{family: fam, release: releaseMatch(fam, rel), name: p.Source, version: p.Version, scheme: apkScheme{}}, ""
	case sbom.TypeRPM:
		return rpmTarget(p, d)
	case sbom.TypeGolang:
		v := p.Version
		if p.Name == "stdlib" {
			v = goStdlibVersion(v)
		}
		if _, err := (semverScheme{}).compare(v, "0"); err != nil {
			return target{}, "not a released version"
		}
		return target{family: "Go", release: func(e string) bool { return e == "Go" }, name: p.Name, version: strings.TrimPrefix(v, "v"), scheme: semverScheme{}}, ""
	}
	return target{}, "an ecosystem the scan does not know"
}

// rpmTarget maps an rpm to the OSV ecosystem of its distribution (OSV's
// ecosystems.json): Red Hat records name binary or source rpms and scope
// them to a product stream's CPE ("Red Hat:enterprise_linux:9::appstream":
// the image's major release, any of its mainline streams; not EUS, AUS
// or E4S ones); Rocky Linux and AlmaLinux ones name source packages
// ("Rocky Linux:9"); openSUSE and SUSE ones name source packages under
// the product's marketing name, os-release's PRETTY_NAME ("SUSE:Linux
// Enterprise Server 15 SP5", "openSUSE:Leap 15.5").
func rpmTarget(p sbom.Package, d *sbom.Distro) (target, string) {
	if d == nil {
		return target{}, "an rpm of an image without os-release: its distribution, and so its OSV ecosystem, is unknown"
	}
	major, _, _ := strings.Cut(d.VersionID, ".")
	t := target{name: p.Source, version: p.Version, scheme: rpmScheme{}}
	switch {
	case d.ID == "rhel":
		t.family, t.name = "Red Hat", p.Name
		if p.Source != p.Name {
			t.alt = p.Source
		}
		t.release = func(e string) bool {
			if e == "Red Hat" {
				return true
			}
			cpe, ok := strings.CutPrefix(e, "Red Hat:enterprise_linux:")
			if !ok || major == "" {
				return false
			}
			v, _, _ := strings.Cut(cpe, ":")
			return v == major
		}
		return t, ""
	case d.ID == "rocky":
		t.family = "Rocky Linux"
		t.release = releaseMatch(t.family, major)
	case d.ID == "almalinux":
		t.family = "AlmaLinux"
		t.release = releaseMatch(t.family, major)
	case strings.HasPrefix(d.ID, "opensuse"):
		t.family = "openSUSE"
		t.release = releaseMatch(t.family, strings.TrimPrefix(d.Name, "openSUSE "))
	case d.ID == "sles" || d.ID == "sled" || strings.HasPrefix(d.ID, "sle-") || strings.HasPrefix(d.ID, "sle_"):
		t.family = "SUSE"
		t.release = releaseMatch(t.family, strings.TrimPrefix(d.Name, "SUSE "))
	default:
		return target{}, fmt.Sprintf("an rpm of %s, a distribution OSV has no ecosystem for", d.ID)
	}
	return t, ""
}

// releaseMatch accepts the family's records for every release
// ("Debian") and those of the image's release ("Debian:12",
// "Alpine:v3.20", "Ubuntu:22.04:LTS"; not Ubuntu Pro's). An image without
// os-release gets the release-less records only.
func releaseMatch(family, release string) func(string) bool {
	return func(e string) bool {
		if e == family {
			return true
		}
		rest, ok := strings.CutPrefix(e, family+":")
		if !ok || release == "" {
			return false
		}
		first, _, _ := strings.Cut(rest, ":")
		return first == release
	}
}

// Wanted reports, for Load, whether any package of invs could match an
// affected package of ecosystem and name.
func Wanted(invs []sbom.PlatformInventory) func(ecosystem, name string) bool {
	want := map[string]bool{}
	for _, in := range invs {
		for _, p := range in.Inventory.Packages {
			if t, why := targetOf(p, in.Inventory.Distro); why == "" {
				want[t.family+"\x00"+t.name] = true
				if t.alt != "" {
					want[t.family+"\x00"+t.alt] = true
				}
			}
		}
	}
	return func(ecosystem, name string) bool { return want[packageKey(ecosystem, name)] }
}

// Match compares every package of every platform with db. An error names
// the record and version it could not compare.
func Match(db *Database, invs []sbom.PlatformInventory) (*Report, error) {
	r := &Report{Database: db.Path, Records: db.Records, Platforms: make([]PlatformResult, len(invs))}
	for i, in := range invs {
		pr := PlatformResult{Platform: platform.Format(in.Platform), Digest: in.Digest.String(), Findings: []Finding{}}
		if d := in.Inventory.Distro; d != nil {
			pr.Distro = d.ID
			if d.VersionID != "" {
				pr.Distro += "-" + d.VersionID
			}
		}
		for _, p := range in.Inventory.Packages {
			t, why := targetOf(p, in.Inventory.Distro)
			if why != "" {
				pr.Unmatched = append(pr.Unmatched, fmt.Sprintf("%s %s (%s): %s", p.Name, p.Version, p.Type, why))
				continue
			}
			pr.Packages++
			fs, err := matchPackage(db, p, t)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", pr.Platform, err)
			}
			pr.Findings = append(pr.Findings, fs...)
		}
		sort.SliceStable(pr.Findings, func(a, b int) bool {
			x, y := pr.Findings[a], pr.Findings[b]
			if x.Severity.Rank() != y.Severity.Rank() {
				return x.Severity.Rank() > y.Severity.Rank()
			}
			if x.Package != y.Package {
				return x.Package < y.Package
			}
			return x.ID < y.ID
		})
		r.Platforms[i] = pr
	}
	return r, nil
}

func matchPackage(db *Database, p sbom.Package, t target) ([]Finding, error) {
	var out []Finding
	seen := map[string]bool{} // records found under the package's other name
	for _, name := range []string{t.name, t.alt} {
		if name == "" {
			continue
		}
		fs, err := matchName(db, p, t, name, seen)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

func matchName(db *Database, p sbom.Package, t target, name string, seen map[string]bool) ([]Finding, error) {
	var out []Finding
	for _, e := range db.lookup(t.family, name) {
		if seen[e.rec.ID] {
			continue
		}
		for i := range e.rec.Affected {
			a := &e.rec.Affected[i]
			if a.Package.Name != name || !t.release(a.Package.Ecosystem) {
				continue
			}
			hit, fixed, err := affects(a, t.scheme, t.version)
			if err != nil {
				return nil, fmt.Errorf("OSV record %s (%s): package %s %s: %w", e.rec.ID, e.origin, name, a.Package.Ecosystem, err)
			}
			if !hit {
				continue
			}
			rating, score, vector := severityOf(e.rec, a)
			f := Finding{
				ID: e.rec.ID, Aliases: e.rec.Aliases, Summary: e.rec.Summary,
				Severity: rating, Score: score, Vector: vector,
				Package: p.Name, Type: p.Type, Ecosystem: a.Package.Ecosystem,
				Installed: p.Version, Fixed: fixed, PURL: p.PURL, Locations: p.Locations, Record: e.origin,
			}
			if name != p.Name {
				f.Source = name
			}
			seen[e.rec.ID] = true
			out = append(out, f)
			break // one finding per record and package
		}
	}
	return out, nil
}

// affects evaluates an affected entry for version v as the OSV schema's
// algorithm does: v is affected when it is listed in versions, or when in
// some SEMVER or ECOSYSTEM range (events in version order) the last
// introduced at or below v is not followed by a fixed at or below v or a
// last_affected below v, and v is below a limit if the range has any.
// fixed lists the range's fixed versions above v.
func affects(a *Affected, scheme versionScheme, v string) (bool, []string, error) {
	hit := false
	for _, x := range a.Versions {
		if x == v {
			hit = true
			break
		}
		c, err := scheme.compare(x, v)
		if err != nil {
			return false, nil, fmt.Errorf("versions: %w", err)
		}
		if c == 0 {
			hit = true
			break
		}
	}
	fixed := []string{}
	for i, rg := range a.Ranges {
		s := scheme
		switch rg.Type {
		case "SEMVER":
			s = semverScheme{}
		case "GIT":
			continue
		}
		in, fx, err := inRange(rg.Events, s, v)
		if err != nil {
			return false, nil, fmt.Errorf("ranges[%d] (%s, compared as %s): %w", i, rg.Type, s.name(), err)
		}
		if in {
			hit = true
			for _, f := range fx {
				if !contains(fixed, f) {
					fixed = append(fixed, f)
				}
			}
		}
	}
	return hit, fixed, nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// cmp0 compares a range version with v, "0" (introduced "0") being below
// everything.
func cmp0(s versionScheme, a, b string) (int, error) {
	switch {
	case a == "0" && b == "0":
		return 0, nil
	case a == "0":
		return -1, nil
	case b == "0":
		return 1, nil
	}
	return s.compare(a, b)
}

func inRange(events []Event, s versionScheme, v string) (bool, []string, error) {
	type ev struct {
		kind, version string
	}
	var evs []ev
	var limits []string
	for _, e := range events {
		switch {
		case e.Introduced != "":
			evs = append(evs, ev{"introduced", e.Introduced})
		case e.Fixed != "":
			evs = append(evs, ev{"fixed", e.Fixed})
		case e.LastAffected != "":
			evs = append(evs, ev{"last_affected", e.LastAffected})
		case e.Limit != "":
			limits = append(limits, e.Limit)
		}
	}
	var sortErr error
	sort.SliceStable(evs, func(i, j int) bool {
		c, err := cmp0(s, evs[i].version, evs[j].version)
		if err != nil && sortErr == nil {
			sortErr = err
		}
		return c < 0
	})
	if sortErr != nil {
		return false, nil, sortErr
	}
	affected := false
	var fixed []string
	for _, e := range evs {
		c, err := cmp0(s, v, e.version)
		if err != nil {
			return false, nil, err
		}
		switch e.kind {
		case "introduced":
			if c >= 0 {
				affected = true
			}
		case "fixed":
			if c >= 0 {
				affected = false
			} else if affected && fixed == nil {
				fixed = []string{e.version}
			}
		case "last_affected":
			if c > 0 {
				affected = false
			}
		}
	}
	if !affected {
		return false, nil, nil
	}
	if len(limits) > 0 {
		below := false
		for _, l := range limits {
			if l == "*" {
				below = true
				break
			}
			c, err := cmp0(s, v, l)
			if err != nil {
				return false, nil, err
			}
			if c < 0 {
				below = true
				break
			}
		}
		if !below {
			return false, nil, nil
		}
	}
	return true, fixed, nil
}
