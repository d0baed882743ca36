//go:build !linux

package sandbox

import "context"

// Run returns ErrUnsupported: sandboxes need Linux namespaces.
func Run(ctx context.Context, spec Spec) (Result, error) {
	return Result{}, ErrUnsupported
}
