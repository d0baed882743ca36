package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/cgroup"
	"github.com/manyarch/manyarch/internal/container"
	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/progress"
	"github.com/manyarch/manyarch/internal/sandbox"
	"github.com/manyarch/manyarch/internal/snapshot"
)

// tailLines is how many lines of a failed RUN's output its error shows.
const tailLines = 15

// runRun executes a RUN step: a container (package container) on the
// image's layers, whose changes become the layer.
func (x *executor) runRun(ctx context.Context, sr *stageRun, img *imageState, step *plan.Step, ev progress.Event, start *time.Time) (v1.Layer, bool, bool, error) {
	pf := platform.Format(step.Platform)
	content, err := x.runContent(ctx, step)
	if err != nil {
		return nil, false, false, err
	}
	// A step answered from the cache runs nothing, so it proves no
	// emulator: it is looked up under each way emulation.Plan could run it
	// (which reads no binfmt_misc and starts no QEMU) before Plan is asked.
	candidates, err := emulation.Candidates(step.Platform, x.n.opts.Emulation)
	if err != nil {
		return nil, false, false, fmt.Errorf("cannot run on %s: %w", pf, err)
	}
	tried := map[string]bool{}
	for _, c := range candidates {
		key := x.runKey(sr, step, c, content)
		tried[key] = true
		if l, ok := x.cacheGet(ctx, sr.stage, key); ok {
			sr.key = key
			return l, c.Kind != emulation.KindNative, true, nil
		}
	}
	decision, err := planEmulation(ctx, step.Platform, x.n.opts.Emulation)
	if err != nil {
		return nil, false, false, fmt.Errorf("cannot run on %s: %w", pf, err)
	}
	emulated := decision.Kind != emulation.KindNative
	key := x.runKey(sr, step, decision, content)
	sr.key = key
	if !tried[key] {
		if l, ok := x.cacheGet(ctx, sr.stage, key); ok {
			return l, emulated, true, nil
		}
	}

	weight := int64(1)
	if emulated {
		weight = emulatedWeight
	}
	ev.Status, ev.Emulated = progress.StatusWaiting, emulated
	x.progress.Send(ev)
	release, err := x.acquire(ctx, weight)
	if err != nil {
		return nil, emulated, false, err
	}
	defer release()
	*start = time.Now()
	ev.Status = progress.StatusRunning
	x.progress.Send(ev)

	root, err := container.Prepare(ctx, x.snap, img.layers, step.Platform, x.n.opts.Emulation,
		container.WithEmulation(decision), container.WithTempDir(x.tmp), container.WithLogger(x.n.log))
	if err != nil {
		return nil, emulated, false, fmt.Errorf("on %s: %w", pf, err)
	}
	lowers := root.Lowers()
	c, err := root.NewContainer()
	if err != nil {
		return nil, emulated, false, err
	}
	defer c.Close()
	// The step's own files: inline files, secrets, mount copies.
	dir, err := os.MkdirTemp(x.tmp, "run-")
	if err != nil {
		return nil, emulated, false, err
	}
	defer os.RemoveAll(dir)
	mounts, secretEnv, unlock, err := x.runMounts(ctx, step, dir)
	defer unlock()
	if err != nil {
		return nil, emulated, false, err
	}
	env := runEnv(step.Env, step.Run.ProxyEnv, decision.Env, secretEnv)

	out := &outputTail{send: func(line string) {
		x.progress.Send(progress.Event{ID: ev.ID, Kind: progress.KindMessage, Platform: ev.Platform,
			Message: pf + " " + ev.Name + " | " + line})
	}}
	spec := x.runSpec(step, env, mounts, out)
	var mem *cgroup.Memory
	if x.mem != nil {
		if mem, err = x.mem.Child(); err != nil {
			return nil, emulated, false, fmt.Errorf("on %s: --memory-limit: %w", pf, err)
		}
		defer mem.Remove()
		spec.Cgroup = mem.Dir()
	}
	stubs := mountStubs(lowers, step, mounts)
	tRun := time.Now()
	res, err := c.Run(ctx, spec)
	out.flush()
	tRan := time.Now()
	var oomKills uint64
	if mem != nil {
		oomKills, _ = mem.OOMKills()
	}
	how := "natively"
	if emulated {
		how = "under emulation (qemu-" + decision.Arch.QEMU + ", " + string(decision.Kind) + " binfmt_misc handler)"
	}
	var ee *sandbox.ExecError
	switch {
	case errors.As(err, &ee):
		return nil, emulated, false, fmt.Errorf("on %s, %s: %w%s", pf, how, err, out.tail())
	case err != nil:
		return nil, emulated, false, fmt.Errorf("on %s: %w", pf, err)
	case res.ExitCode != 0:
		re := &RunError{Platform: pf, How: how, Command: step.Run.Args, ExitCode: res.ExitCode, Output: out.lines()}
		if oomKills > 0 {
			re.OOMKills, re.MemoryLimit = oomKills, x.mem.Limit()
		}
		return nil, emulated, false, re
	case oomKills > 0:
		x.progress.Send(progress.Event{ID: ev.ID, Kind: progress.KindMessage, Platform: ev.Platform,
			Message: fmt.Sprintf("%s %s | warning: the out-of-memory killer killed %s of this step (--memory-limit %s), yet it exited 0",
				pf, ev.Name, processes(oomKills), cgroup.FormatSize(x.mem.Limit()))})
	}
	changes, whole := c.Changes()
	if err := removeStubs(changes, whole, lowers, stubs); err != nil {
		return nil, emulated, false, fmt.Errorf("cleaning mount points: %w", err)
	}
	layer, err := writeLayer(ctx, x.st, x.comp, func(w io.Writer) error {
		return c.Diff(ctx, w, snapshot.TarOptions{SourceDateEpoch: x.epoch})
	})
	if err != nil {
		return nil, emulated, false, err
	}
	x.n.log.Debug("RUN step", "platform", pf, "step", ev.Name, "emulation", decision, "copied", c.Copied(), "prepare", tRun.Sub(*start), "sandbox", tRan.Sub(tRun), "layer", time.Since(tRan))
	x.cachePut(ctx, key, layer)
	return layer, emulated, false, nil
}

