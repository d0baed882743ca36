package emulation

import (
	"context"
	"errors"
	"fmt"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"os"
	"strings"

	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/platform"
)

// Action is what Install or Uninstall did about one handler.
type Action string

const (
	ActionInstalled Action = "installed" // registered
	ActionReplaced  Action = "replaced"  // ours re-registered, or (Force) another tool's removed first
	ActionUnchanged Action = "unchanged" // ours was already registered as wanted
	ActionKept      Action = "kept"      // another tool's handler serves it; left alone (no Force)
	ActionNative    Action = "native"    // the host runs it; nothing registered
	ActionRemoved   Action = "removed"
	ActionAbsent    Action = "absent" // nothing of ours to remove
	ActionFailed    Action = "failed"
)

// Change reports what Install or Uninstall did for the platforms that share
// one QEMU target (the arm rows share qemu-arm). The JSON field names are
// stable.
type Change struct {
	Platforms []string `json:"platforms"`
	Handler   string   `json:"handler,omitempty"`
	Action    Action   `json:"action"`
	// Detail says more: the interpreter, the handlers kept or removed,
	// what to do.
	Detail string `json:"detail,omitempty"`
	Err    error  `json:"-"`
}

// groupByTarget groups archs by QEMU target, in first-seen order.
func groupByTarget(archs []platform.Arch) [][]platform.Arch {
	var groups [][]platform.Arch
	idx := map[string]int{}
	for _, a := range archs {
		i, ok := idx[a.QEMU]
		if !ok {
			i = len(groups)
			idx[a.QEMU] = i
			groups = append(groups, nil)
		}
		dup := false
		for _, b := range groups[i] {
			dup = dup || b.Name == a.Name
		}
		if !dup {
			groups[i] = append(groups[i], a)
		}
	}
	return groups
}

func names(as []platform.Arch) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// Install registers on the host a QEMU handler for each of archs (see
// InstallFlags and HandlerName), mounting binfmt_misc first when needed.
// It skips platforms the host runs natively; leaves another tool's
// handler for the same executables alone (ActionKept) unless WithForce,
// which removes it first; re-registers ours when it differs. With probes
// (the default) each new handler is checked with a chroot probe and
// removed again when the probe fails. Needs root.
//
// It returns one Change per QEMU target, in the order of archs, and an
// error joining the failures.
func Install(ctx context.Context, archs []platform.Arch, opts ...Option) ([]Change, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("installing binfmt_misc handlers on the host %w: run it with sudo; manyarch run, build and test do not need them, they emulate privately (--emulation private) without changing the host", ErrNeedsRoot)
	}
	unlock, err := lockHost(ctx)
	if err != nil {
		return nil, fmt.Errorf("installing binfmt_misc handlers: %w", err)
	}
	defer unlock()
	if _, err := MountHost(ctx); err != nil {
		return nil, fmt.Errorf("installing binfmt_misc handlers: %w", err)
	}
	host := platform.Host()
	var changes []Change
	var errs []error
	for _, group := range groupByTarget(archs) {
		c := installOne(ctx, group, host, o)
		if c.Err != nil {
			errs = append(errs, c.Err)
		}
		o.logger.Info("binfmt install", "platforms", c.Platforms, "handler", c.Handler, "action", c.Action, "detail", c.Detail)
		changes = append(changes, c)
	}
	return changes, errors.Join(errs...)
}

func installOne(ctx context.Context, group []platform.Arch, host specs.Platform, o *options) Change {
	a := group[0]
	c := Change{Platforms: names(group), Handler: HandlerName(a)}
	fail := func(err error) Change {
		c.Action, c.Err, c.Detail = ActionFailed, err, err.Error()
		return c
	}
	hs, err := ReadHandlers(ctx, HostMount)
	if err != nil {
		return fail(err)
	}
	var own *Handler
	var foreign []Handler
	for _, h := range hs {
		switch {
		case h.Name == c.Handler:
			own = &h
		case h.Serves(a):
			foreign = append(foreign, h)
		}
	}
	for _, g := range group {
		if platform.Match(g.Platform, host) {
			c.Handler, c.Action, c.Detail = "", ActionNative, "the host's own architecture: it needs no emulator"
			return c
		}
		if nativeCandidate(g, host) && own == nil && len(foreign) == 0 {
			if r, err := Probe(ctx, g, ProbeDirect); err == nil && r.OK {
				c.Handler, c.Action, c.Detail = "", ActionNative, "the host runs "+g.String()+" executables natively"
				return c
			}
		}
	}
	in, err := staticInterpreter(a)
	if err != nil {
		return fail(err)
	}
	// A release known to crash the platform's programs is not registered
	// (the thread probe runs after registration with the other probes).
	if bug := knownBug(a, in.Version); bug != "" {
		return fail(&EmulatorError{Arch: a, Path: in.Path, Version: in.Version, Reason: bug})
	}
	want := NewHandler(a, in.Path)
	if len(foreign) > 0 && !o.force {
		c.Action = ActionKept
		c.Detail = describe(foreign) + " already serves " + strings.Join(c.Platforms, ", ") + "; left alone (--force replaces it)"
		if own != nil {
			c.Detail += "; " + own.Name + " is registered too"
		}
		return c
	}
	c.Action = ActionInstalled
	var removed []string
	for _, h := range foreign {
		if err := Unregister(ctx, HostMount, h.Name); err != nil {
			return fail(err)
		}
		removed = append(removed, describe([]Handler{h}))
		c.Action = ActionReplaced
	}
	if own != nil {
		if own.Equal(want) && own.Enabled && len(removed) == 0 {
			c.Action, c.Detail = ActionUnchanged, want.Interpreter+", flags "+want.Flags
			return c
		}
		if err := Unregister(ctx, HostMount, own.Name); err != nil {
			return fail(err)
		}
		c.Action = ActionReplaced
	}
	if err := Register(ctx, HostMount, want); err != nil {
		return fail(err)
	}
	c.Detail = want.Interpreter + ", flags " + want.Flags
	if len(removed) > 0 {
		c.Detail += "; removed " + strings.Join(removed, ", ")
	}
	if o.probe {
		r, err := Probe(ctx, a, ProbeChroot)
		if err == nil && !r.OK {
			err = fmt.Errorf("the probe failed: %s", probeDetail(r))
		}
		if err != nil {
			uerr := Unregister(ctx, HostMount, want.Name)
			return fail(errors.Join(fmt.Errorf("checking handler %s for %s: %w; it was removed again", want.Name, a, err), uerr))
		}
	}
	return c
}

