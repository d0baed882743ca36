package netns

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/fsutil"
)

// Link is the veth pair of one container.
type Link struct {
	Slot      int
	Name      string     // host end, manyarch<slot>
	HostIP    netip.Addr // address of the host end
	Container netip.Addr // address of eth0 in the container
	lock      *os.File
}

// Attach gives the network namespace of process pid (which must have one
// of its own) a veth pair to the host, in the first free slot, and brings
// up its lo. Links of slots whose owner died are deleted on the way. The
// caller must Close the link.
func Attach(pid int) (*Link, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("a private network needs %s (Debian packages iproute2 and util-linux): %w", tool, err)
		}
	}
	if err := checkSubnetFree(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating network state directory: %w", err)
	}
	// The namespace is held open and named by this descriptor from here
	// on, so a pid reused after the process died cannot get the link.
	ns, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		return nil, fmt.Errorf("opening the network namespace of process %d: %w", pid, err)
	}
	defer ns.Close()
	var a, b unix.Stat_t
	if err := unix.Fstat(int(ns.Fd()), &a); err != nil {
		return nil, fmt.Errorf("opening the network namespace of process %d: %w", pid, err)
	}
	if err := unix.Stat("/proc/self/ns/net", &b); err != nil || (a.Ino == b.Ino && a.Dev == b.Dev) {
		return nil, fmt.Errorf("process %d is in manyarch's own network namespace, not a new one: refusing to give it a link (the host's interfaces are never touched)", pid)
	}
	if parentOf(pid) != os.Getpid() {
		return nil, fmt.Errorf("process %d is not a child of manyarch (it exited before its network was made)", pid)
	}
	for slot := 0; slot < MaxSlots; slot++ {
		lock, err := lockSlot(slot)
		if err != nil {
			return nil, err
		}
		if lock == nil {
			continue
		}
		l := &Link{Slot: slot, Name: LinkPrefix + strconv.Itoa(slot), lock: lock}
		l.HostIP, l.Container = SlotAddrs(slot)
		deleteLink(l.Name) // a leftover of a dead owner
		fmt.Fprintf(lock, "pid=%d link=%s netns-pid=%d\n", os.Getpid(), l.Name, pid)
		if err := l.setup(ns); err != nil {
			l.Close()
			return nil, err
		}
		return l, nil
	}
	return nil, fmt.Errorf("no free slot for a private network: %d containers already have one (see %s)", MaxSlots, StateDir)
}

// parentOf returns the parent pid of pid, or -1.
func parentOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return -1
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return ppid
}

// nsPath names the namespace descriptor in the ip and nsenter processes,
// which get it as their fd 3.
const nsPath = "/proc/self/fd/3"

func (l *Link) setup(ns *os.File) error {
	hostCmds := fmt.Sprintf("link add %s type veth peer name %s netns %s\n"+
		"addr add %s/30 dev %s\n"+
		"link set %s up\n",
		l.Name, ContainerLink, nsPath, l.HostIP, l.Name, l.Name)
	if err := runIP(ns, nil, hostCmds); err != nil {
		return fmt.Errorf("creating veth pair %s for the container: %w", l.Name, err)
	}
	inCmds := fmt.Sprintf("link set lo up\n"+
		"addr add %s/30 dev %s\n"+
		"link set %s up\n"+
		"route add default via %s dev %s\n",
		l.Container, ContainerLink, ContainerLink, l.HostIP, ContainerLink)
	nsenter := []string{"nsenter", "--net=" + nsPath, "--"}
	if err := runIP(ns, nsenter, inCmds); err != nil {
		return fmt.Errorf("configuring %s in the container: %w", ContainerLink, err)
	}
	return nil
}

func runIP(ns *os.File, prefix []string, batch string) error {
	args := append(append([]string(nil), prefix...), "ip", "-batch", "-")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.ExtraFiles = []*os.File{ns} // fd 3
	cmd.Stdin = strings.NewReader(batch)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Close deletes the host end (and so the container end) when it is still
// there and frees the slot.
func (l *Link) Close() error {
	if l == nil || l.lock == nil {
		return nil
	}
	deleteLink(l.Name)
	os.Remove(l.lock.Name())
	err := l.lock.Close()
	l.lock = nil
	return err
}

func deleteLink(name string) {
	if _, err := net.InterfaceByName(name); err != nil {
		return
	}
	_ = exec.Command("ip", "link", "del", name).Run()
}

// lockSlot takes the lock of a slot, or returns nil when another process
// holds it.
func lockSlot(slot int) (*os.File, error) {
	p := filepath.Join(StateDir, "slot-"+strconv.Itoa(slot)+".lock")
	for try := 0; try < 10; try++ {
		l, err := fsutil.TryLockFile(p, 0o600, true)
		if errors.Is(err, fsutil.ErrLocked) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("network slot lock: %w", err)
		}
		// The file may have been removed by its previous owner between
		// our open and our lock: only the file at the path counts.
		if l.AtPath() {
			_ = l.File().Truncate(0)
			return l.File(), nil
		}
		l.Unlock()
	}
	return nil, nil
}

// Sweep deletes the links and lock files that owners which died left. It
// returns the names of the links it deleted.
func Sweep() []string {
	if os.Geteuid() != 0 {
		return nil
	}
	var gone []string
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		n, ok := strings.CutPrefix(ifc.Name, LinkPrefix)
		slot, err := strconv.Atoi(n)
		if !ok || err != nil || slot < 0 || slot >= MaxSlots || strconv.Itoa(slot) != n {
			continue
		}
		_ = os.MkdirAll(StateDir, 0o700)
		if lock, err := lockSlot(slot); err == nil && lock != nil {
			deleteLink(ifc.Name)
			gone = append(gone, ifc.Name)
			os.Remove(lock.Name())
			lock.Close()
		}
	}
	files, _ := filepath.Glob(filepath.Join(StateDir, "slot-*.lock"))
	for _, f := range files {
		n := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "slot-"), ".lock")
		slot, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if lock, err := lockSlot(slot); err == nil && lock != nil {
			os.Remove(lock.Name())
			lock.Close()
		}
	}
	return gone
}

// checkSubnetFree refuses Subnet when an address or route of the host,
// other than manyarch's own links, overlaps it.
func checkSubnetFree() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("listing host interfaces: %w", err)
	}
	for _, ifc := range ifs {
		if strings.HasPrefix(ifc.Name, LinkPrefix) {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if pfx, err := netip.ParsePrefix(a.String()); err == nil && pfx.Overlaps(Subnet) {
				return fmt.Errorf("manyarch's private network subnet %s overlaps %s of host interface %s: private networks cannot be used on this host (use --network host or none)", Subnet, pfx, ifc.Name)
			}
		}
	}
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 8 || strings.HasPrefix(f[0], LinkPrefix) {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue // the default route overlaps everything
		}
		// /proc/net/route prints the network-order bytes as a native
		// integer.
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], uint32(dst))
		addr := netip.AddrFrom4(b)
		bits := 0
		for mb := uint32(mask); mb != 0; mb &= mb - 1 {
			bits++
		}
		pfx := netip.PrefixFrom(addr, bits).Masked()
		if pfx.Overlaps(Subnet) {
			return fmt.Errorf("manyarch's private network subnet %s overlaps the host route to %s via %s: private networks cannot be used on this host (use --network host or none)", Subnet, pfx, f[0])
		}
	}
	return nil
}
