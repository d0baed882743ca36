package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/manyarch/manyarch/internal/sarif"
)

// AtLeast counts the findings of every platform rated min or worse.
func (r *Report) AtLeast(min Rating) int {
	n := 0
	for _, p := range r.Platforms {
		for _, f := range p.Findings {
			if f.Severity.Rank() >= min.Rank() {
				n++
			}
		}
	}
	return n
}

// counts is the number of findings per rating, worst first, for summaries.
func counts(fs []Finding) string {
	n := map[Rating]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	var parts []string
	for _, rt := range []Rating{Critical, High, Medium, Low, Unknown} {
		if n[rt] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[rt], strings.ToLower(string(rt))))
		}
	}
	return strings.Join(parts, ", ")
}

// WriteTable writes r for people: per platform, one line per finding.
func WriteTable(w io.Writer, r *Report) error {
	ew := &bytes.Buffer{}
	fmt.Fprintf(ew, "%s against %s (%d records)\n", r.Reference, r.Database, r.Records)
	total := 0
	for _, p := range r.Platforms {
		total += len(p.Findings)
		fmt.Fprintf(ew, "\n%s  %s", p.Platform, p.Digest)
		if p.Distro != "" {
			fmt.Fprintf(ew, "  %s", p.Distro)
		}
		fmt.Fprintln(ew)
		if len(p.Findings) == 0 {
			fmt.Fprintf(ew, "  no known vulnerabilities in %d package%s\n", p.Packages, plural(p.Packages))
		} else {
			fmt.Fprintf(ew, "  %d vulnerabilit%s in %d package%s: %s\n", len(p.Findings), ies(len(p.Findings)), p.Packages, plural(p.Packages), counts(p.Findings))
			tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  SEVERITY\tID\tPACKAGE\tINSTALLED\tFIXED\tALIASES")
			for _, f := range p.Findings {
				pkg := f.Package
				if f.Source != "" {
					pkg += " (" + f.Source + ")"
				}
				fixed := strings.Join(f.Fixed, ", ")
				if fixed == "" {
					fixed = "(no fix)"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, f.ID, pkg, f.Installed, fixed, strings.Join(f.Aliases, ", "))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if len(p.Unmatched) > 0 {
			fmt.Fprintf(ew, "  not compared: %s\n", strings.Join(p.Unmatched, "; "))
		}
	}
	fmt.Fprintf(ew, "\n%d vulnerabilit%s on %d platform%s\n", total, ies(total), len(r.Platforms), plural(len(r.Platforms)))
	_, err := w.Write(ew.Bytes())
	return err
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func ies(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}

// WriteJSON writes r as the stable JSON document of docs/json.md.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// sarifLevel maps a rating to SARIF's levels: CRITICAL and HIGH are
// errors, MEDIUM a warning, LOW and UNKNOWN notes.
func sarifLevel(r Rating) string {
	switch r {
	case Critical, High:
		return "error"
	case Medium:
		return "warning"
	}
	return "note"
}

// WriteSARIF writes r as a SARIF 2.1.0 log of one run: one rule per
// vulnerability id (with GitHub's security-severity property when the
// record has a CVSS score), one result per platform and package, located
// at the package's record in the image (the dpkg status file, the apk
// database, the Go binary) with the platform as a logical location.
func WriteSARIF(w io.Writer, r *Report) error {
	drv := sarif.Driver{Name: "manyarch scan", InformationURI: "https://github.com/manyarch/manyarch", Rules: []sarif.Rule{}}
	rule := map[string]int{}
	var ids []string
	first := map[string]Finding{}
	for _, p := range r.Platforms {
		for _, f := range p.Findings {
			if _, ok := first[f.ID]; !ok {
				first[f.ID] = f
				ids = append(ids, f.ID)
			}
		}
	}
	sort.Strings(ids)
	for i, id := range ids {
		f := first[id]
		text := f.Summary
		if text == "" {
			text = id + " in " + f.Package
		}
		props := map[string]any{"tags": []string{"security", "vulnerability"}, "severity": string(f.Severity)}
		if f.Score > 0 {
			props["security-severity"] = fmt.Sprintf("%.1f", f.Score)
		}
		if len(f.Aliases) > 0 {
			props["aliases"] = f.Aliases
		}
		drv.Rules = append(drv.Rules, sarif.Rule{ID: id, ShortDescription: sarif.Message{Text: text}, Properties: props})
		rule[id] = i
	}
	run := sarif.Run{Tool: sarif.Tool{Driver: drv}, Results: []sarif.Result{}}
	for _, p := range r.Platforms {
		for _, f := range p.Findings {
			fixed := "no fix is known"
			if len(f.Fixed) > 0 {
				fixed = "fixed in " + strings.Join(f.Fixed, ", ")
			}
			res := sarif.Result{
				RuleID: f.ID, RuleIndex: rule[f.ID], Level: sarifLevel(f.Severity),
				Message: sarif.Message{Text: fmt.Sprintf("%s %s on %s is affected by %s (%s): %s", f.Package, f.Installed, p.Platform, f.ID, f.Severity, fixed)},
				Properties: map[string]any{"platform": p.Platform, "package": f.Package, "installed": f.Installed,
					"fixed": f.Fixed, "purl": f.PURL, "severity": string(f.Severity)},
			}
			loc := sarif.Location{LogicalLocations: []sarif.LogicalLocation{{Name: p.Platform, FullyQualifiedName: r.Reference + "@" + p.Digest, Kind: "module"}}}
			if len(f.Locations) > 0 {
				loc.PhysicalLocation = &sarif.PhysicalLocation{}
				loc.PhysicalLocation.ArtifactLocation.URI = strings.TrimPrefix(f.Locations[0], "/")
			}
			res.Locations = []sarif.Location{loc}
			run.Results = append(run.Results, res)
		}
	}
	return sarif.Write(w, sarif.New(run))
}
