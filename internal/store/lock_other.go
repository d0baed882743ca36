//go:build !unix && !windows

package store

import (
	"context"
	"errors"
	"fmt"
)

type fileLock struct{}

func lockFile(ctx context.Context, path string, exclusive bool) (*fileLock, error) {
	return nil, fmt.Errorf("locking %s: %w", path, errors.New("the store is not supported on this OS (Linux only)"))
}

func (l *fileLock) unlock() error { return nil }
