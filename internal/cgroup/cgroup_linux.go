package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Memory is a memory-limited cgroup directory.
type Memory struct {
	dir   string
	v2    bool
	limit int64
}

// seq numbers the cgroups this process creates.
var seq atomic.Int64

// namePrefix starts the name of every cgroup this package creates.
const namePrefix = "manyarch-"

// NewMemory creates a cgroup limited to limit bytes of memory (swap
// included) below the calling process's memory cgroup. Its processes are
// the ones placed in it or in its children; the calling process is not.
func NewMemory(limit int64) (*Memory, error) {
	if limit < MinLimit {
		return nil, fmt.Errorf("memory limit %s: below the minimum of %s", FormatSize(limit), FormatSize(MinLimit))
	}
	parent, v2, err := ownCgroup("memory")
	if err != nil {
		return nil, err
	}
	if v2 {
		if err := enableMemory(parent); err != nil {
			return nil, err
		}
	}
	removeStale(parent)
	m := &Memory{dir: filepath.Join(parent, fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), seq.Add(1))), v2: v2, limit: limit}
	if err := os.Mkdir(m.dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w%s", m.dir, err, permissionHint(err))
	}
	if err := m.setLimit(); err != nil {
		m.Remove()
		return nil, err
	}
	if v2 {
		// Children get memory.events of their own, for OOMKills.
		if err := enableMemory(m.dir); err != nil {
			m.Remove()
			return nil, err
		}
	}
	return m, nil
}

// Child creates a cgroup inside m, which shares m's limit and counts its
// own out-of-memory kills.
func (m *Memory) Child() (*Memory, error) {
	c := &Memory{dir: filepath.Join(m.dir, fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), seq.Add(1))), v2: m.v2, limit: m.limit}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w", c.dir, err)
	}
	return c, nil
}

// Dir is the cgroup's directory; a process joins by writing its pid to
// Dir()/cgroup.procs.
func (m *Memory) Dir() string { return m.dir }

// Limit is the limit in bytes.
func (m *Memory) Limit() int64 { return m.limit }

// Add moves the process pid (all its threads) into the cgroup.
func (m *Memory) Add(pid int) error {
	return AddProcess(m.dir, pid)
}

// AddProcess moves the process pid (all its threads) into the cgroup
// directory dir, v1 or v2.
func AddProcess(dir string, pid int) error {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("moving process %d into cgroup %s: %w", pid, dir, err)
	}
	return nil
}

