package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Mode selects how a Printer renders events.
type Mode string

// Printer modes; the names are those of docker buildx's --progress.
const (
	ModeAuto  Mode = "auto"  // tty on a terminal, plain otherwise
	ModeTTY   Mode = "tty"   // one redrawn line per active item (ANSI escapes)
	ModePlain Mode = "plain" // one line per notable event
	ModeJSON  Mode = "json"  // one JSON object per event (see Event.MarshalJSON)
	ModeQuiet Mode = "quiet" // nothing
)

// ParseMode checks a --progress value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeTTY, ModePlain, ModeJSON, ModeQuiet:
		return m, nil
	case "":
		return ModeAuto, nil
	}
	return "", fmt.Errorf("unknown progress mode %q: want auto, tty, plain, json or quiet", s)
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f.Fd())
}

// Printer renders events to a writer. Its Event method is a Func; it is safe
// for concurrent use. Call Close when the operation ends.
type Printer struct {
	mu      sync.Mutex
	w       io.Writer
	mode    Mode
	items   map[string]*item
	live    []string // IDs shown in the tty's live area, in first-seen order
	drawn   int      // lines of the live area currently on screen
	stop    chan struct{}
	done    chan struct{}
	dirty   bool
	showIDs bool // ShowIDs
}

type item struct {
	ev      Event
	started time.Time
	shown   bool // plain: the start line was printed
}

// NewPrinter returns a printer writing to w in mode (ModeAuto resolves here).
func NewPrinter(w io.Writer, mode Mode) *Printer {
	if mode == ModeAuto || mode == "" {
		mode = ModePlain
		if IsTerminal(w) {
			mode = ModeTTY
		}
	}
	p := &Printer{w: w, mode: mode, items: map[string]*item{}}
	if mode == ModeTTY {
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.loop()
	}
	return p
}

// Mode is the mode the printer renders in (never ModeAuto).
func (p *Printer) Mode() Mode { return p.mode }

// Event renders e.
func (p *Printer) Event(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case ModeQuiet:
	case ModeJSON:
		b, err := json.Marshal(e)
		if err == nil {
			b = append(b, '\n')
			_, _ = p.w.Write(b)
		}
	case ModePlain:
		p.plain(e)
	case ModeTTY:
		p.tty(e)
	}
}

func (p *Printer) track(e Event) *item {
	it, ok := p.items[e.ID]
	if !ok {
		it = &item{started: e.Time}
		p.items[e.ID] = it
		if p.mode == ModeTTY && e.Kind != KindMessage {
			p.live = append(p.live, e.ID)
		}
	}
	if e.Total == 0 {
		e.Total = it.ev.Total
	}
	if e.Name == "" {
		e.Name = it.ev.Name
	}
	if e.Platform == "" {
		e.Platform, e.Target = it.ev.Platform, it.ev.Target
	}
	it.ev = e
	return it
}

func (p *Printer) plain(e Event) {
	if e.Kind == KindMessage {
		fmt.Fprintln(p.w, e.Message)
		return
	}
	it := p.track(e)
	switch {
	case e.Status == StatusRunning && !it.shown:
		it.shown = true
		fmt.Fprintln(p.w, p.line(it.ev, it.started))
	case e.Status == StatusRetrying || e.Status.Final():
		fmt.Fprintln(p.w, p.line(it.ev, it.started))
	}
	if e.Status.Final() {
		delete(p.items, e.ID)
	}
}

func (p *Printer) tty(e Event) {
	if e.Kind == KindMessage {
		p.clear()
		fmt.Fprintln(p.w, e.Message)
		p.dirty = true
		return
	}
	p.track(e)
	p.dirty = true
	if e.Status.Final() {
		p.redraw()
	}
}

func (p *Printer) loop() {
	defer close(p.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			if p.dirty {
				p.redraw()
			}
			p.mu.Unlock()
		}
	}
}

// clear erases the live area.
func (p *Printer) clear() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA\x1b[J", p.drawn)
		p.drawn = 0
	}
}

// redraw prints finished items once, above the live area, then the live area.
func (p *Printer) redraw() {
	p.clear()
	var b strings.Builder
	keep := p.live[:0]
	for _, id := range p.live {
		it := p.items[id]
		if it.ev.Status.Final() {
			b.WriteString(p.line(it.ev, it.started))
			b.WriteByte('\n')
			delete(p.items, id)
			continue
		}
		keep = append(keep, id)
	}
	p.live = keep
	for _, id := range p.live {
		it := p.items[id]
		b.WriteString("\x1b[2K")
		b.WriteString(p.line(it.ev, it.started))
		b.WriteByte('\n')
		p.drawn++
	}
	_, _ = io.WriteString(p.w, b.String())
	p.dirty = false
}

// Close stops redrawing and leaves the final state on screen.
func (p *Printer) Close() error {
	if p.mode == ModeTTY {
		close(p.stop)
		<-p.done
		p.mu.Lock()
		p.redraw()
		p.mu.Unlock()
	}
	return nil
}

// line formats one item: platform, name, status, short ID, bytes, time.
func (p *Printer) line(e Event, started time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-19s %-22s %-8s", Label(e.Platform, e.Target), trim(e.Name, 22), e.Status)
	// A step's ID is an internal cache key: shown with ShowIDs (-v). A
	// blob's or manifest's is its digest, which users look for.
	if e.Kind != KindStep || p.showIDs {
		b.WriteString(" ")
		b.WriteString(shortID(e.ID))
	}
	// A cached step did not run, under an emulator or otherwise.
	if e.Emulated && e.Status != StatusCached {
		b.WriteString(" (emulated)")
	}
	switch {
	case e.Status == StatusRunning && e.Total > 0:
		fmt.Fprintf(&b, "  %s / %s", Bytes(e.Current), Bytes(e.Total))
	case e.Status == StatusRunning && e.Current > 0:
		fmt.Fprintf(&b, "  %s", Bytes(e.Current))
	case e.Status.Final() && e.Total > 0 && e.Kind != KindStep:
		fmt.Fprintf(&b, "  %s", Bytes(e.Total))
	}
	d := e.Duration
	if d == 0 && !started.IsZero() && e.Status != StatusWaiting {
		d = e.Time.Sub(started)
	}
	if d > 0 && e.Status != StatusExists {
		fmt.Fprintf(&b, "  %.1fs", d.Seconds())
	}
	if e.Message != "" {
		b.WriteString("  ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Label is how printers name the platform of an item: "linux/arm64", or
// "linux/amd64->arm64" for a step of a stage that runs on linux/amd64 for
// a linux/arm64 image (as buildx labels cross-compiling steps), "-" for
// none.
func Label(platform, target string) string {
	switch {
	case platform == "":
		return "-"
	case target == "" || target == platform:
		return platform
	}
	pos, _, _ := strings.Cut(platform, "/")
	tos, rest, ok := strings.Cut(target, "/")
	if ok && pos == tos {
		return platform + "->" + rest
	}
	return platform + "->" + target
}

// ShowIDs makes the printer show the internal IDs of build steps (cache
// keys), which tell apart steps of one name only to someone debugging the
// cache (manyarch -v).
func (p *Printer) ShowIDs(show bool) {
	p.mu.Lock()
	p.showIDs = show
	p.mu.Unlock()
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func shortID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 && len(id) > i+13 {
		return id[:i+13]
	}
	return id
}

// Bytes formats n with a binary unit: "512 B", "1.5 KiB", "23.4 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
