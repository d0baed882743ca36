//go:build !linux

package sandbox

import "context"

// Run returns ErrUnsupported: sandboxes need Linux namespaces.
func Run(ctx context.Context, spec Spec) (Result, error) {
	return Result{}, ErrUnsupported
}

// Init reports that the sandbox init cannot run here and returns 125.
func Init() int {
	return 125
}
