package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/manyarch/manyarch/internal/cgroup"
	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/netns"
	"github.com/manyarch/manyarch/internal/sandbox/sandboxinit"
)

// Run runs spec.Args in a new sandbox and waits for it to end.
//
// A nil error means the process ran; its status is in Result (a non-zero
// exit is not an error). An *ExecError means the command could not be
// started (Result.ExitCode is then 127 or 126); a *SetupError means the
// sandbox could not be prepared. When ctx is done, Spec.StopSignal is sent
// and the sandbox is killed Spec.StopTimeout later; Result.Stopped is set and
// the error is nil if the process then exited.
//
// When Run returns, every process of the sandbox is dead and reaped and all
// output has been written. The init itself may still be exiting: the kernel
// unmounts the sandbox's private mounts as its namespaces go, which nothing
// else can see; Run reaps it in the background. Run's temporary directory is
// removed.
func Run(ctx context.Context, spec Spec) (Result, error) {
	log := spec.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := spec.validate(); err != nil {
		return Result{}, err
	}
	sweepOnce.Do(removeStaleStates)
	state, err := os.MkdirTemp("", stateDirPrefix)
	if err != nil {
		return Result{}, fmt.Errorf("creating sandbox state directory: %w", err)
	}
	defer os.RemoveAll(state)
	// The lock says the directory is in use, for removeStaleStates in other
	// processes; closing the file releases it.
	if lock, err := fsutil.TryLockDir(state, true); err == nil {
		defer lock.Unlock()
	}

	cfg, err := spec.initConfig(state)
	if err != nil {
		return Result{}, err
	}
	if err := checkUlimits(spec.Ulimits); err != nil {
		return Result{}, err
	}
	if err := writeEtcFiles(state, cfg.Hostname, spec.BuildKitEtc, spec.ExtraHosts); err != nil {
		return Result{}, err
	}
	if err := os.Mkdir(filepath.Join(state, "rootfs"), 0o755); err != nil {
		return Result{}, fmt.Errorf("creating sandbox state directory: %w", err)
	}
	return start(ctx, spec, cfg, log)
}

// stateDirPrefix starts the names of the sandboxes' state directories in
// the temporary directory.
const stateDirPrefix = "manyarch-sandbox-"

var sweepOnce sync.Once

// removeStaleStates removes the state directories that sandboxes of killed
// processes left: a running sandbox holds a lock on its directory, and one
// just being made is younger than a minute. As root it also deletes the
// veth pairs of dead owners (netns.Sweep).
func removeStaleStates() {
	netns.Sweep()
	fsutil.RemoveStaleDirs(filepath.Join(os.TempDir(), stateDirPrefix+"*"), time.Minute)
}

