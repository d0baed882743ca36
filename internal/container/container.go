package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/sandbox"
	"github.com/manyarch/manyarch/internal/snapshot"
)

// Option configures Prepare.
type Option func(*options) error

type options struct {
	tempDir  string
	logger   *slog.Logger
	decision *emulation.Decision
}

// WithTempDir puts the containers' writable directories (overlay upper and
// work directories, or the copy of the layers) in dir. Default: "", the
// system's temporary directory.
func WithTempDir(dir string) Option {
	return func(o *options) error {
		o.tempDir = dir
		return nil
	}
}

// WithLogger sends debug records (the emulation chosen, an overlay
// fallback) to l. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("container.WithLogger: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithEmulation uses d, already planned for the platform (build plans it
// before its cache lookup), instead of calling emulation.Plan again.
// Default: Prepare plans it. d.Arch must be the platform's.
func WithEmulation(d emulation.Decision) Option {
	return func(o *options) error {
		o.decision = &d
		return nil
	}
}

// Rootfs is an image's root file system prepared for one platform: its
// layers unpacked (read-only, shared by every container made on it) and
// the emulation that runs the platform's programs. It is safe for
// concurrent use; each container on it has its own writable layer.
type Rootfs struct {
	platform specs.Platform
	decision emulation.Decision
	lowers   []string
	tmp      string
	log      *slog.Logger

	mu sync.Mutex
	// copyReason is the overlay error that made this root fall back to
	// copies; later containers copy at once.
	copyReason error
}

// Prepare plans how p's programs run under mode (emulation.Plan, unless
// WithEmulation gives the decision) and unpacks layers (bottom first, as
// v1.Image.Layers returns them) with snap, which holds them until it is
// closed. Errors name what failed; callers add the image's name.
func Prepare(ctx context.Context, snap *snapshot.Snapshotter, layers []v1.Layer, p specs.Platform, mode emulation.Mode, opts ...Option) (*Rootfs, error) {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	p = platform.Normalize(p)
	var d emulation.Decision
	if o.decision != nil {
		d = *o.decision
		if !platform.Match(p, d.Arch.Platform) {
			return nil, fmt.Errorf("preparing a root for %s: the emulation given is for %s", platform.Format(p), platform.Format(d.Arch.Platform))
		}
	} else {
		var err error
		if d, err = emulation.Plan(ctx, p, mode); err != nil {
			return nil, err
		}
	}
	lowers, err := snap.Prepare(ctx, layers)
	if err != nil {
		return nil, fmt.Errorf("unpacking the layers: %w", err)
	}
	o.logger.Debug("root prepared", "platform", platform.Format(p), "emulation", d, "layers", len(lowers))
	return &Rootfs{platform: p, decision: d, lowers: lowers, tmp: o.tempDir, log: o.logger}, nil
}

// Platform returns the platform the root was prepared for (normalized).
func (r *Rootfs) Platform() specs.Platform { return r.platform }

// Emulation returns how the platform's programs run.
func (r *Rootfs) Emulation() emulation.Decision { return r.decision }

// Emulated reports whether the platform's programs run under an emulator.
func (r *Rootfs) Emulated() bool { return r.decision.Kind != emulation.KindNative }

// Lowers returns the unpacked layer directories, top first; empty for an
// image without layers. They are read-only: never write into them.
func (r *Rootfs) Lowers() []string { return append([]string(nil), r.lowers...) }

// Env layers a container's environment as Docker does: the image's (or a
// step's), then the emulator's (QEMU_CPU for some arm variants), then the
// user's; one entry per variable, the last value given winning, in the
// order the variables first appear.
func (r *Rootfs) Env(image, user []string) []string {
	env := append(append(append([]string(nil), image...), r.decision.Env...), user...)
	return sandbox.MergeEnv(env)
}

// Run runs spec in a new container on r and removes the container's
// writable layer when it ends. See Container.Run.
func (r *Rootfs) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	c, err := r.NewContainer()
	if err != nil {
		return sandbox.Result{}, err
	}
	res, err := c.Run(ctx, spec)
	if cerr := c.Close(); err == nil && cerr != nil {
		return res, cerr
	}
	return res, err
}

