package imagetest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"gopkg.in/yaml.v3"

	"github.com/manyarch/manyarch/internal/platform"
)

// Load reads and parses the test file at path (YAML or JSON).
func Load(path string, opts ...ParseOption) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading test file: %w", err)
	}
	return Parse(path, data, opts...)
}

// A ParseOption changes how Parse reads a file.
type ParseOption func(*decoder)

// Strict refuses what CST's parser accepts but is most likely a mistake:
// an unknown field of a JSON file (by default a warning), a test whose
// values CST would only fail when it runs (a missing name, command or path,
// an invalid regular expression or isExecutableBy, a command test's env
// var without a value: by default that one test fails with the reason), a
// JSON key that matches only when case is ignored.
func Strict() ParseOption { return func(d *decoder) { d.strict = true } }

// Parse parses a container-structure-test file. name is used in messages.
// It accepts what CST's own parser accepts (yaml.v2 for YAML: YAML 1.1
// booleans, merge keys, any scalar as a string; encoding/json for JSON:
// keys matched ignoring case, unknown fields ignored, here with a warning).
// A value of the wrong type, an unknown field of a YAML file (CST reads
// YAML strictly) or a repeated one is a *ConfigError naming the line; all
// of them are returned, as ConfigErrors. A test CST would fail when it runs
// (an invalid regular expression, a missing name) is kept with Invalid set
// and fails alone, unless Strict.
func Parse(name string, data []byte, opts ...ParseOption) (*Config, error) {
	if isJSON(name, data) {
		// Valid JSON has tabs only between tokens, where YAML's flow
		// syntax wants spaces; inside strings a tab must be escaped.
		data = bytes.ReplaceAll(data, []byte("\t"), []byte(" "))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &ConfigError{Pos: Pos{File: name, Line: yamlErrorLine(err)}, Msg: yamlLineRE().ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), "")}
	}
	d := &decoder{file: name, json: isJSON(name, data)}
	for _, o := range opts {
		o(d)
	}
	c := &Config{File: name}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &ConfigError{Pos: Pos{File: name}, Msg: "empty test file: it needs at least schemaVersion: \"2.0.0\""}
	}
	root := doc.Content[0]
	d.v1 = schemaV1(root)
	d.fields(root, "the test file", map[string]func(*yaml.Node){
		"schemaVersion":      func(n *yaml.Node) { c.SchemaVersion, _ = d.str(n, "schemaVersion") },
		"globalEnvVars":      func(n *yaml.Node) { c.GlobalEnvVars = d.envVars(n, "globalEnvVars", false) },
		"commandTests":       func(n *yaml.Node) { c.CommandTests = d.commandTests(n) },
		"fileExistenceTests": func(n *yaml.Node) { c.FileExistenceTests = d.fileExistenceTests(n) },
		"fileContentTests":   func(n *yaml.Node) { c.FileContentTests = d.fileContentTests(n) },
		"metadataTest": func(n *yaml.Node) {
			// An empty metadataTest ({} or only empty lists) is no test, as in CST.
			if c.MetadataTest = d.metadataTest(n); c.MetadataTest != nil && c.MetadataTest.empty() {
				c.MetadataTest = nil
			}
		},
		"licenseTests":        func(n *yaml.Node) { c.LicenseTests = d.licenseTests(n) },
		"containerRunOptions": func(n *yaml.Node) { c.ContainerRunOptions = d.runOptions(n) },
		"consistency":         func(n *yaml.Node) { c.Consistency = d.consistencyTests(n) },
		"serviceTests":        func(n *yaml.Node) { c.ServiceTests = d.serviceTests(n) },
	})
	if root.Kind == yaml.MappingNode {
		switch {
		case c.SchemaVersion == "" && !d.seen["schemaVersion"]:
			d.errorf(root, "schemaVersion is missing: add schemaVersion: %q as the first line", SchemaVersion)
		case c.SchemaVersion != SchemaVersion && c.SchemaVersion != "" && c.SchemaVersion != SchemaVersion1:
			d.errorf(d.keyNode["schemaVersion"], "unknown schemaVersion %q: manyarch reads CST schema %s", c.SchemaVersion, SchemaVersion)
		}
	}
	c.Warnings = d.warnings
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return c, nil
}

