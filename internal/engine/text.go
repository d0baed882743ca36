package engine

import (
	"strings"
)

// firstLine is the first line of an error for a progress line, " ..." when
// there is more.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