func (s *Spec) validate() error {
	if len(s.Args) == 0 || s.Args[0] == "" {
		return errors.New("running sandbox: no command (Spec.Args is empty)")
	}
	switch {
	case s.RootDir == "" && s.Overlay == nil:
		return errors.New("running sandbox: no root filesystem (set Spec.RootDir or Spec.Overlay)")
	case s.RootDir != "" && s.Overlay != nil:
		return errors.New("running sandbox: both Spec.RootDir and Spec.Overlay are set")
	case s.Overlay != nil && len(s.Overlay.Lower) == 0:
		return errors.New("running sandbox: overlay root has no lower directories")
	case s.Overlay != nil && s.Overlay.Upper != "" && s.Overlay.Work == "":
		return errors.New("running sandbox: overlay upper directory given without a work directory")
	}
	switch s.Network {
	case "", NetworkHost, NetworkNone:
		if s.Publish != nil {
			return fmt.Errorf("running sandbox: ports are published only with network %q, not %q", NetworkPrivate, s.Network)
		}
	case NetworkPrivate:
		if os.Geteuid() != 0 {
			return fmt.Errorf("running sandbox: %w", netns.ErrNotRoot)
		}
	default:
		return fmt.Errorf("running sandbox: unknown network %q (want %q, %q or %q)", s.Network, NetworkHost, NetworkNone, NetworkPrivate)
	}
	if s.Dir != "" && !path.IsAbs(s.Dir) {
		return fmt.Errorf("running sandbox: working directory %q is not absolute", s.Dir)
	}
	for _, m := range s.Mounts {
		t := path.Clean(m.Target)
		if !path.IsAbs(m.Target) || t == "/" {
			return fmt.Errorf("running sandbox: mount target %q must be an absolute path other than /", m.Target)
		}
		for _, bad := range []string{"/proc", "/sys"} {
			if t == bad || strings.HasPrefix(t, bad+"/") {
				return fmt.Errorf("running sandbox: mount target %q: cannot mount over %s", m.Target, bad)
			}
		}
	}
	for _, h := range s.ExtraHosts {
		if strings.ContainsAny(h, "\n\r") || h == "" {
			return fmt.Errorf("running sandbox: extra hosts line %q (use ParseHost)", h)
		}
	}
	if s.ShmSize < 0 {
		return fmt.Errorf("running sandbox: /dev/shm size %d is negative", s.ShmSize)
	}
	if s.Tty {
		if f, ok := s.Stdin.(*os.File); !ok || !isTerminal(f) {
			return errors.New("running sandbox: Spec.Tty needs Stdin to be a terminal's *os.File (a pseudo-terminal)")
		}
	}
	for _, h := range s.Binfmt {
		if _, err := h.RegisterLine(); err != nil {
			return fmt.Errorf("running sandbox: binfmt handler %s: %w", h.Name, err)
		}
	}
	return nil
}

// binfmtLines are the register lines of hs for the init's private
// binfmt_misc instance (emulation.Handler.Private).
func binfmtLines(hs []emulation.Handler) ([]string, error) {
	var out []string
	for _, h := range hs {
		line, err := h.Private().RegisterLine()
		if err != nil {
			return nil, fmt.Errorf("running sandbox: binfmt handler %s: %w", h.Name, err)
		}
		out = append(out, line)
	}
	return out, nil
}

// initConfig resolves the host paths of spec and builds the init's config.
func (s *Spec) initConfig(state string) (*sandboxinit.Config, error) {
	cfg := &sandboxinit.Config{
		Args:     s.Args,
		Env:      s.Env,
		Dir:      s.Dir,
		User:     s.User,
		Groups:   s.Groups,
		Hostname: s.Hostname,
		NewNet:   s.Network == NetworkNone || s.Network == NetworkPrivate,
		StateDir: state,
		Linux32:  s.Linux32,

		Privileged: s.Security.Privileged,
		NoNewPrivs: s.Security.NoNewPrivileges,
	}
	caps, err := capabilities(s.Security)
	if err != nil {
		return nil, fmt.Errorf("running sandbox: %w", err)
	}
	for _, c := range caps {
		cfg.Caps = append(cfg.Caps, int64(c))
	}
	if cfg.Seccomp, err = seccompFilter(s.Security, caps); err != nil {
		return nil, fmt.Errorf("running sandbox: %w", err)
	}
	if cfg.Binfmt, err = binfmtLines(s.Binfmt); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		cfg.Dir = "/"
	}
	if cfg.Hostname == "" {
		cfg.Hostname = defaultHostname
	}
	cfg.NoHostnameEnv = s.NoHostnameEnv
	cfg.NoHostnameFile = s.BuildKitEtc
	cfg.Tty, cfg.ReadOnlyRoot = s.Tty, s.ReadOnlyRoot
	if s.ExpectPlatform != "" {
		cfg.ELFClass, cfg.ELFData, cfg.ELFMachine, cfg.CheckELF = expectELF(s.ExpectPlatform)
	}
	if cfg.Ulimits, err = initUlimits(s.Ulimits); err != nil {
		return nil, err
	}
	cfg.ShmSize = s.ShmSize
	absDir := func(what, p string) (string, error) {
		r, err := filepath.EvalSymlinks(p)
		if err == nil {
			r, err = filepath.Abs(r)
		}
		if err != nil {
			return "", fmt.Errorf("running sandbox: %s %s: %w", what, p, err)
		}
		fi, err := os.Stat(r)
		if err != nil {
			return "", fmt.Errorf("running sandbox: %s %s: %w", what, p, err)
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("running sandbox: %s %s is not a directory", what, p)
		}
		return r, nil
	}
	if s.RootDir != "" {
		if cfg.RootDir, err = absDir("root directory", s.RootDir); err != nil {
			return nil, err
		}
	}
	if s.Overlay != nil {
		o := &sandboxinit.Overlay{}
		for _, l := range s.Overlay.Lower {
			d, err := absDir("overlay lower directory", l)
			if err != nil {
				return nil, err
			}
			if strings.ContainsAny(d, ":,") {
				return nil, fmt.Errorf("running sandbox: overlay lower directory %s: ':' and ',' are not allowed in overlay paths", d)
			}
			o.Lower = append(o.Lower, d)
		}
		if s.Overlay.Upper != "" {
			if o.Upper, err = absDir("overlay upper directory", s.Overlay.Upper); err != nil {
				return nil, err
			}
			if o.Work, err = absDir("overlay work directory", s.Overlay.Work); err != nil {
				return nil, err
			}
		}
		cfg.Overlay = o
	}
	for _, m := range s.Mounts {
		if m.Tmpfs {
			cfg.Mounts = append(cfg.Mounts, sandboxinit.Mount{Tmpfs: true, Size: m.Size, Target: path.Clean(m.Target), ReadOnly: m.ReadOnly})
			continue
		}
		src, err := filepath.EvalSymlinks(m.Source)
		if err != nil {
			return nil, fmt.Errorf("running sandbox: mount source: %w", err)
		}
		if src, err = filepath.Abs(src); err != nil {
			return nil, fmt.Errorf("running sandbox: mount source: %w", err)
		}
		cfg.Mounts = append(cfg.Mounts, sandboxinit.Mount{Source: src, Target: path.Clean(m.Target), ReadOnly: m.ReadOnly})
	}
	return cfg, nil
}

