package snapshot

import (
	"path"
	"strings"
)

// cleanName turns the name of a tar entry into a clean path relative to the
// root ("" is the root itself). abs reports a leading "/" (which is dropped:
// layer names are always relative to the root). escapes reports a name that
// climbs above the root, like "../x" or "a/../../x"; rel is then the name
// contained in the root ("x"), as extraction treats it.
func cleanName(name string) (rel string, abs, escapes bool) {
	trimmed := strings.TrimLeft(name, "/")
	abs = len(trimmed) != len(name)
	c := path.Clean(trimmed)
	if c == ".." || strings.HasPrefix(c, "../") {
		escapes = true
	}
	rel = path.Clean("/" + trimmed)[1:]
	return rel, abs, escapes
}
