package imagediff

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteText writes r for people: one block per platform, one difference
// a line as "FIELD: A vs B", with "(none)" for an absent value. Digests
// are shortened to 12 hex digits (the JSON form has them whole).
func WriteText(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	side := func(label string, a Artifact) {
		name := a.Reference
		if name == "" {
			name = "(unnamed)"
		}
		fmt.Fprintf(bw, "%s: %s %s\n", label, name, a.Digest)
	}
	side("a", r.A)
	side("b", r.B)
	if len(r.Index) > 0 {
		fmt.Fprintln(bw, "index:")
		writeDiffs(bw, "  ", r.Index)
	}
	for _, p := range r.Platforms {
		switch p.Status {
		case StatusIdentical:
			fmt.Fprintf(bw, "%s: identical\n", p.Platform)
			continue
		case StatusOnlyInA:
			fmt.Fprintf(bw, "%s: only in a\n", p.Platform)
			continue
		case StatusOnlyInB:
			fmt.Fprintf(bw, "%s: only in b\n", p.Platform)
			continue
		}
		fmt.Fprintf(bw, "%s: manifests differ (%s vs %s)\n", p.Platform, short(deref(p.A)), short(deref(p.B)))
		if len(p.Manifest) > 0 {
			fmt.Fprintln(bw, "  manifest:")
			writeDiffs(bw, "    ", p.Manifest)
		}
		if len(p.Config) > 0 {
			fmt.Fprintln(bw, "  config:")
			writeDiffs(bw, "    ", p.Config)
		}
		if l := p.Layers; l != nil {
			writeLayers(bw, l)
		}
	}
	if r.Identical {
		fmt.Fprintln(bw, "identical")
	}
	return bw.Flush()
}

func writeLayers(w io.Writer, l *LayerReport) {
	if l.CountA != l.CountB {
		fmt.Fprintf(w, "  layers: a has %d, b has %d\n", l.CountA, l.CountB)
	}
	if l.First == 0 {
		if l.CountA == l.CountB {
			fmt.Fprintf(w, "  layers: all %d have the same content\n", l.CountA)
		}
		return
	}
	layer := func(x *Layer) string {
		if x == nil {
			return "(none)"
		}
		return short(x.DiffID)
	}
	fmt.Fprintf(w, "  layers: first differing layer %d of %d (diff ID %s vs %s)", l.First, max(l.CountA, l.CountB), layer(l.A), layer(l.B))
	if len(l.AlsoDiffer) > 0 {
		nums := make([]string, len(l.AlsoDiffer))
		for i, n := range l.AlsoDiffer {
			nums[i] = fmt.Sprint(n)
		}
		fmt.Fprintf(w, "; later layers %s differ too (not compared)", strings.Join(nums, ", "))
	}
	fmt.Fprintln(w)
	switch l.PathsDiffering {
	case 0:
		fmt.Fprintln(w, "    no path differs (the tars differ in order or encoding)")
		return
	case 1:
		fmt.Fprintln(w, "    1 path differs:")
	default:
		fmt.Fprintf(w, "    %d paths differ:\n", l.PathsDiffering)
	}
	for _, p := range l.Paths {
		switch p.Status {
		case PathOnlyInA:
			fmt.Fprintf(w, "      %s: only in a (%s)\n", p.Path, p.Type)
		case PathOnlyInB:
			fmt.Fprintf(w, "      %s: only in b (%s)\n", p.Path, p.Type)
		default:
			parts := make([]string, len(p.Changes))
			for i, c := range p.Changes {
				parts[i] = fmt.Sprintf("%s (%s vs %s)", c.Field, value(c.A), value(c.B))
			}
			fmt.Fprintf(w, "      %s: %s\n", p.Path, strings.Join(parts, ", "))
		}
	}
	if l.PathsOmitted > 0 {
		fmt.Fprintf(w, "      ... and %d more\n", l.PathsOmitted)
	}
}

func writeDiffs(w io.Writer, indent string, ds []Difference) {
	for _, d := range ds {
		fmt.Fprintf(w, "%s%s: %s vs %s\n", indent, d.Field, value(d.A), value(d.B))
	}
}

// value shows one side of a difference; digests are shortened.
func value(v *string) string {
	if v == nil {
		return "(none)"
	}
	if isDigest(*v) {
		return short(*v)
	}
	if *v == "" {
		return `""`
	}
	return *v
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// short shortens "sha256:HEX" to 12 hex digits.
func short(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

// isDigest reports whether s is a sha256 digest.
func isDigest(s string) bool {
	hex, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
