package cgroup

import "errors"

// ErrUnsupported is returned where Linux control groups do not exist.
var ErrUnsupported = errors.New("cgroup: memory limits need Linux control groups")

// ErrNoMemoryController is returned when no cgroup hierarchy of the calling
// process offers the memory controller.
var ErrNoMemoryController = errors.New("no cgroup with the memory controller is available to this process")

// ErrNoPidsController is returned when no cgroup hierarchy of the calling
// process offers the pids controller.
var ErrNoPidsController = errors.New("no cgroup with the pids controller is available to this process")
