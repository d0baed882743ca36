package netns

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// holderEnv makes the test binary a process that attaches a link to the
// network namespace of the pid it names, prints the link's name and
// sleeps: a manyarch to kill.
const holderEnv = "_NETNS_TEST_HOLDER"

func TestMain(m *testing.M) {
	if os.Getenv(holderEnv) == "1" {
		// A namespace that outlives this process: its child sleep in a
		// new network namespace, which a SIGKILL of this process does
		// not kill.
		ns := exec.Command("unshare", "--net", "sleep", "60")
		if err := ns.Start(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		pid := ns.Process.Pid
		self, _ := os.Readlink("/proc/self/ns/net")
		for i := 0; i < 100; i++ { // until unshare has made it
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && l != self {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		l, err := Attach(pid)
		if err != nil {
			fmt.Println("error:", err)
			ns.Process.Kill()
			os.Exit(1)
		}
		fmt.Println(l.Name, pid)
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func requireRootIP(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, tool := range []string{"ip", "nsenter", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip("needs " + tool)
		}
	}
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// TestSweepRemovesLinkOfKilledOwner kills (SIGKILL) a process that made a
// veth pair for a network namespace that outlives it, and checks that a
// later Sweep deletes the pair and the slot's lock file, and leaves a
// live owner's alone.
func TestSweepRemovesLinkOfKilledOwner(t *testing.T) {
	requireRootIP(t)
	var nsPids []int
	defer func() {
		for _, p := range nsPids {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}()
	hold := func() (*exec.Cmd, string) {
		h := exec.Command(os.Args[0], "-test.run=^$")
		h.Env = append(os.Environ(), holderEnv+"=1")
		out, _ := h.StdoutPipe()
		h.Stderr = os.Stderr
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var name string
		var pid int
		if sc.Scan() {
			fmt.Sscan(sc.Text(), &name, &pid)
		}
		if !strings.HasPrefix(name, LinkPrefix) || pid <= 0 {
			h.Process.Kill()
			h.Wait()
			t.Fatalf("holder: %q", sc.Text())
		}
		nsPids = append(nsPids, pid)
		return h, name
	}
	dead, deadLink := hold()
	live, liveLink := hold()
	defer func() { live.Process.Kill(); live.Wait() }()

	dead.Process.Signal(syscall.SIGKILL)
	dead.Wait()
	if !linkExists(deadLink) {
		t.Fatalf("%s vanished with its owner: the test needs a namespace that outlives it", deadLink)
	}
	gone := Sweep()
	if linkExists(deadLink) {
		t.Errorf("Sweep left %s of a killed owner (deleted %v)", deadLink, gone)
	}
	lock := filepath.Join(StateDir, "slot-"+strings.TrimPrefix(deadLink, LinkPrefix)+".lock")
	if _, err := os.Stat(lock); err == nil {
		t.Errorf("Sweep left the lock file %s", lock)
	}
	if !linkExists(liveLink) {
		t.Errorf("Sweep deleted %s of a live owner", liveLink)
	}
	if out, _ := exec.Command("ip", "-4", "addr", "show", "dev", liveLink).CombinedOutput(); !strings.Contains(string(out), "10.231.") {
		t.Errorf("the live link has no address of %s:\n%s", Subnet, out)
	}
	// The live owner's namespace has its end, addressed, with a route.
	out, err := exec.Command("nsenter", "--net=/proc/"+strconv.Itoa(nsPids[1])+"/ns/net", "ip", "-4", "route").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "default via ") {
		t.Errorf("routes in the namespace: %v\n%s", err, out)
	}
	live.Process.Kill()
	live.Wait()
	Sweep()
	if linkExists(liveLink) {
		t.Errorf("%s left after its owner was killed and Sweep ran", liveLink)
	}
}

// TestAttachRefusesHostNamespace: a process in manyarch's own network
// namespace (the host's) gets no link, so the host's interfaces are never
// touched.
func TestAttachRefusesHostNamespace(t *testing.T) {
	requireRootIP(t)
	_, err := Attach(os.Getpid())
	if err == nil || !strings.Contains(err.Error(), "own network namespace") {
		t.Fatalf("Attach to the host's namespace: %v", err)
	}
	sleep := exec.Command("sleep", "10") // a child in the host's namespace too
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleep.Process.Kill(); sleep.Wait() }()
	if _, err := Attach(sleep.Process.Pid); err == nil || !strings.Contains(err.Error(), "own network namespace") {
		t.Fatalf("Attach to a child in the host's namespace: %v", err)
	}
}

// TestAttachRefusesOverlappingSubnet: a subnet a host interface already
// uses is refused, naming both, before anything is made.
func TestAttachRefusesOverlappingSubnet(t *testing.T) {
	requireRootIP(t)
	old := Subnet
	Subnet = netip.MustParsePrefix("127.0.0.0/20")
	defer func() { Subnet = old }()
	_, err := Attach(os.Getpid())
	if err == nil || !strings.Contains(err.Error(), "127.0.0.0/20") || !strings.Contains(err.Error(), "lo") {
		t.Fatalf("Attach with a subnet on lo: %v", err)
	}
}

func TestSlotAddrs(t *testing.T) {
	for slot, want := range map[int][2]string{0: {"10.231.0.1", "10.231.0.2"}, 1: {"10.231.0.5", "10.231.0.6"}, 64: {"10.231.1.1", "10.231.1.2"}, MaxSlots - 1: {"10.231.15.253", "10.231.15.254"}} {
		h, c := SlotAddrs(slot)
		if h.String() != want[0] || c.String() != want[1] || !Subnet.Contains(c) {
			t.Errorf("slot %d: %s %s, want %v", slot, h, c, want)
		}
		if l := LinkOf(c); l != LinkPrefix+strconv.Itoa(slot) {
			t.Errorf("LinkOf(%s) = %q, want slot %d", c, l, slot)
		}
	}
}
