package main

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Layout, in SVG user units (pixels at 100%).
const (
	width      = 1120
	panelW     = width / 2
	panelH     = 340
	plotLeft   = 64  // from the panel's left edge to the plot area
	plotTop    = 44  // from the panel's top edge to the plot area
	plotW      = 300 // the plot area; the legend is to its right
	plotH      = 230
	legendLeft = plotLeft + plotW + 18
	fontFamily = "DejaVu Sans, Helvetica, Arial, sans-serif"
)

// The tools' colours (Okabe-Ito: told apart with colour blindness too) and
// each series' dash pattern and marker.
var (
	oursColour = "#0072B2"
	peerColour = "#D55E00"
	dashes     = map[string]string{"cold": "", "push": "", "cached": "7 4", "pull": "7 4", "changed": "2 3"}
	axisOrder  = map[string]int{"platforms": 0, "context": 1, "image": 2}
	unitLabel  = map[string]string{"platforms": "platforms", "files": "files in the context", "MiB": "image size, MiB"}
)

// point is one median (y, seconds) at one size (x); a gap is a size whose
// run failed (no y): the line breaks there.
type point struct {
	x, y float64
	gap  bool
}

// line is one tool's series in a panel.
type line struct {
	label  string
	colour string
	dash   string
	points []point
}

// panel is one axis (and workload) of the scale bench.
type panel struct {
	title, unit string
	lines       []*line
}

// panels groups the rows by axis and workload, in a fixed order: the axes
// as bench/scale.sh runs them, then by name; in each panel the series by
// name, manyarch's before its peer's; points by size.
func panels(res *results) []*panel {
	type key struct{ axis, what string }
	byKey := map[key]*panel{}
	lines := map[key]map[string]*line{}
	var keys []key
	for _, r := range res.Rows {
		k := key{r.Axis, r.What}
		p := byKey[k]
		if p == nil {
			p = &panel{title: title(r), unit: r.Unit}
			byKey[k] = p
			lines[k] = map[string]*line{}
			keys = append(keys, k)
		}
		// The legend names the peer without its version; the caption has it.
		peer, _, _ := strings.Cut(r.Peer, " ")
		if peer == "" {
			peer = "peer"
		}
		for _, t := range []struct {
			tool, colour, order string
			v                   *float64
		}{{"manyarch", oursColour, "0", r.OursMedian}, {peer, peerColour, "1", r.PeerMedian}} {
			id := r.Series + "\x00" + t.order
			l := lines[k][id]
			if l == nil {
				l = &line{label: t.tool + " " + r.Series, colour: t.colour, dash: dashes[r.Series]}
				lines[k][id] = l
			}
			if t.v != nil {
				l.points = append(l.points, point{x: r.Size, y: *t.v})
			} else {
				l.points = append(l.points, point{x: r.Size, gap: true})
			}
		}
	}
	sort.SliceStable(keys, func(i, j int) bool {
		oi, iok := axisOrder[keys[i].axis]
		oj, jok := axisOrder[keys[j].axis]
		if !iok {
			oi = len(axisOrder)
		}
		if !jok {
			oj = len(axisOrder)
		}
		if oi != oj {
			return oi < oj
		}
		if keys[i].axis != keys[j].axis {
			return keys[i].axis < keys[j].axis
		}
		return keys[i].what > keys[j].what // "emulated RUN" before "COPY"
	})
	out := make([]*panel, 0, len(keys))
	for _, k := range keys {
		p := byKey[k]
		ids := make([]string, 0, len(lines[k]))
		for id := range lines[k] {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return seriesLess(ids[i], ids[j]) })
		for _, id := range ids {
			l := lines[k][id]
			sort.SliceStable(l.points, func(i, j int) bool { return l.points[i].x < l.points[j].x })
			p.lines = append(p.lines, l)
		}
		out = append(out, p)
	}
	return out
}

// seriesLess orders series ids (series NUL tool-order) as cold, cached,
// changed, push, pull, then others by name.
func seriesLess(a, b string) bool {
	rank := map[string]int{"cold": 0, "cached": 1, "changed": 2, "push": 3, "pull": 4}
	sa, ta, _ := strings.Cut(a, "\x00")
	sb, tb, _ := strings.Cut(b, "\x00")
	ra, aok := rank[sa]
	rb, bok := rank[sb]
	if !aok {
		ra = len(rank)
	}
	if !bok {
		rb = len(rank)
	}
	if ra != rb {
		return ra < rb
	}
	if sa != sb {
		return sa < sb
	}
	return ta < tb
}

func title(r row) string {
	switch r.Axis {
	case "image":
		return "Registry: push and pull against image size"
	case "platforms":
		return "Build, " + r.What + ": against platforms"
	}
	t := "Build, " + r.What
	if r.Platforms > 0 {
		t += fmt.Sprintf(" (%d platforms)", r.Platforms)
	}
	return t + ": against " + r.Unit
}

// scale maps data values to plot coordinates, linear or log10.
type scale struct {
	lo, hi float64
	log    bool
	px     float64 // length of the axis
	flip   bool    // y grows upwards
}

