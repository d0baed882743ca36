package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Subject names what an Inventory describes: an image and its platform.
type Subject struct {
	Name     string // the reference as the user gave it, "hello:1.0"
	Digest   string // the image manifest's digest, "sha256:..."
	Platform string // "linux/arm/v7"
}

// Formats WriteInventory knows.
const (
	FormatSPDX      = "spdx-json"
	FormatCycloneDX = "cyclonedx-json"
	FormatTable     = "table"
)

// WriteInventory writes inv in format (FormatSPDX, FormatCycloneDX or
// FormatTable). created is the document's creation time: the same
// inventory and time give the same bytes.
func WriteInventory(w io.Writer, format string, s Subject, inv *Inventory, created time.Time) error {
	switch format {
	case FormatSPDX:
		return writeJSON(w, ImageSPDX(s, inv, created))
	case FormatCycloneDX:
		return writeJSON(w, cycloneDX(s, inv, created))
	case FormatTable:
		return writeTable(w, inv)
	}
	return fmt.Errorf("unknown SBOM format %q: use %s, %s or %s", format, FormatSPDX, FormatCycloneDX, FormatTable)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeTable(w io.Writer, inv *Inventory) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tTYPE\tLOCATION")
	for _, p := range inv.Packages {
		loc := ""
		if len(p.Locations) > 0 {
			loc = p.Locations[0]
			if len(p.Locations) > 1 {
				loc += fmt.Sprintf(" (+%d)", len(p.Locations)-1)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Version, p.Type, loc)
	}
	return tw.Flush()
}

// docHash is a stable digest of what a document describes, for its
// namespace and serial number.
func docHash(s Subject, inv *Inventory) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", s.Name, s.Digest, s.Platform)
	for _, p := range inv.Packages {
		fmt.Fprintf(h, "%s\n", p.PURL)
	}
	return h.Sum(nil)
}

// ImageSPDX is the SPDX 2.3 document of an image's inventory: a package
// for the image (primary purpose CONTAINER) that CONTAINS one package per
// inventory package, each with its purl. It is what `build --sbom` stores
// as the https://spdx.dev/Document predicate.
func ImageSPDX(s Subject, inv *Inventory, created time.Time) any {
	imageID := spdxID("Package", "image")
	name := s.Name
	if name == "" {
		name = s.Digest
	}
	doc := spdxDoc{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              name + " " + s.Platform,
		DocumentNamespace: "https://manyarch.dev/spdxdocs/image-" + hex.EncodeToString(docHash(s, inv))[:32],
		CreationInfo:      spdxCreation{Created: created.UTC().Format(time.RFC3339), Creators: []string{"Tool: manyarch-sbom", "Organization: manyarch"}},
		Packages: []spdxPackage{{SPDXID: imageID, Name: name, VersionInfo: s.Digest, DownloadLocation: "NOASSERTION",
			LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION", PrimaryPurpose: "CONTAINER"}},
		Relationships: []spdxRelation{{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: imageID}},
	}
	for _, p := range inv.Packages {
		id := spdxID("Package", p.Type, p.Name, p.Version, p.Arch)
		// apk's L: is free text, not always an SPDX expression: it goes
		// to CycloneDX as a license name, here as NOASSERTION.
		sp := spdxPackage{SPDXID: id, Name: p.Name, VersionInfo: p.Version, DownloadLocation: "NOASSERTION",
			LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION", PrimaryPurpose: "LIBRARY"}
		if p.PURL != "" {
			sp.ExternalRefs = []spdxExtRef{{"PACKAGE-MANAGER", "purl", p.PURL}}
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, spdxRelation{Element: imageID, Type: "CONTAINS", Related: id})
	}
	return doc
}

// CycloneDX 1.6 JSON, the fields this package writes.
type cdxBOM struct {
	BOMFormat    string         `json:"bomFormat"`
	SpecVersion  string         `json:"specVersion"`
	SerialNumber string         `json:"serialNumber"`
	Version      int            `json:"version"`
	Metadata     cdxMetadata    `json:"metadata"`
	Components   []cdxComponent `json:"components"`
}

type cdxMetadata struct {
	Timestamp string       `json:"timestamp"`
	Tools     cdxTools     `json:"tools"`
	Component cdxComponent `json:"component"`
}

type cdxTools struct {
	Components []cdxComponent `json:"components"`
}

type cdxComponent struct {
	Type       string        `json:"type"`
	BOMRef     string        `json:"bom-ref,omitempty"`
	Name       string        `json:"name"`
	Version    string        `json:"version,omitempty"`
	PURL       string        `json:"purl,omitempty"`
	Licenses   []cdxLicense  `json:"licenses,omitempty"`
	Properties []cdxProperty `json:"properties,omitempty"`
}

type cdxLicense struct {
	License cdxLicenseName `json:"license"`
}

type cdxLicenseName struct {
	Name string `json:"name"`
}

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func cycloneDX(s Subject, inv *Inventory, created time.Time) cdxBOM {
	h := docHash(s, inv)
	// A name-based UUID (version 8 layout over SHA-256) keeps the serial
	// number stable for the same subject and packages.
	u := h[:16]
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	x := hex.EncodeToString(u)
	name := s.Name
	if name == "" {
		name = s.Digest
	}
	bom := cdxBOM{
		BOMFormat: "CycloneDX", SpecVersion: "1.6", Version: 1,
		SerialNumber: fmt.Sprintf("urn:uuid:%s-%s-%s-%s-%s", x[0:8], x[8:12], x[12:16], x[16:20], x[20:32]),
		Metadata: cdxMetadata{
			Timestamp: created.UTC().Format(time.RFC3339),
			Tools:     cdxTools{Components: []cdxComponent{{Type: "application", Name: "manyarch"}}},
			Component: cdxComponent{Type: "container", BOMRef: "image", Name: name, Version: s.Digest,
				Properties: []cdxProperty{{"manyarch:platform", s.Platform}}},
		},
		Components: []cdxComponent{},
	}
	for _, p := range inv.Packages {
		c := cdxComponent{Type: "library", BOMRef: p.PURL, Name: p.Name, Version: p.Version, PURL: p.PURL}
		if p.License != "" {
			c.Licenses = []cdxLicense{{cdxLicenseName{p.License}}}
		}
		for _, l := range p.Locations {
			c.Properties = append(c.Properties, cdxProperty{"manyarch:location", l})
		}
		bom.Components = append(bom.Components, c)
	}
	return bom
}
