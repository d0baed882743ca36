//go:build !linux

package cli

import (
	"errors"
	"io"
	"os"
)

type terminal struct{}

func openTerminal(io.Reader, io.Writer, bool) (*terminal, error) {
	return nil, errors.New("run -t needs Linux")
}

func (t *terminal) Peer() *os.File { return nil }
func (t *terminal) Close()         {}
