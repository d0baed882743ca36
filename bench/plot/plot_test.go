package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/scale.golden.svg")

func readResults(t *testing.T) *results {
	t.Helper()
	data, err := os.ReadFile("testdata/scale.json")
	if err != nil {
		t.Fatal(err)
	}
	res, err := parse("testdata/scale.json", data)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// wellFormed parses svg as XML and returns the text of every element named
// name.
func wellFormed(t *testing.T, svg []byte, name string) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	var in bool
	var cur strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Local == name {
				in = true
				cur.Reset()
			}
		case xml.CharData:
			if in {
				cur.Write(e)
			}
		case xml.EndElement:
			if e.Name.Local == name {
				in = false
				texts = append(texts, cur.String())
			}
		}
	}
	return texts
}

func TestRenderGolden(t *testing.T) {
	res := readResults(t)
	got := render(res)
	if again := render(readResults(t)); !bytes.Equal(got, again) {
		t.Fatal("render gave different bytes for the same input")
	}
	const golden = "testdata/scale.golden.svg"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./bench/plot -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("render(testdata/scale.json) differs from %s (go test ./bench/plot -update, then look at the SVG)", golden)
	}
}

func TestRenderStructure(t *testing.T) {
	svg := render(readResults(t))
	if bytes.Contains(svg, []byte("NaN")) || bytes.Contains(svg, []byte("Inf")) {
		t.Error("the SVG has a NaN or Inf coordinate")
	}
	for _, id := range []string{"build-emulated-run-against-platforms", "build-copy-against-platforms",
		"build-copy-of-a-context-3-platforms-against-files", "registry-push-and-pull-against-image-size"} {
		if !bytes.Contains(svg, []byte(`<g id="`+id+`">`)) {
			t.Errorf("no panel %q", id)
		}
	}
	// Panels in bench/scale.sh's order of axes.
	order := regexp.MustCompile(`<g id="([a-z0-9-]+)">`).FindAllSubmatch(svg, -1)
	if len(order) != 4 || string(order[0][1]) != "build-emulated-run-against-platforms" || string(order[3][1]) != "registry-push-and-pull-against-image-size" {
		t.Errorf("panels in the order %q", order)
	}
	texts := strings.Join(wellFormed(t, svg, "text"), "\n")
	for _, want := range []string{
		"manyarch cold", "buildkit cold", "manyarch cached", "buildkit changed (failed at 20k)",
		"manyarch push", "crane pull", "files in the context (log scale)", "image size, MiB (log scale)",
		"seconds, median (log scale)", "100k", "2048",
		"manyarch 0123456789ab", "Test CPU <2 cores> & co", "single run per tool (RUNS=1)",
		"Shared machine", "25.6 min", "buildkit v0.34.2, crane",
	} {
		if !strings.Contains(texts, want) {
			t.Errorf("no text %q in the SVG", want)
		}
	}
	// The platforms axis (1 to 7) is linear; sizes spanning 100x are log.
	if strings.Contains(texts, "platforms (log scale)") {
		t.Error("the platforms axis is on a log scale")
	}
	// One circle per measured median: 12 rows × 2 tools for the builds of
	// the platforms axis, 9 × 2 - 1 failed for the context, 6 × 2 images.
	if got, want := len(wellFormed(t, svg, "circle")), 24+17+12; got != want {
		t.Errorf("%d points, want %d", got, want)
	}
}

func TestRenderMissing(t *testing.T) {
	res := readResults(t)
	// Every run of one panel failed, and one series misses its middle size.
	for i := range res.Rows {
		r := &res.Rows[i]
		if r.Axis == "image" {
			r.OursMedian, r.PeerMedian, r.OursMin, r.PeerMin = nil, nil, nil, nil
		}
		if r.Axis == "platforms" && r.Size == 3 && r.Series == "cold" {
			r.OursMedian = nil
		}
	}
	res.Rows = append(res.Rows[:1], res.Rows[2:]...) // a row not there at all
	svg := render(res)
	if bytes.Contains(svg, []byte("NaN")) || bytes.Contains(svg, []byte("Inf")) {
		t.Fatal("a missing value gave a NaN or Inf coordinate")
	}
	texts := strings.Join(wellFormed(t, svg, "text"), "\n")
	for _, want := range []string{"no data: every run failed", "manyarch push (no data)", "manyarch cold (failed at 3)"} {
		if !strings.Contains(texts, want) {
			t.Errorf("no text %q in the SVG", want)
		}
	}
}

func TestCaptionWraps(t *testing.T) {
	res := readResults(t)
	res.Note = strings.Repeat("a shared machine, ", 30)
	res.Machine.CPU = strings.Repeat("x", 200)
	svg := render(res)
	var notes int
	for _, l := range wellFormed(t, svg, "text") {
		if len([]rune(l)) > captionChars && !strings.Contains(l, res.Machine.CPU) {
			t.Errorf("a caption line of %d characters, want at most %d: %q", len([]rune(l)), captionChars, l)
		}
		if strings.Contains(l, "shared machine") {
			notes++
		}
	}
	if notes < 3 {
		t.Errorf("the note of %d characters is on %d lines, want 3 or more", len(res.Note), notes)
	}
	if !strings.Contains(string(svg), res.Machine.CPU) {
		t.Error("a word longer than a line was lost")
	}
}

func TestParseErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/scale.json")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.MarshalIndent(m, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	row0 := func(m map[string]any) map[string]any { return m["rows"].([]any)[0].(map[string]any) }
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"truncated", string(good[:200]), []string{"in.json:", "not valid JSON", "bench/scale.sh"}},
		{"bad syntax", "{\n \"rows\": [\n  {\"axis\": platforms}\n ]\n}\n", []string{"in.json:3:13:", "not valid JSON"}},
		{"size as text", edit(func(m map[string]any) { row0(m)["size"] = "seven" }), []string{"in.json:", "rows.size is a JSON string, want number"}},
		{"rows not a list", `{"rows": {"a": 1}}`, []string{"in.json:1:", "rows is a JSON object, want list"}},
		{"no rows", `{"rows": []}`, []string{"in.json: no rows", "run bench/scale.sh"}},
		{"no axis", edit(func(m map[string]any) { delete(row0(m), "axis") }), []string{"rows[0]", `no "axis"`}},
		{"zero size", edit(func(m map[string]any) { row0(m)["size"] = 0 }), []string{"rows[0]", "size 0: want a positive number"}},
		{"negative time", edit(func(m map[string]any) { row0(m)["peer_median_s"] = -1 }), []string{"rows[0]", "peer_median_s -1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.json"), filepath.Join(dir, "out.svg")
			if err := os.WriteFile(in, []byte(tc.in), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := run(in, out)
			if err == nil {
				t.Fatalf("run(%s) = nil, want an error", tc.name)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("run(%s) = %q, want it to say %q", tc.name, err, w)
				}
			}
			for _, leak := range []string{"float64", "main.", "Go struct", "map["} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("run(%s) = %q: names Go's %q", tc.name, err, leak)
				}
			}
			if b, _ := os.ReadFile(out); string(b) != "old" {
				t.Errorf("run(%s) changed the output to %q", tc.name, b)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 2 {
				t.Errorf("run(%s) left %d files in the output's directory, want 2", tc.name, len(ents))
			}
		})
	}
}

func TestRunWrites(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench-scale.svg")
	if err := run("testdata/scale.json", out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, render(readResults(t))) {
		t.Error("run wrote something other than render's output")
	}
}
