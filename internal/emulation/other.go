//go:build !linux

package emulation

import (
	"context"

	"github.com/manyarch/manyarch/internal/platform"
)

// Probe is not supported outside Linux.
func Probe(ctx context.Context, a platform.Arch, mode ProbeMode) (ProbeResult, error) {
	return ProbeResult{}, ErrUnsupported
}

// Init does nothing outside Linux.
func Init() {}

// MountPrivate is not supported outside Linux.
func MountPrivate(target string, hs []Handler) error { return ErrUnsupported }

// PrivateSupported reports ErrUnsupported outside Linux.
func PrivateSupported() error { return ErrUnsupported }

// MountHost is not supported outside Linux.
func MountHost(ctx context.Context) (bool, error) { return false, ErrUnsupported }

func isMounted(string) bool { return false }

func unmountHostIfOurs(context.Context) (bool, error) { return false, nil }

func readHost(context.Context) ([]Handler, bool, error) { return nil, false, ErrUnsupported }

func cachedPass(Handler, ProbeMode, []byte) bool { return false }

func rememberPass(Handler, ProbeMode, []byte) {}

// EmulatorVersion is not supported outside Linux.
func EmulatorVersion(ctx context.Context, path string) (Version, error) {
	return Version{}, ErrUnsupported
}

// ThreadProbe is not supported outside Linux.
func ThreadProbe(ctx context.Context, a platform.Arch, path string) (ProbeResult, error) {
	return ProbeResult{}, ErrUnsupported
}

func probeWith(ctx context.Context, a platform.Arch, mode ProbeMode, bin []byte, want string) (ProbeResult, error) {
	return ProbeResult{}, ErrUnsupported
}
