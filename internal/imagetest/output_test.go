package imagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/testutil"
)

// plantedReport is a run over four platforms where linux/arm64 holds the
// amd64 program and one test only runs on amd64.
func plantedReport(t testing.TB) *Report {
	idx := index(t,
		helloImage(t, "linux/amd64", "amd64"),
		helloImage(t, "linux/arm64", "amd64"),
		helloImage(t, "linux/arm/v7", "arm"),
		helloImage(t, "linux/riscv64", "riscv64"),
	)
	c := mustParse(t, helloTests+`fileExistenceTests:
- {name: hello <executable>, path: /hello, isExecutableBy: any}
- {name: only amd64, path: /hello, platforms: [amd64]}
`)
	x := &fakeExec{emulated: map[string]bool{"linux/arm64": true, "linux/arm/v7": true, "linux/riscv64": true}}
	r := run(t, idx, x, []*Config{c})
	r.Image = "example/hello:1.0"
	return r
}

func TestTextReport(t *testing.T) {
	r := plantedReport(t)
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"TEST", "amd64", "arm/v7", "riscv64",
		"--- FAIL: Command Test: greets on linux/arm64 (tests.yaml:3)",
		`Expected string "^Hello, arm64!\n$" not found in output`,
		`actual:   "Hello, amd64!\n"`,
		"--- FAIL: Consistency Test: greeting on linux/arm64",
		"FAIL: 11 passed, 2 failed, 3 skipped (4 tests x 4 platforms)",
		"fake qemu",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	// One row per test, with a cell per platform.
	row := regexp.MustCompile(`(?m)^File Existence Test: only amd64\s+ok \S+\s+skip\s+skip\s+skip\s*$`)
	if !row.MatchString(out) {
		t.Errorf("text report has no row 'only amd64: ok skip skip skip':\n%s", out)
	}
}

func TestJSONReport(t *testing.T) {
	r := plantedReport(t)
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	// CST's shape: Pass, Fail, Total, Duration, Results[Name, Pass, Errors, Duration].
	var got struct {
		Pass, Fail, Total, Skip int
		Duration                int64
		Results                 []struct {
			Name, Platform, Stdout string
			Pass                   bool
			Errors                 []string
			Duration               int64
		}
		Platforms []struct {
			Platform  string
			Emulated  bool
			Emulation string
		}
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("decoding the JSON report: %v\n%s", err, b.String())
	}
	if got.Pass != 11 || got.Fail != 2 || got.Total != 13 || got.Skip != 3 || len(got.Results) != 13 || len(got.Platforms) != 4 {
		t.Errorf("JSON counts = pass %d fail %d total %d skip %d results %d platforms %d, want 11 2 13 3 13 4",
			got.Pass, got.Fail, got.Total, got.Skip, len(got.Results), len(got.Platforms))
	}
	failed := map[string]bool{}
	for _, res := range got.Results {
		if !res.Pass {
			failed[res.Name+" @ "+res.Platform] = true
			if len(res.Errors) == 0 {
				t.Errorf("failed result %s on %s has no Errors", res.Name, res.Platform)
			}
		}
	}
	want := map[string]bool{"Command Test: greets @ linux/arm64": true, "Consistency Test: greeting @ linux/arm64": true}
	if fmt.Sprint(failed) != fmt.Sprint(want) {
		t.Errorf("failed results = %v, want %v", failed, want)
	}
}

type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Name    string    `xml:"name,attr"`
			Failure *struct{} `xml:"failure"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestJUnitReport(t *testing.T) {
	r := plantedReport(t)
	var b bytes.Buffer
	if err := r.WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("decoding JUnit: %v", err)
	}
	got := []string{}
	for _, s := range doc.Suites {
		got = append(got, fmt.Sprintf("%s %d/%d/%d", s.Name, s.Tests, s.Failures, s.Skipped))
	}
	want := []string{"linux/amd64 4/0/0", "linux/arm64 4/2/1", "linux/arm/v7 4/0/1", "linux/riscv64 4/0/1"}
	if fmt.Sprint(got) != fmt.Sprint(want) || doc.Tests != 16 || doc.Failures != 2 {
		t.Errorf("JUnit suites = %q (tests %d, failures %d), want %q (16, 2)", got, doc.Tests, doc.Failures, want)
	}
}

// TestJUnitIndependentConsumer reads the JUnit report with junit2json, an
// npm JUnit XML parser that hack/test-support.sh installs.
func TestJUnitIndependentConsumer(t *testing.T) {
	node := testutil.RequireCommand(t, "node", "nodejs")
	mod := filepath.Join(testCache(), "node", "node_modules", "junit2json")
	if _, err := os.Stat(filepath.Join(mod, "package.json")); err != nil {
		t.Skipf("needs junit2json in %s: run hack/test-support.sh", filepath.Dir(mod))
	}
	r := plantedReport(t)
	file := filepath.Join(t.TempDir(), "report.xml")
	var b bytes.Buffer
	if err := r.WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// junit2json is an ES module: import it by name from its install
	// directory.
	script := `