// OOMKills is how many processes of the cgroup and its children the
// out-of-memory killer has killed.
func (m *Memory) OOMKills() (uint64, error) {
	file, key := "memory.oom_control", "oom_kill"
	if m.v2 {
		file = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(m.dir, file))
	if err != nil {
		return 0, fmt.Errorf("reading out-of-memory kills: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && k == key {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("reading out-of-memory kills: %s/%s: %q: %w", m.dir, file, line, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("reading out-of-memory kills: %s/%s has no %s line (kernel older than 4.13?)", m.dir, file, key)
}

// Peak is the most memory the cgroup's processes have used at once, or 0
// when the kernel does not say (cgroup v2 before Linux 5.19).
func (m *Memory) Peak() int64 {
	file := "memory.max_usage_in_bytes"
	if m.v2 {
		file = "memory.peak"
	}
	b, err := os.ReadFile(filepath.Join(m.dir, file))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// Remove deletes the cgroup and its children once their processes have
// exited, waiting up to two seconds for exiting processes to leave.
func (m *Memory) Remove() error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := removeTree(m.dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("removing cgroup %s: %w", m.dir, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// removeTree removes a cgroup directory, children first. A cgroup's files
// are not removable; rmdir of the directory removes them.
func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return syscall.Rmdir(dir)
}

// removeStale removes the cgroups below parent that a manyarch process no
// longer running created. Busy ones stay.
func removeStale(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, namePrefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, namePrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		_ = removeTree(filepath.Join(parent, name))
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func (m *Memory) setLimit() error {
	limit := strconv.FormatInt(m.limit, 10)
	if m.v2 {
		if err := writeFile(m.dir, "memory.max", limit); err != nil {
			return err
		}
		// Swap is not a way around the limit.
		if err := writeFile(m.dir, "memory.swap.max", "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := writeFile(m.dir, "memory.limit_in_bytes", limit); err != nil {
		return err
	}
	// memory+swap no larger than memory: no swap beyond the limit. The file
	// is missing when the kernel does not account swap.
	if err := writeFile(m.dir, "memory.memsw.limit_in_bytes", limit); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func writeFile(dir, name, value string) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0); err != nil {
		return fmt.Errorf("setting %s of cgroup %s to %s: %w", name, dir, value, err)
	}
	return nil
}

// enableMemory makes the cgroup v2 memory controller available to the
// children of dir.
func enableMemory(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("reading cgroup %s: %w", dir, err)
	}
	if hasWord(string(b), "memory") {
		return nil
	}
	err = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory"), 0)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("cgroup v2 %s holds processes (this one among them), so it cannot give the memory controller to a child cgroup; "+
			"limit the whole command instead, e.g. systemd-run --scope -p MemoryMax=SIZE manyarch build ...", dir)
	default:
		return fmt.Errorf("enabling the memory controller below cgroup %s: %w%s", dir, err, permissionHint(err))
	}
}

func permissionHint(err error) string {
	if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return " (creating a cgroup needs root or a cgroup delegated to this user; " +
			"or limit the whole command: systemd-run --user --scope -p MemoryMax=SIZE manyarch build ...)"
	}
	return ""
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// ownCgroup finds the directory of the calling process's cgroup with
// controller ("memory" or "pids"): in the cgroup v1 hierarchy of the
// controller when one is mounted, else in the cgroup v2 hierarchy when the
// controller is available there.
func ownCgroup(controller string) (dir string, v2 bool, err error) {
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", false, fmt.Errorf("reading this process's cgroups: %w", err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", false, fmt.Errorf("reading mounts: %w", err)
	}
	return findCgroup(cg, mi, controller, func(dir string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		return err == nil && hasWord(string(b), controller)
	})
}

// findMemoryCgroup is ownCgroup("memory") on the contents of /proc/self/cgroup
// and /proc/self/mountinfo; v2Memory says whether a cgroup v2 directory has
// the memory controller.
func findMemoryCgroup(procCgroup, mountinfo []byte, v2Memory func(dir string) bool) (string, bool, error) {
	return findCgroup(procCgroup, mountinfo, "memory", v2Memory)
}

// findCgroup finds the calling process's cgroup with controller: in a
// cgroup v1 hierarchy of the controller when one is mounted, else in the
// cgroup v2 hierarchy when v2Has says its directory has the controller.
func findCgroup(procCgroup, mountinfo []byte, controller string, v2Has func(dir string) bool) (string, bool, error) {
	noController := ErrNoMemoryController
	hint := "limit the whole command instead, e.g. systemd-run --scope -p MemoryMax=SIZE manyarch build ..."
	if controller == "pids" {
		noController = ErrNoPidsController
		hint = "run manyarch as root or in a cgroup delegated to you, or limit the whole command (systemd-run --scope -p TasksMax=N ...)"
	}
	var v1Path, v2Path string
	haveV1, haveV2 := false, false
	for line := range strings.Lines(string(procCgroup)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2Path, haveV2 = parts[2], true
		} else if hasWord(strings.ReplaceAll(parts[1], ",", " "), controller) {
			v1Path, haveV1 = parts[2], true
		}
	}
	var v1Mount, v2Mount [2]string // root, mount point
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(f) < sep+4 {
			continue
		}
		fstype, opts := f[sep+1], f[sep+3]
		m := [2]string{unescapeMount(f[3]), unescapeMount(f[4])}
		switch {
		case fstype == "cgroup" && hasWord(strings.ReplaceAll(opts, ",", " "), controller) && v1Mount[1] == "":
			v1Mount = m
		case fstype == "cgroup2" && v2Mount[1] == "":
			v2Mount = m
		}
	}
	if haveV1 && v1Mount[1] != "" {
		return joinCgroup(v1Mount, v1Path), false, nil
	}
	if haveV2 && v2Mount[1] != "" {
		dir := joinCgroup(v2Mount, v2Path)
		if v2Has(dir) {
			return dir, true, nil
		}
		return "", false, fmt.Errorf("%w: cgroup v2 %s does not have the %s controller (see its cgroup.controllers); %s", noController, dir, controller, hint)
	}
	return "", false, fmt.Errorf("%w: neither a cgroup v1 %s hierarchy nor cgroup v2 is mounted (see /proc/self/mountinfo)", noController, controller)
}

// joinCgroup is the directory of cgroup path p in a hierarchy mounted with
// the given root at the given mount point.
func joinCgroup(mount [2]string, p string) string {
	root, point := mount[0], mount[1]
	rel := p
	if root != "/" {
		if r, ok := strings.CutPrefix(p, root); ok && (r == "" || r[0] == '/') {
			rel = r
		}
	}
	return filepath.Join(point, filepath.Clean("/"+rel))
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
