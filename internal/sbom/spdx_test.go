package sbom

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// testBinary builds manyarch itself (cached after the suite's own build) and
// returns its path: a Go binary with many module dependencies.
func testBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), "manyarch")
	cmd := exec.Command(goTool, "build", "-o", out, "github.com/manyarch/manyarch/cmd/manyarch")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build manyarch to describe (%v): %s", err, b)
	}
	return out
}

func TestWriteSPDX(t *testing.T) {
	b, err := ReadBinary(testBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Info.Deps) < 10 {
		t.Fatalf("manyarch's build info lists %d modules, want its dependencies", len(b.Info.Deps))
	}
	created := time.Unix(1700000000, 0)
	var one, two bytes.Buffer
	if err := WriteSPDX(&one, "manyarch", "v1.2.3", created, []Binary{b}); err != nil {
		t.Fatal(err)
	}
	if err := WriteSPDX(&two, "manyarch", "v1.2.3", created, []Binary{b}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one.Bytes(), two.Bytes()) {
		t.Fatal("two documents of the same binaries differ: the SBOM is not deterministic")
	}
	var doc struct {
		SPDXVersion  string `json:"spdxVersion"`
		CreationInfo struct{ Created string }
		Packages     []struct {
			SPDXID, Name, VersionInfo string
			ExternalRefs              []struct{ ReferenceLocator string }
		}
		Files         []struct{ FileName string }
		Relationships []struct{ SpdxElementId, RelationshipType, RelatedSpdxElement string }
	}
	if err := json.Unmarshal(one.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "2023-11-14T22:13:20Z" {
		t.Errorf("header = %s %s", doc.SPDXVersion, doc.CreationInfo.Created)
	}
	ids := map[string]bool{"SPDXRef-DOCUMENT": true}
	purls := map[string]bool{}
	for _, p := range doc.Packages {
		if ids[p.SPDXID] {
			t.Errorf("duplicate SPDXID %s", p.SPDXID)
		}
		ids[p.SPDXID] = true
		for _, r := range p.ExternalRefs {
			purls[r.ReferenceLocator] = true
		}
	}
	for _, f := range doc.Files {
		ids[strings.Replace(f.FileName, "./", "", 1)] = true
	}
	for _, d := range b.Info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		if !purls["pkg:golang/"+d.Path+"@"+d.Version] {
			t.Errorf("module %s %s has no package with its purl", d.Path, d.Version)
		}
	}
	if !purls["pkg:golang/stdlib@"+strings.TrimPrefix(runtime.Version(), "go")] {
		t.Errorf("no stdlib package for %s", runtime.Version())
	}
	for _, r := range doc.Relationships {
		if !ids[r.RelatedSpdxElement] && !strings.HasPrefix(r.RelatedSpdxElement, "SPDXRef-File-") {
			t.Errorf("relationship %s %s %s: unknown element", r.SpdxElementId, r.RelationshipType, r.RelatedSpdxElement)
		}
	}
}

func TestReadBinaryNotGo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := ReadBinary(p)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("ReadBinary(a shell script) = %v, want an error naming %s", err, p)
	}
	if _, err := exec.LookPath("true"); err == nil {
		if _, err := ReadBinary("/bin/true"); err == nil {
			t.Error("ReadBinary(/bin/true, a C program) succeeded")
		}
	}
}