func isJSON(name string, data []byte) bool {
	if strings.EqualFold(filepath.Ext(name), ".json") {
		return true
	}
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

var yamlLineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line (\d+): `) })

func yamlErrorLine(err error) int {
	if m := yamlLineRE().FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// decoder walks a YAML node tree and collects located errors.
type decoder struct {
	file     string
	json     bool      // a JSON file: keys match ignoring case, unknown ones are warnings
	strict   bool      // Strict: refuse what CST only fails at run time
	cur      *[]string // the Invalid list of the test being read
	merged   int       // fields read through merge keys, bounded by maxMerged
	errs     ConfigErrors
	warnings []string
	seen     map[string]bool       // top-level keys present
	keyNode  map[string]*yaml.Node // top-level value nodes
	v1       bool                  // schemaVersion 1.0.0: command is a list
}

func (d *decoder) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: d.file}
	}
	return Pos{File: d.file, Line: n.Line, Column: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &ConfigError{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// invalidf records a problem CST finds only when it runs the test: the
// test fails alone with it, or the file is refused under Strict or outside
// a test.
func (d *decoder) invalidf(n *yaml.Node, format string, args ...any) {
	if d.strict || d.cur == nil {
		d.errorf(n, format, args...)
		return
	}
	*d.cur = append(*d.cur, (&ConfigError{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...)}).Error())
}

// inTest reads a test's fields with invalidf recording into its Invalid.
func (d *decoder) inTest(invalid *[]string, f func()) {
	prev := d.cur
	d.cur = invalid
	defer func() { d.cur = prev }()
	f()
}

func (d *decoder) warnf(n *yaml.Node, format string, args ...any) {
	p := d.pos(n)
	d.warnings = append(d.warnings, fmt.Sprintf("%s:%d: %s", p.File, p.Line, fmt.Sprintf(format, args...)))
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "an unexpected node"
}

// fields decodes mapping n, calling handlers by key. Merge keys (<<: *a)
// are applied as yaml.v2 applies them: the mapping's own keys win, then
// the merged mappings in order. An unknown key is an error with a
// suggestion for near misses (in a JSON file, a warning unless strict: CST
// reads JSON with encoding/json, which ignores it); a repeated key is an
// error (JSON: the last one is used, with a warning). JSON keys match
// ignoring case, as encoding/json matches them.
func (d *decoder) fields(n *yaml.Node, what string, handlers map[string]func(*yaml.Node)) {
	n = resolve(n)
	top := d.seen == nil
	if top {
		d.seen, d.keyNode = map[string]bool{}, map[string]*yaml.Node{}
	}
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping of fields, not %s", what, kindName(n))
		return
	}
	known := make([]string, 0, len(handlers))
	for name := range handlers {
		known = append(known, name)
	}
	sort.Strings(known)
	pairs := d.mergedPairs(n, what, 0)
	// In JSON the last of repeated keys wins: find each key's last pair.
	last := map[string]int{}
	canon := make([]string, len(pairs))
	for i, kv := range pairs {
		k := kv[0]
		name := k.Value
		if _, ok := handlers[name]; !ok && d.json {
			for _, h := range known {
				if strings.EqualFold(h, name) {
					name = h
					break
				}
			}
		}
		canon[i] = name
		last[name] = i
	}
	seen := map[string]bool{}
	for i, kv := range pairs {
		k, v, name := kv[0], resolve(kv[1]), canon[i]
		h, ok := handlers[name]
		if !ok {
			msg := fmt.Sprintf("unknown field %q in %s", k.Value, what)
			if s := suggest(k.Value, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			if d.json && !d.strict {
				d.warnf(k, "%s: ignored, as CST ignores it (--strict refuses it)", msg)
				continue
			}
			d.errorf(k, "%s; known fields: %s", msg, strings.Join(known, ", "))
			continue
		}
		if name != k.Value && d.strict {
			d.errorf(k, "field %q in %s is spelled %q: --strict wants its exact case", k.Value, what, name)
		}
		if seen[name] || (d.json && last[name] != i) {
			if !d.json {
				d.errorf(k, "field %q appears twice in %s", k.Value, what)
				continue
			}
			if last[name] != i {
				d.warnf(k, "field %q appears twice in %s: the last one is used, as CST uses it", k.Value, what)
				continue
			}
		}
		seen[name] = true
		if top {
			d.seen[name], d.keyNode[name] = true, v
		}
		h(v)
	}
}

// maxMerged bounds the fields merge keys may bring in, over the whole file:
// anchors merged into anchors multiply.
const maxMerged = 100000

// mergedPairs returns the key/value pairs of mapping n with its merge keys
// applied: the mapping's own keys first, then each merged mapping's keys
// that are not already there (the first merged mapping wins).
func (d *decoder) mergedPairs(n *yaml.Node, what string, depth int) [][2]*yaml.Node {
	var own, merged [][2]*yaml.Node
	has := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" && !d.json {
			if depth > 16 {
				d.errorf(k, "merge keys in %s nest more than 16 deep", what)
				continue
			}
			v = resolve(v)
			var maps []*yaml.Node
			switch v.Kind {
			case yaml.MappingNode:
				maps = []*yaml.Node{v}
			case yaml.SequenceNode:
				for _, m := range v.Content {
					maps = append(maps, resolve(m))
				}
			}
			for _, m := range maps {
				if m == nil || m.Kind != yaml.MappingNode {
					d.errorf(k, "the merge key (<<) in %s must name a mapping or a list of mappings, not %s", what, kindName(v))
					continue
				}
				d.merged += len(m.Content) / 2
				if d.merged > maxMerged {
					d.errorf(k, "merge keys (<<) in %s expand to more than %d fields: the file repeats its anchors too deeply", what, maxMerged)
					return own
				}
				merged = append(merged, d.mergedPairs(m, what, depth+1)...)
			}
			continue
		}
		own = append(own, [2]*yaml.Node{k, v})
		has[k.Value] = true
	}
	for _, kv := range merged {
		if !has[kv[0].Value] {
			has[kv[0].Value] = true
			own = append(own, kv)
		}
	}
	return own
}

// suggest returns the known name closest to s, if it is close.
func suggest(s string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		dist := editDistance(strings.ToLower(s), strings.ToLower(k))
		if dist < bestD {
			best, bestD = k, dist
		}
	}
	if bestD <= 2 || (bestD <= 4 && bestD*3 <= len(s)) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// str decodes a scalar as a string, as yaml.v2 does: numbers and
// booleans are accepted as their text (exposedPorts: [8080], name: yes),
// null is "". Lists and mappings are not.
func (d *decoder) str(n *yaml.Node, what string) (string, bool) {
	n = resolve(n)
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s must be a string, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) strPtr(n *yaml.Node, what string) *string {
	if isNull(n) {
		return nil
	}
	s, ok := d.str(n, what)
	if !ok {
		return nil
	}
	return &s
}

// yaml11Bools are the plain scalars yaml.v2 (YAML 1.1), which CST reads
// YAML with, takes as booleans; yaml.v3 takes only true and false.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"true": true, "True": true, "TRUE": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
	"false": false, "False": false, "FALSE": false,
}

func (d *decoder) boolean(n *yaml.Node, what string) bool {
	n = resolve(n)
	if isNull(n) {
		return false
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!bool" || (!d.json && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0)) {
		if b, ok := yaml11Bools[n.Value]; ok {
			return b
		}
	}
	d.errorf(n, "%s must be true or false (or yes, no, on, off), not %s", what, kindName(n))
	return false
}

func (d *decoder) integer(n *yaml.Node, what string) (int, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!str") {
		d.errorf(n, "%s must be an integer, not %s", what, kindName(n))
		return 0, false
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil {
		d.errorf(n, "%s must be an integer, not %s", what, kindName(n))
		return 0, false
	}
	if i != int64(int32(i)) {
		d.errorf(n, "%s: %s is out of range", what, n.Value)
		return 0, false
	}
	return int(i), true
}

// seq calls f for each item of sequence n; null is an empty list.
func (d *decoder) seq(n *yaml.Node, what string, f func(i int, item *yaml.Node)) bool {
	n = resolve(n)
	if isNull(n) {
		return false
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s must be a list, not %s", what, kindName(n))
		return false
	}
	for i, item := range n.Content {
		f(i, resolve(item))
	}
	return true
}

// strList decodes a list of strings, checking each as a template.
func (d *decoder) strList(n *yaml.Node, what string) []string {
	out := []string{}
	if !d.seq(n, what, func(i int, item *yaml.Node) {
		s, ok := d.str(item, fmt.Sprintf("%s[%d]", what, i))
		if ok {
			d.checkTemplate(item, s)
			out = append(out, s)
		}
	}) {
		return nil
	}
	return out
}

func (d *decoder) strListPtr(n *yaml.Node, what string) *[]string {
	if isNull(n) {
		return nil
	}
	l := d.strList(n, what)
	if l == nil {
		l = []string{}
	}
	return &l
}

// regexes decodes a list of regular expressions; each must compile on
// every platform of the architecture table once its variables are
// substituted.
func (d *decoder) regexes(n *yaml.Node, what string) []string {
	out := []string{}
	d.seq(n, what, func(i int, item *yaml.Node) {
		s, ok := d.str(item, fmt.Sprintf("%s[%d]", what, i))
		if !ok {
			return
		}
		if !d.checkTemplate(item, s) {
			return
		}
		d.checkRegex(item, what, s)
		out = append(out, s)
	})
	return out
}

func (d *decoder) checkRegex(n *yaml.Node, what, s string) bool {
	for _, a := range platform.All() {
		x, err := expand(s, VarsFor(a.Platform))
		if err != nil {
			return false
		}
		if _, err := regexp.Compile(x); err != nil {
			d.invalidf(n, "%s: invalid regular expression %q: %v", what, x, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			return false
		}
	}
	return true
}

// checkTemplate warns of what looks like a misspelt template variable
// ({{.Arhc}}): only manyarch's own variables are replaced, anything else
// in {{ }} is left as it is written.
func (d *decoder) checkTemplate(n *yaml.Node, s string) bool {
	if !strings.Contains(s, "{{") {
		return true
	}
	for _, m := range lookalikeRE().FindAllStringSubmatch(s, -1) {
		if _, ok := varIndex[m[1]]; ok {
			continue
		}
		sug := suggest(m[1], varList)
		for _, v := range varList {
			if strings.HasPrefix(strings.ToLower(m[1]), strings.ToLower(v)) || strings.HasPrefix(strings.ToLower(v), strings.ToLower(m[1])) {
				sug = v
			}
		}
		if sug != "" {
			d.warnf(n, "%s is left as it is: manyarch's variables are %s (did you mean {{.%s}}?)", m[0], varNames, sug)
		}
	}
	return true
}

func (d *decoder) name(n *yaml.Node, what string) string {
	s, _ := d.str(n, what+".name")
	return s
}

func (d *decoder) commands(n *yaml.Node, what string) [][]string {
	var out [][]string
	d.seq(n, what, func(i int, item *yaml.Node) {
		c := d.strList(item, fmt.Sprintf("%s[%d]", what, i))
		if len(c) == 0 {
			d.errorf(item, "%s[%d] is an empty command: remove it or give the command and its arguments as a list", what, i)
			return
		}
		out = append(out, c)
	})
	return out
}

func (d *decoder) envVars(n *yaml.Node, what string, needValue bool) []EnvVar {
	var out []EnvVar
	d.seq(n, what, func(i int, item *yaml.Node) {
		e := EnvVar{Pos: d.pos(item)}
		w := fmt.Sprintf("%s[%d]", what, i)
		d.fields(item, w, map[string]func(*yaml.Node){
			"key": func(n *yaml.Node) { e.Key, _ = d.str(n, w+".key") },
			"value": func(n *yaml.Node) {
				if isNull(n) {
					return
				}
				e.Value, _ = d.str(n, w+".value")
				d.checkTemplate(n, e.Value)
			},
			"isRegex": func(n *yaml.Node) { e.IsRegex = d.boolean(n, w+".isRegex") },
		})
		if e.Key == "" {
			d.invalidf(item, "%s needs a key", w)
		}
		if needValue && e.Value == "" {
			d.invalidf(item, "%s (%s) needs a value: CST refuses an empty one", w, e.Key)
		}
		if e.IsRegex {
			d.checkRegex(item, w+".value", e.Value)
		}
		out = append(out, e)
	})
	return out
}

func (d *decoder) platforms(n *yaml.Node, what string) []specs.Platform {
	var raw []string
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		raw = []string{n.Value}
	} else {
		raw = d.strList(n, what)
	}
	if raw == nil {
		return nil
	}
	ps, err := platform.ParseList(raw...)
	if err != nil {
		d.errorf(n, "%s: %v", what, err)
		return nil
	}
	if len(ps) == 0 {
		d.errorf(n, "%s is empty: remove it to run on every platform", what)
	}
	return ps
}

func (d *decoder) duration(n *yaml.Node, what string) time.Duration {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		s, _ := d.integer(n, what)
		if s <= 0 {
			d.errorf(n, "%s must be positive", what)
		}
		return time.Duration(s) * time.Second
	}
	s, ok := d.str(n, what)
	if !ok {
		return 0
	}
	t, err := time.ParseDuration(s)
	if err != nil || t <= 0 {
		d.errorf(n, "%s: %q is not a positive duration such as \"30s\" or \"2m\"", what, s)
		return 0
	}
	return t
}

func (d *decoder) commandTests(n *yaml.Node) []CommandTest {
	var out []CommandTest
	d.seq(n, "commandTests", func(i int, item *yaml.Node) {
		t := CommandTest{Pos: d.pos(item)}
		w := fmt.Sprintf("commandTests[%d]", i)
		prev := d.cur
		d.cur = &t.Invalid
		d.fields(item, w, map[string]func(*yaml.Node){
			"name":     func(n *yaml.Node) { t.Name = d.name(n, w) },
			"setup":    func(n *yaml.Node) { t.Setup = d.commands(n, w+".setup") },
			"teardown": func(n *yaml.Node) { t.Teardown = d.commands(n, w+".teardown") },
			"envVars":  func(n *yaml.Node) { t.EnvVars = d.envVars(n, w+".envVars", true) },
			"command": func(n *yaml.Node) {
				if d.v1 && resolve(n).Kind == yaml.SequenceNode {
					// Schema 1.0.0: command: [NAME, ARG...].
					if l := d.strList(n, w+".command"); len(l) > 0 {
						t.Command, t.Args = l[0], l[1:]
					}
					return
				}
				t.Command = d.command(n, w)
			},
			"args":           func(n *yaml.Node) { t.Args = d.strList(n, w+".args") },
			"exitCode":       func(n *yaml.Node) { t.ExitCode, _ = d.integer(n, w+".exitCode") },
			"expectedOutput": func(n *yaml.Node) { t.ExpectedOutput = d.regexes(n, w+".expectedOutput") },
			"excludedOutput": func(n *yaml.Node) { t.ExcludedOutput = d.regexes(n, w+".excludedOutput") },
			"expectedError":  func(n *yaml.Node) { t.ExpectedError = d.regexes(n, w+".expectedError") },
			"excludedError":  func(n *yaml.Node) { t.ExcludedError = d.regexes(n, w+".excludedError") },
			"platforms":      func(n *yaml.Node) { t.Platforms = d.platforms(n, w+".platforms") },
			"timeout":        func(n *yaml.Node) { t.Timeout = d.duration(n, w+".timeout") },
		})
		if t.Name == "" {
			d.invalidf(item, "%s needs a name", w)
		}
		if t.Command == "" {
			d.invalidf(item, "%s (%s) needs a command", w, t.Name)
		}
		d.cur = prev
		out = append(out, t)
	})
	return out
}

// schemaV1 says whether root (the file's top mapping) declares
// schemaVersion 1.0.0, before its other fields are read.
func schemaV1(root *yaml.Node) bool {
	if root.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if strings.EqualFold(root.Content[i].Value, "schemaVersion") {
			return resolve(root.Content[i+1]).Value == SchemaVersion1
		}
	}
	return false
}

func (d *decoder) command(n *yaml.Node, w string) string {
	n = resolve(n)
	if n.Kind == yaml.SequenceNode {
		d.errorf(n, "%s.command is a list, as in schema 1.0.0: in schema %s write command: NAME and args: [ARG, ...]", w, SchemaVersion)
		return ""
	}
	s, ok := d.str(n, w+".command")
	if ok {
		d.checkTemplate(n, s)
	}
	return s
}

func (d *decoder) fileExistenceTests(n *yaml.Node) []FileExistenceTest {
	var out []FileExistenceTest
	d.seq(n, "fileExistenceTests", func(i int, item *yaml.Node) {
		t := FileExistenceTest{Pos: d.pos(item), ShouldExist: true, UID: -1, GID: -1}
		w := fmt.Sprintf("fileExistenceTests[%d]", i)
		prev := d.cur
		d.cur = &t.Invalid
		d.fields(item, w, map[string]func(*yaml.Node){
			"name":        func(n *yaml.Node) { t.Name = d.name(n, w) },
			"path":        func(n *yaml.Node) { t.Path = d.path(n, w) },
			"shouldExist": func(n *yaml.Node) { t.ShouldExist = d.boolean(n, w+".shouldExist") },
			"permissions": func(n *yaml.Node) {
				t.Permissions, _ = d.str(n, w+".permissions")
				if !permissionsRE().MatchString(t.Permissions) {
					d.invalidf(n, "%s.permissions %q is not a permission string such as \"-rwxr-xr-x\" or \"drwxrwxrwt\"", w, t.Permissions)
				}
			},
			"uid": func(n *yaml.Node) { t.UID, _ = d.integer(n, w+".uid") },
			"gid": func(n *yaml.Node) { t.GID, _ = d.integer(n, w+".gid") },
			"isExecutableBy": func(n *yaml.Node) {
				t.IsExecutableBy, _ = d.str(n, w+".isExecutableBy")
				switch t.IsExecutableBy {
				case "owner", "group", "other", "any":
				default:
					d.invalidf(n, "%s.isExecutableBy is %q: want owner, group, other or any", w, t.IsExecutableBy)
				}
			},
			"platforms": func(n *yaml.Node) { t.Platforms = d.platforms(n, w+".platforms") },
		})
		if t.Name == "" {
			d.invalidf(item, "%s needs a name", w)
		}
		if t.Path == "" {
			d.invalidf(item, "%s (%s) needs a path", w, t.Name)
		}
		d.cur = prev
		out = append(out, t)
	})
	return out
}

// permissionsRE matches Go's fs.FileMode strings: type letters, then rwx
// with setuid/setgid/sticky shown as s/S/t/T in place, as ls -l shows them,
// or Go's own form.
var permissionsRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[-dalTLDpSugct?]*[-r][-w][-xsS][-r][-w][-xsS][-r][-w][-xtT]$`)
})

