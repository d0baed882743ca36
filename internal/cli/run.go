package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/container"
	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/netns"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/sandbox"
	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/store"
)

// runFailed is the exit status of `manyarch run` when the container could
// not be run at all (Docker's 125), so it is not mistaken for the command's.
const runFailed = 125

type runOptions struct {
	platform    platformFlags
	remote      remoteFlags
	env         []string
	envFiles    []string
	workdir     string
	user        string
	entrypoint  string
	network     string
	publish     []string
	interactive bool
	volumes     []string
	timeout     time.Duration
	hostname    string
	emulation   string
	rm          bool
	privileged  bool
	capAdd      []string
	capDrop     []string
	securityOpt []string
	pidsLimit   int64
	tty         bool
	name        string
	readOnly    bool
	limits      limitFlags // --add-host, --ulimit, --shm-size

	entrypointGiven bool // --entrypoint was given, even as ""

	ports []netns.Port // parsed --publish
}

func newRunCmd(g *globalOptions) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run [flags] IMAGE [COMMAND [ARG...]]",
		Short: "Run a command in a new container of an image, for any platform",
		Long: `Run a command in a new container made from IMAGE, as 'docker run --rm' does,
with no daemon. The image is read from the store, or pulled when it is not
there. Its layers are unpacked once (under the store's snapshots directory) and
stacked as an overlay with a throwaway upper directory (where the kernel
refuses that overlay, as inside a container whose root is one, the layers are
copied into a throwaway directory instead): nothing the container writes is
kept.

The container has its own user, mount, PID, UTS and IPC namespaces, a minimal
/dev, /proc, a read-only /sys and the host's resolv.conf.

Its network is the host's by default (--network host), or, when -p is given
or with --network private, a network namespace of its own (root only): lo
and an eth0 linked to the host by a veth pair in manyarch's own subnet
10.231.0.0/20 (host end manyarch<N>, 10.231.x.y/30). It reaches the host's
addresses and the host reaches it; nothing further: no NAT, no forwarding, no
firewall rule, so no internet from it. -p [IP:]HOSTPORT:CONTAINERPORT[/tcp]
publishes a TCP port as docker run -p does, but on 127.0.0.1 unless an IP is
given (docker binds 0.0.0.0), through a proxy in the manyarch process; a host
port already in use is an error before the container starts. The veth pair
goes when the container ends; one left by a killed manyarch is deleted by the
next manyarch run. --network none is a namespace with only lo.

It is isolated as Docker isolates by default: Docker's capability set,
Docker's default seccomp profile (for the host's architecture, which also
filters QEMU's calls for an emulated platform), /proc/sys, /proc/sysrq-trigger,
/proc/irq, /proc/bus and /proc/fs read-only, /proc/kcore, /proc/keys,
/proc/timer_list and the like masked, no descriptor of the caller's but the
standard streams, and at most --pids-limit (2048) processes and threads.
--privileged, --cap-add, --cap-drop and --security-opt open it up only as far
as asked.

--platform picks the image of a multi-platform index: by default the host's
platform when the image has it, else the image's only one. A platform the host
cannot run natively is emulated with QEMU user mode (QEMU 8 or later;
hack/deps.sh installs 10): --emulation auto uses a working host binfmt_misc
handler, else registers one privately inside the container (Linux 6.7 or
later), changing nothing on the host.

As with docker run: -t gives the command a pseudo-terminal (with -i, from a
terminal: raw mode, window size, ^C reaching the container), -v is --volume
(use --verbose to log more), --read-only makes the root read-only and --name
holds a name while the container runs.

The image's Entrypoint, Cmd, Env, WorkingDir and User apply as in Docker;
COMMAND replaces Cmd, and --entrypoint replaces Entrypoint (and drops Cmd).
The exit status is the command's; 125 means manyarch could not run it, 126 that
the command cannot be executed and 127 that it was not found.`,
		Example: `  manyarch run --platform linux/arm64 fixtures/busybox:1.35 uname -m
  manyarch run --rm fixtures/busybox:1.35 sh -c 'echo hello from $(hostname)'
  manyarch run --network none -e GREETING=hi fixtures/busybox:1.35 sh -c 'echo $GREETING; ip link'
  manyarch run -p 18080:8080 --platform linux/arm64 fixtures/busybox:1.35 httpd -f -p 8080 -h /etc  # curl 127.0.0.1:18080/hostname
  manyarch run -v /etc/os-release:/host-os-release:ro fixtures/busybox:1.35 cat /host-os-release
  manyarch run -it --platform linux/riscv64 fixtures/busybox:1.35 sh   # from a terminal: a shell, uname -m says riscv64
  manyarch run --read-only --name tidy -v /tmp:/scratch fixtures/busybox:1.35 touch /scratch/ok
  echo hello | manyarch run -i fixtures/busybox:1.35 tr a-z A-Z
  manyarch run --timeout 2s fixtures/busybox:1.35 sleep 100; echo "exit status $?"
  manyarch run --cap-add NET_ADMIN --security-opt no-new-privileges fixtures/busybox:1.35 ip link
  manyarch run --security-opt seccomp=profile.json --pids-limit 100 fixtures/busybox:1.35 sh`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.entrypointGiven = cmd.Flags().Changed("entrypoint")
			code, err := o.run(cmd, g, args)
			if err != nil || code != 0 {
				return &ExitError{Code: code, Err: err}
			}
			return nil
		},
	}
	// Flags after IMAGE belong to the command, as with docker run.
	cmd.Flags().SetInterspersed(false)
	f := cmd.Flags()
	o.platform.AddFlags(cmd, "platform of the image to run, e.g. linux/arm64 (default: the host's when the image has it, else the image's only one)")
	o.remote.AddFlags(cmd)
	f.StringArrayVarP(&o.env, "env", "e", nil, "set an environment variable: KEY=VALUE, or KEY to pass the host's value (repeatable)")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "read environment variables from a file of KEY=VALUE lines (repeatable)")
	f.StringVarP(&o.workdir, "workdir", "w", "", "working directory in the container (default: the image's WorkingDir, else /); created when missing")
	f.StringVarP(&o.user, "user", "u", "", `user to run as: "user", "uid", "user:group" or "uid:gid" (default: the image's User, else root)`)
	f.StringVar(&o.entrypoint, "entrypoint", "", `replace the image's Entrypoint (and drop its Cmd); "" clears it`)
	f.StringVar(&o.network, "network", "", "network: host (the host's network; the default without -p), private (a veth pair to the host, root only; the default with -p) or none (loopback only)")
	f.StringArrayVarP(&o.publish, "publish", "p", nil, "publish a container TCP port on the host: [IP:]HOSTPORT:CONTAINERPORT[/tcp], on 127.0.0.1 when no IP is given (repeatable; implies --network private)")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "pass standard input to the command")
	f.BoolVarP(&o.tty, "tty", "t", false, "give the command a pseudo-terminal (its stdout and stderr both go to it; with -i, stdin must be a terminal and is put in raw mode, so ^C reaches the container)")
	f.StringVar(&o.name, "name", "", "name the container: a second run with the same name fails while this one runs")
	o.limits.AddFlags(f)
	f.BoolVar(&o.readOnly, "read-only", false, "mount the container's root file system read-only (volumes, /dev and /proc keep their modes)")
	// -v is the global --verbose, so --volume has no shorthand.
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "bind-mount a host path: HOST:CONTAINER[:ro] (repeatable; as in docker run, -v is --volume here: use --verbose to log more)")
	f.DurationVar(&o.timeout, "timeout", 0, "kill the container after this long, e.g. 30s (default: no limit)")
	f.StringVar(&o.hostname, "hostname", "", `container host name (default "manyarch")`)
	f.StringVar(&o.emulation, "emulation", string(emulation.ModeAuto), "how to run another architecture: auto, host (host binfmt_misc only), private (a private binfmt_misc instance) or none; private and host emulate even a platform the host runs natively (linux/386 on amd64), to test the emulated path on any host")
	f.BoolVar(&o.rm, "rm", true, "remove the container when it exits (always done; accepted for docker compatibility)")
	f.BoolVar(&o.privileged, "privileged", false, "give the container every capability, no seccomp filter and unmasked, writable /proc paths (as docker run --privileged)")
	f.StringSliceVar(&o.capAdd, "cap-add", nil, "add a capability to Docker's default set, e.g. NET_ADMIN or CAP_SYS_PTRACE, or ALL (repeatable)")
	f.StringSliceVar(&o.capDrop, "cap-drop", nil, "drop a capability from the set, e.g. NET_RAW, or ALL (repeatable)")
	f.StringArrayVar(&o.securityOpt, "security-opt", nil, "seccomp=unconfined, seccomp=PROFILE.json (Docker's format) or no-new-privileges (repeatable)")
	f.Int64Var(&o.pidsLimit, "pids-limit", sandbox.DefaultPidsLimit, "most processes and threads the container may have at once; 0 or -1 for no limit")
	return cmd
}

