package imagetest

import (
	"fmt"
	"html/template"
	"io"
	"sync"

	"github.com/manyarch/manyarch/internal/platform"
)

// htmlPage is a self-contained report: no scripts, no external styles,
// fonts or images, so it can be archived as a CI artifact and opened
// anywhere. It is parsed on first use, not when the program starts.
var htmlPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"platform":     func(p PlatformSummary) string { return platform.Format(p.Platform) },
		"column":       func(p PlatformSummary) string { return columnName(p.Platform) },
		"dur":          fmtDuration,
		"word":         statusWord,
		"latencyChart": latencyChart,
		"faultCharts":  faultCharts,
		"lat":          fmtLatency,
		"pct":          percent,
		"resPlatform":  func(r ServiceResult) string { return platform.Format(r.Platform) },
		"phase": func(st *LoadStats) string {
			if st == nil {
				return "-"
			}
			return fmt.Sprintf("%s ok, p50 %s, p95 %s", percent(st.SuccessRate), fmtLatency(st.P50), fmtLatency(st.P95))
		},
		"overhead": func(f float64) string {
			if f <= 0 {
				return "-"
			}
			return fmt.Sprintf("%.1fx", f)
		},
	}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>manyarch test {{.R.Image}}: {{if .Failed}}FAIL{{else}}PASS{{end}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.pass { background: #e5f5e5; } td.fail { background: #fbe0e0; font-weight: bold; } td.skip { background: #f4f4f4; color: #777; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: .4em; white-space: pre-wrap; margin: .2em 0 .6em; }
.verdict-pass { color: #166d16; } .verdict-fail { color: #b00020; }
.failure { border-left: 4px solid #b00020; padding-left: .8em; margin: 1em 0; }
.small { color: #555; font-size: .9em; }
figure { margin: .8em 0; } svg.chart { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>manyarch test {{.R.Image}}: <span id="verdict" class="{{if .Failed}}verdict-fail">FAIL{{else}}verdict-pass">PASS{{end}}</span></h1>
<p id="summary">{{.Pass}} passed, {{.Fail}} failed, {{.Skip}} skipped: {{len .R.Tests}} tests on {{len .R.Platforms}} platforms in {{dur .R.Duration}}.</p>

<h2>Matrix</h2>
<table id="matrix">
<thead><tr><th>Test</th>{{range .R.Platforms}}<th class="platform" data-platform="{{platform .}}">{{column .}}</th>{{end}}</tr></thead>
<tbody>
{{range $i, $t := .R.Tests}}<tr data-test="{{$t.Name}}"><th>{{$t.Name}}<br><span class="small">{{$t.Pos.File}}:{{$t.Pos.Line}}</span></th>
{{range $j, $p := $.R.Platforms}}{{with index (index $.R.Results $i) $j}}<td class="{{.Status}}" data-platform="{{platform $p}}" data-status="{{.Status}}"{{if .SkipReason}} title="{{.SkipReason}}"{{end}}>{{word .Status}}{{if ne .Status "skip"}} <span class="small">{{dur .Duration}}</span>{{end}}</td>{{end}}{{end}}</tr>
{{end}}</tbody>
</table>

<h2>Platforms</h2>
<table id="platforms">
<thead><tr><th>Platform</th><th>Pass</th><th>Fail</th><th>Skip</th><th>Time</th><th>Commands</th><th>Emulation overhead</th><th>Emulation</th></tr></thead>
<tbody>
{{range .R.Platforms}}<tr data-platform="{{platform .}}"><td>{{platform .}}</td><td>{{.Pass}}</td><td>{{.Fail}}</td><td>{{.Skip}}</td><td>{{dur .Duration}}</td><td>{{dur .CommandTime}}</td><td>{{overhead .Overhead}}</td><td>{{if .Emulation}}{{.Emulation}}{{else}}-{{end}}{{if .Err}}<br><strong>{{.Err}}</strong>{{end}}</td></tr>
{{end}}</tbody>
</table>

{{if .R.Services}}<h2>Service tests</h2>
{{range .R.Services}}<section class="service" data-service="{{.Name}}">
<h3>{{.Name}} <span class="small">{{.Pos.File}}:{{.Pos.Line}}</span></h3>
<table class="load">
<thead><tr><th>Platform</th><th>Status</th><th>Emulation</th><th>Load</th><th>Success</th><th>Req/s</th><th>p50</th><th>p95</th><th>p99</th></tr></thead>
<tbody>
{{range .Results}}{{if .Status}}<tr data-platform="{{resPlatform .}}"><td>{{resPlatform .}}</td><td class="{{.Status}}">{{word .Status}}{{if .Err}}<br><span class="small">{{.Err}}</span>{{end}}</td><td>{{if .Emulated}}{{.Emulation}}{{else}}native{{end}}</td>{{with .Load}}<td>{{.Requests}} at c={{.Concurrency}}</td><td>{{pct .SuccessRate}}</td><td>{{printf "%.1f" .RPS}}</td><td>{{lat .P50}}</td><td>{{lat .P95}}</td><td>{{lat .P99}}</td>{{else}}<td colspan="6">-</td>{{end}}</tr>
{{end}}{{end}}</tbody>
</table>
{{with latencyChart .}}<figure>{{.}}</figure>{{end}}
{{range faultCharts .}}<figure>{{.}}</figure>{{end}}
{{$faults := false}}{{range .Results}}{{if .Faults}}{{$faults = true}}{{end}}{{end}}{{if $faults}}<table class="faults">
<thead><tr><th>Fault</th><th>Platform</th><th>Status</th><th>Before</th><th>During</th><th>After</th><th>Recovered</th></tr></thead>
<tbody>
{{range $r := .Results}}{{range .Faults}}<tr data-fault="{{.Name}}" data-platform="{{resPlatform $r}}"><td>{{.Name}} <span class="small">{{.Kind}}</span></td><td>{{resPlatform $r}}</td><td class="{{.Status}}">{{word .Status}}</td>{{if .Err}}<td colspan="4">{{.Err}}</td>{{else}}<td>{{phase .Before}}</td><td>{{phase .During}}</td><td>{{phase .After}}</td><td>{{if .Recovered}}after {{lat .RecoveryTime}}{{else}}no{{end}}{{if .Restarts}}, restarts: {{.Restarts}}{{end}}</td>{{end}}</tr>
{{end}}{{end}}</tbody>
</table>{{end}}
</section>
{{end}}{{end}}
{{if .Failures}}<h2>Failures</h2>
<div id="failures">
{{range .Failures}}<div class="failure" data-test="{{.Test.Name}}" data-platform="{{.Platform}}">
<h3>{{.Test.Name}} on {{.Platform}} <span class="small">{{.Test.Pos.File}}:{{.Test.Pos.Line}}</span></h3>
{{range .Result.Failures}}<p>{{.Message}}</p>
{{if or .Expected .Actual}}<div class="small">expected</div><pre class="expected">{{.Expected}}</pre><div class="small">actual</div><pre class="actual">{{.Actual}}</pre>{{end}}
{{end}}{{if .Result.Stderr}}<div class="small">stderr</div><pre class="stderr">{{.Result.Stderr}}</pre>{{end}}
</div>
{{end}}</div>
{{end}}
{{if .R.Warnings}}<h2>Warnings</h2>
<ul id="warnings">{{range .R.Warnings}}<li>{{.}}</li>{{end}}</ul>
{{end}}
</body>
</html>
`))
})

type htmlFailure struct {
	Test     Test
	Platform string
	Result   Result
}

// WriteHTML writes a self-contained HTML page with the matrix, the
// platforms, the service tests (load numbers, and charts of the latency
// percentiles per platform and the success rate per fault, as inline SVG)
// and every failure with expected and actual output.
func (r *Report) WriteHTML(w io.Writer) error {
	data := struct {
		R                *Report
		Failed           bool
		Pass, Fail, Skip int
		Failures         []htmlFailure
	}{R: r, Failed: r.Failed()}
	data.Pass, data.Fail, data.Skip = r.Counts()
	for i, t := range r.Tests {
		for j, p := range r.Platforms {
			if res := r.Results[i][j]; res.Status == StatusFail {
				data.Failures = append(data.Failures, htmlFailure{Test: t, Platform: platform.Format(p.Platform), Result: res})
			}
		}
	}
	return htmlPage().Execute(w, data)
}