// hostLockFile is the lock Install and Uninstall hold while they read and
// change the host's handlers: two at once (parallel CI jobs on one machine)
// both read "no handler" and the second's register failed with "file
// exists", or one's probe ran while the other replaced its handler. /run is
// the host's own tmpfs, which every process of the host (and no container
// with its own /run) sees, and root's alone.
var hostLockFile = "/run/manyarch-binfmt.lock"

// lockHost holds hostLockFile until the returned function is called.
func lockHost(ctx context.Context) (func(), error) {
	l, err := fsutil.LockFile(ctx, hostLockFile, 0o600, true)
	if err != nil {
		return nil, fmt.Errorf("locking the host's handlers: %w", err)
	}
	return func() { l.Unlock() }, nil
}

func describe(hs []Handler) string {
	var parts []string
	for _, h := range hs {
		s := "handler " + h.Name + " (" + h.Interpreter
		if h.Flags != "" {
			s += ", flags " + h.Flags
		}
		if !h.Enabled {
			s += ", disabled"
		}
		parts = append(parts, s+")")
	}
	return strings.Join(parts, " and ")
}

// Uninstall removes manyarch's handlers for archs from the host and, with
// WithForce, every other handler serving them. When manyarch mounted the
// host's binfmt_misc and no handler is left, it unmounts it, so install
// followed by uninstall leaves the host as it was. Needs root.
func Uninstall(ctx context.Context, archs []platform.Arch, opts ...Option) ([]Change, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("removing binfmt_misc handlers from the host %w: run it with sudo", ErrNeedsRoot)
	}
	unlock, err := lockHost(ctx)
	if err != nil {
		return nil, fmt.Errorf("removing binfmt_misc handlers: %w", err)
	}
	defer unlock()
	if !isMounted(HostMount) {
		var changes []Change
		for _, group := range groupByTarget(archs) {
			changes = append(changes, Change{Platforms: names(group), Handler: HandlerName(group[0]), Action: ActionAbsent, Detail: HostMount + " is not mounted"})
		}
		return changes, nil
	}
	var changes []Change
	var errs []error
	for _, group := range groupByTarget(archs) {
		a := group[0]
		c := Change{Platforms: names(group), Handler: HandlerName(a), Action: ActionAbsent}
		hs, err := ReadHandlers(ctx, HostMount)
		if err != nil {
			return changes, err
		}
		var removed, kept []Handler
		for _, h := range hs {
			if h.Name != c.Handler && !(h.Serves(a) && o.force) {
				if h.Serves(a) {
					kept = append(kept, h)
				}
				continue
			}
			if err := Unregister(ctx, HostMount, h.Name); err != nil {
				c.Action, c.Err, c.Detail = ActionFailed, err, err.Error()
				errs = append(errs, err)
				break
			}
			removed = append(removed, h)
			c.Action = ActionRemoved
		}
		if c.Action != ActionFailed {
			var d []string
			if len(removed) > 0 {
				d = append(d, describe(removed))
			}
			if len(kept) > 0 {
				d = append(d, describe(kept)+" still serves "+strings.Join(c.Platforms, ", ")+" (not manyarch's; --force removes it)")
			}
			c.Detail = strings.Join(d, "; ")
		}
		o.logger.Info("binfmt uninstall", "platforms", c.Platforms, "action", c.Action, "detail", c.Detail)
		changes = append(changes, c)
	}
	if unmounted, err := unmountHostIfOurs(ctx); err != nil {
		errs = append(errs, err)
	} else if unmounted {
		o.logger.Info("unmounted " + HostMount + ": manyarch mounted it and no handler is left")
	}
	return changes, errors.Join(errs...)
}
