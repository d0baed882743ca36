package imagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/manyarch/manyarch/internal/container"
	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/sandbox"
	"github.com/manyarch/manyarch/internal/snapshot"
)

// maxOutput bounds the standard output and error kept per command.
const maxOutput = 16 << 20

// SandboxExecutor runs command tests with internal/container: the image's
// root is prepared once per platform (layers unpacked by the snapshotter,
// emulation planned), and each test runs in a new container on it, whose
// writable layer its setup, command and teardown share. The
// program must call sandbox.Init first thing in main (see package
// sandbox).
type SandboxExecutor struct {
	snap   *snapshot.Snapshotter
	mode   emulation.Mode
	tmp    string
	logger *slog.Logger

	mu    sync.Mutex
	preps map[string]func() (prepared, error) // by platform and image digest
}

type prepared struct {
	Prepared
	root *container.Rootfs
}

var _ Executor = (*SandboxExecutor)(nil)

// NewSandboxExecutor returns an executor that unpacks layers under
// snapshotRoot (the store's ROOT/snapshots), puts containers' upper
// directories in tempDir ("" = os.TempDir()) and runs foreign platforms
// under emulation mode. logger may be nil.
func NewSandboxExecutor(snapshotRoot, tempDir string, mode emulation.Mode, logger *slog.Logger) (*SandboxExecutor, error) {
	if _, err := emulation.ParseMode(string(mode)); err != nil {
		return nil, err
	}
	snap, err := snapshot.NewSnapshotter(snapshotRoot)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &SandboxExecutor{snap: snap, mode: mode, tmp: tempDir, logger: logger, preps: map[string]func() (prepared, error){}}, nil
}

// Prepare plans the platform's emulation and unpacks the image's layers.
func (x *SandboxExecutor) Prepare(ctx context.Context, t Target) (Prepared, error) {
	p, err := x.prepare(ctx, t)
	return p.Prepared, err
}

func (x *SandboxExecutor) prepare(ctx context.Context, t Target) (prepared, error) {
	dg, err := t.Image.Digest()
	if err != nil {
		return prepared{}, fmt.Errorf("reading the image digest: %w", err)
	}
	key := platform.Format(t.Platform) + "@" + dg.String()
	x.mu.Lock()
	f, ok := x.preps[key]
	if !ok {
		f = sync.OnceValues(func() (prepared, error) { return x.doPrepare(ctx, t) })
		x.preps[key] = f
	}
	x.mu.Unlock()
	return f()
}

func (x *SandboxExecutor) doPrepare(ctx context.Context, t Target) (prepared, error) {
	layers, err := t.Image.Layers()
	if err != nil {
		return prepared{}, fmt.Errorf("reading the layers: %w", err)
	}
	root, err := container.Prepare(ctx, x.snap, layers, t.Platform, x.mode, container.WithTempDir(x.tmp), container.WithLogger(x.logger))
	if err != nil {
		return prepared{}, err
	}
	p := prepared{root: root}
	switch d := root.Emulation(); d.Kind {
	case emulation.KindNative:
		p.Emulation = "native"
		if d.Linux32 {
			p.Emulation = "native (linux32)"
		}
	case emulation.KindHost:
		p.Emulated = true
		p.Emulation = "host binfmt_misc"
		if d.Handler != nil {
			p.Emulation = fmt.Sprintf("host binfmt_misc %s (%s)", d.Handler.Name, d.Handler.Interpreter)
		}
	case emulation.KindPrivate:
		p.Emulated = true
		var in []string
		for _, h := range d.Handlers {
			in = append(in, h.Interpreter)
		}
		p.Emulation = "private binfmt_misc (" + strings.Join(in, ", ") + ")"
	}
	return p, nil
}

// rootfs returns the prepared root of t's platform, the one its command
// tests run on, for service tests to start containers on.
func (x *SandboxExecutor) rootfs(ctx context.Context, t Target) (*container.Rootfs, error) {
	p, err := x.prepare(ctx, t)
	return p.root, err
}

