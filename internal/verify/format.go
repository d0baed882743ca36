package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteText writes r for people: a table of platforms, then each finding
// with its cause and fix.
func WriteText(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	name := r.Reference
	if name == "" {
		name = r.Digest
	} else if r.Digest != "" {
		name += " (" + r.Digest + ")"
	}
	fmt.Fprintf(ew, "%s\n\n", name)
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "PLATFORM\tLAYERS\tFILES\tELF FILES\tMB READ\tERRORS\tWARNINGS\n")
	for _, p := range r.Platforms {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%d\t%d\n", p.Platform, p.Layers, p.Files, p.ELFFiles, float64(p.Bytes)/1e6, p.Errors, p.Warnings)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(ew, "skipped %s: %s\n", s.Digest, s.Reason)
	}
	if len(r.Findings) > 0 {
		fmt.Fprintf(ew, "\nindex\n")
		writeFindings(ew, r.Findings, nil)
	}
	for _, p := range r.Platforms {
		if len(p.Findings) == 0 {
			continue
		}
		fmt.Fprintf(ew, "\n%s  %s\n", p.Platform, p.Manifest)
		writeFindings(ew, p.Findings, p.Omitted)
	}
	fmt.Fprintf(ew, "\n%s\n", summary(r))
	return ew.err
}

func summary(r *Report) string {
	if r.Errors == 0 && r.Warnings == 0 {
		return fmt.Sprintf("no findings on %d platform%s", len(r.Platforms), plural(len(r.Platforms)))
	}
	return fmt.Sprintf("%d error%s, %d warning%s", r.Errors, plural(r.Errors), r.Warnings, plural(r.Warnings))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func writeFindings(w io.Writer, fs []Finding, omitted map[Code]int) {
	const indent = "           "
	for _, f := range fs {
		fmt.Fprintf(w, "  %-7s  %s\n", f.Severity, f.Code)
		fmt.Fprintf(w, "%s%s\n", indent, f.Message)
		if f.Found != "" || f.Expected != "" {
			fmt.Fprintf(w, "%sfound %s; expected %s\n", indent, f.Found, f.Expected)
		}
		if f.Layer != nil {
			fmt.Fprintf(w, "%slayer %d %s", indent, f.Layer.Index+1, f.Layer.Digest)
			if f.Layer.CreatedBy != "" {
				fmt.Fprintf(w, " (%s)", shorten(f.Layer.CreatedBy, 100))
			}
			fmt.Fprintln(w)
		}
		if f.Cause != "" {
			fmt.Fprintf(w, "%scause: %s\n", indent, f.Cause)
		}
		if f.Fix != "" {
			fmt.Fprintf(w, "%sfix:   %s\n", indent, f.Fix)
		}
	}
	codes := make([]string, 0, len(omitted))
	for c := range omitted {
		codes = append(codes, string(c))
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "  ... and %d more %s findings\n", omitted[Code(c)], c)
	}
}

// WriteJSON writes r as the stable JSON document doc.go describes.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// SARIF 2.1.0 (OASIS), the subset code-scanning UIs read.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string       `json:"id"`
	ShortDescription     sarifMessage `json:"shortDescription"`
	DefaultConfiguration struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      string          `json:"level"`
	Message    sarifMessage    `json:"message"`
	Locations  []sarifLocation `json:"locations,omitempty"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation struct {
		URI string `json:"uri"`
	} `json:"artifactLocation"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind"`
}

// WriteSARIF writes reports as one SARIF 2.1.0 log with one run per
// report: one rule per code, one result per finding, located at the file's
// path in the image, with the platform as a logical location and platform,
// layer, found and expected as properties.
func WriteSARIF(w io.Writer, reports ...*Report) error {
	codes := make([]string, 0, len(codeInfo))
	for c := range codeInfo {
		codes = append(codes, string(c))
	}
	sort.Strings(codes)
	index := map[Code]int{}
	drv := sarifDriver{Name: "manyarch verify", InformationURI: "https://github.com/manyarch/manyarch"}
	for i, c := range codes {
		index[Code(c)] = i
		rule := sarifRule{ID: c, ShortDescription: sarifMessage{Text: codeInfo[Code(c)].summary}}
		rule.DefaultConfiguration.Level = string(codeInfo[Code(c)].severity)
		drv.Rules = append(drv.Rules, rule)
	}
	log := sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{}}
	for _, r := range reports {
		run := sarifRun{Tool: sarifTool{Driver: drv}, Results: []sarifResult{}}
		name := r.Reference
		if name == "" {
			name = r.Digest
		}
		for _, f := range r.All() {
			run.Results = append(run.Results, sarifResultOf(f, name, index[f.Code]))
		}
		log.Runs = append(log.Runs, run)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(log)
}

func sarifResultOf(f Finding, artifact string, rule int) sarifResult {
	msg := f.Message
	if f.Cause != "" {
		msg += ". Cause: " + f.Cause
	}
	if f.Fix != "" {
		msg += ". Fix: " + f.Fix
	}
	res := sarifResult{RuleID: string(f.Code), RuleIndex: rule, Level: string(f.Severity), Message: sarifMessage{Text: msg}}
	loc := sarifLocation{}
	if strings.HasPrefix(f.Path, "/") {
		loc.PhysicalLocation = &sarifPhysical{}
		loc.PhysicalLocation.ArtifactLocation.URI = strings.TrimPrefix(f.Path, "/")
	}
	if f.Platform != "" {
		fq := artifact
		if f.Manifest != "" {
			fq += "@" + f.Manifest
		}
		loc.LogicalLocations = append(loc.LogicalLocations, sarifLogical{Name: f.Platform, FullyQualifiedName: fq, Kind: "module"})
	}
	if loc.PhysicalLocation != nil || loc.LogicalLocations != nil {
		res.Locations = []sarifLocation{loc}
	}
	props := map[string]any{}
	if f.Platform != "" {
		props["platform"] = f.Platform
	}
	if f.Layer != nil {
		props["layer"] = f.Layer
	}
	if f.Found != "" {
		props["found"] = f.Found
	}
	if f.Expected != "" {
		props["expected"] = f.Expected
	}
	if len(props) > 0 {
		res.Properties = props
	}
	return res
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, nil
}
