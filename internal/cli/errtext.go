package cli

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/spf13/pflag"
)

// Error texts of Go's libraries that name Go types or functions, which a
// user cannot act on, are put in a user's words before they are printed
// (issue #22: "never a Go type name ... in what a user reads").

// jsonTypeError matches encoding/json's UnmarshalTypeError text: "json:
// cannot unmarshal number into Go struct field Descriptor.manifests.digest
// of type string" or "... into Go value of type []v1.Descriptor".
var jsonTypeError = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`json: cannot unmarshal (\w+) into Go (?:struct field \S*?\.([\w.\[\]-]+)|value) of type (\S+)`)
})

// userText rewrites what Go's libraries put in an error message into what
// the user wrote: JSON kinds and field paths instead of Go types.
func userText(msg string) string {
	return jsonTypeError().ReplaceAllStringFunc(msg, func(m string) string {
		sub := jsonTypeError().FindStringSubmatch(m)
		where := "the document"
		if sub[2] != "" {
			where = "field " + sub[2]
		}
		return fmt.Sprintf("JSON: %s holds %s, where %s belongs", where, aJSON(sub[1]), jsonKindOf(sub[3]))
	})
}

// aJSON is a JSON kind as encoding/json names it, with its article.
func aJSON(kind string) string {
	switch kind {
	case "array":
		return "a list"
	case "object":
		return "an object"
	case "number", "string":
		return "a " + kind
	case "bool":
		return "true or false"
	}
	return kind
}

// jsonKindOf says what JSON kind a Go type reads.
func jsonKindOf(goType string) string {
	t := strings.TrimLeft(goType, "*")
	switch {
	case strings.HasPrefix(t, "[]"), strings.HasPrefix(t, "["):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "an object"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), strings.HasPrefix(t, "float"):
		return "a number"
	}
	return "an object or a string of another form"
}

// flagValueError puts pflag's error for a value its flag type cannot
// parse ("strconv.ParseInt: parsing "x": invalid syntax") in a user's
// words, keeping pflag's opening: invalid argument "x" for "-j, --jobs".
func flagValueError(err error) error {
	var ive *pflag.InvalidValueError
	if !errors.As(err, &ive) {
		return err
	}
	f := ive.GetFlag()
	name := "--" + f.Name
	if f.Shorthand != "" && f.ShorthandDeprecated == "" {
		name = "-" + f.Shorthand + ", --" + f.Name
	}
	want := ""
	switch t := f.Value.Type(); {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), t == "count":
		want = "want a whole number"
	case strings.HasPrefix(t, "float"):
		want = "want a number"
	case t == "bool":
		want = "want true or false"
	case t == "duration":
		want = "want a duration such as 30s, 5m or 1h30m"
	default:
		return err
	}
	return fmt.Errorf("invalid argument %q for %q: %s", ive.GetValue(), name, want)
}