// writeEtcFiles writes the files bind-mounted over /etc/resolv.conf,
// /etc/hosts and /etc/hostname; with buildkit, /etc/hosts is BuildKit's.
func writeEtcFiles(state, hostname string, buildkit bool, extra []string) error {
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading host /etc/resolv.conf: %w", err)
	}
	hosts := "127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"127.0.1.1\t" + hostname + "\n"
	if buildkit {
		hosts = "127.0.0.1\tlocalhost " + hostname + "\n" +
			"::1\tlocalhost ip6-localhost ip6-loopback\n"
	}
	for _, h := range extra {
		hosts += h + "\n"
	}
	for name, content := range map[string][]byte{
		"resolv.conf": resolv,
		"hosts":       []byte(hosts),
		"hostname":    []byte(hostname + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(state, name), content, 0o644); err != nil {
			return fmt.Errorf("writing sandbox %s: %w", name, err)
		}
	}
	return nil
}

// idMapping is how the user namespace is mapped.
type idMapping struct {
	full      bool // identity over the whole range (root)
	newuidmap bool // newuidmap/newgidmap with subordinate ranges
	uid, gid  int
	subUID    [2]int // start, count
	subGID    [2]int
}

func chooseMapping() idMapping {
	m := idMapping{uid: os.Geteuid(), gid: os.Getegid()}
	if m.uid == 0 {
		m.full = true
		return m
	}
	nu, err1 := exec.LookPath("newuidmap")
	ng, err2 := exec.LookPath("newgidmap")
	if err1 != nil || err2 != nil || nu == "" || ng == "" {
		return m
	}
	name := strconv.Itoa(m.uid)
	if u, err := lookupHostUserName(m.uid); err == nil {
		name = u
	}
	su, ok1 := subordinateRange("/etc/subuid", name, m.uid)
	sg, ok2 := subordinateRange("/etc/subgid", name, m.uid)
	if ok1 && ok2 {
		m.newuidmap, m.subUID, m.subGID = true, su, sg
	}
	return m
}

func lookupHostUserName(uid int) (string, error) {
	return sandboxinit.UserName(os.DirFS("/"), uint32(uid))
}