// newScale fits vals into px: a log scale when they span a factor of 10 or
// more (the y axis then from decade to decade, the x axis padded a little),
// a linear one otherwise (the y axis from zero).
func newScale(vals []float64, px float64, flip, fromZero bool) scale {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if len(vals) == 0 {
		lo, hi = 1, 10
	}
	s := scale{px: px, flip: flip}
	if hi/lo >= 10 {
		s.log = true
		if fromZero {
			s.lo = math.Pow(10, math.Floor(math.Log10(lo)))
			s.hi = math.Pow(10, math.Ceil(math.Log10(hi)))
		} else {
			pad := math.Pow(hi/lo, 0.07)
			s.lo, s.hi = lo/pad, hi*pad
		}
		return s
	}
	if fromZero {
		s.lo, s.hi = 0, niceCeil(hi)
	} else {
		pad := (hi - lo) * 0.08
		if pad == 0 {
			pad = math.Max(hi*0.1, 1)
		}
		s.lo, s.hi = lo-pad, hi+pad
		if lo >= 0 && s.lo < 0 {
			s.lo = 0
		}
	}
	return s
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if !(v > 0) {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

func (s scale) at(v float64) float64 {
	var f float64
	if s.log {
		f = (math.Log10(v) - math.Log10(s.lo)) / (math.Log10(s.hi) - math.Log10(s.lo))
	} else {
		f = (v - s.lo) / (s.hi - s.lo)
	}
	if s.flip {
		f = 1 - f
	}
	return f * s.px
}

// ticks are the values of the grid lines: decades (with 2 and 5 between
// them when there are few) on a log scale, a 1-2-5 step on a linear one.
func (s scale) ticks() []float64 {
	var t []float64
	if s.log {
		decades := math.Round(math.Log10(s.hi / s.lo))
		mults := []float64{1}
		if decades <= 2 {
			mults = []float64{1, 2, 5}
		}
		for e := s.lo; e <= s.hi*1.0001; e *= 10 {
			for _, m := range mults {
				if v := e * m; v <= s.hi*1.0001 {
					t = append(t, v)
				}
			}
		}
		return t
	}
	step := niceCeil((s.hi - s.lo) / 5)
	for v := math.Ceil(s.lo/step) * step; v <= s.hi+step*1e-9; v += step {
		t = append(t, v)
	}
	return t
}

// num formats a value for a label: no trailing zeros, k for thousands.
func num(v float64) string {
	if v >= 1000 && math.Mod(v, 1000) == 0 {
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	}
	if v >= 100 {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(roundSig(v, 3), 'f', -1, 64)
}

func roundSig(v float64, digits int) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// c formats a coordinate: two decimals at most, never NaN (a coordinate
// comes from values parse has checked to be positive and finite).
func c(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		default:
			if r < 0x20 && r != '\t' {
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// render draws the results as a self-contained SVG document.
func render(res *results) []byte {
	ps := panels(res)
	rowsN := (len(ps) + 1) / 2
	caption := captionLines(res)
	height := 40 + rowsN*panelH + 16*len(caption) + 16
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="12">`+"\n",
		width, height, width, height, fontFamily)
	fmt.Fprintf(&b, "<title>manyarch scale bench: time against size, manyarch and its peers</title>\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="26" font-size="17" font-weight="bold">How the cost grows with the work: manyarch and its peers, side by side</text>`+"\n", 16)
	for i, p := range ps {
		drawPanel(&b, p, float64((i%2)*panelW), float64(40+(i/2)*panelH))
	}
	y := 40 + rowsN*panelH + 6
	for _, l := range caption {
		y += 16
		fmt.Fprintf(&b, `<text x="16" y="%d" font-size="12" fill="#333333">%s</text>`+"\n", y, esc(l))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func drawPanel(b *bytes.Buffer, p *panel, x0, y0 float64) {
	var xs, ys []float64
	for _, l := range p.lines {
		for _, pt := range l.points {
			if !pt.gap {
				xs = append(xs, pt.x)
				ys = append(ys, pt.y)
			}
		}
	}
	sx := newScale(xs, plotW, false, false)
	sy := newScale(ys, plotH, true, true)
	ox, oy := x0+plotLeft, y0+plotTop
	fmt.Fprintf(b, `<g id="%s">`+"\n", esc(panelID(p.title)))
	fmt.Fprintf(b, `<text x="%s" y="%s" font-size="14" font-weight="bold">%s</text>`+"\n", c(x0+16), c(y0+22), esc(p.title))
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%d" height="%d" fill="none" stroke="#999999"/>`+"\n", c(ox), c(oy), plotW, plotH)
	// Grid and tick labels: y from the scale, x at the measured sizes.
	for _, t := range sy.ticks() {
		y := oy + sy.at(t)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e3e3e3"/>`+"\n", c(ox), c(y), c(ox+plotW), c(y))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="end" font-size="11">%s</text>`+"\n", c(ox-6), c(y+4), num(t))
	}
	for _, t := range distinct(xs) {
		x := ox + sx.at(t)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e3e3e3"/>`+"\n", c(x), c(oy), c(x), c(oy+plotH))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle" font-size="11">%s</text>`+"\n", c(x), c(oy+plotH+16), num(t))
	}
	xl := unitLabel[p.unit]
	if xl == "" {
		xl = p.unit
	}
	if sx.log {
		xl += " (log scale)"
	}
	yl := "seconds, median"
	if sy.log {
		yl += " (log scale)"
	}
	fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", c(ox+plotW/2), c(oy+plotH+36), esc(xl))
	fmt.Fprintf(b, `<text transform="translate(%s %s) rotate(-90)" text-anchor="middle">%s</text>`+"\n", c(x0+16), c(oy+plotH/2), esc(yl))
	if len(xs) == 0 {
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle" fill="#999999">no data: every run failed</text>`+"\n", c(ox+plotW/2), c(oy+plotH/2))
	}
	for i, l := range p.lines {
		dash := ""
		if l.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, l.dash)
		}
		var seg []string
		n := 0
		for j, pt := range l.points {
			if !pt.gap {
				seg = append(seg, c(ox+sx.at(pt.x))+","+c(oy+sy.at(pt.y)))
				n++
			}
			if (pt.gap || j == len(l.points)-1) && len(seg) > 0 {
				if len(seg) > 1 {
					fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(seg, " "), l.colour, dash)
				}
				seg = nil
			}
		}
		for _, pt := range l.points {
			if pt.gap {
				continue
			}
			fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="3.5" fill="%s"><title>%s at %s %s: %s s</title></circle>`+"\n",
				c(ox+sx.at(pt.x)), c(oy+sy.at(pt.y)), l.colour, esc(l.label), num(pt.x), esc(p.unit), num(pt.y))
		}
		// Legend entry.
		ly := oy + 8 + float64(i)*20
		lx := x0 + legendLeft
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"%s/>`+"\n", c(lx), c(ly), c(lx+26), c(ly), l.colour, dash)
		label := l.label
		if n == 0 {
			label += " (no data)"
		} else if n < len(l.points) {
			var failed []string
			for _, pt := range l.points {
				if pt.gap {
					failed = append(failed, num(pt.x))
				}
			}
			label += " (failed at " + strings.Join(failed, ", ") + ")"
		}
		fmt.Fprintf(b, `<text x="%s" y="%s" font-size="11">%s</text>`+"\n", c(lx+32), c(ly+4), esc(label))
	}
	b.WriteString("</g>\n")
}

func panelID(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

func distinct(vs []float64) []float64 {
	seen := map[float64]bool{}
	var out []float64
	for _, v := range vs {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Float64s(out)
	return out
}

// captionLines says what was measured where: commit, date, machine, runs,
// the note and how long the bench took.
func captionLines(res *results) []string {
	commit := res.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if commit == "" {
		commit = "an unknown commit"
	}
	if res.Dirty {
		commit += " (with uncommitted changes)"
	}
	m := res.Machine
	lines := []string{
		fmt.Sprintf("manyarch %s, measured %s by bench/scale.sh, which took %s min in all.",
			commit, res.Date, strconv.FormatFloat(math.Round(res.TotalS/6)/10, 'f', -1, 64)),
		fmt.Sprintf("Machine: %d CPUs (%s), %s GiB, kernel %s; load average at the end %s.",
			m.NProc, m.CPU, strconv.FormatFloat(m.MemGiB, 'f', -1, 64), m.Kernel, strings.Join(m.Load, " ")),
	}
	runs := fmt.Sprintf("Each point is the median of %d runs per tool, interleaved", res.Runs)
	if res.Runs == 1 {
		runs = "Each point is a single run per tool (RUNS=1), the tools interleaved"
	}
	var peers []string
	seen := map[string]bool{}
	for _, r := range res.Rows {
		if r.Peer != "" && !seen[r.Peer] {
			seen[r.Peer] = true
			peers = append(peers, r.Peer)
		}
	}
	sort.Strings(peers)
	lines = append(lines, runs+"; peers: "+strings.Join(peers, ", ")+".")
	if res.Note != "" {
		lines = append(lines, res.Note)
	}
	var out []string
	for _, l := range lines {
		out = append(out, wrap(l, captionChars)...)
	}
	return out
}

// captionChars is about as many characters of the caption's font as fit
// across the picture.
const captionChars = 160

// wrap breaks s into lines of at most n characters at spaces (a longer word
// stands alone on its line).
func wrap(s string, n int) []string {
	var lines []string
	var cur []string
	size := 0
	for _, w := range strings.Fields(s) {
		if size > 0 && size+1+len([]rune(w)) > n {
			lines = append(lines, strings.Join(cur, " "))
			cur, size = nil, 0
		}
		if size > 0 {
			size++
		}
		cur = append(cur, w)
		size += len([]rune(w))
	}
	if len(cur) > 0 {
		lines = append(lines, strings.Join(cur, " "))
	}
	return lines
}
