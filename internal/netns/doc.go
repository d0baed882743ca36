// Package netns gives a sandbox's network namespace a link to the host and
// publishes its ports on the host, with no daemon, no iptables rule and no
// NAT.
//
// Attach (root only) makes a veth pair for the network namespace of a
// process: the host end is named manyarch<slot> and gets 10.231.S.1/30, the
// container end is eth0 with 10.231.S.2/30 and a default route through the
// host end; lo is brought up. Slots are numbered 0..MaxSlots-1 in
// manyarch's own subnet Subnet (10.231.0.0/20), which Attach refuses to use
// when a host interface or route already overlaps it. Nothing else of the
// host changes: no other interface, no forwarding sysctl, no firewall or
// NAT rule, so a container reaches the host's addresses through its veth
// but not further (no internet, no other hosts).
//
// Each slot is owned through an flock on its file in StateDir
// (/run/manyarch/net/slot-N.lock): the kernel releases it when its owner
// dies, however it dies. A later Attach or Sweep deletes the links of slots
// nobody holds. The veth pair also vanishes with the network namespace,
// so a container that exits or crashes leaves none behind even before that.
//
// Proxy publishes container ports as docker-proxy does: Listen opens every
// host address first (so a port already in use is an error before the
// container starts), and Start forwards each accepted TCP connection to the
// container's address.
//
// The links are made with ip(8) from iproute2 and nsenter(1) from
// util-linux.
package netns