// subordinateRange returns the first range of name (or uid) in an
// /etc/subuid-style file.
func subordinateRange(file, name string, uid int) ([2]int, bool) {
	f, err := os.Open(file)
	if err != nil {
		return [2]int{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(fs) != 3 || (fs[0] != name && fs[0] != strconv.Itoa(uid)) {
			continue
		}
		start, err1 := strconv.Atoi(fs[1])
		count, err2 := strconv.Atoi(fs[2])
		if err1 == nil && err2 == nil && count > 0 {
			return [2]int{start, count}, true
		}
	}
	return [2]int{}, false
}

func start(ctx context.Context, spec Spec, cfg *sandboxinit.Config, log *slog.Logger) (Result, error) {
	idm := chooseMapping()
	cfg.RootIDs = idm.full || idm.newuidmap

	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("creating sandbox pipe: %w", err)
	}
	defer cfgR.Close()
	defer cfgW.Close()
	stR, stW, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("creating sandbox pipe: %w", err)
	}
	defer stR.Close()
	defer stW.Close()

	stdio, err := newStdio(spec.Stdin, spec.Stdout, spec.Stderr)
	if err != nil {
		return Result{}, err
	}
	defer stdio.close()
	cmd := initCommand(cfg, idm, stdio, cfgR, stW)
	began := time.Now()
	if err := cmd.Start(); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EINVAL) {
			return Result{}, fmt.Errorf("starting sandbox: creating namespaces: %w (user namespaces may be disabled: check sysctl kernel.unprivileged_userns_clone and user.max_user_namespaces)", err)
		}
		return Result{}, fmt.Errorf("starting sandbox: %w", err)
	}
	cfgR.Close()
	stW.Close()
	stdio.started()
	pid := cmd.Process.Pid
	log.Debug("sandbox init started", "pid", pid, "after", time.Since(began))

	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()

	// Messages from the init, read until it closes its end.
	msgs := make(chan sandboxinit.Message, 4)
	go func() {
		defer close(msgs)
		r := bufio.NewReader(stR)
		for {
			m, err := sandboxinit.ReadMessage(r)
			if err != nil {
				return
			}
			msgs <- m
		}
	}()

	if idm.newuidmap {
		if err := writeMappingsHelper(pid, idm); err != nil {
			_ = cmd.Process.Kill()
			<-waitErr
			return Result{}, err
		}
	}
	pids, err := joinCgroups(spec, cfg, pid, log)
	if err != nil {
		_ = cmd.Process.Kill()
		<-waitErr
		return Result{}, err
	}
	started := Started{Pid: pid}
	if spec.Network == NetworkPrivate {
		link, err := netns.Attach(pid)
		if err != nil {
			_ = cmd.Process.Kill()
			<-waitErr
			if pids != nil {
				pids.Remove()
			}
			return Result{}, fmt.Errorf("starting sandbox: %w", err)
		}
		// The pair goes with the network namespace when the init dies;
		// Close deletes it sooner and frees the slot.
		defer link.Close()
		started.Address = link.Container
		log.Debug("private network", "link", link.Name, "host", link.HostIP, "container", link.Container)
		if spec.Publish != nil {
			spec.Publish.Start(link.Container)
			// Once the container is gone its address routes nowhere of
			// ours: forward no more connections to it.
			defer spec.Publish.Stop(link.Container)
		}
	}
	if err := raiseHardLimits(pid, spec.Ulimits); err != nil {
		_ = cmd.Process.Kill()
		<-waitErr
		if pids != nil {
			pids.Remove()
		}
		return Result{}, err
	}
	if err := sendConfig(cfgW, cfg, idm.newuidmap); err != nil {
		_ = cmd.Process.Kill()
		<-waitErr
		return Result{}, err
	}

	sv := supervise(ctx, spec, started, began, msgs, waitErr, log)
	res, exited := sv.res, sv.exited
	if !exited {
		// The init reported the exit status after every process of the
		// container was dead and reaped, and has closed its files: it is
		// exiting. The kernel's teardown of its namespaces (unmounting
		// everything) can take tens of milliseconds, which nobody needs
		// to wait for; reap it in the background.
		go func() {
			<-waitErr
			if pids != nil && cfg.PidsLeave == "" {
				_ = pids.Remove()
			}
		}()
	}
	stdio.wait()
	log.Debug("sandbox done", "duration", time.Since(began), "reaped", exited)
	pidsDone(pids, cfg, &res, exited, log)

	return outcome(res, sv.messages, sv.wErr, sv.killed, log)
}

