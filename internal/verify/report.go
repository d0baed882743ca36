package verify

import "sort"

// Severity says whether a finding fails verification.
type Severity string

const (
	// SeverityError: the image will fail at run time on this platform, or
	// its metadata is wrong.
	SeverityError Severity = "error"
	// SeverityWarning: likely wrong, but the image may still work.
	SeverityWarning Severity = "warning"
)

// Code names a kind of finding. Codes are stable: scripts may match them.
type Code string

// The finding codes; doc.go describes each.
const (
	CodeWrongArch               Code = "wrong-arch"
	CodeRootFSWrongArch         Code = "rootfs-wrong-arch"
	CodeWrongVariant            Code = "wrong-variant"
	CodeFloatABI                Code = "float-abi"
	CodeMalformedELF            Code = "malformed-elf"
	CodeConfigMismatch          Code = "config-mismatch"
	CodeDuplicatePlatform       Code = "duplicate-platform"
	CodeMissingPlatform         Code = "missing-platform"
	CodeUnknownPlatform         Code = "unknown-platform"
	CodeDigestMismatch          Code = "digest-mismatch"
	CodeIndexInconsistent       Code = "index-inconsistent"
	CodeLayerUnreadable         Code = "layer-unreadable"
	CodeMissingInterpreter      Code = "missing-interpreter"
	CodeEntrypointMissing       Code = "entrypoint-missing"
	CodeEntrypointNotExecutable Code = "entrypoint-not-executable"
	CodeEntrypointWrongArch     Code = "entrypoint-wrong-arch"
	CodeMissingLibrary          Code = "missing-library"
)

// codeInfo describes a code for reports (SARIF rules, docs).
var codeInfo = map[Code]struct {
	severity Severity
	summary  string
}{
	CodeWrongArch:               {SeverityError, "An ELF file is built for another architecture than its platform"},
	CodeRootFSWrongArch:         {SeverityError, "Most of the file system is built for another architecture"},
	CodeWrongVariant:            {SeverityError, "An ELF file needs another CPU variant (ARM version, GOARM, GOAMD64)"},
	CodeFloatABI:                {SeverityError, "An ARM ELF file uses the other floating-point calling convention"},
	CodeMalformedELF:            {SeverityWarning, "A file starts with the ELF magic but its header is unusable"},
	CodeConfigMismatch:          {SeverityError, "The index's platform and the image config disagree"},
	CodeDuplicatePlatform:       {SeverityError, "The index lists one platform twice"},
	CodeMissingPlatform:         {SeverityError, "A required platform is not in the index"},
	CodeUnknownPlatform:         {SeverityWarning, "The platform is not one verify knows; its ELF files were not checked"},
	CodeDigestMismatch:          {SeverityError, "A manifest, config or layer does not match its digest or size"},
	CodeIndexInconsistent:       {SeverityError, "The index is inconsistent (internal/index.Validate): media types, attestations, nesting"},
	CodeLayerUnreadable:         {SeverityError, "A layer cannot be read to the end"},
	CodeMissingInterpreter:      {SeverityError, "A dynamically linked program's loader (PT_INTERP) is missing or wrong"},
	CodeEntrypointMissing:       {SeverityError, "The entrypoint/cmd program does not exist in the image"},
	CodeEntrypointNotExecutable: {SeverityError, "The entrypoint/cmd program cannot be executed"},
	CodeEntrypointWrongArch:     {SeverityError, "The entrypoint/cmd program is built for another architecture"},
	CodeMissingLibrary:          {SeverityWarning, "A shared library a program needs is not in the library paths"},
}

// LayerRef says which layer a finding's file came from.
type LayerRef struct {
	// Index is the layer's position in the manifest, from 0 (the base).
	Index int `json:"index"`
	// Digest is the layer blob's digest.
	Digest string `json:"digest"`
	// CreatedBy is the config history's created_by for the layer, when
	// the history lines up with the layers.
	CreatedBy string `json:"createdBy,omitempty"`
}