// runEnv is a RUN process's environment: the step's (ENV and ARG), then
// the proxy variables, the emulator's and the secret mounts' env=, each
// replacing an earlier variable of the same name where it stands. BuildKit
// appends them in this order (the exec op's proxyEnvList and
// loadSecretEnv), and its shell, which reads the environment in order,
// takes the last value: ARG HTTP_PROXY gives way to the proxy build
// argument (testBuiltinArgs), ENV NAME to a secret with env=NAME
// (testSecretAsEnviron). manyarch hands the process one entry per name, so
// programs that take the first (getenv in C libraries) see the same value
// as the shell.
func runEnv(lists ...[]string) []string {
	var env []string
	at := map[string]int{}
	for _, l := range lists {
		for _, kv := range l {
			name, _, _ := strings.Cut(kv, "=")
			if i, ok := at[name]; ok {
				env[i] = kv
				continue
			}
			at[name] = len(env)
			env = append(env, kv)
		}
	}
	return env
}

// planEmulation is emulation.Plan; tests replace it to see that a step
// answered from the cache never asks.
var planEmulation = emulation.Plan

// runKey is a RUN step's cache key: the step, the emulator that runs it
// (its kind, QEMU target and environment) and content (runContent).
func (x *executor) runKey(sr *stageRun, step *plan.Step, decision emulation.Decision, content []string) string {
	emu := string(decision.Kind)
	if decision.Kind != emulation.KindNative {
		emu += ":" + decision.Arch.QEMU + ":" + strings.Join(decision.Env, ",")
	}
	return x.cacheKey(sr, step, append([]string{"emulator=" + emu}, content...)...)
}

// runContent is what a RUN step's cache key holds besides the step and
// its emulator: the sandbox flags that change what it runs in, and what
// its mounts bring in.
func (x *executor) runContent(ctx context.Context, step *plan.Step) ([]string, error) {
	var content []string
	// What buildx's flags change in a RUN's sandbox is part of its key
	// (as in BuildKit's ExecOp), and nothing when they are not given.
	for _, h := range x.req.ExtraHosts {
		content = append(content, "host="+h)
	}
	for _, u := range x.req.Ulimits {
		content = append(content, "ulimit="+u.String())
	}
	if x.req.ShmSize > 0 {
		content = append(content, fmt.Sprintf("shm=%d", x.req.ShmSize))
	}
	if x.req.Network == "none" && step.Run.Network != "none" {
		content = append(content, "network=none")
	}
	for _, m := range step.Run.Mounts {
		c, err := x.mountContent(ctx, m)
		if err != nil {
			return nil, err
		}
		content = append(content, c)
	}
	return content, nil
}