// sendConfig sends the init its config: a header byte, 'R' when it must
// re-exec itself to gain the capabilities of the IDs newuidmap mapped
// after it started, else 'C', then cfg's frame (sandboxinit.AppendConfig);
// and closes the pipe.
func sendConfig(w *os.File, cfg *sandboxinit.Config, reexec bool) error {
	header := byte('C')
	if reexec {
		header = 'R'
	}
	if _, err := w.Write(sandboxinit.AppendConfig([]byte{header}, cfg)); err != nil {
		return fmt.Errorf("sending sandbox config: %w", err)
	}
	return w.Close()
}

// joinCgroups puts the init in Spec.Cgroup and in a pids cgroup of its
// own (nil when there is none), whose files it records in cfg.
func joinCgroups(spec Spec, cfg *sandboxinit.Config, pid int, log *slog.Logger) (*cgroup.Pids, error) {
	if spec.Cgroup != "" {
		if err := cgroup.AddProcess(spec.Cgroup, pid); err != nil {
			return nil, fmt.Errorf("starting sandbox: %w", err)
		}
	}
	pids := pidsCgroup(spec, log)
	if pids == nil {
		return nil, nil
	}
	if err := pids.Add(pid); err != nil {
		pids.Remove()
		return nil, fmt.Errorf("starting sandbox: %w", err)
	}
	cfg.PidsMax, cfg.PidsLimit = filepath.Join(pids.Dir(), "pids.max"), pids.Limit()
	parent := filepath.Dir(pids.Dir())
	if _, err := os.Stat(filepath.Join(parent, "cgroup.controllers")); err != nil {
		// cgroup v1: the parent may hold processes (v2's may not).
		cfg.PidsLeave = filepath.Join(parent, "cgroup.procs")
	}
	return pids, nil
}

// pidsDone reads whether the pids limit was hit and removes the cgroup
// once the init has been reaped.
func pidsDone(pids *cgroup.Pids, cfg *sandboxinit.Config, res *Result, reaped bool, log *slog.Logger) {
	if pids == nil {
		return
	}
	if n, err := pids.Refused(); err == nil && n > 0 {
		res.PidsLimitHit = pids.Limit()
		log.Debug("pids limit hit", "limit", pids.Limit(), "refused", n)
	}
	// The init has left the cgroup (v1) or been reaped: it is empty
	// (every process of the container is dead before the init
	// reports); otherwise it is removed once the init is reaped.
	if reaped || cfg.PidsLeave != "" {
		_ = pids.Remove()
	}
}

// initEnv is the init's own environment (the command's comes in the
// config, and a re-exec keeps it). GOMAXPROCS=1: the init has little to
// run in parallel (its thread mostly waits in wait4, which hands its P to
// the signal-forwarding goroutine), and with one P the runtime starts no
// spinning threads to look for work on the others: a warm `manyarch run
// true` took ~15-28 ms less CPU in all (bench/README.md, "Run").
var initEnv = []string{sandboxinit.InitEnv + "=1", "GOMAXPROCS=1"}