import fs from 'fs';
import { parse } from 'junit2json';
parse(fs.readFileSync(process.argv[1], 'utf8')).then(r => {
  const suites = (r.testsuite || []).map(s => ({
    name: s.name, tests: Number(s.tests), failures: Number(s.failures), skipped: Number(s.skipped),
    failed: (s.testcase || []).filter(c => c.failure).map(c => c.name),
  }));
  console.log(JSON.stringify({ tests: Number(r.tests), failures: Number(r.failures), suites }));
}).catch(e => { console.error(e); process.exit(1); });`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--input-type=module", "-e", script, file)
	cmd.Dir = filepath.Dir(filepath.Dir(mod))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("junit2json: %v\n%s", err, out)
	}
	var got struct {
		Tests, Failures int
		Suites          []struct {
			Name                     string
			Tests, Failures, Skipped int
			Failed                   []string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("junit2json output: %v\n%s", err, out)
	}
	if got.Tests != 16 || got.Failures != 2 || len(got.Suites) != 4 {
		t.Fatalf("junit2json read tests %d failures %d suites %d, want 16 2 4: %s", got.Tests, got.Failures, len(got.Suites), out)
	}
	for i, p := range r.Platforms {
		s := got.Suites[i]
		if s.Name != platform.Format(p.Platform) || s.Tests != 4 || s.Failures != p.Fail || s.Skipped != p.Skip {
			t.Errorf("suite %d = %+v, want %s with 4 tests, %d failures, %d skipped", i, s, platform.Format(p.Platform), p.Fail, p.Skip)
		}
	}
	if f := got.Suites[1].Failed; fmt.Sprint(f) != "[Command Test: greets Consistency Test: greeting]" {
		t.Errorf("linux/arm64 failed cases = %q", f)
	}
}

func testCache() string {
	if d := os.Getenv("MANYARCH_TEST_CACHE"); d != "" {
		return d
	}
	return "/var/cache/manyarch-test"
}

// TestHTMLReportInChromium renders the HTML report in headless Chromium and
// checks, in the DOM it produced, that the matrix shows every platform and
// every failure.
func TestHTMLReportInChromium(t *testing.T) {
	chromium := testutil.RequireCommand(t, "chromium", "chromium")
	r := plantedReport(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir="+filepath.Join(dir, "profile"), "--dump-dom", "file://"+file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.String())
	}
	page := string(dom)
	if !strings.Contains(page, `id="matrix"`) {
		t.Fatalf("rendered DOM has no matrix:\n%s", page)
	}
	for _, p := range r.Platforms {
		name := platform.Format(p.Platform)
		if !strings.Contains(page, `<th class="platform" data-platform="`+name+`">`) {
			t.Errorf("matrix has no column for %s", name)
		}
	}
	cells := regexp.MustCompile(`<td class="fail" data-platform="([^"]+)" data-status="fail">`).FindAllStringSubmatch(page, -1)
	if len(cells) != 2 || cells[0][1] != "linux/arm64" || cells[1][1] != "linux/arm64" {
		t.Errorf("failing cells = %q, want two in the linux/arm64 column", cells)
	}
	for _, want := range []string{
		`<div class="failure" data-test="Command Test: greets" data-platform="linux/arm64">`,
		`<div class="failure" data-test="Consistency Test: greeting" data-platform="linux/arm64">`,
		"Hello, amd64!", "Hello, arm64!",
		`File Existence Test: hello &lt;executable&gt;`, // escaped, not markup
		`id="verdict" class="verdict-fail">FAIL<`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	if strings.Contains(page, "<executable>") {
		t.Error("a test name became markup: the page does not escape it")
	}
}
