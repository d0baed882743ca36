//go:build !linux

package fault

import (
	"context"
	"time"
)

// Container is the cgroup of a service container; outside Linux there is
// none, and every call returns ErrUnsupported.
type Container struct{}

// NewContainer returns ErrUnsupported outside Linux.
func NewContainer(platform string) (*Container, error) { return nil, ErrUnsupported }

// CgroupDir is "" outside Linux.
func (c *Container) CgroupDir() string { return "" }

// Platform is "" outside Linux.
func (c *Container) Platform() string { return "" }

// OOMKills returns ErrUnsupported outside Linux.
func (c *Container) OOMKills() (uint64, error) { return 0, ErrUnsupported }

// Close does nothing outside Linux.
func (c *Container) Close() error { return nil }

// Check returns ErrUnsupported outside Linux.
func (c *Container) Check(s Spec) error { return ErrUnsupported }

// Inject returns ErrUnsupported outside Linux.
func (c *Container) Inject(ctx context.Context, s Spec) (*Injected, error) {
	return nil, ErrUnsupported
}

// Check returns ErrUnsupported outside Linux.
func Check(platform string, s Spec) error { return ErrUnsupported }

// Injected is a fault in place; outside Linux there is none.
type Injected struct {
	Spec    Spec
	Started time.Time
	Pid     int
	Method  string
}

// Lift does nothing outside Linux.
func (in *Injected) Lift() error { return nil }

// Done is closed outside Linux.
func (in *Injected) Done() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