// initCommand is the re-exec of this binary as the sandbox init, in new
// namespaces with the user namespace's ID maps, the config pipe's read
// end as fd 3 and the status pipe's write end as fd 4.
func initCommand(cfg *sandboxinit.Config, idm idMapping, std *stdio, cfgR, stW *os.File) *exec.Cmd {
	flags := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	if cfg.NewNet {
		flags |= unix.CLONE_NEWNET
	}
	attr := &syscall.SysProcAttr{
		Cloneflags: flags,
		Setsid:     true, // terminal signals reach manyarch, which forwards them
		Pdeathsig:  syscall.SIGKILL,
	}
	switch {
	case idm.full:
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: fullIDRange}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: fullIDRange}}
		attr.GidMappingsEnableSetgroups = true
	case idm.newuidmap:
		// Mapped by start with newuidmap/newgidmap before the config is sent.
	default:
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: idm.uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: idm.gid, Size: 1}}
	}
	return &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{sandboxinit.InitArg0},
		Env:         initEnv,
		Stdin:       std.child[0],
		Stdout:      std.child[1],
		Stderr:      std.child[2],
		ExtraFiles:  []*os.File{cfgR, stW}, // fds 3 and 4
		SysProcAttr: attr,
	}
}

// supervised is how a sandbox's init ended, as supervise saw it.
type supervised struct {
	res      Result // Stopped and TimedOut
	killed   bool   // manyarch killed it (timeout, stop timeout)
	exited   bool   // it was reaped (else: it reported and is exiting)
	wErr     error  // its wait status, once reaped
	messages []sandboxinit.Message
}

// stopping is how a stop ends the command: StopSignal (default SIGTERM),
// then SIGKILL after StopTimeout (default 10s).
func (s *Spec) stopping() (syscall.Signal, time.Duration) {
	sig, timeout := s.StopSignal, s.StopTimeout
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return sig, timeout
}