// Finding is one problem.
type Finding struct {
	Severity Severity  `json:"severity"`
	Code     Code      `json:"code"`
	Platform string    `json:"platform,omitempty"`
	Manifest string    `json:"manifest,omitempty"` // digest of the platform's manifest
	Layer    *LayerRef `json:"layer,omitempty"`
	Path     string    `json:"path,omitempty"` // absolute path in the image
	Found    string    `json:"found,omitempty"`
	Expected string    `json:"expected,omitempty"`
	Message  string    `json:"message"`
	Cause    string    `json:"cause,omitempty"`
	Fix      string    `json:"fix,omitempty"`
}

// PlatformReport is the result for one platform's image.
type PlatformReport struct {
	Platform string `json:"platform"`
	Manifest string `json:"manifest"`
	Layers   int    `json:"layers"`
	// Files is the number of regular files in the final file system;
	// ELFFiles how many of them are ELF files.
	Files    int `json:"files"`
	ELFFiles int `json:"elfFiles"`
	// Bytes is the uncompressed layer data read.
	Bytes    int64     `json:"bytes"`
	Errors   int       `json:"errors"`
	Warnings int       `json:"warnings"`
	Findings []Finding `json:"findings"`
	// Omitted counts findings left out per code past the limit
	// (WithFindingLimit); they are counted in Errors and Warnings.
	Omitted map[Code]int `json:"omitted,omitempty"`
}

// Skipped is an index entry verify did not check, and why.
type Skipped struct {
	Digest string `json:"digest"`
	Reason string `json:"reason"`
}

// Report is the result of Run.
type Report struct {
	SchemaVersion int    `json:"schemaVersion"`
	Reference     string `json:"reference,omitempty"`
	MediaType     string `json:"mediaType"`
	Digest        string `json:"digest"`
	// Findings are about the index as a whole (missing platforms).
	Findings  []Finding        `json:"findings"`
	Platforms []PlatformReport `json:"platforms"`
	Skipped   []Skipped        `json:"skipped,omitempty"`
	Errors    int              `json:"errors"`
	Warnings  int              `json:"warnings"`
}

// Failed reports whether the report fails verification: any error, or with
// strict any warning.
func (r *Report) Failed(strict bool) bool {
	return r.Errors > 0 || (strict && r.Warnings > 0)
}

// All returns every finding kept, index-level first, in report order.
func (r *Report) All() []Finding {
	out := append([]Finding(nil), r.Findings...)
	for _, p := range r.Platforms {
		out = append(out, p.Findings...)
	}
	return out
}

// collector gathers one platform's findings, keeping at most limit per code.
type collector struct {
	limit    int
	perCode  map[Code]int
	findings []Finding
	omitted  map[Code]int
	errors   int
	warnings int
}

func (c *collector) add(f Finding) {
	if f.Severity == "" {
		f.Severity = codeInfo[f.Code].severity
	}
	// A wrong-architecture entrypoint is one finding, not two: the
	// entrypoint's says more (the container fails to start) than the
	// file's own wrong-arch.
	switch f.Code {
	case CodeWrongArch:
		for _, g := range c.findings {
			if g.Code == CodeEntrypointWrongArch && g.Path == f.Path {
				return
			}
		}
	case CodeEntrypointWrongArch:
		c.drop(CodeWrongArch, f.Path)
	}
	if f.Severity == SeverityError {
		c.errors++
	} else {
		c.warnings++
	}
	if c.perCode == nil {
		c.perCode = map[Code]int{}
	}
	c.perCode[f.Code]++
	if c.limit > 0 && c.perCode[f.Code] > c.limit {
		if c.omitted == nil {
			c.omitted = map[Code]int{}
		}
		c.omitted[f.Code]++
		return
	}
	c.findings = append(c.findings, f)
}

// drop removes a kept finding of code at path, and its count.
func (c *collector) drop(code Code, path string) {
	for i, g := range c.findings {
		if g.Code != code || g.Path != path {
			continue
		}
		c.findings = append(c.findings[:i], c.findings[i+1:]...)
		c.perCode[code]--
		if g.Severity == SeverityError {
			c.errors--
		} else {
			c.warnings--
		}
		return
	}
}

// sorted returns the findings errors first, then by code and path.
func (c *collector) sorted() []Finding {
	out := append([]Finding{}, c.findings...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Severity != b.Severity {
			return a.Severity == SeverityError
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		return a.Path < b.Path
	})
	return out
}
