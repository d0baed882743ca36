//go:build !linux

package engine

import (
	"context"
	"errors"
)

type unsafeEntries struct {
	devices []string
	setid   []string
}

func findUnsafe(ctx context.Context, lowers []string) (map[string]bool, error) {
	return nil, errors.New("exporting a file system is not supported on this OS")
}

func sanitizeExport(ctx context.Context, dst string, candidates map[string]bool) (unsafeEntries, error) {
	return unsafeEntries{}, errors.New("exporting a file system is not supported on this OS")
}