// runSpec is the sandbox of a RUN step, as BuildKit's runc executor sets
// it up; the container adds the root and the emulation.
func (x *executor) runSpec(step *plan.Step, env []string, mounts []sandbox.Mount, out *outputTail) sandbox.Spec {
	network := sandbox.NetworkHost
	if step.Run.Network == "none" || x.req.Network == "none" {
		network = sandbox.NetworkNone
	}
	spec := sandbox.Spec{
		Args:    step.Run.Args,
		Env:     env,
		Dir:     step.WorkDir,
		User:    step.User,
		Network: network,
		Mounts:  mounts,
		// RUN --security=insecure (Build checked --allow): BuildKit's
		// insecure mode, every capability, no seccomp, /proc unmasked.
		Security: sandbox.Security{Privileged: step.Run.Security == securityInsecure},
		Stdout:   out,
		Stderr:   out,
		Logger:   x.n.log,
		// BuildKit's RUN: host name buildkitsandbox (executor/oci's
		// defaultHostname), no HOSTNAME variable unless set, its
		// /etc/hosts and the image's own /etc/hostname.
		Hostname:      runHostname,
		NoHostnameEnv: true,
		BuildKitEtc:   true,
		// buildx --add-host, --ulimit, --shm-size.
		ExtraHosts: x.req.ExtraHosts,
		Ulimits:    x.req.Ulimits,
		ShmSize:    x.req.ShmSize,
	}
	if spec.Dir == "" {
		spec.Dir = "/"
	}
	return spec
}

// RunError is a RUN whose command exited with a non-zero status.
type RunError struct {
	Platform string
	How      string // "natively" or "under emulation (...)"
	Command  []string
	ExitCode int
	Output   []string // the last lines of output
	// OOMKills is how many of the step's processes the out-of-memory
	// killer killed because the build reached MemoryLimit (--memory-limit).
	OOMKills    uint64
	MemoryLimit int64
}

func (e *RunError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s exited with status %d on %s, %s", strings.Join(e.Command, " "), e.ExitCode, e.Platform, e.How)
	if e.OOMKills > 0 {
		fmt.Fprintf(&b, ": the out-of-memory killer killed %s of this step when the build reached its --memory-limit of %s "+
			"(the RUN steps running at once share it: raise --memory-limit, or lower -j)", processes(e.OOMKills), cgroup.FormatSize(e.MemoryLimit))
	}
	if len(e.Output) > 0 {
		fmt.Fprintf(&b, "; last lines of its output:")
		for _, l := range e.Output {
			b.WriteString("\n  | " + l)
		}
	} else {
		b.WriteString(" (no output)")
	}
	return b.String()
}

func processes(n uint64) string {
	if n == 1 {
		return "1 process"
	}
	return fmt.Sprintf("%d processes", n)
}

// mountContent is what a RUN mount contributes to the step's cache key.
func (x *executor) mountContent(ctx context.Context, m plan.Mount) (string, error) {
	switch m.From.Kind {
	case plan.SourceStage:
		sr, err := x.wait(ctx, m.From.Stage)
		if err != nil {
			return "", err
		}
		return "mount-stage=" + sr.key, nil
	case plan.SourceImage:
		b, err := x.base(ctx, m.From.Image, m.From.Platform)
		if err != nil {
			return "", err
		}
		return "mount-image=" + b.digest.String(), nil
	case plan.SourceContext:
		if m.Type != "bind" && m.From.Context == "" {
			return "", nil
		}
		l, err := x.local(m.From.Context)
		if err != nil {
			return "", err
		}
		src, err := l.path(m.Source)
		if err != nil {
			return "", err
		}
		h := newHashWriter()
		if err := l.hash(ctx, h, src); err != nil {
			return "", err
		}
		if m.From.Context != "" {
			return "mount-local=" + m.From.Context + ":" + h.sum(), nil
		}
		return "mount-context=" + h.sum(), nil
	}
	return "", nil
}

