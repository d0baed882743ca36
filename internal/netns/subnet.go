package netns

import (
	"errors"
	"net/netip"
	"strconv"
)

// Subnet is manyarch's own subnet: slot S is 10.231.S/4.S%4*4/30.
var Subnet = netip.MustParsePrefix("10.231.0.0/20")

const (
	// MaxSlots is how many containers can have a private network at once.
	MaxSlots = 1 << (32 - 20 - 2)
	// LinkPrefix starts the name of every host end of a veth pair.
	LinkPrefix = "manyarch"
	// ContainerLink is the name of the container end.
	ContainerLink = "eth0"
)

// StateDir holds a lock file per slot in use, shared by every manyarch
// of the host (so tests must not change it: a slot locked elsewhere could
// look free).
var StateDir = "/run/manyarch/net"

// ErrNotRoot is returned by Attach for another user than root.
var ErrNotRoot = errors.New("a private network (a veth pair to the host) needs root; as another user use --network host (the host's network, ports need no -p) or --network none (loopback only)")

// SlotAddrs are the host and container addresses of a slot.
func SlotAddrs(slot int) (host, container netip.Addr) {
	b := Subnet.Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n += uint32(slot) * 4
	a := func(v uint32) netip.Addr {
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	return a(n + 1), a(n + 2)
}

// LinkOf returns the name of the host end of the slot that container
// address addr belongs to, or "" when addr is not in Subnet.
func LinkOf(addr netip.Addr) string {
	if !Subnet.Contains(addr) {
		return ""
	}
	a, b := addr.As4(), Subnet.Addr().As4()
	off := (int(a[2])-int(b[2]))<<8 | (int(a[3]) - int(b[3]))
	return LinkPrefix + strconv.Itoa(off/4)
}
