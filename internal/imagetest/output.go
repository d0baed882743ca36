package imagetest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// columnName is a platform's short name for matrix headers: "arm/v7" for
// linux/arm/v7.
func columnName(p specs.Platform) string {
	return strings.TrimPrefix(platform.Format(p), "linux/")
}

func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func statusWord(s Status) string {
	switch s {
	case StatusPass:
		return "ok"
	case StatusFail:
		return "FAIL"
	}
	return "skip"
}

// WriteText writes the matrix (rows tests, columns platforms), the
// platforms with their emulation and overhead, the failures with expected
// and actual output, warnings and a summary line.
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	if r.Image != "" {
		fmt.Fprintf(ew, "%s: %d tests on %d platforms\n\n", r.Image, len(r.Tests), len(r.Platforms))
	}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "TEST")
	for _, p := range r.Platforms {
		fmt.Fprintf(tw, "\t%s", columnName(p.Platform))
	}
	fmt.Fprintln(tw)
	for i, t := range r.Tests {
		fmt.Fprint(tw, t.Name)
		for j := range r.Platforms {
			res := r.Results[i][j]
			if res.Status == StatusSkip {
				fmt.Fprint(tw, "\tskip")
				continue
			}
			fmt.Fprintf(tw, "\t%s %s", statusWord(res.Status), fmtDuration(res.Duration))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(ew)
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tPASS\tFAIL\tSKIP\tTIME\tCOMMANDS\tOVERHEAD\tEMULATION")
	for _, p := range r.Platforms {
		over := "-"
		if p.Overhead > 0 {
			over = fmt.Sprintf("%.1fx", p.Overhead)
		}
		emu := p.Emulation
		if emu == "" {
			emu = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", platform.Format(p.Platform), p.Pass, p.Fail, p.Skip,
			fmtDuration(p.Duration), fmtDuration(p.CommandTime), over, emu)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Platforms {
		if p.Err != "" {
			fmt.Fprintf(ew, "\n%s: %s\n", platform.Format(p.Platform), p.Err)
		}
	}
	if err := r.writeServicesText(ew); err != nil {
		return err
	}

	first := true
	for i, t := range r.Tests {
		for j, p := range r.Platforms {
			res := r.Results[i][j]
			if res.Status != StatusFail {
				continue
			}
			if first {
				fmt.Fprint(ew, "\nFailures:\n")
				first = false
			}
			fmt.Fprintf(ew, "\n--- FAIL: %s on %s (%s:%d)\n", t.Name, platform.Format(p.Platform), t.Pos.File, t.Pos.Line)
			for _, f := range res.Failures {
				fmt.Fprintf(ew, "    %s\n", f.Message)
				if f.Expected != "" || f.Actual != "" {
					fmt.Fprintf(ew, "      expected: %s\n", indent(f.Expected, "                "))
					fmt.Fprintf(ew, "      actual:   %s\n", indent(f.Actual, "                "))
				}
			}
			if t.Kind == KindCommand && res.Stderr != "" && !mentions(res.Failures, res.Stderr) {
				fmt.Fprintf(ew, "    stderr: %s\n", indent(res.Stderr, "            "))
			}
		}
	}
	if len(r.Warnings) > 0 {
		fmt.Fprint(ew, "\nWarnings:\n")
		for _, w := range r.Warnings {
			fmt.Fprintf(ew, "    %s\n", w)
		}
	}
	pass, fail, skip := r.Counts()
	verdict := "PASS"
	if fail > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(ew, "\n%s: %d passed, %d failed, %d skipped (%d tests x %d platforms) in %s\n",
		verdict, pass, fail, skip, len(r.Tests), len(r.Platforms), fmtDuration(r.Duration))
	return ew.err
}

func mentions(fs []Failure, s string) bool {
	for _, f := range fs {
		if f.Actual == s {
			return true
		}
	}
	return false
}

// indent shows s on one line, or its lines after the first indented by
// prefix; a trailing newline is dropped and an empty string is shown as "".
func indent(s, prefix string) string {
	t := strings.TrimSuffix(s, "\n")
	if t == "" || (t != s && !strings.Contains(t, "\n")) {
		return strconv.Quote(s) // show the newline a regular expression may trip on
	}
	s = t
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	_, e.err = e.w.Write(p)
	return len(p), nil
}

// JSON is CST's report shape (Pass, Fail, Total, Duration in nanoseconds,
// Results with Name, Pass, Stdout, Stderr, Errors, Duration) with
// manyarch's additions: each result's Platform, File, Line and structured
// Failures; Skip and Platforms at the top. Skipped results are counted in
// Skip but not listed, so Total = Pass + Fail as in CST.
type JSON struct {
	Image     string         `json:",omitempty"`
	Pass      int            `json:"Pass"`
	Fail      int            `json:"Fail"`
	Skip      int            `json:"Skip"`
	Total     int            `json:"Total"`
	Duration  time.Duration  `json:"Duration"`
	Platforms []JSONPlatform `json:"Platforms"`
	Results   []JSONResult   `json:"Results"`
	Warnings  []string       `json:"Warnings,omitempty"`
	// Services are the service tests' details (service_types.go):
	// readiness, check answers, load numbers, faults, last log lines.
	Services []ServiceReport `json:"Services,omitempty"`
}

// JSONPlatform is one platform's summary in the JSON report.
type JSONPlatform struct {
	Platform    string        `json:"Platform"`
	Emulation   string        `json:"Emulation,omitempty"`
	Emulated    bool          `json:"Emulated"`
	Pass        int           `json:"Pass"`
	Fail        int           `json:"Fail"`
	Skip        int           `json:"Skip"`
	Duration    time.Duration `json:"Duration"`
	CommandTime time.Duration `json:"CommandTime"`
	Overhead    float64       `json:"Overhead,omitempty"`
	Error       string        `json:"Error,omitempty"`
}

// JSONResult is one test on one platform in the JSON report.
type JSONResult struct {
	Name     string        `json:"Name"`
	Platform string        `json:"Platform"`
	Pass     bool          `json:"Pass"`
	Stdout   string        `json:"Stdout,omitempty"`
	Stderr   string        `json:"Stderr,omitempty"`
	Errors   []string      `json:"Errors,omitempty"`
	Failures []Failure     `json:"Failures,omitempty"`
	Duration time.Duration `json:"Duration"`
	File     string        `json:"File,omitempty"`
	Line     int           `json:"Line,omitempty"`
}

// JSON returns the report in its JSON form.
func (r *Report) JSON() JSON {
	out := JSON{Image: r.Image, Duration: r.Duration, Warnings: r.Warnings, Platforms: []JSONPlatform{}, Results: []JSONResult{}, Services: r.Services}
	out.Pass, out.Fail, out.Skip = r.Counts()
	out.Total = out.Pass + out.Fail
	for _, p := range r.Platforms {
		out.Platforms = append(out.Platforms, JSONPlatform{Platform: platform.Format(p.Platform), Emulation: p.Emulation, Emulated: p.Emulated,
			Pass: p.Pass, Fail: p.Fail, Skip: p.Skip, Duration: p.Duration, CommandTime: p.CommandTime, Overhead: p.Overhead, Error: p.Err})
	}
	for i, t := range r.Tests {
		for j, p := range r.Platforms {
			res := r.Results[i][j]
			if res.Status == StatusSkip {
				continue
			}
			jr := JSONResult{Name: t.Name, Platform: platform.Format(p.Platform), Pass: res.Status == StatusPass, Stdout: res.Stdout, Stderr: res.Stderr,
				Failures: res.Failures, Duration: res.Duration, File: t.Pos.File, Line: t.Pos.Line}
			for _, f := range res.Failures {
				jr.Errors = append(jr.Errors, f.Message)
			}
			out.Results = append(out.Results, jr)
		}
	}
	return out
}

// WriteJSON writes the JSON report, indented.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r.JSON())
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr,omitempty"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
	SystemErr  string          `xml:"system-err,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
	SystemErr string        `xml:"system-err,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes JUnit XML with one testsuite per platform, named by
// the platform, so CI dashboards show which platform failed.
func (r *Report) WriteJUnit(w io.Writer) error {
	s := junitSuites{Name: "manyarch test " + r.Image, Time: seconds(r.Duration)}
	for j, p := range r.Platforms {
		name := platform.Format(p.Platform)
		suite := junitSuite{Name: name, Time: seconds(p.Duration), SystemErr: p.Err}
		if p.Emulation != "" {
			suite.Properties = append(suite.Properties, junitProperty{Name: "emulation", Value: p.Emulation})
		}
		if p.Overhead > 0 {
			suite.Properties = append(suite.Properties, junitProperty{Name: "emulation-overhead", Value: fmt.Sprintf("%.2f", p.Overhead)})
		}
		suite.Properties = append(suite.Properties, r.junitServiceProperties(j)...)
		for i, t := range r.Tests {
			res := r.Results[i][j]
			c := junitCase{Name: t.Name, Classname: name, Time: seconds(res.Duration), File: t.Pos.File, Line: t.Pos.Line,
				SystemOut: res.Stdout, SystemErr: res.Stderr}
			suite.Tests++
			switch res.Status {
			case StatusFail:
				suite.Failures++
				var msgs, details []string
				for _, f := range res.Failures {
					msgs = append(msgs, f.Message)
					details = append(details, f.Message)
					if f.Expected != "" || f.Actual != "" {
						details = append(details, "expected: "+f.Expected, "actual:   "+f.Actual)
					}
				}
				c.Failure = &junitFailure{Message: strings.Join(msgs, "; "), Type: string(t.Kind), Text: strings.Join(details, "\n")}
			case StatusSkip:
				suite.Skipped++
				c.Skipped = &junitSkipped{Message: res.SkipReason}
			}
			suite.Cases = append(suite.Cases, c)
		}
		s.Tests += suite.Tests
		s.Failures += suite.Failures
		s.Skipped += suite.Skipped
		s.Suites = append(s.Suites, suite)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
