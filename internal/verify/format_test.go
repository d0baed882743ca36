package verify

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func defectReport(t *testing.T) *Report {
	img := imageOf(t, "linux/arm64", []string{"/app/hello"}, base(t, "arm64"),
		step{"COPY --from=build /out/hello /app/hello", layerOf(t, exe("app/hello", goHello(t, "amd64", "")))})
	r := run(t, indexOf(t, entryOf{platform: "linux/arm64", img: img}), WithRequire(mustPlatforms(t, "linux/amd64")...))
	r.Reference = "example.com/hello:1.0"
	return r
}

func TestWriteJSON(t *testing.T) {
	r := defectReport(t)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SchemaVersion int    `json:"schemaVersion"`
		Reference     string `json:"reference"`
		Errors        int    `json:"errors"`
		Findings      []map[string]any
		Platforms     []struct {
			Platform string
			ElfFiles int `json:"elfFiles"`
			Findings []map[string]any
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JSON report does not parse: %v", err)
	}
	if doc.SchemaVersion != 1 || doc.Reference != "example.com/hello:1.0" || doc.Errors != 2 {
		t.Errorf("schemaVersion, reference, errors = %d, %q, %d; want 1, example.com/hello:1.0, 2", doc.SchemaVersion, doc.Reference, doc.Errors)
	}
	if len(doc.Findings) != 1 || doc.Findings[0]["code"] != "missing-platform" {
		t.Errorf("index findings = %v, want missing-platform", doc.Findings)
	}
	if len(doc.Platforms) != 1 || doc.Platforms[0].ElfFiles != 2 || len(doc.Platforms[0].Findings) != 1 {
		t.Fatalf("platforms = %+v", doc.Platforms)
	}
	f := doc.Platforms[0].Findings[0]
	layer, _ := f["layer"].(map[string]any)
	if f["code"] != "entrypoint-wrong-arch" || f["severity"] != "error" || f["path"] != "/app/hello" || layer["index"] != 1.0 || layer["createdBy"] == nil {
		t.Errorf("first finding = %v", f)
	}
}

func TestWriteSARIF(t *testing.T) {
	r := defectReport(t)
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, r); err != nil {
		t.Fatal(err)
	}
	var log sarifLog
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatalf("SARIF does not parse: %v", err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("version %q, %d runs", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	if len(run.Results) != len(r.All()) {
		t.Errorf("%d results, want %d", len(run.Results), len(r.All()))
	}
	for _, res := range run.Results {
		if run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("result %s points at rule %d (%s)", res.RuleID, res.RuleIndex, run.Tool.Driver.Rules[res.RuleIndex].ID)
		}
		if res.Level != "error" && res.Level != "warning" {
			t.Errorf("level %q", res.Level)
		}
	}
	if loc := run.Results[1].Locations; len(loc) == 0 || loc[0].PhysicalLocation == nil || loc[0].PhysicalLocation.ArtifactLocation.URI != "app/hello" {
		t.Errorf("locations = %+v, want app/hello", loc)
	}
}

func TestWriteText(t *testing.T) {
	r := defectReport(t)
	var buf bytes.Buffer
	if err := WriteText(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, s := range []string{
		"PLATFORM     LAYERS  FILES  ELF FILES  MB READ  ERRORS  WARNINGS",
		"linux/arm64",
		"  error    entrypoint-wrong-arch\n",
		"/app/hello\" is a linux/amd64 Go executable in the linux/arm64 image; the container fails with 'exec format error'",
		"layer 2 sha256:",
		"(COPY --from=build /out/hello /app/hello)",
		"fix:   set GOOS=linux GOARCH=$TARGETARCH",
		"2 errors, 0 warnings",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("text report lacks %q:\n%s", s, out)
		}
	}
}
