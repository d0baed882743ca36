package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/template"
)

// formatFlagHelp is the --format help shared by listing commands.
const formatFlagHelp = `output format: "table" (default), "json", or a Go template such as '{{.Digest}}'`

// writeFormatted writes v as JSON or through a Go template when format asks
// for it, and reports whether it did; "" and "table" leave it to the caller.
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
	t, err := template.New("format").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"join": strings.Join,
	}).Parse(format)
	if err != nil {
		return true, fmt.Errorf("parsing --format template: %w", err)
	}
	if err := t.Execute(w, v); err != nil {
		return true, fmt.Errorf("executing --format template: %w", err)
	}
	if !strings.HasSuffix(format, "\n") {
		fmt.Fprintln(w)
	}
	return true, nil
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
