package imagetest

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/testutil"
)

// serviceReport is a report of one service test with a load and two
// faults on three platforms; the memory fault fails on linux/s390x.
func serviceReport() *Report {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	st := func(rate float64, p50, p95, p99 float64, rps float64) *LoadStats {
		return &LoadStats{Requests: 300, Errors: int(300 * (1 - rate)), SuccessRate: rate, RPS: rps, Concurrency: 4,
			P50: ms(p50), P95: ms(p95), P99: ms(p99)}
	}
	plats := []specs.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "s390x"}}
	emu := []string{"native", "host binfmt_misc qemu-aarch64", "host binfmt_misc qemu-s390x"}
	loads := []*LoadStats{st(1, 0.8, 1.9, 3, 4210), st(1, 4.2, 8.8, 11.2, 861), st(1, 9.1, 18, 25.3, 402)}
	r := &Report{Image: "service:1.0", Duration: 42 * time.Second}
	tests := []Test{
		{Name: "Service Test: status API: ready", Kind: KindService},
		{Name: "Service Test: status API: load", Kind: KindLoad},
		{Name: "Service Test: status API: fault lossy <network>", Kind: KindFault},
		{Name: "Service Test: status API: fault memory limit", Kind: KindFault},
	}
	r.Tests = tests
	sr := ServiceReport{Name: "status API", Pos: Pos{File: "tests.yaml", Line: 12}}
	for j, p := range plats {
		res := ServiceResult{Platform: p, Status: StatusPass, Emulation: emu[j], Emulated: j > 0, Address: "127.0.0.1:4123" + strconv.Itoa(j), Load: loads[j]}
		base := loads[j]
		res.Faults = []FaultResult{
			{Name: "lossy <network>", Kind: "loss", Status: StatusPass, Before: base, During: st(0.97, 40*float64(j+1), 210*float64(j+1), 400, 90), After: base, Recovered: true, RecoveryTime: ms(3)},
			{Name: "memory limit", Kind: "memory", Status: StatusPass, Before: base, During: base, After: base, Recovered: true, RecoveryTime: ms(2)},
		}
		if j == 2 {
			res.Status = StatusFail
			f := &res.Faults[1]
			f.Status, f.During, f.After, f.Recovered = StatusFail, st(0, 0.3, 9, 12, 3000), st(0, 0.5, 11, 14, 3000), false
			f.Failures = []Failure{{Message: "linux/s390x: during memory 32MiB for 3s: success rate 0.0% is below minSuccessRate 90.0%"}}
		}
		sr.Results = append(sr.Results, res)
		ps := PlatformSummary{Platform: p, Emulation: emu[j], Emulated: j > 0, Pass: 4, Duration: 14 * time.Second}
		if j == 2 {
			ps.Pass, ps.Fail = 3, 1
		}
		r.Platforms = append(r.Platforms, ps)
	}
	r.Services = []ServiceReport{sr}
	r.Results = make([][]Result, len(tests))
	for i := range tests {
		r.Results[i] = make([]Result, len(plats))
		for j := range plats {
			r.Results[i][j] = Result{Status: StatusPass, Duration: time.Second}
		}
	}
	r.Results[3][2] = Result{Status: StatusFail, Failures: sr.Results[2].Faults[1].Failures, Duration: 3 * time.Second}
	return r
}

// TestHTMLServiceCharts checks the charts' SVG as written: one latency
// chart with three bars per platform whose lengths follow the values, one
// chart per fault, names escaped, and nothing fetched from elsewhere.
func TestHTMLServiceCharts(t *testing.T) {
	var b bytes.Buffer
	if err := serviceReport().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if n := strings.Count(page, `<svg class="chart" data-chart="latency"`); n != 1 {
		t.Errorf("%d latency charts, want 1", n)
	}
	if n := strings.Count(page, `<svg class="chart" data-chart="fault"`); n != 2 {
		t.Errorf("%d fault charts, want 2", n)
	}
	latency := page[strings.Index(page, `data-chart="latency"`):]
	latency = latency[:strings.Index(latency, "</svg>")]
	widths := regexp.MustCompile(`data-series="p95" x="\d+" y="\d+" width="([0-9.]+)"`).FindAllStringSubmatch(latency, -1)
	if len(widths) != 3 {
		t.Fatalf("latency chart has %d p95 bars, want 3 (one per platform)", len(widths))
	}
	var w []float64
	for _, m := range widths {
		f, _ := strconv.ParseFloat(m[1], 64)
		w = append(w, f)
	}
	if !(w[0] > 0 && w[0] < w[1] && w[1] < w[2] && w[2] <= chartPlotW) {
		t.Errorf("p95 bar widths %v for 1.9ms, 8.8ms, 18ms: want increasing, within the plot", w)
	}
	for _, want := range []string{
		"Fault lossy &lt;network&gt;: success rate", // escaped in the SVG text
		`data-fault="memory limit" data-platform="linux/s390x"><td>memory limit <span class="small">memory</span></td><td>linux/s390x</td><td class="fail">`,
		"0.0% ok, p50 0.30ms, p95 9.00ms",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<network>") {
		t.Error("a fault name became markup")
	}
	for _, bad := range []string{"<script", "http://", "https://", "@import", "url("} {
		if i := strings.Index(page, bad); i >= 0 && !strings.Contains(page[max(0, i-60):i], "xmlns=") {
			t.Errorf("the page refers to something outside it (%q): %s", bad, page[max(0, i-60):min(len(page), i+60)])
		}
	}
}