// runMounts turns the step's mounts and inline files into sandbox mounts.
// unlock releases locked cache mounts; it is always safe to call.
func (x *executor) runMounts(ctx context.Context, step *plan.Step, dir string) ([]sandbox.Mount, []string, func(), error) {
	var (
		out     []sandbox.Mount
		env     []string
		unlocks []func()
	)
	unlock := func() {
		for _, u := range unlocks {
			u()
		}
	}
	n := 0
	scratch := func() (string, error) {
		n++
		return os.MkdirTemp(dir, fmt.Sprintf("mount%d-", n))
	}
	caches, release, err := x.cacheMounts(ctx, step.Run.Mounts, scratch)
	unlocks = append(unlocks, release)
	if err != nil {
		return nil, nil, unlock, err
	}
	for _, f := range step.Run.Inline {
		p := filepath.Join(dir, fmt.Sprintf("inline%d", len(out)))
		if err := os.WriteFile(p, []byte(f.Data), f.Mode.Perm()); err != nil {
			return nil, nil, unlock, err
		}
		if err := os.Chmod(p, f.Mode.Perm()); err != nil {
			return nil, nil, unlock, err
		}
		out = append(out, sandbox.Mount{Source: p, Target: f.Path, ReadOnly: true})
	}
	for i, m := range step.Run.Mounts {
		switch m.Type {
		case "bind":
			var root string
			switch m.From.Kind {
			case plan.SourceContext:
				l, err := x.local(m.From.Context)
				if err != nil {
					return nil, nil, unlock, err
				}
				root = l.dir
			case plan.SourceStage:
				sr, err := x.wait(ctx, m.From.Stage)
				if err != nil {
					return nil, nil, unlock, err
				}
				if root, err = x.stageView(ctx, sr); err != nil {
					return nil, nil, unlock, err
				}
			case plan.SourceImage:
				var err error
				if root, _, err = x.imageView(ctx, m.From); err != nil {
					return nil, nil, unlock, err
				}
			}
			src, err := securejoin.SecureJoin(root, m.Source)
			if err != nil {
				return nil, nil, unlock, fmt.Errorf("--mount=type=bind,source=%s: %w", m.Source, err)
			}
			if _, err := os.Stat(src); err != nil {
				return nil, nil, unlock, fmt.Errorf("--mount=type=bind,source=%s: %s not found in %s", m.Source, m.Source, describeSource(m.From))
			}
			if !m.ReadOnly {
				// Writes to a read-write bind mount are thrown away, as in BuildKit.
				d, err := scratch()
				if err != nil {
					return nil, nil, unlock, err
				}
				if err := copyPath(ctx, src, filepath.Join(d, "src")); err != nil {
					return nil, nil, unlock, err
				}
				src = filepath.Join(d, "src")
			}
			out = append(out, sandbox.Mount{Source: src, Target: m.Target, ReadOnly: m.ReadOnly})
		case "cache":
			out = append(out, sandbox.Mount{Source: caches[i], Target: m.Target, ReadOnly: m.ReadOnly})
		case "tmpfs":
			// A real tmpfs, size= its limit, as BuildKit's tmpfsMount.
			out = append(out, sandbox.Mount{Tmpfs: true, Size: m.SizeLimit, Target: m.Target, ReadOnly: m.ReadOnly})
		case "secret":
			sm, kv, err := x.secretMount(m, scratch)
			if err != nil {
				return nil, nil, unlock, err
			}
			if kv != "" {
				env = append(env, kv)
			}
			if sm != nil {
				out = append(out, *sm)
			}
		case "ssh":
			sm, stop, err := x.sshMount(ctx, m, dir)
			unlocks = append(unlocks, stop)
			if err != nil {
				return nil, nil, unlock, err
			}
			if sm != nil {
				out = append(out, *sm)
			}
		default:
			return nil, nil, unlock, fmt.Errorf("--mount=type=%s is not supported", m.Type)
		}
	}
	return out, env, unlock, nil
}