// supervise waits until the init reports the command's end or exits,
// meanwhile forwarding signals (once the command started), stopping it
// when ctx is done and killing it on Timeout or StopTimeout.
func supervise(ctx context.Context, spec Spec, started Started, began time.Time, msgs chan sandboxinit.Message, waitErr chan error, log *slog.Logger) supervised {
	pid := started.Pid
	var timeout <-chan time.Time
	if spec.Timeout > 0 {
		t := time.NewTimer(spec.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	stopSignal, stopTimeout := spec.stopping()

	var (
		res      Result
		killAt   <-chan time.Time
		killed   bool
		ctxDone  = ctx.Done()
		wErr     error
		exited   bool
		messages []sandboxinit.Message
	)
	startKillTimer := func() {
		if killAt == nil {
			killAt = time.After(stopTimeout)
		}
	}
	// Signals for the command wait until it has started: before the
	// init has called signal.Notify (while the Go runtime starts), a
	// signal would be lost (PID 1 ignores what it has no handler for)
	// or end the init without a report (the runtime's own handler).
	// SIGKILL needs no handler.
	var (
		cmdStarted bool
		pending    []syscall.Signal
	)
	signalInit := func(s syscall.Signal) {
		if cmdStarted || s == syscall.SIGKILL {
			_ = unix.Kill(pid, s)
			return
		}
		pending = append(pending, s)
	}
	reported := false
	for !exited && !reported {
		select {
		case wErr = <-waitErr:
			exited = true
		case m, ok := <-msgs:
			if !ok {
				msgs = nil
				continue
			}
			log.Debug("sandbox init reported", "type", m.Type, "after", time.Since(began))
			if m.Type == sandboxinit.MsgWarning || m.Type == sandboxinit.MsgArch {
				w := m.Message
				if m.Type == sandboxinit.MsgArch {
					w = archWarning(spec.ExpectPlatform, m)
				}
				if spec.Warn != nil {
					spec.Warn(w)
				} else {
					log.Warn(w)
				}
				continue
			}
			if m.Type == sandboxinit.MsgStarted {
				cmdStarted = true
				for _, s := range pending {
					_ = unix.Kill(pid, s)
				}
				pending = nil
				if spec.Started != nil {
					spec.Started(started)
				}
				continue
			}
			reported = reported || m.Type == sandboxinit.MsgExit
			messages = append(messages, m)
		case <-ctxDone:
			ctxDone = nil
			res.Stopped = true
			log.Debug("context done; stopping sandbox", "signal", stopSignal)
			signalInit(stopSignal)
			startKillTimer()
		case sig, ok := <-spec.Signals:
			if !ok {
				spec.Signals = nil
				continue
			}
			s, isSys := sig.(syscall.Signal)
			if !isSys {
				continue
			}
			log.Debug("forwarding signal", "signal", s)
			signalInit(s)
			// SIGKILL (package container's Process.Kill) ends the init
			// before it reports: a stop, not a crash.
			if s == syscall.SIGINT || s == syscall.SIGTERM || s == syscall.SIGHUP || s == syscall.SIGKILL {
				res.Stopped = true
				startKillTimer()
			}
		case <-timeout:
			timeout = nil
			res.TimedOut = true
			killed = true
			log.Debug("timeout; killing sandbox", "timeout", spec.Timeout)
			_ = unix.Kill(pid, syscall.SIGKILL)
		case <-killAt:
			killAt = nil
			killed = true
			log.Debug("stop timeout; killing sandbox")
			_ = unix.Kill(pid, syscall.SIGKILL)
		}
	}
	if exited && msgs != nil {
		for m := range msgs { // the init has exited: drain what it wrote
			messages = append(messages, m)
		}
	}
	return supervised{res: res, killed: killed, exited: exited, wErr: wErr, messages: messages}
}

// outcome turns the init's reports (or, without one, how it ended) into
// Run's result and error.
func outcome(res Result, messages []sandboxinit.Message, wErr error, killed bool, log *slog.Logger) (Result, error) {
	for _, m := range messages {
		switch m.Type {
		case sandboxinit.MsgExecError:
			var reason error
			if m.NotFound {
				reason = ErrNotFound
			} else {
				reason = newMsgError(m)
			}
			res.ExitCode = int(m.Code)
			if res.PidsLimitHit > 0 && syscall.Errno(m.Errno) == syscall.EAGAIN {
				reason = fmt.Errorf("%w: %s", reason, PidsLimitMessage(res.PidsLimitHit))
			}
			return res, &ExecError{Command: m.Command, Err: reason, Code: int(m.Code)}
		case sandboxinit.MsgSetupError:
			res.ExitCode = 125
			err := newMsgError(m)
			if m.Overlay {
				err = &OverlayError{Err: err}
			}
			return res, &SetupError{Step: m.Step, Err: err}
		case sandboxinit.MsgExit:
			log.Debug("sandbox init timings", "setup", time.Duration(m.SetupMicros)*time.Microsecond, "run", time.Duration(m.RunMicros)*time.Microsecond)
			res.ExitCode, res.Signal = int(m.ExitCode), syscall.Signal(m.Signal)
			return res, nil
		}
	}
	// No report: the init was killed (timeout, stop) or crashed, which a
	// full pids cgroup can cause (the Go runtime cannot start a thread).
	hint := ""
	if res.PidsLimitHit > 0 {
		hint = " (" + PidsLimitMessage(res.PidsLimitHit) + ")"
	}
	var ee *exec.ExitError
	if errors.As(wErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal()
			res.ExitCode = 128 + int(ws.Signal())
			if killed || res.Stopped {
				return res, nil
			}
			return res, fmt.Errorf("sandbox init was killed by %v before reporting%s", ws.Signal(), hint)
		}
	}
	if wErr != nil {
		return res, fmt.Errorf("sandbox init ended without reporting%s: %w", hint, wErr)
	}
	return res, errors.New("sandbox init ended without reporting an exit status" + hint)
}

// writeMappingsHelper maps container root to the user and 1.. to the
// user's subordinate ranges with the setuid helpers newuidmap/newgidmap.
func writeMappingsHelper(pid int, m idMapping) error {
	p := strconv.Itoa(pid)
	for _, c := range []struct {
		tool string
		id   int
		sub  [2]int
	}{{"newuidmap", m.uid, m.subUID}, {"newgidmap", m.gid, m.subGID}} {
		args := []string{p, "0", strconv.Itoa(c.id), "1", "1", strconv.Itoa(c.sub[0]), strconv.Itoa(c.sub[1])}
		out, err := exec.Command(c.tool, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("mapping sandbox IDs: %s %s: %w: %s", c.tool, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// stdio holds the init's standard streams: *os.File values are passed as
// they are; other readers and writers go through pipes copied by
// goroutines that Run waits for (the write ends close when the last
// process of the container has exited), so Run returns only when all
// output has been written, without waiting for the init to be reaped.
type stdio struct {
	child   [3]*os.File // given to the init; nil is /dev/null
	parent  []*os.File  // our ends, closed by close
	ours    []*os.File  // child ends we created, closed after start
	copying chan error
	copies  int
}

func newStdio(in io.Reader, out, errw io.Writer) (*stdio, error) {
	s := &stdio{copying: make(chan error, 3)}
	fail := func(err error) (*stdio, error) {
		s.close()
		return nil, fmt.Errorf("creating sandbox stdio pipes: %w", err)
	}
	switch in := in.(type) {
	case nil:
	case *os.File:
		s.child[0] = in
	default:
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		s.child[0] = r
		s.ours = append(s.ours, r)
		s.parent = append(s.parent, w)
		go func() {
			// Not waited for: the reader may block for ever (a terminal).
			_, _ = io.Copy(w, in)
			w.Close()
		}()
	}
	for i, wr := range []io.Writer{out, errw} {
		if i == 1 && s.child[1] != nil && sameWriter(out, errw) {
			// One writer for both (as os/exec does): one pipe, so that
			// a writer that is not safe for concurrent use (a
			// bytes.Buffer) is written by one goroutine, in order.
			s.child[2] = s.child[1]
			break
		}
		switch wr := wr.(type) {
		case nil:
		case *os.File:
			s.child[i+1] = wr
		default:
			r, w, err := os.Pipe()
			if err != nil {
				return fail(err)
			}
			s.child[i+1] = w
			s.ours = append(s.ours, w)
			s.parent = append(s.parent, r)
			s.copies++
			go func() {
				_, err := io.Copy(wr, r)
				s.copying <- err
			}()
		}
	}
	return s, nil
}

// sameWriter reports whether a and b are the same comparable writer.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false // not comparable (a func or map type)
		}
	}()
	return a == b
}

// started closes our copies of the child's ends once the init has them.
func (s *stdio) started() {
	for _, f := range s.ours {
		f.Close()
	}
	s.ours = nil
}

// wait waits until all output has been copied.
func (s *stdio) wait() {
	for ; s.copies > 0; s.copies-- {
		<-s.copying
	}
}

func (s *stdio) close() {
	s.started()
	for _, f := range s.parent {
		f.Close()
	}
}

// initThreadRoom is room for the sandbox init's threads in the pids
// cgroup before it starts the command.
const initThreadRoom = 64

// pidsCgroup makes the pids cgroup of a sandbox, or returns nil when it is
// unlimited or no pids controller can be used (no root, no delegation):
// that is logged, not an error.
func pidsCgroup(spec Spec, log *slog.Logger) *cgroup.Pids {
	limit := spec.PidsLimit
	if limit == 0 {
		limit = DefaultPidsLimit
	}
	if limit < 0 {
		return nil
	}
	parent := ""
	if spec.Cgroup != "" {
		if _, err := os.Stat(filepath.Join(spec.Cgroup, "cgroup.controllers")); err == nil {
			// cgroup v2: a process is in one cgroup, so the pids
			// cgroup is a child of the memory one.
			parent = spec.Cgroup
		}
	}
	p, err := cgroup.NewPids(parent, limit)
	if err != nil {
		log.Debug("no pids limit for this sandbox", "limit", limit, "err", err)
		return nil
	}
	// Until the init sets the limit to the container's plus its own
	// threads (see pidsMax), room for those threads.
	if err := p.SetMax(limit + initThreadRoom); err != nil {
		log.Debug("no pids limit for this sandbox", "limit", limit, "err", err)
		_ = p.Remove()
		return nil
	}
	return p
}

// fullIDRange is the size of an ID mapping that covers every uid or gid:
// 2^32-1 IDs, or as many as an int holds on a 32-bit host (linux/arm/v7,
// linux/386), where syscall.SysProcIDMap cannot name more.
var fullIDRange = int(min(uint64(1<<32-1), uint64(math.MaxInt)))

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
