package imagetest

import (
	"regexp"
	"slices"
	"strings"
	"sync"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// Vars are the template variables of one platform, usable as {{.Name}} in
// commands, arguments, environment values, paths and expectations.
type Vars struct {
	Platform     string // "linux/arm/v7"
	OS           string // "linux"
	Arch         string // "arm"
	Variant      string // "v7", or ""
	UnameMachine string // what uname -m prints: "armv7l"
	GOARCH       string // "arm"
}

// VarsFor returns the template variables of p, from the architecture table.
func VarsFor(p specs.Platform) Vars {
	p = platform.Normalize(p)
	v := Vars{Platform: platform.Format(p), OS: p.OS, Arch: p.Architecture, Variant: p.Variant, GOARCH: p.Architecture}
	if a, ok := platform.Lookup(p); ok {
		v.UnameMachine = a.UnameMachine
		v.GOARCH = a.GOARCH
	}
	return v
}

// expand substitutes the template variables of v in s: {{.Platform}},
// {{.OS}}, {{.Arch}}, {{.Variant}}, {{.UnameMachine}}, {{.GOARCH}} (spaces
// inside the braces allowed), and {{"{{"}} for a literal "{{" before one of
// them. Every other "{{" is left as it is written, so a Go template handed
// to a tool in the image ({{.Config.Env}}) and regular expressions with
// braces keep working. It never fails; the error is kept for callers.
func expand(s string, v Vars) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	return templateRE().ReplaceAllStringFunc(s, func(m string) string {
		sub := templateRE().FindStringSubmatch(m)
		if sub[1] == "" {
			return "{{"
		}
		return v.get(sub[1])
	}), nil
}

func (v Vars) get(name string) string {
	switch name {
	case "Platform":
		return v.Platform
	case "OS":
		return v.OS
	case "Arch":
		return v.Arch
	case "Variant":
		return v.Variant
	case "UnameMachine":
		return v.UnameMachine
	case "GOARCH":
		return v.GOARCH
	}
	return ""
}

var (
	varList  = []string{"Platform", "OS", "Arch", "Variant", "UnameMachine", "GOARCH"}
	varIndex = map[string]int{"Platform": 0, "OS": 1, "Arch": 2, "Variant": 3, "UnameMachine": 4, "GOARCH": 5}
	// templateRE matches a variable or the escape {{"{{"}} (or {{`{{`}}).
	templateRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`\{\{\s*(?:\.(Platform|OS|Arch|Variant|UnameMachine|GOARCH)|"\{\{"|` + "`\\{\\{`" + `)\s*\}\}`)
	})
	// lookalikeRE matches what looks like one variable ({{.Name}}).
	lookalikeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`) })
)

const varNames = "{{.Platform}} {{.OS}} {{.Arch}} {{.Variant}} {{.UnameMachine}} {{.GOARCH}}"

// expandAll substitutes v in every string of ss.
func expandAll(ss []string, v Vars) ([]string, error) {
	if ss == nil {
		return nil, nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		var err error
		if out[i], err = expand(s, v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Placeholders in normalized output are marker-delimited sets of variable
// names, because one value may be several variables at once (riscv64 is
// the Arch, the GOARCH and the uname -m of linux/riscv64).
const marker = "\x00"

var (
	wordRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[A-Za-z0-9_]+`) })
	// varOrder is the order names are shown in.
	varOrder = []string{"Platform", "GOARCH", "UnameMachine", "Arch", "Variant"}
)

// normalizeOutput replaces v's values in s by placeholders naming the
// variables that hold them: the platform ("linux/arm/v7") where it stands
// alone, and words (runs of letters, digits and _) equal to the GOARCH,
// uname -m, architecture or variant. Compare results with sameOutput.
func normalizeOutput(s string, v Vars) string {
	values := map[string][]string{}
	for _, nv := range [][2]string{{"GOARCH", v.GOARCH}, {"UnameMachine", v.UnameMachine}, {"Arch", v.Arch}, {"Variant", v.Variant}} {
		if len(nv[1]) >= 2 {
			values[nv[1]] = append(values[nv[1]], nv[0])
		}
	}
	if v.Platform != "" {
		re := regexp.MustCompile(`(^|[^A-Za-z0-9_/])` + regexp.QuoteMeta(v.Platform) + `($|[^A-Za-z0-9_/])`)
		for {
			n := re.ReplaceAllString(s, "${1}"+marker+"Platform"+marker+"${2}")
			if n == s {
				break
			}
			s = n
		}
	}
	parts := strings.Split(s, marker)
	for i := 0; i < len(parts); i += 2 { // even parts are text, odd are placeholders
		parts[i] = wordRE().ReplaceAllStringFunc(parts[i], func(w string) string {
			if names, ok := values[w]; ok {
				return marker + strings.Join(names, "|") + marker
			}
			return w
		})
	}
	return strings.Join(parts, marker)
}

// sameOutput reports whether two normalized outputs are the same text with
// placeholders that share a variable.
func sameOutput(a, b string) bool {
	pa, pb := strings.Split(a, marker), strings.Split(b, marker)
	if len(pa) != len(pb) {
		return false
	}
	for i := range pa {
		if i%2 == 0 {
			if pa[i] != pb[i] {
				return false
			}
			continue
		}
		shared := false
		for _, n := range strings.Split(pa[i], "|") {
			shared = shared || slices.Contains(strings.Split(pb[i], "|"), n)
		}
		if !shared {
			return false
		}
	}
	return true
}

// showOutput renders a normalized output for people: each placeholder as
// {{.Name}}, the first of its names in varOrder.
func showOutput(s string) string {
	parts := strings.Split(s, marker)
	for i := 1; i < len(parts); i += 2 {
		names := strings.Split(parts[i], "|")
		best := names[0]
		for _, n := range varOrder {
			if slices.Contains(names, n) {
				best = n
				break
			}
		}
		parts[i] = "{{." + best + "}}"
	}
	return strings.Join(parts, "")
}
