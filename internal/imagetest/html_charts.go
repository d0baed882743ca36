package imagetest

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/manyarch/manyarch/internal/platform"
)

// The service tests' charts of the HTML report: inline SVG drawn here, so
// the page stays self-contained (no script, no font, no image to fetch).
// Every chart is horizontal bars, one group per platform:
//   - latency: p50, p95 and p99 of the load on a log scale (native and
//     emulated platforms differ by orders of magnitude);
//   - one chart per fault: the success rate of its before, during and
//     after phases, 0 to 100%, with p50/p95 as text beside each bar.

// chart geometry, in SVG user units (pixels at 100%).
const (
	chartLabelW = 190 // platform labels on the left
	chartPlotW  = 400
	chartTextW  = 240 // value text on the right of the plot
	chartW      = chartLabelW + chartPlotW + chartTextW
	chartBarH   = 13
	chartBarGap = 3
	chartGroupG = 12
	chartTop    = 34 // title and legend
	chartAxisH  = 26
)

type chartSeries struct{ Name, Color string }

var (
	latencySeries = []chartSeries{{"p50", "#4c78a8"}, {"p95", "#f58518"}, {"p99", "#b279a2"}}
	phaseSeries   = []chartSeries{{"before", "#72b7b2"}, {"during", "#e45756"}, {"after", "#54a24b"}}
)

// chartBar is one bar: Frac its length (0 to 1), Text what is written
// beside it.
type chartBar struct {
	Frac float64
	Text string
}

type chartGroup struct {
	Label, Sub string // platform, and a second line (emulation)
	Bars       []chartBar
	Note       string // instead of bars (the fault could not be injected)
	Skipped    bool   // the Note says why the fault was skipped (grey, not red)
}

type chartTick struct {
	Frac  float64
	Label string
}

