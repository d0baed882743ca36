package cli

import (
	"testing"

	"github.com/manyarch/manyarch/internal/platform"
)

// TestPlatformLocal: --platform local is the host's platform, alone or in
// a list, as buildx's.
func TestPlatformLocal(t *testing.T) {
	f := platformFlags{raw: []string{"local, linux/s390x"}}
	ps, err := f.Platforms()
	if err != nil || len(ps) != 2 || platform.Format(ps[0]) != platform.Format(platform.Host()) || platform.Format(ps[1]) != "linux/s390x" {
		t.Errorf("--platform 'local, linux/s390x' = %v, %v; want the host's and linux/s390x", ps, err)
	}
	f = platformFlags{raw: []string{"locale"}}
	if _, err := f.Platforms(); err == nil {
		t.Error("--platform locale was accepted")
	}
}
