package cli

import (
	"io"
	"os"

	"github.com/manyarch/manyarch/internal/progress"
)

// SGR colours of manyarch's own messages on a terminal.
const (
	colorRed    = "31"
	colorYellow = "33"
)

// colorOn reports whether messages to w are coloured: w is a terminal,
// NO_COLOR (https://no-color.org) is unset or empty and TERM is not dumb.
func colorOn(w io.Writer) bool {
	return os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb" && progress.IsTerminal(w)
}

// paint returns s in colour code when colorOn(w), else s.
func paint(w io.Writer, code, s string) string {
	if !colorOn(w) {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}
