//go:build !linux

package imagetest

import (
	"context"
	"errors"
	"log/slog"

	"github.com/manyarch/manyarch/internal/emulation"
)

// errNoSandbox is returned on systems other than Linux.
var errNoSandbox = errors.New("command tests need Linux namespaces: run manyarch test on Linux, or keep to file and metadata tests")

// SandboxExecutor is not available on this system.
type SandboxExecutor struct{}

var _ Executor = (*SandboxExecutor)(nil)

// NewSandboxExecutor reports that command tests need Linux.
func NewSandboxExecutor(snapshotRoot, tempDir string, mode emulation.Mode, logger *slog.Logger) (*SandboxExecutor, error) {
	return nil, errNoSandbox
}

// Prepare reports that command tests need Linux.
func (x *SandboxExecutor) Prepare(ctx context.Context, t Target) (Prepared, error) {
	return Prepared{}, errNoSandbox
}

// Run reports that command tests need Linux.
func (x *SandboxExecutor) Run(ctx context.Context, t Target, e Exec) (ExecResult, error) {
	return ExecResult{}, errNoSandbox
}