// secretMount makes a RUN --mount=type=secret: the file to bind (nil
// without a target, or for a missing secret that is not required) and the
// environment entry ("" without env=).
func (x *executor) secretMount(m plan.Mount, scratch func() (string, error)) (*sandbox.Mount, string, error) {
	data, ok, err := x.secret(m.CacheID)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		if m.Required {
			return nil, "", fmt.Errorf("secret %s is required: pass it with --secret id=%s,src=FILE", m.CacheID, m.CacheID)
		}
		return nil, "", nil
	}
	kv := ""
	if m.Env != "" {
		kv = m.Env + "=" + string(data)
	}
	if m.Target == "" {
		return nil, kv, nil
	}
	d, err := scratch()
	if err != nil {
		return nil, "", err
	}
	p := filepath.Join(d, "secret")
	mode := os.FileMode(0o400)
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		return nil, "", err
	}
	uid, gid := 0, 0
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	if err := os.Chown(p, uid, gid); err != nil && os.Geteuid() == 0 {
		return nil, "", err
	}
	return &sandbox.Mount{Source: p, Target: m.Target, ReadOnly: true}, kv, nil
}

// secret reads a --secret value.
func (x *executor) secret(id string) ([]byte, bool, error) {
	for _, s := range x.req.Secrets {
		sid := s.Attrs["id"]
		if sid != id {
			continue
		}
		if src := firstOf(s.Attrs["src"], s.Attrs["source"], s.Dest); src != "" {
			b, err := os.ReadFile(src)
			if err != nil {
				return nil, false, fmt.Errorf("--secret id=%s: %w", id, err)
			}
			return b, true, nil
		}
		if env := s.Attrs["env"]; env != "" {
			v, ok := os.LookupEnv(env)
			return []byte(v), ok, nil
		}
		v, ok := os.LookupEnv(id)
		return []byte(v), ok, nil
	}
	return nil, false, nil
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// stub is a mount point the sandbox may create in the upper directory.
type stub struct {
	path string // absolute in the container
}

// mountStubs lists the mount points of a run that do not exist in the
// image, which the sandbox creates and the layer must not keep (BuildKit
// removes them too). /etc/hostname is not among them: a RUN's sandbox
// leaves it to the image (sandbox.Spec.BuildKitEtc), so an empty one the
// command makes stays.
func mountStubs(lowers []string, step *plan.Step, mounts []sandbox.Mount) []string {
	cands := []string{"/proc", "/sys", "/dev", "/etc/hosts", "/etc/resolv.conf"}
	for _, m := range mounts {
		cands = append(cands, path.Clean(m.Target))
	}
	var out []string
	for _, c := range cands {
		if !existsInLowers(lowers, c) {
			out = append(out, c)
		}
	}
	return out
}

// existsInLowers reports whether p (without following symlinks in its last
// component) exists in the stacked layer directories.
func existsInLowers(lowers []string, p string) bool {
	for _, l := range lowers {
		fi, err := os.Lstat(filepath.Join(l, p))
		if err != nil {
			continue
		}
		if fi.Mode()&os.ModeCharDevice != 0 && fi.Mode()&os.ModeDevice != 0 {
			return false // a whiteout (or a device the layer has; rare)
		}
		return true
	}
	return false
}

// removeStubs deletes the mount points listed in stubs from upper when they
// are still empty, then their parent directories that hold nothing else and
// were created or copied up only for them. With whole, upper is a whole
// root (a container on a copy of the layers), so the image's own
// directories stay.
func removeStubs(upper string, whole bool, lowers []string, stubs []string) error {
	for _, s := range stubs {
		p := filepath.Join(upper, s)
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		switch {
		case fi.IsDir():
			if ents, err := os.ReadDir(p); err != nil || len(ents) > 0 {
				continue
			}
		case fi.Mode().IsRegular():
			if fi.Size() > 0 {
				continue
			}
		default:
			continue
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		for dir := path.Dir(s); dir != "/" && dir != "."; dir = path.Dir(dir) {
			hp := filepath.Join(upper, dir)
			if whole && existsInLowers(lowers, dir) {
				// The image's own directory stays; the stub's coming
				// and going changed only its time.
				if err := restoreDirTime(hp, lowers, dir); err != nil {
					return err
				}
				break
			}
			ents, err := os.ReadDir(hp)
			if err != nil || len(ents) > 0 {
				break
			}
			if existsInLowers(lowers, dir) && !sameDirMeta(hp, lowers, dir) {
				break // the RUN changed the directory itself
			}
			if hasOpaque(hp) {
				break
			}
			if err := os.Remove(hp); err != nil {
				return err
			}
		}
	}
	return nil
}

// restoreDirTime gives hp, directory p of a whole root, the modification
// time p has in the stacked layer directories when it holds the same names
// as there and has the same mode and owner: the RUN left it as it was but
// for mount points the sandbox made and removeStubs removed. On an
// overlay such a directory leaves the diff; on a copy, this keeps it out.
func restoreDirTime(hp string, lowers []string, p string) error {
	names, top, ok := lowerNames(lowers, p)
	if !ok || !sameDirMeta(hp, lowers, p) {
		return nil
	}
	ents, err := os.ReadDir(hp)
	if err != nil || len(ents) != len(names) {
		return nil
	}
	for _, e := range ents {
		if !names[e.Name()] {
			return nil
		}
	}
	fi, err := os.Lstat(top)
	if err != nil {
		return nil
	}
	return os.Chtimes(hp, fi.ModTime(), fi.ModTime())
}

// lowerNames returns the names in directory p of the stacked layer
// directories (top first) as an overlay of them shows it, and the topmost
// layer's p, whose metadata the overlay shows.
func lowerNames(lowers []string, p string) (map[string]bool, string, bool) {
	names, hidden := map[string]bool{}, map[string]bool{}
	top := ""
	for _, l := range lowers {
		d := filepath.Join(l, p)
		fi, err := os.Lstat(d)
		if err != nil {
			continue
		}
		if !fi.IsDir() {
			break // a file or a whiteout hides p below
		}
		if top == "" {
			top = d
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			return nil, "", false
		}
		for _, e := range ents {
			n := e.Name()
			switch {
			case names[n] || hidden[n]:
			case e.Type()&fs.ModeCharDevice != 0 && e.Type()&fs.ModeDevice != 0:
				hidden[n] = true // a whiteout
			default:
				names[n] = true
			}
		}
		if hasOpaque(d) {
			break
		}
	}
	return names, top, top != ""
}

func sameDirMeta(hp string, lowers []string, p string) bool {
	a, err := os.Lstat(hp)
	if err != nil {
		return false
	}
	for _, l := range lowers {
		b, err := os.Lstat(filepath.Join(l, p))
		if err != nil {
			continue
		}
		return a.Mode() == b.Mode() && sameOwner(a, b)
	}
	return false
}

func hasOpaque(p string) bool {
	buf := make([]byte, 8)
	for _, name := range []string{"user.overlay.opaque", "trusted.overlay.opaque"} {
		if n, err := getxattr(p, name, buf); err == nil && n > 0 {
			return true
		}
	}
	return false
}

// outputTail streams a RUN's output line by line and keeps its last lines.
type outputTail struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	last []string
	send func(string)
}

func (o *outputTail) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	for {
		i := bytes.IndexByte(o.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := string(o.buf.Next(i + 1))
		o.line(strings.TrimRight(line, "\r\n"))
	}
	if o.buf.Len() > 64<<10 { // a very long line: cut it
		o.line(o.buf.String())
		o.buf.Reset()
	}
	return len(p), nil
}

func (o *outputTail) line(l string) {
	o.last = append(o.last, l)
	if len(o.last) > tailLines {
		o.last = o.last[len(o.last)-tailLines:]
	}
	if o.send != nil {
		o.send(l)
	}
}

func (o *outputTail) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.buf.Len() > 0 {
		o.line(o.buf.String())
		o.buf.Reset()
	}
}

func (o *outputTail) lines() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.last...)
}

func (o *outputTail) tail() string {
	l := o.lines()
	if len(l) == 0 {
		return ""
	}
	return "; last lines of its output:\n  | " + strings.Join(l, "\n  | ")
}

// emulatedWeight is how much of the job limit an emulated RUN takes: twice
// a native step, since QEMU keeps a core busy where native steps often wait
// on I/O. With the default limit (two per CPU) a 2-core machine runs two
// emulated RUN steps at once, one per core, as BuildKit would, but not more.
const emulatedWeight = 2

// runHostname is the host name of RUN steps, BuildKit's default.
const runHostname = "buildkitsandbox"
