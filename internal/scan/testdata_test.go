package scan

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Records in the shapes osv.dev exports (trimmed): a Go standard library
// record as the Go vulnerability database writes it (no severity, a
// "-0" pre-release introduced), a Debian one keyed on the source package
// with a CVSS vector, and an Alpine one by origin.
const (
	goRecord = `{
  "schema_version": "1.3.1",
  "id": "GO-2099-0001",
  "modified": "2099-01-02T00:00:00Z",
  "aliases": ["CVE-2099-1111"],
  "summary": "Test vulnerability in net/http",
  "affected": [{
    "package": {"name": "stdlib", "ecosystem": "Go"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.21.11"}, {"introduced": "1.22.0-0"}, {"fixed": "1.22.4"}]}],
    "ecosystem_specific": {"imports": [{"path": "net/http", "symbols": ["Serve"]}]}
  }],
  "database_specific": {"url": "https://pkg.go.dev/vuln/GO-2099-0001", "review_status": "REVIEWED"}
}`
	debianRecord = `{
  "id": "DEBIAN-CVE-2099-2222",
  "modified": "2099-01-02T00:00:00Z",
  "aliases": ["CVE-2099-2222"],
  "summary": "glibc test vulnerability",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
  "affected": [{
    "package": {"name": "glibc", "ecosystem": "Debian:12", "purl": "pkg:deb/debian/glibc?arch=source"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u10"}]}]
  }, {
    "package": {"name": "glibc", "ecosystem": "Debian:11"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.31-13+deb11u9"}]}]
  }]
}`
	alpineRecord = `{
  "id": "ALPINE-CVE-2099-3333",
  "modified": "2099-01-02T00:00:00Z",
  "database_specific": {"severity": "MODERATE"},
  "affected": [{
    "package": {"name": "busybox", "ecosystem": "Alpine:v3.20"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.36.1-r30"}]}]
  }]
}`
)

// writeZip writes entries (name → body) as a zip file.
func writeZip(t testing.TB, path string, entries map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range entries {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.String())
}

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