func (d *decoder) path(n *yaml.Node, w string) string {
	s, ok := d.str(n, w+".path")
	if ok {
		d.checkTemplate(n, s)
	}
	return s
}

func (d *decoder) fileContentTests(n *yaml.Node) []FileContentTest {
	var out []FileContentTest
	d.seq(n, "fileContentTests", func(i int, item *yaml.Node) {
		t := FileContentTest{Pos: d.pos(item)}
		w := fmt.Sprintf("fileContentTests[%d]", i)
		prev := d.cur
		d.cur = &t.Invalid
		d.fields(item, w, map[string]func(*yaml.Node){
			"name":             func(n *yaml.Node) { t.Name = d.name(n, w) },
			"path":             func(n *yaml.Node) { t.Path = d.path(n, w) },
			"expectedContents": func(n *yaml.Node) { t.ExpectedContents = d.regexes(n, w+".expectedContents") },
			"excludedContents": func(n *yaml.Node) { t.ExcludedContents = d.regexes(n, w+".excludedContents") },
			"platforms":        func(n *yaml.Node) { t.Platforms = d.platforms(n, w+".platforms") },
		})
		if t.Name == "" {
			d.invalidf(item, "%s needs a name", w)
		}
		if t.Path == "" {
			d.invalidf(item, "%s (%s) needs a path", w, t.Name)
		}
		d.cur = prev
		out = append(out, t)
	})
	return out
}

