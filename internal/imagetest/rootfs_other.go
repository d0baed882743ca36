//go:build !linux

package imagetest

import "errors"

// errNoKernelView: file tests read the flattened layers on this system.
var errNoKernelView = errors.New("the kernel's view of the image needs Linux")
