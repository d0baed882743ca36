package imagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/sandbox"
	"github.com/manyarch/manyarch/internal/snapshot"
)

// maxOutput bounds the standard output and error kept per command.
const maxOutput = 16 << 20

// SandboxExecutor runs command tests with internal/sandbox: each container
// is an overlay of the image's unpacked layers (unpacked once, by the
// snapshotter) with a new, throwaway upper directory, and foreign
// platforms run under the emulation that emulation.Plan chooses. The
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
	decision emulation.Decision
	lowers   []string
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
	d, err := emulation.Plan(ctx, t.Platform, x.mode)
	if err != nil {
		return prepared{}, err
	}
	var p prepared
	p.decision = d
	switch d.Kind {
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
	layers, err := t.Image.Layers()
	if err != nil {
		return prepared{}, fmt.Errorf("reading the layers: %w", err)
	}
	p.lowers, err = x.snap.Prepare(ctx, layers)
	if err != nil {
		return prepared{}, fmt.Errorf("unpacking the layers: %w", err)
	}
	x.logger.Debug("platform prepared", "platform", platform.Format(t.Platform), "emulation", d, "layers", len(p.lowers))
	return p, nil
}

// Run runs e in a fresh container: setup, command and teardown share one
// throwaway upper directory, which is removed afterwards.
func (x *SandboxExecutor) Run(ctx context.Context, t Target, e Exec) (ExecResult, error) {
	p, err := x.prepare(ctx, t)
	if err != nil {
		return ExecResult{}, err
	}
	dir, err := os.MkdirTemp(x.tmp, "manyarch-test-")
	if err != nil {
		return ExecResult{}, fmt.Errorf("creating the container's directory: %w", err)
	}
	defer os.RemoveAll(dir)
	lowers := p.lowers
	if len(lowers) == 0 {
		empty := filepath.Join(dir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return ExecResult{}, err
		}
		lowers = []string{empty}
	}
	ov := &sandbox.Overlay{Lower: lowers, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}
	for _, d := range []string{ov.Upper, ov.Work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return ExecResult{}, fmt.Errorf("creating the container's directory: %w", err)
		}
	}
	var deadline time.Time
	if e.Timeout > 0 {
		deadline = time.Now().Add(e.Timeout)
	}
	base := sandbox.Spec{
		Overlay: ov,
		Env:     sandbox.MergeEnv(append(append([]string(nil), e.Env...), p.decision.Env...)),
		Dir:     e.Dir,
		User:    e.User,
		Network: sandbox.NetworkHost,
		Linux32: p.decision.Linux32,
		Logger:  x.logger,
	}
	if e.Network == "none" {
		base.Network = sandbox.NetworkNone
	}
	for _, m := range e.Mounts {
		base.Mounts = append(base.Mounts, sandbox.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	if p.decision.Kind == emulation.KindPrivate {
		base.Binfmt = p.decision.Handlers
	}
	state := &runState{dir: dir}
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
		return state.run(ctx, spec)
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

// runState runs a container's commands; when the overlay cannot be
// mounted in the sandbox (a file system overlayfs cannot stack), it copies
// the layers into a directory once and runs every later command there.
type runState struct {
	dir  string
	root string // the copy, once made
}

func (s *runState) run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	if s.root != "" {
		spec.Overlay, spec.RootDir = nil, s.root
		return sandbox.Run(ctx, spec)
	}
	res, err := sandbox.Run(ctx, spec)
	var se *sandbox.SetupError
	if !errors.As(err, &se) || !strings.HasPrefix(se.Step, "mounting overlay") {
		return res, err
	}
	root := filepath.Join(s.dir, "rootfs")
	if cerr := snapshot.CopyRoot(ctx, spec.Overlay.Lower, root); cerr != nil {
		return res, fmt.Errorf("%w; copying the layers instead: %w", err, cerr)
	}
	s.root = root
	spec.Overlay, spec.RootDir = nil, root
	return sandbox.Run(ctx, spec)
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