func (d *decoder) metadataTest(n *yaml.Node) *MetadataTest {
	if isNull(n) {
		return nil
	}
	t := &MetadataTest{Pos: d.pos(n)}
	prev := d.cur
	d.cur = &t.Invalid
	defer func() { d.cur = prev }()
	const w = "metadataTest"
	var envNode, unboundNode *yaml.Node
	envVars := func(key string, dst *[]EnvVar, other **yaml.Node, needValue bool) func(*yaml.Node) {
		return func(n *yaml.Node) {
			if *other != nil {
				d.errorf(n, "%s has both %s and its other spelling: give one", w, key)
				return
			}
			*other = n
			*dst = d.envVars(n, w+"."+key, needValue)
		}
	}
	nonEmpty := func(key string, dst *[]string) func(*yaml.Node) {
		return func(n *yaml.Node) {
			*dst = d.strList(n, w+"."+key)
			for i, s := range *dst {
				if s == "" {
					d.invalidf(n, "%s.%s[%d] is empty", w, key, i)
				}
			}
		}
	}
	d.fields(n, w, map[string]func(*yaml.Node){
		// CST's code reads env and unboundEnv; its README says envVars
		// and unboundEnvVars. Both spellings are accepted.
		"env":              envVars("env", &t.EnvVars, &envNode, false),
		"envVars":          envVars("envVars", &t.EnvVars, &envNode, false),
		"unboundEnv":       envVars("unboundEnv", &t.UnboundEnvVars, &unboundNode, false),
		"unboundEnvVars":   envVars("unboundEnvVars", &t.UnboundEnvVars, &unboundNode, false),
		"exposedPorts":     nonEmpty("exposedPorts", &t.ExposedPorts),
		"unexposedPorts":   nonEmpty("unexposedPorts", &t.UnexposedPorts),
		"entrypoint":       func(n *yaml.Node) { t.Entrypoint = d.strListPtr(n, w+".entrypoint") },
		"cmd":              func(n *yaml.Node) { t.Cmd = d.strListPtr(n, w+".cmd") },
		"workdir":          func(n *yaml.Node) { t.Workdir = d.strPtr(n, w+".workdir") },
		"volumes":          nonEmpty("volumes", &t.Volumes),
		"unmountedVolumes": nonEmpty("unmountedVolumes", &t.UnmountedVolumes),
		"labels":           func(n *yaml.Node) { t.Labels = d.envVars(n, w+".labels", false) },
		"user":             func(n *yaml.Node) { t.User = d.strPtr(n, w+".user") },
		"os":               func(n *yaml.Node) { t.OS = d.templatedPtr(n, w+".os") },
		"architecture":     func(n *yaml.Node) { t.Architecture = d.templatedPtr(n, w+".architecture") },
		"variant":          func(n *yaml.Node) { t.Variant = d.templatedPtr(n, w+".variant") },
		"platforms":        func(n *yaml.Node) { t.Platforms = d.platforms(n, w+".platforms") },
	})
	return t
}

