//go:build !linux

package fault

import "syscall"

func signalNumber(string) (syscall.Signal, error) { return 0, ErrUnsupported }