// Start starts spec in a new container on r, removed when the process
// ends (before Wait returns). See Container.Start.
func (r *Rootfs) Start(ctx context.Context, spec sandbox.Spec) (*Process, error) {
	c, err := r.NewContainer()
	if err != nil {
		return nil, err
	}
	p, err := c.start(ctx, spec, true)
	if err != nil {
		c.Close()
		return nil, err
	}
	return p, nil
}

// NewContainer makes a container on r: a fresh writable layer that every
// Run and Start in it shares (a test's setup, command and teardown), until
// Close removes it.
func (r *Rootfs) NewContainer() (*Container, error) {
	removeStaleContainers(r.tmp)
	dir, err := os.MkdirTemp(r.tmp, containerDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("creating the container's directory: %w", err)
	}
	// The lock says the directory is in use, for removeStaleContainers in
	// other processes; Close (or the death of this one) releases it.
	lock, _ := os.Open(dir)
	if lock != nil && fsutil.TryLock(lock, true) != nil {
		lock.Close()
		lock = nil
	}
	return &Container{r: r, dir: dir, lock: lock}, nil
}

// containerDirPrefix starts the names of the containers' directories in
// the temporary directory.
const containerDirPrefix = "manyarch-container-"

// removeStaleContainers removes the container directories in tmp that
// killed processes left: a live container holds a lock on its directory,
// and one just being made is younger than a minute. Errors are ignored:
// the next container retries.
func removeStaleContainers(tmp string) {
	if tmp == "" {
		tmp = os.TempDir()
	}
	dirs, _ := filepath.Glob(filepath.Join(tmp, containerDirPrefix+"*"))
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		f, err := os.Open(d)
		if err != nil {
			continue
		}
		if fsutil.TryLock(f, true) == nil {
			os.RemoveAll(d)
		}
		f.Close()
	}
}

// fallBack records that the overlay was refused; it reports whether this
// is the first time (to log it once).
func (r *Rootfs) fallBack(reason error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := r.copyReason == nil
	if first {
		r.copyReason = reason
	}
	return first
}

func (r *Rootfs) copies() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.copyReason != nil
}

// Container is one writable layer on a Rootfs: an overlay upper directory
// or, where the kernel refuses the overlay, a copy of the layers. Runs in
// it see what earlier runs wrote. Its methods must not be called
// concurrently.
type Container struct {
	r    *Rootfs
	dir  string
	lock *os.File // the lock on dir while the container lives (nil: none)

	upper, work string           // overlay mode, once made
	copy        *snapshot.RootFS // copy mode, once made
	used        bool             // a run used the overlay: its upper may hold changes
	closed      bool
}

// Run runs spec in the container and waits for it to end, as sandbox.Run
// does. spec must leave Overlay and RootDir empty (the container sets its
// root) and Binfmt and Linux32 unset (it sets the emulation); everything
// else is passed through. When the overlay root is refused
// (*sandbox.OverlayError) before anything ran in it, the layers are copied
// into the container's directory and spec runs there; later runs use the
// copy.
func (c *Container) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	if err := c.setup(ctx, &spec); err != nil {
		return sandbox.Result{}, err
	}
	res, err := sandbox.Run(ctx, spec)
	if retry, ferr := c.afterRun(ctx, &spec, err); ferr != nil {
		return res, ferr
	} else if retry {
		return sandbox.Run(ctx, spec)
	}
	return res, err
}

// setup checks spec and gives it the container's root and emulation.
func (c *Container) setup(ctx context.Context, spec *sandbox.Spec) error {
	switch {
	case c.closed:
		return errors.New("running a container: it was closed")
	case spec.Overlay != nil || spec.RootDir != "":
		return errors.New("running a container: the Spec's root (Overlay, RootDir) is the container's to set; leave it empty")
	case len(spec.Binfmt) > 0 || spec.Linux32:
		return errors.New("running a container: the Spec's emulation (Binfmt, Linux32) is the container's to set; leave it empty")
	}
	d := c.r.decision
	spec.Linux32 = d.Linux32
	if d.Kind == emulation.KindPrivate {
		spec.Binfmt = d.Handlers
	}
	if c.copy == nil && c.r.copies() && !c.used {
		if err := c.makeCopy(ctx); err != nil {
			return err
		}
	}
	if c.copy != nil {
		spec.RootDir = c.copy.Root()
		return nil
	}
	ov, err := c.overlay()
	if err != nil {
		return err
	}
	spec.Overlay = ov
	return nil
}