func (d *decoder) templatedPtr(n *yaml.Node, what string) *string {
	p := d.strPtr(n, what)
	if p != nil {
		d.checkTemplate(n, *p)
	}
	return p
}

func (d *decoder) licenseTests(n *yaml.Node) []LicenseTest {
	var out []LicenseTest
	d.seq(n, "licenseTests", func(i int, item *yaml.Node) {
		t := LicenseTest{Pos: d.pos(item)}
		w := fmt.Sprintf("licenseTests[%d]", i)
		d.fields(item, w, map[string]func(*yaml.Node){
			"debian":    func(n *yaml.Node) { t.Debian = d.boolean(n, w+".debian") },
			"files":     func(n *yaml.Node) { t.Files = d.strList(n, w+".files") },
			"platforms": func(n *yaml.Node) { t.Platforms = d.platforms(n, w+".platforms") },
		})
		out = append(out, t)
	})
	return out
}

func (d *decoder) runOptions(n *yaml.Node) RunOptions {
	var o RunOptions
	const w = "containerRunOptions"
	tty := func(n *yaml.Node) {
		if o.AllocateTTY = d.boolean(n, w+".allocateTty"); o.AllocateTTY {
			d.warnf(n, "%s.allocateTty is not supported: command output is captured through pipes, not a terminal", w)
		}
	}
	handlers := map[string]func(*yaml.Node){
		"user": func(n *yaml.Node) { o.User = d.strPtr(n, w+".user") },
		"privileged": func(n *yaml.Node) {
			if o.Privileged = d.boolean(n, w+".privileged"); o.Privileged {
				d.warnf(n, "%s.privileged is not supported: manyarch's sandbox never runs privileged containers; command tests run with Docker's default capabilities", w)
			}
		},
		"allocateTty": tty,
		"envVars":     func(n *yaml.Node) { o.EnvVars = d.strList(n, w+".envVars") },
		"envFile":     func(n *yaml.Node) { o.EnvFile, _ = d.str(n, w+".envFile") },
		"capabilities": func(n *yaml.Node) {
			if o.Capabilities = d.strList(n, w+".capabilities"); len(o.Capabilities) > 0 {
				d.warnf(n, "%s.capabilities (%s) is not supported: command tests run with Docker's default capabilities", w, strings.Join(o.Capabilities, ", "))
			}
		},
		"bindMounts": func(n *yaml.Node) {
			o.BindMounts = d.strList(n, w+".bindMounts")
			for i, m := range o.BindMounts {
				if _, err := parseBindMount(m); err != nil {
					d.errorf(n.Content[i], "%s.bindMounts[%d]: %v", w, i, err)
				}
			}
		},
		"network": func(n *yaml.Node) {
			o.Network, _ = d.str(n, w+".network")
			switch o.Network {
			case "host", "none", "":
			case "bridge":
				d.warnf(n, "%s.network bridge is run as host: the sandbox has no bridge networking", w)
				o.Network = "host"
			default:
				d.errorf(n, "%s.network %q is not supported: want host or none", w, o.Network)
			}
		},
	}
	if d.json {
		// encoding/json matches CST's Go field name, TTY, not its YAML name.
		handlers["tty"] = tty
	}
	d.fields(n, w, handlers)
	return o
}

