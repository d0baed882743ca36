package scan

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadBad(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	big := strings.Repeat(" ", MaxRecordSize+1)
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T) string
		want  string
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(dir, "nope") }, "no such file"},
		{"empty dir", func(t *testing.T) string { d := filepath.Join(dir, "empty"); os.Mkdir(d, 0o755); return d }, "has no records"},
		{"other file", func(t *testing.T) string { p := filepath.Join(dir, "db.tar"); writeFile(t, p, "x"); return p }, "neither a directory, a .zip nor a .json file"},
		{"not a zip", func(t *testing.T) string {
			p := filepath.Join(dir, "bad.zip")
			writeFile(t, p, "PK nonsense")
			return p
		}, "want a .zip of OSV JSON records"},
		{"malformed in zip", func(t *testing.T) string {
			p := filepath.Join(dir, "m.zip")
			writeZip(t, p, map[string]string{"GO-1.json": goRecord, "GO-2.json": `{"id": "GO-2", "affected": [}`})
			return p
		}, "m.zip: GO-2.json: not an OSV record: line 1 column 29"},
		{"malformed file", func(t *testing.T) string {
			p := filepath.Join(dir, "f", "X-1.json")
			writeFile(t, p, "{\n  \"id\": \"X-1\",\n  \"affected\": [{\"package\": {\"ecosystem\": \"Go\", \"name\": \"x\"}, \"ranges\": [{\"type\": \"SEMVER\", \"events\": [{\"introduced\": \"0\", \"fixed\": \"1\"}]}]}]\n}")
			return filepath.Dir(p)
		}, "X-1.json: X-1: affected[0].ranges[0].events[0] sets 2 of introduced"},
		{"no id", func(t *testing.T) string {
			p := filepath.Join(dir, "noid.json")
			writeFile(t, p, `{"affected": []}`)
			return p
		}, "noid.json: OSV record without an id"},
		{"bad range type", func(t *testing.T) string {
			p := filepath.Join(dir, "rt.json")
			writeFile(t, p, `{"id": "R", "affected": [{"package": {"ecosystem": "Go", "name": "x"}, "ranges": [{"type": "SEMVERS", "events": [{"introduced": "0"}]}]}]}`)
			return p
		}, `has type "SEMVERS"`},
		{"too large file", func(t *testing.T) string { p := filepath.Join(dir, "big.json"); writeFile(t, p, big); return p }, "more than the 16777216 bytes a record may have"},
		{"too large entry", func(t *testing.T) string {
			p := filepath.Join(dir, "bomb.zip")
			writeZip(t, p, map[string]string{"BOMB.json": big})
			return p
		}, "bomb.zip: BOMB.json is 16777217 bytes, more than the 16777216 a record may have"},
		{"entry larger than declared", func(t *testing.T) string {
			p := filepath.Join(dir, "liar.zip")
			var comp bytes.Buffer
			fw, _ := flate.NewWriter(&comp, flate.BestCompression)
			fw.Write([]byte(big))
			fw.Close()
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			w, err := zw.CreateRaw(&zip.FileHeader{Name: "LIAR.json", Method: zip.Deflate, CompressedSize64: uint64(comp.Len()), UncompressedSize64: 100})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(comp.Bytes())
			zw.Close()
			writeFile(t, p, buf.String())
			return p
		}, "liar.zip: LIAR.json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(ctx, tt.setup(t), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// Withdrawn records are left out; a record read twice keeps the later
// modification; keep leaves out what no image holds.
func TestLoadKeep(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a", "GO-2099-0001.json"), goRecord)
	writeFile(t, filepath.Join(dir, "b", "GO-2099-0001.json"), strings.Replace(strings.Replace(goRecord, "2099-01-02", "2099-03-04", 1), "1.22.4", "1.22.9", 1))
	writeFile(t, filepath.Join(dir, "c", "GO-OLD.json"), `{"id": "GO-OLD", "withdrawn": "2099-01-01T00:00:00Z", "affected": []}`)
	writeFile(t, filepath.Join(dir, "d", "ALPINE.json"), alpineRecord)
	db, err := Load(context.Background(), dir, func(eco, name string) bool { return eco == "Go" && name == "stdlib" })
	if err != nil {
		t.Fatal(err)
	}
	if db.Records != 4 || db.Withdrawn != 1 {
		t.Errorf("Records, Withdrawn = %d, %d; want 4, 1", db.Records, db.Withdrawn)
	}
	es := db.lookup("Go", "stdlib")
	if len(es) != 1 || !strings.Contains(es[0].origin, filepath.Join("b", "GO-2099-0001.json")) {
		t.Errorf("stdlib records = %+v, want the one modified last", es)
	}
	if es := db.lookup("Alpine:v3.20", "busybox"); len(es) != 0 {
		t.Errorf("busybox records = %d, want none kept", len(es))
	}
}