// afterRun decides on a run's error: on an overlay refused before
// anything used the overlay, it switches spec to a copy of the layers and
// asks for a retry.
func (c *Container) afterRun(ctx context.Context, spec *sandbox.Spec, err error) (retry bool, ferr error) {
	var oe *sandbox.OverlayError
	if spec.Overlay == nil || c.used || !errors.As(err, &oe) {
		if spec.Overlay != nil {
			c.used = true
		}
		return false, nil
	}
	if c.r.fallBack(err) {
		c.r.log.Debug("overlay root refused; running on copies of the layers", "platform", platform.Format(c.r.platform), "reason", err)
	}
	if cerr := c.makeCopy(ctx); cerr != nil {
		return false, fmt.Errorf("%w; copying the layers instead: %w", err, cerr)
	}
	spec.Overlay, spec.RootDir = nil, c.copy.Root()
	return true, nil
}

// overlay makes the overlay's upper and work directories the first time.
func (c *Container) overlay() (*sandbox.Overlay, error) {
	lowers := c.r.lowers
	if len(lowers) == 0 { // an image with no layers: an empty root
		empty := filepath.Join(c.dir, "empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return nil, fmt.Errorf("creating the container's directory: %w", err)
		}
		lowers = []string{empty}
	}
	if c.upper == "" {
		upper, work := filepath.Join(c.dir, "upper"), filepath.Join(c.dir, "work")
		for _, d := range []string{upper, work} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return nil, fmt.Errorf("creating the container's directory: %w", err)
			}
		}
		c.upper, c.work = upper, work
	}
	return &sandbox.Overlay{Lower: lowers, Upper: c.upper, Work: c.work}, nil
}

// makeCopy copies the layers into the container's directory.
func (c *Container) makeCopy(ctx context.Context) error {
	m, err := snapshot.Mount(ctx, c.r.lowers, snapshot.MountOptions{TempDir: c.dir, Copy: true})
	if err != nil {
		return fmt.Errorf("copying the layers: %w", err)
	}
	c.copy = m
	if c.upper != "" {
		// Nothing ran in the overlay: its directories are empty.
		os.RemoveAll(c.upper)
		os.RemoveAll(c.work)
		c.upper, c.work = "", ""
	}
	return nil
}

// Changes returns the directory holding what the container's runs wrote:
// the overlay upper directory (only the changes, with overlayfs'
// whiteouts; whole is false), or the copy of the layers (the whole tree;
// whole is true). "" before anything ran.
func (c *Container) Changes() (dir string, whole bool) {
	if c.copy != nil {
		return c.copy.Root(), true
	}
	return c.upper, false
}

// Copied reports whether the container runs on a copy of the layers
// because the overlay was refused.
func (c *Container) Copied() bool { return c.copy != nil }

// Diff writes what the container's runs changed as a layer tar (see
// snapshot.WriteDiff and snapshot.RootFS.Diff), the same for an overlay
// and a copy.
func (c *Container) Diff(ctx context.Context, w io.Writer, opts snapshot.TarOptions) error {
	switch {
	case c.copy != nil:
		return c.copy.Diff(ctx, w, opts)
	case c.upper != "":
		return snapshot.WriteDiff(ctx, w, c.upper, opts)
	}
	// Nothing ran: an empty layer.
	empty := filepath.Join(c.dir, "unchanged")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return err
	}
	return snapshot.WriteDiff(ctx, w, empty, opts)
}

// Close removes the container's writable layer. Processes started in it
// must have ended.
func (c *Container) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	var err error
	if c.copy != nil {
		err = c.copy.Close()
	}
	if rerr := os.RemoveAll(c.dir); err == nil && rerr != nil {
		err = fmt.Errorf("removing the container's directory: %w", rerr)
	}
	if c.lock != nil {
		c.lock.Close()
	}
	return err
}
