package imagediff

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// NoPlatformError reports a platform asked for with WithPlatforms that
// neither artifact has.
type NoPlatformError struct {
	Want specs.Platform
	A, B []string // the platforms each artifact has
}

func (e *NoPlatformError) Error() string {
	list := func(ps []string) string {
		if len(ps) == 0 {
			return "none"
		}
		return strings.Join(ps, ", ")
	}
	return fmt.Sprintf("neither image has platform %s (the first has %s; the second has %s)",
		platform.Format(e.Want), list(e.A), list(e.B))
}
