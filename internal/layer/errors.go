package layer

import (
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrTooLarge is the error (in an *Error) of a layer whose uncompressed
// stream goes past the reader's size bound.
var ErrTooLarge = errors.New("uncompressed layer larger than the size bound")

// Error is an error about one layer's content.
type Error struct {
	Digest v1.Hash // the layer's (compressed) digest; zero when the layer could not say
	Op     string  // what was being done: "opening", "decompressing gzip", ...
	Err    error
}

func (e *Error) Error() string {
	name := "layer"
	if e.Digest != (v1.Hash{}) {
		name += " " + e.Digest.String()
	}
	return fmt.Sprintf("%s: %s: %v", name, e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
