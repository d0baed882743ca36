package imagediff

import (
	"fmt"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultMaxPaths is how many differing paths a layer comparison lists by
// default; all of them are counted.
const DefaultMaxPaths = 50

// Option configures Compare.
type Option func(*options) error

type options struct {
	platforms []specs.Platform
	maxPaths  int
}

// WithPlatforms limits the comparison to these platforms (default: every
// platform of either artifact). Each must be present in at least one of the
// two artifacts; the index level (media types, annotations, other
// manifests) is then not compared.
func WithPlatforms(ps ...specs.Platform) Option {
	return func(o *options) error {
		if len(ps) == 0 {
			return fmt.Errorf("WithPlatforms: no platforms given")
		}
		o.platforms = append(o.platforms, ps...)
		return nil
	}
}

// WithMaxPaths sets how many differing paths of a layer are listed (default
// DefaultMaxPaths); 0 lists them all. Every differing path is counted
// either way.
func WithMaxPaths(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("WithMaxPaths(%d): want 0 (all) or more", n)
		}
		o.maxPaths = n
		return nil
	}
}
