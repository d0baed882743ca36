// Package fault injects faults into a running service container, for the
// fault tests of manyarch test's serviceTests: network latency, packet
// loss and a partition on the container's own interface, a kill of its
// main process, and CPU and memory limits through its cgroup. Every fault
// is bounded in time and undone: Inject returns an *Injected whose Lift
// removes it, and which lifts itself when its Spec.Duration has passed, so
// a caller that forgets, or fails half-way, leaves nothing in place longer
// than asked.
//
// A Container is made before the service starts: it is a cgroup (below
// manyarch's own memory cgroup, v1 or v2, see internal/cgroup) that the
// sandbox puts the service's processes in (sandbox.Spec.Cgroup =
// Container.CgroupDir()). Faults find the service through it: its init (the
// process whose parent is outside the cgroup), whose network namespace is
// the container's, and the init's child, the service's main process. A
// service restarted in the same cgroup is found again, so faults injected
// after a restart reach the new processes.
//
// Network faults act inside the container's network namespace only (the
// eth0 of a private network, package netns), through tc(8) and
// iptables(8) run with nsenter(1) on a descriptor of that namespace:
//
//   - latency: tc qdisc netem delay D [JITTER] on eth0's egress (a
//     kernel without netem cannot add latency: Check says so);
//   - loss: netem loss P%, or, on a kernel without the netem qdisc
//     (CONFIG_NET_SCH_NETEM), an iptables rule dropping P% of eth0's
//     outgoing packets at random (statistic match);
//   - partition: netem loss 100%, or iptables rules dropping everything in
//     and out of eth0.
//
// The namespace goes with the container, so a manyarch that is killed
// leaves no qdisc or rule behind on the host: the host's own interfaces and
// tables are never touched.
//
// The rules live in a chain of manyarch's own (MANYARCH-FAULT) in the
// container's namespace, jumped to from its INPUT and OUTPUT chains; Lift
// deletes the jumps and the chain, or the netem qdisc.
//
// Kill sends a signal (SIGKILL by default) to the main process through a
// pidfd, so a pid reused meanwhile is never signalled. Restarting it is the
// service runner's job (its restart policy).
//
// CPU limits the container to a share of a CPU (cgroup v1 cpu.cfs_quota_us
// in the cpu hierarchy, whose cgroup the container's processes are moved
// into; v2 cpu.max); Memory sets the memory limit (v1 memory.limit_in_bytes
// and memsw, v2 memory.max) and Lift restores the previous values.
//
// Check tells before the service starts whether the host can inject a
// fault (root, tc/iptables/nsenter on PATH, netem in the kernel, the cgroup
// controller): an *UnsupportedError names the platform, the fault, what is
// missing and what to do. Outside Linux every call returns ErrUnsupported.
package fault