func (d *decoder) consistencyTests(n *yaml.Node) []ConsistencyTest {
	var out []ConsistencyTest
	d.seq(n, "consistency", func(i int, item *yaml.Node) {
		t := ConsistencyTest{Pos: d.pos(item)}
		w := fmt.Sprintf("consistency[%d]", i)
		prev := d.cur
		d.cur = &t.Invalid
		d.fields(item, w, map[string]func(*yaml.Node){
			"name":     func(n *yaml.Node) { t.Name = d.name(n, w) },
			"setup":    func(n *yaml.Node) { t.Setup = d.commands(n, w+".setup") },
			"teardown": func(n *yaml.Node) { t.Teardown = d.commands(n, w+".teardown") },
			"envVars":  func(n *yaml.Node) { t.EnvVars = d.envVars(n, w+".envVars", true) },
			"command":  func(n *yaml.Node) { t.Command = d.command(n, w) },
			"args":     func(n *yaml.Node) { t.Args = d.strList(n, w+".args") },
			"exitCode": func(n *yaml.Node) {
				if c, ok := d.integer(n, w+".exitCode"); ok {
					t.ExitCode = &c
				}
			},
			"stderr":    func(n *yaml.Node) { t.Stderr = d.boolean(n, w+".stderr") },
			"raw":       func(n *yaml.Node) { t.Raw = d.boolean(n, w+".raw") },
			"platforms": func(n *yaml.Node) { t.Platforms = d.platforms(n, w+".platforms") },
			"timeout":   func(n *yaml.Node) { t.Timeout = d.duration(n, w+".timeout") },
		})
		if t.Name == "" {
			d.invalidf(item, "%s needs a name", w)
		}
		if t.Command == "" {
			d.invalidf(item, "%s (%s) needs a command", w, t.Name)
		}
		d.cur = prev
		out = append(out, t)
	})
	return out
}

// bindMount is one containerRunOptions.bindMounts entry.
type bindMount struct {
	Source, Target string
	ReadOnly       bool
}

func parseBindMount(s string) (bindMount, error) {
	parts := strings.Split(s, ":")
	var m bindMount
	switch len(parts) {
	case 3:
		switch parts[2] {
		case "ro":
			m.ReadOnly = true
		case "rw":
		default:
			return m, fmt.Errorf("%q: the mode must be ro or rw, not %q", s, parts[2])
		}
		fallthrough
	case 2:
		m.Source, m.Target = parts[0], parts[1]
	default:
		return m, fmt.Errorf("%q is not HOST_PATH:CONTAINER_PATH[:ro]", s)
	}
	if m.Source == "" || !strings.HasPrefix(m.Target, "/") {
		return m, fmt.Errorf("%q: need a host path and an absolute container path", s)
	}
	return m, nil
}
