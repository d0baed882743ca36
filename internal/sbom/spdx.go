package sbom

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Binary is one Go binary to describe.
type Binary struct {
	// Name is the file name the document shows ("manyarch-linux-arm64").
	Name string
	// SHA256 is the hex digest of the file.
	SHA256 string
	// Info is the binary's Go build information.
	Info *buildinfo.BuildInfo
}

// ReadBinary reads the build information and the digest of the Go binary
// at path. A file that is not a Go binary (or was built without module
// information) is an error naming the path.
func ReadBinary(path string) (Binary, error) {
	f, err := os.Open(path)
	if err != nil {
		return Binary{}, err
	}
	defer f.Close()
	info, err := buildinfo.Read(f)
	if err != nil {
		return Binary{}, fmt.Errorf("%s: no Go build information (%w): give a binary built by go build with modules", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Binary{}, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Binary{}, fmt.Errorf("%s: %w", path, err)
	}
	return Binary{Name: filepath.Base(path), SHA256: hex.EncodeToString(h.Sum(nil)), Info: info}, nil
}

// SPDX 2.3 JSON, the fields this package writes.
type spdxDoc struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      spdxCreation   `json:"creationInfo"`
	Packages          []spdxPackage  `json:"packages"`
	Files             []spdxFile     `json:"files,omitempty"`
	Relationships     []spdxRelation `json:"relationships"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID           string       `json:"SPDXID"`
	Name             string       `json:"name"`
	VersionInfo      string       `json:"versionInfo,omitempty"`
	DownloadLocation string       `json:"downloadLocation"`
	FilesAnalyzed    bool         `json:"filesAnalyzed"`
	Checksums        []spdxSum    `json:"checksums,omitempty"`
	LicenseConcluded string       `json:"licenseConcluded"`
	LicenseDeclared  string       `json:"licenseDeclared"`
	CopyrightText    string       `json:"copyrightText"`
	ExternalRefs     []spdxExtRef `json:"externalRefs,omitempty"`
	PrimaryPurpose   string       `json:"primaryPackagePurpose,omitempty"`
}

type spdxFile struct {
	SPDXID    string    `json:"SPDXID"`
	FileName  string    `json:"fileName"`
	Checksums []spdxSum `json:"checksums"`
}

type spdxSum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxExtRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelation struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// spdxID makes an SPDX identifier from parts: SPDXRef- and the parts with
// every character SPDX does not allow replaced by '-'.
func spdxID(parts ...string) string {
	return "SPDXRef-" + strings.Trim(idUnsafe.ReplaceAllString(strings.Join(parts, "-"), "-"), "-")
}

// goPURL is the package URL of a Go module (purl-spec's golang type): the
// module path's last element is the name, the rest the namespace, both with
// their case kept, as syft and Trivy write them.
func goPURL(path, version string) string {
	p := "pkg:golang/" + path
	if version != "" && version != "(devel)" {
		p += "@" + version
	}
	return p
}

// WriteSPDX writes one SPDX 2.3 JSON document describing the binaries of a
// product named name at version: a package for the product, a file per
// binary (with its SHA-256), a package per Go module any binary depends on
// (with its purl), the Go toolchain, and
// the CONTAINS and DEPENDS_ON relationships between them. created is the
// document's creation time (a release passes SOURCE_DATE_EPOCH so the
// document is reproducible).
func WriteSPDX(w io.Writer, name, version string, created time.Time, bins []Binary) error {
	if len(bins) == 0 {
		return fmt.Errorf("sbom: no binaries to describe")
	}
	sort.Slice(bins, func(i, j int) bool { return bins[i].Name < bins[j].Name })
	ns := sha256.New()
	for _, b := range bins {
		fmt.Fprintf(ns, "%s %s\n", b.SHA256, b.Name)
	}
	productID := spdxID("Package", name)
	doc := spdxDoc{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              name + "-" + version,
		DocumentNamespace: fmt.Sprintf("https://spdx.org/spdxdocs/%s-%s-%s", name, version, hex.EncodeToString(ns.Sum(nil))[:32]),
		CreationInfo:      spdxCreation{Created: created.UTC().Format(time.RFC3339), Creators: []string{"Tool: manyarch-sbom", "Organization: manyarch"}},
		Packages: []spdxPackage{{SPDXID: productID, Name: name, VersionInfo: version, DownloadLocation: "NOASSERTION",
			LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION", PrimaryPurpose: "APPLICATION"}},
		Relationships: []spdxRelation{{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: productID}},
	}
	type mod struct{ path, version string }
	mods := map[string]mod{}
	deps := map[string]map[string]bool{} // file ID -> module IDs
	goVersions := map[string]bool{}
	for _, b := range bins {
		fileID := spdxID("File", b.Name)
		doc.Files = append(doc.Files, spdxFile{SPDXID: fileID, FileName: "./" + b.Name, Checksums: []spdxSum{{"SHA256", b.SHA256}}})
		doc.Relationships = append(doc.Relationships, spdxRelation{Element: productID, Type: "CONTAINS", Related: fileID})
		deps[fileID] = map[string]bool{}
		goVersions[b.Info.GoVersion] = true
		deps[fileID][spdxID("Package", "go", b.Info.GoVersion)] = true
		for _, d := range b.Info.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			m := mod{d.Path, d.Version}
			id := spdxID("Package", "go", m.path, m.version)
			mods[id] = m
			deps[fileID][id] = true
		}
	}
	for v := range goVersions {
		doc.Packages = append(doc.Packages, spdxPackage{SPDXID: spdxID("Package", "go", v), Name: "stdlib", VersionInfo: v,
			DownloadLocation: "https://go.dev/dl/", LicenseConcluded: "NOASSERTION", LicenseDeclared: "BSD-3-Clause", CopyrightText: "NOASSERTION",
			ExternalRefs: []spdxExtRef{{"PACKAGE-MANAGER", "purl", "pkg:golang/stdlib@" + strings.TrimPrefix(v, "go")}}})
	}
	for id, m := range mods {
		p := spdxPackage{SPDXID: id, Name: m.path, VersionInfo: m.version, DownloadLocation: "https://proxy.golang.org/" + m.path,
			LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION",
			ExternalRefs: []spdxExtRef{{"PACKAGE-MANAGER", "purl", goPURL(m.path, m.version)}}}
		doc.Packages = append(doc.Packages, p)
	}
	sort.Slice(doc.Packages[1:], func(i, j int) bool { return doc.Packages[1+i].SPDXID < doc.Packages[1+j].SPDXID })
	var rel []spdxRelation
	for fileID, ids := range deps {
		for id := range ids {
			rel = append(rel, spdxRelation{Element: fileID, Type: "DEPENDS_ON", Related: id})
		}
	}
	sort.Slice(rel, func(i, j int) bool {
		if rel[i].Element != rel[j].Element {
			return rel[i].Element < rel[j].Element
		}
		return rel[i].Related < rel[j].Related
	})
	doc.Relationships = append(doc.Relationships, rel...)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
