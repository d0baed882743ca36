package imagetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// jsonStep is one step of a JSON path: a field name or a list index.
type jsonStep struct {
	field string
	index int // >= 0: a list index
}

func (s jsonStep) String() string {
	if s.index >= 0 {
		return "[" + strconv.Itoa(s.index) + "]"
	}
	return "." + s.field
}

// parseJSONPath parses "a.b[0].c", "a.b.0.c" or "" (the whole document).
// A field name with a dot or bracket is written in quotes: a["x.y"].
func parseJSONPath(p string) ([]jsonStep, error) {
	var out []jsonStep
	s := p
	for s != "" {
		switch s[0] {
		case '.':
			if len(out) == 0 {
				return nil, fmt.Errorf("JSON path %q: starts with a dot: write a.b, not .a.b", p)
			}
			s = s[1:]
			if s == "" || s[0] == '.' || s[0] == '[' {
				return nil, fmt.Errorf("JSON path %q: empty field name", p)
			}
			continue
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("JSON path %q: [ without ]", p)
			}
			inner := s[1:end]
			if q, err := strconv.Unquote(inner); err == nil && strings.HasPrefix(inner, `"`) {
				out = append(out, jsonStep{field: q, index: -1})
			} else if i, err := strconv.Atoi(inner); err == nil && i >= 0 {
				out = append(out, jsonStep{index: i})
			} else {
				return nil, fmt.Errorf("JSON path %q: [%s] is neither a list index nor a quoted field name", p, inner)
			}
			s = s[end+1:]
			continue
		}
		end := strings.IndexAny(s, ".[")
		if end < 0 {
			end = len(s)
		}
		name := s[:end]
		if i, err := strconv.Atoi(name); err == nil && i >= 0 && len(out) > 0 {
			out = append(out, jsonStep{field: name, index: -2 - i}) // a field or an index, by the value
		} else {
			out = append(out, jsonStep{field: name, index: -1})
		}
		s = s[end:]
	}
	return out, nil
}

// lookupJSON returns the value at path in v (decoded by decodeJSON).
func lookupJSON(v any, path []jsonStep) (any, bool) {
	for _, st := range path {
		switch x := v.(type) {
		case map[string]any:
			if st.index >= 0 {
				return nil, false
			}
			var ok bool
			if v, ok = x[st.field]; !ok {
				return nil, false
			}
		case []any:
			i := st.index
			if i <= -2 {
				i = -2 - i // "items.0"
			}
			if i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// deleteJSON removes the value at path from v, if it is there.
func deleteJSON(v any, path []jsonStep) {
	if len(path) == 0 {
		return
	}
	parent, ok := lookupJSON(v, path[:len(path)-1])
	if !ok {
		return
	}
	last := path[len(path)-1]
	switch x := parent.(type) {
	case map[string]any:
		delete(x, last.field)
	case []any:
		i := last.index
		if i <= -2 {
			i = -2 - i
		}
		if i >= 0 && i < len(x) {
			x[i] = "<ignored>"
		}
	}
}

// decodeJSON decodes a body as encoding/json does into any (numbers as
// float64), refusing trailing data.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return v, nil
}

// jsonType names v's JSON type; "integer" is also a "number".
func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == math.Trunc(x) && !math.IsInf(x, 0) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func hasJSONType(v any, want string) bool {
	t := jsonType(v)
	return t == want || (want == "number" && t == "integer")
}

// jsonText is v as a matches: regular expression sees it: a string as it
// is, anything else as compact JSON.
func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// compactJSON shows v for messages.
func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