// run runs the container and returns the exit status for manyarch.
func (o *runOptions) run(cmd *cobra.Command, g *globalOptions, args []string) (int, error) {
	ctx := cmd.Context()
	spec, root, image, cleanup, err := o.prepare(cmd, g, args)
	defer cleanup()
	if err != nil {
		return runFailed, err
	}

	// SIGINT, SIGTERM and the like go to the container's process, which
	// decides; one that does not exit 10s after SIGINT or SIGTERM is killed.
	// The sandbox therefore runs under a context that the signals (which
	// also cancel ctx, in main) do not cancel.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	spec.Signals = sigs

	if o.name != "" {
		lock, err := lockContainerName(g, o.name)
		if err != nil {
			return runFailed, err
		}
		defer lock.Unlock()
	}
	var term *terminal
	if o.tty {
		if term, err = openTerminal(cmd.InOrStdin(), cmd.OutOrStdout(), o.interactive); err != nil {
			return runFailed, err
		}
		defer term.Close()
		spec.Tty = true
		spec.Stdin, spec.Stdout, spec.Stderr = term.Peer(), term.Peer(), term.Peer()
	}
	spec.ReadOnlyRoot = o.readOnly
	if err := o.limits.apply(&spec); err != nil {
		return runFailed, err
	}

	res, err := root.Run(context.WithoutCancel(ctx), spec)
	if term != nil {
		// Everything the container wrote is out before manyarch's own
		// messages, and the caller's terminal is itself again.
		term.Close()
	}
	var ee *sandbox.ExecError
	switch {
	case errors.As(err, &ee):
		return ee.Code, fmt.Errorf("running %s: %w", image, err)
	case err != nil:
		return runFailed, fmt.Errorf("running %s: %w", image, err)
	case res.TimedOut:
		return res.ExitCode, fmt.Errorf("%s: killed after --timeout %v", strings.Join(spec.Args, " "), o.timeout)
	case res.PidsLimitHit > 0 && res.ExitCode != 0:
		return res.ExitCode, fmt.Errorf("%s: exit status %d: %s", strings.Join(spec.Args, " "), res.ExitCode, sandbox.PidsLimitMessage(res.PidsLimitHit))
	case res.PidsLimitHit > 0:
		fmt.Fprintf(cmd.ErrOrStderr(), "manyarch: warning: %s\n", sandbox.PidsLimitMessage(res.PidsLimitHit))
	}
	return res.ExitCode, nil
}