// Run runs e in a fresh container: setup, command and teardown share one
// throwaway writable layer, which is removed afterwards.
func (x *SandboxExecutor) Run(ctx context.Context, t Target, e Exec) (ExecResult, error) {
	p, err := x.prepare(ctx, t)
	if err != nil {
		return ExecResult{}, err
	}
	c, err := p.root.NewContainer()
	if err != nil {
		return ExecResult{}, err
	}
	defer c.Close()
	var deadline time.Time
	if e.Timeout > 0 {
		deadline = time.Now().Add(e.Timeout)
	}
	base := sandbox.Spec{
		Env:     p.root.Env(e.Env, nil),
		Dir:     e.Dir,
		User:    e.User,
		Network: sandbox.NetworkHost,
		Logger:  x.logger,
	}
	if e.Network == "none" {
		base.Network = sandbox.NetworkNone
	}
	for _, m := range e.Mounts {
		base.Mounts = append(base.Mounts, sandbox.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	run := func(args []string, stdout, stderr *cappedBuffer) (sandbox.Result, error) {
		spec := base
		spec.Args = args
		spec.Stdout, spec.Stderr = stdout, stderr
		if !deadline.IsZero() {
			spec.Timeout = time.Until(deadline)
			if spec.Timeout <= 0 {
				return sandbox.Result{TimedOut: true}, nil
			}
		}
		return c.Run(ctx, spec)
	}

	var res ExecResult
	for _, s := range e.Setup {
		var out cappedBuffer
		r, err := run(s, &out, &out)
		step := Step{Args: s, ExitCode: r.ExitCode, TimedOut: r.TimedOut, Output: out.String()}
		if err != nil && !isExecError(err) {
			return res, fmt.Errorf("setup command %s: %w", quoteArgs(s), err)
		}
		if err != nil {
			step.Err = err.Error()
		}
		if err != nil || r.ExitCode != 0 || r.TimedOut {
			res.SetupFailed = &step
			return res, ctx.Err()
		}
	}
	var stdout, stderr cappedBuffer
	t0 := time.Now()
	r, err := run(e.Args, &stdout, &stderr)
	res.Duration = time.Since(t0)
	res.Stdout, res.Stderr = stdout.Bytes(), stderr.Bytes()
	res.ExitCode, res.TimedOut = r.ExitCode, r.TimedOut
	if err != nil {
		if !isExecError(err) {
			return res, err
		}
		// Not found or not executable: report it as docker does, on
		// stderr with status 126 or 127, and let the checks judge.
		res.Stderr = append(res.Stderr, []byte(err.Error()+"\n")...)
	}
	for _, s := range e.Teardown {
		var out cappedBuffer
		r, err := run(s, &out, &out)
		if err != nil && !isExecError(err) {
			return res, fmt.Errorf("teardown command %s: %w", quoteArgs(s), err)
		}
		if err != nil || r.ExitCode != 0 || r.TimedOut {
			step := Step{Args: s, ExitCode: r.ExitCode, TimedOut: r.TimedOut, Output: out.String()}
			if err != nil {
				step.Err = err.Error()
			}
			res.Teardown = append(res.Teardown, step)
		}
	}
	return res, ctx.Err()
}

func isExecError(err error) bool {
	var ee *sandbox.ExecError
	return errors.As(err, &ee)
}

// cappedBuffer keeps the first maxOutput bytes written to it and counts
// the rest, so a chatty command cannot exhaust memory.
type cappedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	dropped int64
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := maxOutput - c.b.Len()
	if room < len(p) {
		if room > 0 {
			c.b.Write(p[:room])
		}
		c.dropped += int64(len(p) - max(room, 0))
		return len(p), nil
	}
	return c.b.Write(p)
}

func (c *cappedBuffer) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := append([]byte(nil), c.b.Bytes()...)
	if c.dropped > 0 {
		b = append(b, fmt.Sprintf("\n[manyarch: %d more bytes of output dropped]\n", c.dropped)...)
	}
	return b
}

func (c *cappedBuffer) String() string { return string(c.Bytes()) }

var _ rootViewer = (*SandboxExecutor)(nil)

// rootView mounts the root file system t's containers run on (the
// snapshotter's layer directories, as Run uses them) for file tests to
// read; it needs no emulator.
func (x *SandboxExecutor) rootView(ctx context.Context, t Target) (fileView, error) {
	if err := kernelViewAvailable(); err != nil {
		return nil, err
	}
	layers, err := t.Image.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading the layers: %w", err)
	}
	lowers, err := x.snap.Prepare(ctx, layers)
	if err != nil {
		return nil, fmt.Errorf("unpacking the layers: %w", err)
	}
	return mountKernelFS(ctx, lowers, snapshot.MountOptions{TempDir: x.tmp})
}
