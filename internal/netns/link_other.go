//go:build !linux

package netns

import (
	"errors"
	"net/netip"
)

// Link is the veth pair of one container (Linux only).
type Link struct {
	Slot      int
	Name      string
	HostIP    netip.Addr
	Container netip.Addr
}

// Attach is Linux only.
func Attach(pid int) (*Link, error) { return nil, errors.New("private networks are Linux only") }

// Close does nothing.
func (l *Link) Close() error { return nil }

// Sweep does nothing.
func Sweep() []string { return nil }
