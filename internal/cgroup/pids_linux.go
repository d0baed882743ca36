package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Pids is a cgroup that bounds how many processes and threads its members
// have at once: a fork or clone beyond the limit fails with EAGAIN.
type Pids struct {
	dir   string
	v2    bool
	limit int64
}

// NewPids creates a cgroup limited to limit tasks. With parent empty it is
// below the calling process's own pids cgroup (cgroup v1 when a pids
// hierarchy is mounted, else cgroup v2), which also removes the ones a
// killed manyarch left there; otherwise parent is a cgroup v2 directory
// with no processes of its own (a memory cgroup of NewMemory) and the new
// cgroup is its child, since a process is in one v2 cgroup only.
func NewPids(parent string, limit int64) (*Pids, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("pids limit %d: must be positive", limit)
	}
	v2 := true
	if parent == "" {
		var err error
		if parent, v2, err = ownCgroup("pids"); err != nil {
			return nil, err
		}
		removeStale(parent)
	}
	if v2 {
		if err := enableController(parent, "pids"); err != nil {
			return nil, err
		}
	}
	p := &Pids{dir: filepath.Join(parent, fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), seq.Add(1))), v2: v2, limit: limit}
	if err := os.Mkdir(p.dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w%s", p.dir, err, pidsPermissionHint(err))
	}
	if err := writeFile(p.dir, "pids.max", strconv.FormatInt(limit, 10)); err != nil {
		p.Remove()
		return nil, err
	}
	return p, nil
}

// SetMax writes n to pids.max without changing Limit: room for a
// supervisor's own threads (the sandbox init's) above the limit.
func (p *Pids) SetMax(n int64) error {
	return writeFile(p.dir, "pids.max", strconv.FormatInt(n, 10))
}

// Dir is the cgroup's directory.
func (p *Pids) Dir() string { return p.dir }

// Limit is the number of tasks allowed.
func (p *Pids) Limit() int64 { return p.limit }

// Add moves the process pid (all its threads) into the cgroup.
func (p *Pids) Add(pid int) error { return AddProcess(p.dir, pid) }

// Refused is how many forks and clones failed because of the limit.
func (p *Pids) Refused() (uint64, error) {
	b, err := os.ReadFile(filepath.Join(p.dir, "pids.events"))
	if err != nil {
		return 0, fmt.Errorf("reading pids limit events: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && k == "max" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("reading pids limit events: %s/pids.events: %q: %w", p.dir, line, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("reading pids limit events: %s/pids.events has no max line", p.dir)
}

// Remove deletes the cgroup once its processes have exited, waiting up to
// two seconds for exiting processes to leave.
func (p *Pids) Remove() error {
	return (&Memory{dir: p.dir}).Remove()
}

// enableController makes a cgroup v2 controller available to the children
// of dir.
func enableController(dir, controller string) error {
	if controller == "memory" {
		return enableMemory(dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("reading cgroup %s: %w", dir, err)
	}
	if hasWord(string(b), controller) {
		return nil
	}
	err = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+controller), 0)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("%w: cgroup v2 %s holds processes (this one among them), so it cannot give the %s controller to a child cgroup", ErrNoPidsController, dir, controller)
	default:
		return fmt.Errorf("enabling the %s controller below cgroup %s: %w%s", controller, dir, err, pidsPermissionHint(err))
	}
}

func pidsPermissionHint(err error) string {
	if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return " (creating a cgroup needs root or a cgroup delegated to this user)"
	}
	return ""
}