// containerName is what docker accepts as a container name.
var containerName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`) })

// lockContainerName holds name for this run: a second run with the same
// name in the same store fails while this one runs, as docker refuses a
// name in use. The lock goes with the process, even when it is killed.
func lockContainerName(g *globalOptions, name string) (*fsutil.Lock, error) {
	if !containerName().MatchString(name) || len(name) > 128 {
		return nil, fmt.Errorf("--name %q: a container name is letters, digits, '_', '.' and '-', starting with a letter or digit (at most 128)", name)
	}
	dir := store.NewLayout(g.storeRoot()).Containers()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--name: %w", err)
	}
	file := filepath.Join(dir, name+".lock")
	lock, err := fsutil.TryLockFile(file, 0o644, true)
	if errors.Is(err, fsutil.ErrLocked) {
		holder, _ := os.ReadFile(file)
		pid := strings.TrimSpace(string(holder))
		return nil, fmt.Errorf("the container name %q is in use by a running manyarch run (pid %s): choose another --name, or end that one", name, pid)
	}
	if err != nil {
		return nil, fmt.Errorf("--name: %w", err)
	}
	f := lock.File()
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return lock, nil
}

// onePlatform is --platform: none (the default choice) or one.
func (o *runOptions) onePlatform() ([]specs.Platform, error) {
	ps, err := o.platform.Platforms()
	if err == nil && len(ps) > 1 {
		err = fmt.Errorf("--platform: run takes one platform, got %d", len(ps))
	}
	return ps, err
}

// prepare reads the image, prepares its root for the platform and builds
// the sandbox spec. cleanup is always safe to call.
func (o *runOptions) prepare(cmd *cobra.Command, g *globalOptions, args []string) (sandbox.Spec, *container.Rootfs, string, func(), error) {
	ctx := cmd.Context()
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	fail := func(err error) (sandbox.Spec, *container.Rootfs, string, func(), error) {
		return sandbox.Spec{}, nil, args[0], cleanup, err
	}
	if err := o.validate(); err != nil {
		return fail(err)
	}
	mode, err := emulation.ParseMode(o.emulation)
	if err != nil {
		return fail(fmt.Errorf("--emulation: %w", err))
	}
	ps, err := o.onePlatform()
	if err != nil {
		return fail(err)
	}
	mounts, err := parseVolumes(o.volumes)
	if err != nil {
		return fail(err)
	}
	extraEnv, err := o.environment()
	if err != nil {
		return fail(err)
	}
	security, err := o.security()
	if err != nil {
		return fail(err)
	}
	if _, _, _, err := o.limits.parsed(); err != nil {
		return fail(err) // before the image is read, as every other flag
	}

	r, err := ref.Parse(args[0])
	if err != nil {
		return fail(err)
	}
	log := g.logger(cmd.ErrOrStderr())
	env := g.newEnv(cmd.ErrOrStderr(), &o.remote)
	cleanups = append(cleanups, func() { env.Close() })
	a, err := ref.Read(ctx, env, r)
	if err != nil {
		return fail(err)
	}
	img, p, err := pickImage(ctx, r.String(), a, ps)
	if err != nil {
		return fail(err)
	}
	name := r.String() + " (" + platform.Format(p) + ")"
	log.Debug("image resolved", "image", name)
	var proxy *netns.Proxy
	if len(o.ports) > 0 {
		// Listen before anything is made, so a port in use stops here.
		if proxy, err = netns.Listen(o.ports); err != nil {
			return fail(fmt.Errorf("%s: %w; the container was not started", name, err))
		}
		cleanups = append(cleanups, func() { proxy.Close() })
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fail(fmt.Errorf("reading the config of %s: %w", name, err))
	}
	layers, err := img.Layers()
	if err != nil {
		return fail(fmt.Errorf("reading the layers of %s: %w", name, err))
	}
	layers, err = withConfigDiffIDs(layers, cf)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", name, err))
	}
	snap, err := snapshot.NewSnapshotter(store.NewLayout(g.storeRoot()).Snapshots())
	if err != nil {
		return fail(err)
	}
	root, err := container.Prepare(ctx, snap, layers, p, mode, container.WithLogger(log))
	if err != nil {
		return fail(fmt.Errorf("%s: %w", name, err))
	}
	// The layers are unpacked (and the snapshots keep their own locks):
	// gc in another process need not wait for the container to end.
	env.ReleaseStore()
	log.Info("emulation planned", "platform", platform.Format(p), "emulation", root.Emulation())

	argv, err := o.command(cf.Config, args[1:])
	if err != nil {
		return fail(fmt.Errorf("%s: %w", name, err))
	}
	spec := sandbox.Spec{
		Args:     argv,
		Env:      root.Env(cf.Config.Env, extraEnv),
		Dir:      firstNonEmpty(o.workdir, cf.Config.WorkingDir),
		User:     firstNonEmpty(o.user, cf.Config.User),
		Hostname: o.hostname,
		Network:  sandbox.Network(o.network),
		Publish:  proxy,
		Mounts:   mounts,
		Stdout:   cmd.OutOrStdout(),
		Stderr:   cmd.ErrOrStderr(),
		Timeout:  o.timeout,
		Logger:   log,

		Security:  security,
		PidsLimit: o.pidsLimit,

		// An amd64 entrypoint in an arm64 image runs natively: say so
		// before it runs (issue #22 item 14).
		ExpectPlatform: platform.Format(p),
		Warn: func(w string) {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s %s: %s\n", paint(cmd.ErrOrStderr(), colorYellow, "manyarch: warning:"), name, w)
		},
	}
	if o.pidsLimit <= 0 {
		spec.PidsLimit = -1 // docker: 0 or -1 is unlimited
	}
	if o.interactive {
		spec.Stdin = cmd.InOrStdin()
	}
	return spec, root, name, cleanup, nil
}

// diffIDLayer is a layer whose diff ID comes from the image config, so
// asking for it does not hash the whole layer (as go-containerregistry's
// partial layers do), which would cost a warm run tens of milliseconds per
// megabyte. The snapshotter still checks the content against it when it
// unpacks the layer.
type diffIDLayer struct {
	v1.Layer
	diffID v1.Hash
}

func (l diffIDLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

func withConfigDiffIDs(layers []v1.Layer, cf *v1.ConfigFile) ([]v1.Layer, error) {
	if len(cf.RootFS.DiffIDs) != len(layers) {
		return nil, fmt.Errorf("the config lists %d layer diff IDs for %d layers", len(cf.RootFS.DiffIDs), len(layers))
	}
	out := make([]v1.Layer, len(layers))
	for i, l := range layers {
		out[i] = diffIDLayer{Layer: l, diffID: cf.RootFS.DiffIDs[i]}
	}
	return out, nil
}

func (o *runOptions) validate() error {
	if err := o.remote.Validate(); err != nil {
		return err
	}
	o.ports = nil
	for _, s := range o.publish {
		p, err := netns.ParsePort(s)
		if err != nil {
			return err
		}
		o.ports = append(o.ports, p)
	}
	if o.network == "" {
		o.network = string(sandbox.NetworkHost)
		if len(o.ports) > 0 {
			o.network = string(sandbox.NetworkPrivate)
		}
	}
	switch sandbox.Network(o.network) {
	case sandbox.NetworkHost, sandbox.NetworkNone:
		if len(o.ports) > 0 {
			return fmt.Errorf("-p %q: ports are published only with --network private, not --network %s (under host the container's ports already are the host's; leave --network out or give --network private)", o.publish[0], o.network)
		}
	case sandbox.NetworkPrivate:
		if os.Geteuid() != 0 {
			what := "--network private"
			if len(o.ports) > 0 {
				what = fmt.Sprintf("-p %q", o.publish[0])
			}
			return fmt.Errorf("%s: %w", what, netns.ErrNotRoot)
		}
	default:
		return fmt.Errorf("--network %q: want host, private or none (manyarch has no named networks)", o.network)
	}
	if o.timeout < 0 {
		return fmt.Errorf("--timeout %v: must not be negative", o.timeout)
	}
	if o.workdir != "" && !strings.HasPrefix(o.workdir, "/") {
		return fmt.Errorf("--workdir %q: must be an absolute path", o.workdir)
	}
	if len(o.hostname) > maxHostname {
		return fmt.Errorf("--hostname %s is %d bytes long; a host name has at most %d (HOST_NAME_MAX)", quoteShort(o.hostname), len(o.hostname), maxHostname)
	}
	return nil
}

// maxHostname is Linux's HOST_NAME_MAX.
const maxHostname = 64

// quoteShort quotes s, cut to its first 40 bytes when longer.
func quoteShort(s string) string {
	if len(s) <= 40 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", s[:40])
}

// maxSeccompProfile bounds a --security-opt seccomp=FILE profile (Docker's
// default profile is about 20 KB).
const maxSeccompProfile = 4 << 20

// security turns --privileged, --cap-add, --cap-drop and --security-opt
// into the sandbox's Security.
func (o *runOptions) security() (sandbox.Security, error) {
	sec := sandbox.Security{Privileged: o.privileged, CapAdd: o.capAdd, CapDrop: o.capDrop}
	for _, opt := range o.securityOpt {
		k, v, hasValue := strings.Cut(opt, "=")
		if !hasValue {
			// Docker's older KEY:VALUE form.
			k, v, hasValue = strings.Cut(opt, ":")
		}
		switch k {
		case "no-new-privileges":
			on, err := strconv.ParseBool(firstNonEmpty(v, "true"))
			if err != nil {
				return sec, fmt.Errorf("--security-opt %q: want no-new-privileges, no-new-privileges=true or =false", opt)
			}
			sec.NoNewPrivileges = on
		case "seccomp":
			switch {
			case !hasValue || v == "":
				return sec, fmt.Errorf("--security-opt %q: want seccomp=unconfined or seccomp=PROFILE.json", opt)
			case v == "unconfined":
				sec.Seccomp = "unconfined"
			default:
				b, err := readBounded(v, maxSeccompProfile)
				if err != nil {
					return sec, fmt.Errorf("--security-opt %s: reading the seccomp profile: %w", opt, err)
				}
				if strings.TrimSpace(string(b)) == "" {
					return sec, fmt.Errorf("--security-opt %s: the seccomp profile %s is empty", opt, v)
				}
				sec.Seccomp, sec.SeccompSource = string(b), v
			}
		case "apparmor", "label", "systempaths", "mask", "unmask", "proc-opts", "writable-cgroups":
			return sec, fmt.Errorf("--security-opt %q: %s is not supported by manyarch (it has seccomp, capabilities and no-new-privileges; --privileged unmasks /proc)", opt, k)
		default:
			return sec, fmt.Errorf("--security-opt %q: unknown option (want seccomp=unconfined, seccomp=PROFILE.json or no-new-privileges)", opt)
		}
	}
	return sec, nil
}

// readBounded reads a file of at most limit bytes; a longer one (or a
// device such as /dev/zero) is an error naming it and the limit.
func readBounded(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes, too large for what it should be", file, limit)
	}
	return b, nil
}

// pickImage selects the image of a to run: the one platform asked for, else
// the host's, else the only one there is.
func pickImage(ctx context.Context, name string, a image.Artifact, want []specs.Platform) (v1.Image, specs.Platform, error) {
	entries, err := image.Entries(ctx, a)
	if err != nil {
		return nil, specs.Platform{}, fmt.Errorf("listing the platforms of %s: %w", name, err)
	}
	if len(entries) == 0 {
		return nil, specs.Platform{}, fmt.Errorf("%s has no runnable image", name)
	}
	var p specs.Platform
	switch {
	case len(want) == 1:
		p = want[0]
	default:
		// As containerd: an amd64/v3 CPU prefers amd64/v3, then v2, then v1.
		host, found := platform.Host(), false
		native := platform.Compat(platform.HostNative())
		for _, e := range entries {
			if platform.AMD64Level(e.Platform) > 0 && native.Match(e.Platform) && (!found || native.Less(e.Platform, p)) {
				p, found = e.Platform, true
			}
			if !found && platform.Match(host, e.Platform) {
				p, found = host, true
			}
		}
		if !found {
			if len(entries) > 1 {
				have := make([]string, len(entries))
				for i, e := range entries {
					have[i] = platform.Format(e.Platform)
				}
				return nil, specs.Platform{}, fmt.Errorf("%s has no image for this host's platform %s; pick one with --platform: %s",
					name, platform.Format(host), strings.Join(have, ", "))
			}
			p = entries[0].Platform
		}
	}
	sel, err := ref.Select(ctx, a, []specs.Platform{p})
	if err != nil {
		return nil, specs.Platform{}, fmt.Errorf("%s: %w", name, err)
	}
	img, ok := sel.(v1.Image)
	if !ok {
		return nil, specs.Platform{}, fmt.Errorf("%s: platform %s is not a single image", name, platform.Format(p))
	}
	// The platform the image says it is, for emulation (the index entry
	// may be less precise, e.g. arm without a variant).
	for _, e := range entries {
		if platform.Match(p, e.Platform) {
			p = e.Platform
			break
		}
	}
	return img, platform.Normalize(p), nil
}

// command is Docker's rule: Entrypoint (or --entrypoint) followed by the
// arguments given, or the image's Cmd when none are given and the
// entrypoint was not replaced.
func (o *runOptions) command(cfg v1.Config, args []string) ([]string, error) {
	entrypoint := cfg.Entrypoint
	cmdArgs := cfg.Cmd
	if o.entrypointGiven {
		entrypoint, cmdArgs = nil, nil
		if o.entrypoint != "" {
			entrypoint = []string{o.entrypoint}
		}
	}
	if len(args) > 0 {
		cmdArgs = args
	}
	argv := append(append([]string(nil), entrypoint...), cmdArgs...)
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("no command: the image has no Entrypoint or Cmd; give one after the image name")
	}
	return argv, nil
}

// environment returns the variables of --env-file and -e, in that order.
func (o *runOptions) environment() ([]string, error) {
	var out []string
	for _, file := range o.envFiles {
		vars, err := readEnvFile(file)
		if err != nil {
			return nil, err
		}
		out = append(out, vars...)
	}
	for _, e := range o.env {
		kv, ok, err := envEntry(e)
		if err != nil {
			return nil, fmt.Errorf("--env %q: %w", e, err)
		}
		if ok {
			out = append(out, kv)
		}
	}
	return out, nil
}

// envEntry turns "KEY=VALUE" or "KEY" (the host's value, dropped when the
// host has none, as Docker does) into an entry.
func envEntry(s string) (string, bool, error) {
	k, _, hasValue := strings.Cut(s, "=")
	if k == "" || strings.ContainsAny(k, " \t") {
		return "", false, errors.New("want KEY=VALUE or KEY")
	}
	if hasValue {
		return s, true, nil
	}
	v, ok := os.LookupEnv(k)
	return k + "=" + v, ok, nil
}

// Bounds of an env file: a line (Linux limits one argument or variable to
// 128 KiB, MAX_ARG_STRLEN), and the whole file.
const (
	maxEnvLine = 128 << 10
	maxEnvFile = 16 << 20
)

// readEnvFile reads a Docker env file: KEY=VALUE or KEY per line, # comments.
// Lines and the file are bounded, so /dev/zero or a binary file is an error
// naming the file and line, not an endless read.
func readEnvFile(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	defer f.Close()
	var out []string
	lr := &io.LimitedReader{R: f, N: maxEnvFile + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 64<<10), maxEnvLine+1)
	n := 1
	for ; sc.Scan(); n++ {
		if strings.IndexByte(sc.Text(), 0) >= 0 {
			return nil, fmt.Errorf("--env-file %s:%d: the line has a NUL byte (not a text file of KEY=VALUE lines?)", file, n)
		}
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kv, ok, err := envEntry(line)
		if err != nil {
			return nil, fmt.Errorf("--env-file %s:%d: %q: %w", file, n, line, err)
		}
		if ok {
			out = append(out, kv)
		}
	}
	switch err := sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		return nil, fmt.Errorf("--env-file %s:%d: the line is longer than %d KiB (not a text file of KEY=VALUE lines?)", file, n, maxEnvLine>>10)
	case err != nil:
		return nil, fmt.Errorf("--env-file %s:%d: %w", file, n, err)
	case lr.N <= 0:
		return nil, fmt.Errorf("--env-file %s: larger than %d MiB (not a text file of KEY=VALUE lines?)", file, maxEnvFile>>20)
	}
	return out, nil
}

// parseVolumes parses -v HOST:CONTAINER[:ro|rw].
func parseVolumes(vs []string) ([]sandbox.Mount, error) {
	var out []sandbox.Mount
	for _, v := range vs {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("--volume %q: want HOST:CONTAINER[:ro]", v)
		}
		m := sandbox.Mount{Source: parts[0], Target: parts[1]}
		if len(parts) == 3 {
			switch parts[2] {
			case "ro":
				m.ReadOnly = true
			case "rw":
			default:
				return nil, fmt.Errorf("--volume %q: unknown option %q (want ro or rw)", v, parts[2])
			}
		}
		if !filepath.IsAbs(m.Source) {
			return nil, fmt.Errorf("--volume %q: the host path must be absolute (manyarch has no named volumes)", v)
		}
		if !strings.HasPrefix(m.Target, "/") {
			return nil, fmt.Errorf("--volume %q: the container path must be absolute", v)
		}
		if _, err := os.Stat(m.Source); err != nil {
			return nil, fmt.Errorf("--volume %q: %w", v, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