// TestHTMLSkippedFault: a fault skipped because the host cannot inject it
// (ifUnsupported: skip) shows why in its chart, as a skip (grey), not as a
// failure to inject it (red).
func TestHTMLSkippedFault(t *testing.T) {
	r := serviceReport()
	why := "linux/amd64: cannot inject a memory fault: no cgroup"
	r.Services[0].Results[0].Faults[1] = FaultResult{Name: "memory limit", Kind: "memory", Status: StatusSkip, Err: why}
	r.Results[3][0] = Result{Status: StatusSkip, SkipReason: "not injected (ifUnsupported: skip): " + why}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if want := `fill="#666">skipped (ifUnsupported: skip): ` + why; !strings.Contains(page, want) {
		t.Errorf("the memory fault's chart lacks %q", want)
	}
	if strings.Contains(page, "not injected: "+why) {
		t.Error("the skipped fault is drawn as a fault that could not be injected")
	}
}

// chromium runs headless Chromium on file with args, returning its
// standard output and error.
func chromium(t *testing.T, bin, dir, file string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + filepath.Join(dir, "profile"),
		"--enable-logging=stderr", "--v=0"}, args...)
	cmd := exec.CommandContext(ctx, bin, append(all, "file://"+file)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// consoleErrors are the page's console messages and uncaught errors in
// Chromium's log.
var consoleErrors = regexp.MustCompile(`(?m)^.*(:CONSOLE\(|Uncaught ).*$`)

// TestHTMLChartsInChromium opens the report in headless Chromium: the
// rendered DOM holds the charts with their bars, the console stays quiet
// (a control page with a script error shows the check would see one),
// and a screenshot shows the bars' colours.
func TestHTMLChartsInChromium(t *testing.T) {
	bin := testutil.RequireCommand(t, "chromium", "chromium")
	dir := t.TempDir()

	control := filepath.Join(dir, "control.html")
	os.WriteFile(control, []byte(`<!DOCTYPE html><html><body><script>noSuchFunction();</script></body></html>`), 0o644)
	if _, stderr := chromium(t, bin, dir, control, "--dump-dom"); !consoleErrors.MatchString(stderr) {
		t.Fatalf("a page with a script error logged no console error; the check would see none:\n%s", stderr)
	}

	file := filepath.Join(dir, "report.html")
	var b bytes.Buffer
	if err := serviceReport().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, stderr := chromium(t, bin, dir, file, "--dump-dom")
	if errs := consoleErrors.FindAllString(stderr, -1); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	if n := strings.Count(dom, `<svg class="chart"`); n != 3 {
		t.Errorf("rendered DOM has %d charts, want 3", n)
	}
	bars := regexp.MustCompile(`<rect class="bar" data-series="[a-z0-9]+" x="\d+" y="\d+" width="([0-9.]+)"`).FindAllStringSubmatch(dom, -1)
	nonEmpty := 0
	for _, m := range bars {
		if f, _ := strconv.ParseFloat(m[1], 64); f > 0 {
			nonEmpty++
		}
	}
	// 9 latency bars, and 9 per fault chart (two s390x bars of 0%).
	if len(bars) != 27 || nonEmpty != 25 {
		t.Errorf("rendered DOM has %d bars, %d of them non-empty; want 27 and 25", len(bars), nonEmpty)
	}

	shot := filepath.Join(dir, "report.png")
	chromium(t, bin, dir, file, "--screenshot="+shot, "--window-size=1000,1500", "--hide-scrollbars")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// Count the pixels of each series' colour: every series was drawn.
	want := map[string][3]uint32{"p95": {0xf5, 0x85, 0x18}, "during": {0xe4, 0x57, 0x56}, "after": {0x54, 0xa2, 0x4b}}
	got := map[string]int{}
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y++ {
		for x := bnd.Min.X; x < bnd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			for name, c := range want {
				if near(r>>8, c[0]) && near(g>>8, c[1]) && near(b>>8, c[2]) {
					got[name]++
				}
			}
		}
	}
	for name := range want {
		if got[name] < 200 {
			t.Errorf("the screenshot has %d pixels of the %s bars' colour, want at least 200", got[name], name)
		}
	}
	if out := os.Getenv("MANYARCH_HTML_SCREENSHOT"); out != "" {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Error(err)
		}
	}
}

func near(a, b uint32) bool { return a+6 >= b && b+6 >= a }
