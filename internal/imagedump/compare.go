package imagedump

import (
	"bufio"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// quotePath writes a path as is unless a space, a quote or an unprintable
// rune would make the line ambiguous; then it is a Go-quoted string.
func quotePath(p string) string {
	if strings.IndexFunc(p, func(r rune) bool { return r == ' ' || r == '"' || !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(p)
	}
	return p
}

// Parse reads a dump's text back into its lines ("config F" keys for the
// config, paths for files). Blank lines and lines starting with # are
// skipped.
func Parse(text string) ([]Line, error) {
	var out []Line
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for n := 1; sc.Scan(); n++ {
		s := sc.Text()
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		var key, rest string
		switch {
		case strings.HasPrefix(s, "config "):
			f, v, ok := strings.Cut(strings.TrimPrefix(s, "config "), " ")
			if !ok {
				return nil, fmt.Errorf("line %d: %q: want \"config FIELD VALUE\"", n, s)
			}
			key, rest = "config "+f, v
		case strings.HasPrefix(s, `"`):
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q: bad quoted path: %w", n, s, err)
			}
			key, _ = strconv.Unquote(q)
			rest = strings.TrimPrefix(s[len(q):], " ")
		default:
			var ok bool
			if key, rest, ok = strings.Cut(s, " "); !ok {
				return nil, fmt.Errorf("line %d: %q: want \"PATH VALUE\"", n, s)
			}
		}
		out = append(out, Line{key, rest})
	}
	return out, sc.Err()
}

// Difference is one key whose value differs between two dumps. Got or Want
// is Absent when only one dump has the key.
type Difference struct {
	Key, Got, Want string
}

// Absent is the value of a key a dump does not have.
const Absent = "(absent)"

// Compare returns the differences between two dump texts, sorted by key
// (config fields first).
func Compare(got, want string) ([]Difference, error) {
	g, err := Parse(got)
	if err != nil {
		return nil, fmt.Errorf("dump: %w", err)
	}
	w, err := Parse(want)
	if err != nil {
		return nil, fmt.Errorf("expected dump: %w", err)
	}
	gm, wm := map[string]string{}, map[string]string{}
	for _, l := range g {
		gm[l.Key] = l.Value
	}
	for _, l := range w {
		wm[l.Key] = l.Value
	}
	var out []Difference
	for k, gv := range gm {
		wv, ok := wm[k]
		if !ok {
			wv = Absent
		}
		if gv != wv {
			out = append(out, Difference{k, gv, wv})
		}
	}
	for k, wv := range wm {
		if _, ok := gm[k]; !ok {
			out = append(out, Difference{k, Absent, wv})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		ci, cj := strings.HasPrefix(out[i].Key, "config "), strings.HasPrefix(out[j].Key, "config ")
		if ci != cj {
			return ci
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}
