package progress

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func blobEvents() []Event {
	return []Event{
		{Time: t0, ID: "sha256:0123456789abcdef0123", Kind: KindBlob, Status: StatusWaiting, Name: "layer 1/2", Platform: "linux/arm64", Total: 2048},
		{Time: t0, ID: "sha256:0123456789abcdef0123", Kind: KindBlob, Status: StatusRunning, Total: 2048},
		{Time: t0.Add(time.Second), ID: "sha256:0123456789abcdef0123", Kind: KindBlob, Status: StatusRunning, Current: 1024, Total: 2048},
		{Time: t0.Add(2 * time.Second), ID: "sha256:0123456789abcdef0123", Kind: KindBlob, Status: StatusRetrying, Err: errors.New("connection reset")},
		{Time: t0.Add(3 * time.Second), ID: "sha256:0123456789abcdef0123", Kind: KindBlob, Status: StatusDone, Current: 2048, Total: 2048, Duration: 3 * time.Second},
		{Time: t0, ID: "sha256:ffff", Kind: KindBlob, Status: StatusExists, Name: "config", Platform: "linux/amd64", Total: 100},
		{Time: t0, ID: "step-3", Kind: KindStep, Status: StatusDone, Name: "RUN make", Platform: "linux/riscv64", Emulated: true, Duration: 1500 * time.Millisecond},
	}
}

func TestPlain(t *testing.T) {
	var b bytes.Buffer
	p := NewPrinter(&b, ModePlain)
	for _, e := range blobEvents() {
		p.Event(e)
	}
	p.Event(Event{Kind: KindMessage, ID: "m", Message: "pushed localhost:5000/app:1"})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"linux/arm64         layer 1/2              running  sha256:0123456789ab  0 B / 2.0 KiB",
		"linux/arm64         layer 1/2              retrying sha256:0123456789ab  2.0s: connection reset",
		"linux/arm64         layer 1/2              done     sha256:0123456789ab  2.0 KiB  3.0s",
		"linux/amd64         config                 exists   sha256:ffff  100 B",
		"linux/riscv64       RUN make               done     (emulated)  1.5s",
		"pushed localhost:5000/app:1",
	}
	got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plain output =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	p := NewPrinter(&b, ModeJSON)
	evs := blobEvents()
	for _, e := range evs {
		p.Event(e)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("json lines = %d, want one per event (%d)", len(lines), len(evs))
	}
	if want := `{"time":"2026-01-02T03:04:07.000Z","id":"sha256:0123456789abcdef0123","kind":"blob","status":"retrying","error":"connection reset"}`; lines[3] != want {
		t.Errorf("json line = %s, want %s", lines[3], want)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[6]), &m); err != nil {
		t.Fatal(err)
	}
	if m["emulated"] != true || m["durationMs"] != 1500.0 || m["platform"] != "linux/riscv64" {
		t.Errorf("json step event = %v, want emulated, durationMs 1500, platform", m)
	}
}

func TestQuietAndTTY(t *testing.T) {
	var q bytes.Buffer
	p := NewPrinter(&q, ModeQuiet)
	for _, e := range blobEvents() {
		p.Event(e)
	}
	p.Close()
	if q.Len() != 0 {
		t.Errorf("quiet printer wrote %q", q.String())
	}

	var b bytes.Buffer
	p = NewPrinter(&b, ModeTTY)
	evs := blobEvents()
	p.Event(evs[0])
	p.Event(evs[2])
	time.Sleep(250 * time.Millisecond) // let the redraw loop run
	p.Event(evs[4])
	p.Close()
	out := b.String()
	if !strings.Contains(out, "1.0 KiB / 2.0 KiB") || !strings.Contains(out, "\x1b[1A\x1b[J") {
		t.Errorf("tty output %q: want a progress line, then the live area erased", out)
	}
	if !strings.HasSuffix(out, "done     sha256:0123456789ab  2.0 KiB  3.0s\n") {
		t.Errorf("tty output %q: want it to end with the final line", out)
	}

	if m := NewPrinter(&b, ModeAuto).Mode(); m != ModePlain {
		t.Errorf("auto mode on a buffer = %s, want plain", m)
	}
}

func TestParseModeAndBytes(t *testing.T) {
	for _, s := range []string{"auto", "tty", "plain", "json", "quiet", ""} {
		if _, err := ParseMode(s); err != nil {
			t.Errorf("ParseMode(%q) = %v", s, err)
		}
	}
	if _, err := ParseMode("fancy"); err == nil || !strings.Contains(err.Error(), "auto, tty, plain, json or quiet") {
		t.Errorf("ParseMode(fancy) = %v, want an error listing the modes", err)
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 500 << 20: "500.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	var f Func
	f.Send(Event{}) // a nil Func is fine
}

// TestStepLabels: cross-compiling steps are labelled as buildx labels them,
// step IDs (cache keys) show only with ShowIDs, and a cached step is not
// called emulated (issue #22 item 2).
func TestStepLabels(t *testing.T) {
	for _, c := range []struct{ platform, target, want string }{
		{"linux/amd64", "", "linux/amd64"},
		{"linux/amd64", "linux/amd64", "linux/amd64"},
		{"linux/amd64", "linux/arm64", "linux/amd64->arm64"},
		{"linux/amd64", "linux/arm/v7", "linux/amd64->arm/v7"},
		{"linux/amd64", "windows/amd64", "linux/amd64->windows/amd64"},
		{"", "", "-"},
	} {
		if got := Label(c.platform, c.target); got != c.want {
			t.Errorf("Label(%q, %q) = %q, want %q", c.platform, c.target, got, c.want)
		}
	}
	events := []Event{
		{Time: t0, ID: "build/2@46d544f0e6f7", Kind: KindStep, Status: StatusDone, Name: "build 2/2", Platform: "linux/amd64", Target: "linux/arm64", Duration: time.Second},
		{Time: t0, ID: "stage-1/3@97f2dd56e4c5", Kind: KindStep, Status: StatusCached, Name: "stage-1 3/3", Platform: "linux/arm64", Emulated: true},
	}
	var b bytes.Buffer
	p := NewPrinter(&b, ModePlain)
	for _, e := range events {
		p.Event(e)
	}
	p.Close()
	want := "linux/amd64->arm64  build 2/2              done      1.0s\n" +
		"linux/arm64         stage-1 3/3            cached  \n"
	if b.String() != want {
		t.Errorf("plain output =\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	p = NewPrinter(&b, ModePlain)
	p.ShowIDs(true)
	p.Event(events[0])
	p.Close()
	if !strings.Contains(b.String(), "build/2@46d544f0e6f7") {
		t.Errorf("with ShowIDs the step's ID is missing: %q", b.String())
	}
	var j bytes.Buffer
	p = NewPrinter(&j, ModeJSON)
	p.Event(events[0])
	p.Close()
	if !strings.Contains(j.String(), `"platform":"linux/amd64","target":"linux/arm64"`) {
		t.Errorf("json event lacks the target: %s", j.String())
	}
}
