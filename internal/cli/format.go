package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template"
	"unicode"
)

// formatFlagHelp is the --format help shared by listing commands.
const formatFlagHelp = `output format: "table" (default), "json", or a Go template run for each item, on the fields of the JSON form ('{{.digest}}' or '{{.Digest}}')`

// writeFormatted writes v as JSON or through a Go template when format asks
// for it, and reports whether it did; "" and "table" leave it to the caller.
//
// A template runs once per item when v is a list (as docker's --format),
// else once, each time on the item's JSON form: its fields are the JSON keys
// (documented in each command's help), reachable as written ({{.repoDigest}})
// or capitalized as Go and docker users write them ({{.RepoDigest}}); a
// snake_case key also answers to its CamelCase form. A field that does not
// exist is an error listing the ones that do. Each item's output ends with a
// newline unless the template's output for it already does. Nothing is written unless every
// item formatted.
func writeFormatted(w io.Writer, format string, v any) (bool, error) {
	switch format {
	case "", "table":
		return false, nil
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return true, enc.Encode(v)
	}
	if !strings.Contains(format, "{{") {
		return true, fmt.Errorf("unknown --format %q: use table, json, or a Go template such as '{{json .}}'", format)
	}
	t, err := template.New("format").Option("missingkey=error").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(unalias(v))
			return string(b), err
		},
		"join":  joinAny,
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
	}).Parse(format)
	if err != nil {
		return true, fmt.Errorf("--format: %w", err)
	}
	var items []any
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		for i := range rv.Len() {
			items = append(items, rv.Index(i).Interface())
		}
	} else {
		items = []any{v}
	}
	var buf bytes.Buffer
	for i, item := range items {
		data, err := templateData(item)
		if err != nil {
			return true, err
		}
		start := buf.Len()
		if err := t.Execute(&buf, data); err != nil {
			return true, templateError(err, data, i, len(items))
		}
		if out := buf.Bytes()[start:]; len(out) == 0 || out[len(out)-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	_, err = w.Write(buf.Bytes())
	return true, err
}

// templateData is v's JSON form, with every object's keys also reachable
// by their Go-style aliases (see writeFormatted).
func templateData(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var data any
	if err := json.Unmarshal(b, &data); err != nil {
		return nil, err
	}
	fillOmitted(data, reflect.TypeOf(v))
	return addAliases(data, reflect.TypeOf(v)), nil
}

// fillOmitted fills in, in data (the JSON form of a value of type t), the
// fields the JSON form leaves out when empty (omitempty), at every depth:
// such a field is still a field, not an unknown name. A map field is an
// empty map (so {{index .annotations "k"}} is empty where a manifest has
// none), a list an empty list, anything else an empty string. Each object
// lists what was filled in under filledKey, for unalias.
func fillOmitted(data any, t reflect.Type) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return
	}
	switch x := data.(type) {
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for _, e := range x {
				fillOmitted(e, t.Elem())
			}
		}
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return
		}
		var filled []string
		for _, f := range structFields(t) {
			val, ok := x[f.key]
			if ok {
				fillOmitted(val, f.typ)
				continue
			}
			ft := f.typ
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Map:
				x[f.key] = map[string]any{}
			case reflect.Slice, reflect.Array:
				x[f.key] = []any{}
			default:
				x[f.key] = ""
			}
			filled = append(filled, f.key)
		}
		if len(filled) > 0 {
			x[filledKey] = filled
		}
	}
}

type jsonField struct {
	key string
	typ reflect.Type
}

// structFields lists the JSON keys and types of a struct type's fields
// (through pointers and embedded structs).
func structFields(t reflect.Type) []jsonField {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var out []jsonField
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case f.Anonymous && name == "":
			out = append(out, structFields(f.Type)...)
		case name == "":
			out = append(out, jsonField{f.Name, f.Type})
		default:
			out = append(out, jsonField{name, f.Type})
		}
	}
	return out
}

// aliasKey lists, in the maps addAliases made, the alias keys it added, and
// filledKey the omitted fields templateData filled in, so {{json .}} prints
// the JSON form without either.
const (
	aliasKey  = "\x00aliases"
	filledKey = "\x00filled"
)

func addAliases(v any, t reflect.Type) any {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch x := v.(type) {
	case map[string]any:
		if t != nil && t.Kind() == reflect.Map {
			// Free-form keys (annotations, labels, platforms): no aliases,
			// so {{.annotations}} prints what the image holds.
			for k, val := range x {
				x[k] = addAliases(val, t.Elem())
			}
			return x
		}
		types := map[string]reflect.Type{}
		for _, f := range structFields(t) {
			types[f.key] = f.typ
		}
		out := make(map[string]any, 2*len(x)+1)
		var aliases []string
		for k, val := range x {
			val = addAliases(val, types[k])
			out[k] = val
			if a := goName(k); a != k {
				if _, taken := x[a]; !taken {
					out[a] = val
					aliases = append(aliases, a)
				}
			}
		}
		out[aliasKey] = aliases
		return out
	case []any:
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := range x {
			x[i] = addAliases(x[i], elem)
		}
		return x
	}
	return v
}

// unalias undoes addAliases for printing.
func unalias(v any) any {
	switch x := v.(type) {
	case map[string]any:
		aliases, ok := x[aliasKey].([]string)
		if !ok {
			return v
		}
		filled, _ := x[filledKey].([]string)
		out := make(map[string]any, len(x))
		for k, val := range x {
			if k != aliasKey && k != filledKey && !slices.Contains(aliases, k) && !slices.Contains(filled, k) {
				out[k] = unalias(val)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = unalias(x[i])
		}
		return out
	}
	return v
}

// goName is the Go-style name of a JSON key: repoDigest → RepoDigest,
// emulator_version → EmulatorVersion.
func goName(k string) string {
	var b strings.Builder
	up := true
	for _, r := range k {
		if r == '_' || r == '-' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

var missingKey = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`map has no entry for key "([^"]*)"`) })

// templateError rewrites a template's execution error for the user: a
// missing field lists the fields there are, never Go types.
func templateError(err error, data any, i, n int) error {
	where := ""
	if n > 1 {
		where = fmt.Sprintf(" (item %d of %d)", i+1, n)
	}
	if m := missingKey().FindStringSubmatch(err.Error()); m != nil {
		var keys []string
		if obj, ok := data.(map[string]any); ok {
			aliases, _ := obj[aliasKey].([]string)
			for k := range obj {
				if k != aliasKey && k != filledKey && !slices.Contains(aliases, k) {
					keys = append(keys, k)
				}
			}
		}
		slices.Sort(keys)
		return fmt.Errorf("--format: no field %q%s; the fields are %s (see --format json)", m[1], where, strings.Join(keys, ", "))
	}
	msg := err.Error()
	if j := strings.Index(msg, "executing \"format\" at "); j >= 0 {
		msg = msg[j+len("executing \"format\" at "):]
	}
	return fmt.Errorf("--format%s: %s", where, msg)
}

// humanSize formats n bytes the way docker does (1000-based units).
func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.3g %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// joinAny is the templates' join: the elements of a list (of strings, or
// of anything, printed as text) separated by sep.
func joinAny(list any, sep string) (string, error) {
	switch l := list.(type) {
	case []string:
		return strings.Join(l, sep), nil
	case []any:
		parts := make([]string, len(l))
		for i, e := range l {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, sep), nil
	case string: // an omitted list
		return l, nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("join: want a list, not %s", describeJSON(list))
}

// describeJSON names a template value's kind in JSON's words, never Go's.
func describeJSON(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}
