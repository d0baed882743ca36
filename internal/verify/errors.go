package verify

import "errors"

// errTruncated marks a layer stream that ends early.
var errTruncated = errors.New("unexpected end of layer")

// ErrNotArtifact is returned by Run for a value that is neither a v1.Image
// nor a v1.ImageIndex.
var ErrNotArtifact = errors.New("not an image or an image index")