// svgBars draws a horizontal bar chart.
func svgBars(kind, title, aria string, series []chartSeries, groups []chartGroup, ticks []chartTick) template.HTML {
	var b strings.Builder
	h := chartTop
	for _, g := range groups {
		n := len(series)
		if g.Note != "" {
			n = 1
		}
		h += n*(chartBarH+chartBarGap) + chartGroupG
	}
	h += chartAxisH
	e := template.HTMLEscapeString
	fmt.Fprintf(&b, `<svg class="chart" data-chart="%s" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="%s" width="%d" height="%d" viewBox="0 0 %d %d" font-family="system-ui, sans-serif" font-size="12">`,
		e(kind), e(aria), chartW, h, chartW, h)
	fmt.Fprintf(&b, `<title>%s</title><text x="0" y="14" font-weight="bold">%s</text>`, e(aria), e(title))
	x := chartLabelW
	for _, s := range series {
		fmt.Fprintf(&b, `<rect x="%d" y="20" width="10" height="10" fill="%s"/><text x="%d" y="29">%s</text>`, x, s.Color, x+14, e(s.Name))
		x += 24 + 8*len(s.Name)
	}
	y := chartTop
	plotTop := y
	for _, g := range groups {
		n := len(series)
		if g.Note != "" {
			n = 1
		}
		gh := n*(chartBarH+chartBarGap) - chartBarGap
		fmt.Fprintf(&b, `<text x="0" y="%d" font-weight="bold">%s</text>`, y+11, e(g.Label))
		if g.Sub != "" {
			fmt.Fprintf(&b, `<text x="0" y="%d" fill="#666" font-size="10">%s</text>`, y+24, e(shorten(g.Sub, 34)))
		}
		if g.Note != "" {
			color := "#b00020"
			if g.Skipped {
				color = "#666"
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s</text>`, chartLabelW, y+11, color, e(shorten(g.Note, 110)))
		}
		for i, bar := range g.Bars {
			if g.Note != "" || i >= len(series) {
				break
			}
			by := y + i*(chartBarH+chartBarGap)
			w := math.Max(0, math.Min(1, bar.Frac)) * chartPlotW
			if w > 0 && w < 1 {
				w = 1 // a value, however small, shows
			}
			fmt.Fprintf(&b, `<rect class="bar" data-series="%s" x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s: %s</title></rect>`,
				e(series[i].Name), chartLabelW, by, w, chartBarH, series[i].Color, e(g.Label), e(series[i].Name), e(bar.Text))
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11">%s</text>`, float64(chartLabelW)+w+4, by+chartBarH-2, e(bar.Text))
		}
		y += gh + chartBarGap + chartGroupG
	}
	plotBottom := y - chartGroupG/2
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, chartLabelW, plotBottom, chartLabelW+chartPlotW, plotBottom)
	for _, t := range ticks {
		tx := float64(chartLabelW) + t.Frac*chartPlotW
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`, tx, plotTop, tx, plotBottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle" fill="#555">%s</text>`, tx, plotBottom+14, e(t.Label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// emulationNote is the second label line of a platform.
func emulationNote(res *ServiceResult) string {
	if res.Emulated {
		return res.Emulation
	}
	return "native"
}

// latencyChart is the load's p50/p95/p99 of every platform, or "" when
// no platform has load numbers.
func latencyChart(s ServiceReport) template.HTML {
	var groups []chartGroup
	lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
	for i := range s.Results {
		res := &s.Results[i]
		if st := res.Load; st != nil {
			for _, d := range []time.Duration{st.P50, st.P95, st.P99} {
				if d > 0 {
					lo, hi = min(lo, d), max(hi, d)
				}
			}
		}
	}
	if hi == 0 {
		return ""
	}
	// Decades from below the smallest to above the largest value.
	l0 := math.Floor(math.Log10(float64(lo)))
	l1 := math.Ceil(math.Log10(float64(hi)))
	if l1 <= l0 {
		l1 = l0 + 1
	}
	frac := func(d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return (math.Log10(float64(d)) - l0) / (l1 - l0)
	}
	for i := range s.Results {
		res := &s.Results[i]
		st := res.Load
		if st == nil {
			continue
		}
		groups = append(groups, chartGroup{Label: platform.Format(res.Platform), Sub: emulationNote(res), Bars: []chartBar{
			{frac(st.P50), fmtLatency(st.P50)},
			{frac(st.P95), fmtLatency(st.P95)},
			{frac(st.P99), fmtLatency(st.P99) + fmt.Sprintf("  (%.0f req/s, %s ok)", st.RPS, percent(st.SuccessRate))},
		}})
	}
	var ticks []chartTick
	for l := l0; l <= l1; l++ {
		ticks = append(ticks, chartTick{(l - l0) / (l1 - l0), fmtLatency(time.Duration(math.Pow(10, l)))})
	}
	return svgBars("latency", "Load latency by platform (log scale)", s.Name+": load latency percentiles per platform", latencySeries, groups, ticks)
}

// faultCharts is one chart per fault test: the success rate of each
// phase on every platform.
func faultCharts(s ServiceReport) []template.HTML {
	n := 0
	for _, res := range s.Results {
		n = max(n, len(res.Faults))
	}
	var out []template.HTML
	for k := 0; k < n; k++ {
		var name string
		var groups []chartGroup
		for i := range s.Results {
			res := &s.Results[i]
			if k >= len(res.Faults) {
				continue
			}
			f := &res.Faults[k]
			name = f.Name
			g := chartGroup{Label: platform.Format(res.Platform), Sub: emulationNote(res)}
			if f.Err != "" && f.Before == nil {
				g.Note = "not injected: " + f.Err
				if f.Status == StatusSkip {
					g.Note, g.Skipped = "skipped (ifUnsupported: skip): "+f.Err, true
				}
			}
			for _, st := range []*LoadStats{f.Before, f.During, f.After} {
				if st == nil {
					g.Bars = append(g.Bars, chartBar{0, "-"})
					continue
				}
				g.Bars = append(g.Bars, chartBar{st.SuccessRate, fmt.Sprintf("%s ok, p50 %s, p95 %s", percent(st.SuccessRate), fmtLatency(st.P50), fmtLatency(st.P95))})
			}
			if f.Status == StatusFail {
				g.Label += " ✗"
			}
			groups = append(groups, g)
		}
		if len(groups) == 0 {
			continue
		}
		ticks := []chartTick{{0, "0%"}, {0.25, "25%"}, {0.5, "50%"}, {0.75, "75%"}, {1, "100%"}}
		out = append(out, svgBars("fault", "Fault "+name+": success rate before, during and after", s.Name+": success rate per phase of fault "+name, phaseSeries, groups, ticks))
	}
	return out
}
