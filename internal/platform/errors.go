package platform

import (
	"errors"
	"fmt"
)

// ErrEmpty is returned by Parse for an empty (or all-space) platform.
var ErrEmpty = errors.New("empty platform: want OS/ARCH[/VARIANT], such as linux/amd64")

// SyntaxError is returned by Parse for text that is not a platform at all.
type SyntaxError struct {
	Input  string // the text given to Parse
	Reason string // what is wrong with it
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid platform %q: %s", e.Input, e.Reason)
}

// UnknownError is returned by Parse for a well-formed platform that is not in
// the architecture table. Its message lists the known platforms.
type UnknownError struct {
	Input  string // the text given to Parse
	Reason string // optional detail, such as "manyarch builds and runs Linux images only"
}

func (e *UnknownError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("unknown platform %q (%s): known platforms are %s", e.Input, e.Reason, Known())
	}
	return fmt.Sprintf("unknown platform %q: known platforms are %s", e.Input, Known())
}
