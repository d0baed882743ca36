package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/cgroup"
	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/sshagent"
	"github.com/manyarch/manyarch/internal/store"
)

// NativeOptions configure the native engine.
type NativeOptions struct {
	// Env reads base images (store first, then the registry; oci:,
	// oci-archive:, docker-archive:) and writes outputs. Required; the
	// caller closes it after Build returns.
	Env *ref.Env
	// Emulation is how RUN steps of foreign platforms run (default auto:
	// native, else a host binfmt_misc handler, else a private one).
	Emulation emulation.Mode
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
}

// Native is the daemonless engine: plan, cache, execute steps in sandboxes
// (under emulation where needed), write layers into the store, assemble the
// index and write the outputs.
type Native struct {
	opts NativeOptions
	log  *slog.Logger
	// cacheUses says which RUN steps use each cache mount directory, for
	// sharing=shared|private|locked.
	cacheUses sync.Map // string -> *cacheUse
}

var _ Engine = (*Native)(nil)

// NewNative returns the native engine.
func NewNative(opts NativeOptions) Engine {
	if opts.Emulation == "" {
		opts.Emulation = emulation.ModeAuto
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Native{opts: opts, log: log}
}

// Build runs req. Layers are written into the store as they are made; the
// outputs (tags last) only when every platform has been built, so a failed
// build names nothing.
func (n *Native) Build(ctx context.Context, req *Request) (*Result, error) {
	if n.opts.Env == nil {
		return nil, errors.New("build: NativeOptions.Env is required")
	}
	outs, err := checkOutputs(req)
	if err != nil {
		return nil, err
	}
	if err := CheckAllow(req.Allow); err != nil {
		return nil, err
	}
	agents, err := sshagent.Load(ctx, req.SSH)
	if err != nil {
		return nil, err
	}
	f, err := dockerfile.Parse(ctx, req.DockerfileName, bytes.NewReader(req.Dockerfile))
	if err != nil {
		return nil, err
	}
	if req.ContextDir == "" {
		return nil, errors.New("build: no context directory")
	}
	ctxDir, err := filepath.Abs(req.ContextDir)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", req.ContextDir, err)
	}
	if fi, err := os.Stat(ctxDir); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory", req.ContextDir)
	}
	epoch, err := sourceDateEpoch(req)
	if err != nil {
		return nil, err
	}
	st, err := n.opts.Env.Store(ctx)
	if err != nil {
		return nil, err
	}

	var res *Result
	err = st.Transaction(ctx, func(ctx context.Context) error {
		x, err := n.newExecutor(ctx, st, req, ctxDir, epoch, outs.compression)
		if err != nil {
			return err
		}
		defer x.close()
		if x.cacheFrom, x.cacheTo, err = openCaches(ctx, req); err != nil {
			return err
		}
		if err := x.openRegistryCaches(ctx, req); err != nil {
			return err
		}
		pl, err := plan.New(ctx, f, plan.Options{
			Platforms:     req.Platforms,
			BuildPlatform: req.BuildPlatform,
			BuildArgs:     req.BuildArgs,
			Target:        req.Target,
			Contexts:      req.Contexts,
			LocalContexts: slices.Sorted(maps.Keys(req.LocalContexts)),
			ResolveBase:   x.resolveBase,
		})
		if err != nil {
			return err
		}
		if err := checkEntitlements(pl, req.Allow); err != nil {
			return err
		}
		if err := checkSSH(pl, agents); err != nil {
			return err
		}
		x.ssh = agents
		if req.CheckOnly {
			res = &Result{Plan: pl, Warnings: append(pl.Warnings, x.pullWarnings()...)}
			return nil
		}
		x.plan = pl
		x.annotations = outs.annotations
		if err := x.run(ctx); err != nil {
			return err
		}
		res, err = x.assemble(ctx)
		if err != nil {
			return err
		}
		res.Warnings = append(res.Warnings, x.pullWarnings()...)
		// The bases --pull read name what it read in the store, before
		// the build's own outputs.
		if res.Pulled, err = x.storePulled(ctx); err != nil {
			return err
		}
		// The cache export is an output too: before the tags.
		if err := x.exportCache(ctx); err != nil {
			return err
		}
		if err := n.writeOutputs(ctx, st, req, outs, x, res); err != nil {
			return err
		}
		// As buildx: a failed registry cache export fails the command after
		// the image outputs are written (*CacheExportError says so).
		return x.exportRegistryCache(ctx)
	})
	var cerr *CacheExportError
	if errors.As(err, &cerr) {
		return res, err
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// sourceDateEpoch is Request.SourceDateEpoch, else the SOURCE_DATE_EPOCH
// build argument.
func sourceDateEpoch(req *Request) (*time.Time, error) {
	if req.SourceDateEpoch != nil {
		t := req.SourceDateEpoch.UTC()
		return &t, nil
	}
	v, ok := req.BuildArgs["SOURCE_DATE_EPOCH"]
	if !ok || v == "" {
		return nil, nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil || sec < 0 {
		return nil, fmt.Errorf("--build-arg SOURCE_DATE_EPOCH=%s: want seconds since 1970 (e.g. $(git log -1 --format=%%ct))", v)
	}
	t := time.Unix(sec, 0).UTC()
	return &t, nil
}

func (n *Native) newExecutor(ctx context.Context, st *store.Store, req *Request, ctxDir string, epoch *time.Time, comp Compression) (*executor, error) {
	snap, err := snapshot.NewSnapshotter(st.Layout().Snapshots())
	if err != nil {
		return nil, err
	}
	tmpRoot := st.Layout().BuildTmp()
	if err := os.MkdirAll(tmpRoot, 0o700); err != nil {
		return nil, fmt.Errorf("creating build directory: %w", err)
	}
	removeStaleBuildDirs(tmpRoot)
	tmp, unlock, err := makeBuildDir(tmpRoot)
	if err != nil {
		return nil, err
	}
	jobs := req.Jobs
	if jobs <= 0 {
		jobs = 2 * runtime.NumCPU() // an emulated RUN weighs 2: one per CPU
	}
	locals, err := openLocals(st.Root(), ctxDir, req)
	if err != nil {
		unlock()
		os.RemoveAll(tmp)
		return nil, err
	}
	started := time.Now().UTC().Truncate(time.Second)
	now := started
	if epoch != nil {
		now = *epoch
	}
	var mem *cgroup.Memory
	if req.MemoryLimit > 0 {
		if mem, err = cgroup.NewMemory(req.MemoryLimit); err != nil {
			unlock()
			os.RemoveAll(tmp)
			return nil, fmt.Errorf("--memory-limit %s: %w", cgroup.FormatSize(req.MemoryLimit), err)
		}
	}
	return &executor{
		mem:      mem,
		n:        n,
		req:      req,
		st:       st,
		snap:     snap,
		tmp:      tmp,
		unlock:   unlock,
		locals:   locals,
		comp:     comp,
		epoch:    epoch,
		now:      now,
		started:  started,
		jobs:     int64(jobs),
		sem:      newWeighted(int64(jobs)),
		bases:    map[string]*baseImage{},
		stages:   map[*plan.Stage]*stageRun{},
		progress: req.Progress,
		noCache:  req.NoCache,
	}, nil
}

// baseRead is one read of a base image reference, shared by every
// platform that selects from it.
type baseRead struct {
	once sync.Once
	a    image.Artifact
	err  error
}

// readBaseOnce reads the base s (parsed as r, through readBase) once per
// build, however many target platforms select from it: one registry round
// trip (or one index.json and index read, one archive unpacked) instead of
// one per platform.
func (x *executor) readBaseOnce(ctx context.Context, s string, r ref.Reference) (image.Artifact, error) {
	v, _ := x.baseReads.LoadOrStore(s, &baseRead{})
	rd := v.(*baseRead)
	rd.once.Do(func() { rd.a, rd.err = x.readBase(ctx, s, r) })
	return rd.a, rd.err
}

// baseImage is an external image resolved for one platform.
type baseImage struct {
	ref    string
	img    v1.Image
	digest v1.Hash
	cfg    *v1.ConfigFile
}

// resolveBase is the planner's BaseResolver: it reads ref through
// internal/ref and selects the platform's image.
func (x *executor) resolveBase(ctx context.Context, s string, p specs.Platform) (*v1.ConfigFile, error) {
	b, err := x.base(ctx, s, p)
	if err != nil {
		return nil, err
	}
	return b.cfg, nil
}

func (x *executor) base(ctx context.Context, s string, p specs.Platform) (*baseImage, error) {
	key := s + "\x00" + platform.Format(p)
	x.mu.Lock()
	b, ok := x.bases[key]
	x.mu.Unlock()
	if ok {
		return b, nil
	}
	r, err := ref.Parse(s)
	if err != nil {
		return nil, err
	}
	a, err := x.readBaseOnce(ctx, s, r)
	if err != nil {
		return nil, err
	}
	sel, err := ref.Select(ctx, a, []specs.Platform{p})
	// An amd64/v3 target takes an amd64/v2 or amd64 base, as BuildKit's
	// (containerd's platform vector) does.
	for v := platform.AMD64Level(p) - 1; err != nil && v >= 1; v-- {
		lower := p
		lower.Variant = ""
		if v > 1 {
			lower.Variant = fmt.Sprintf("v%d", v)
		}
		sel, err = ref.Select(ctx, a, []specs.Platform{lower})
	}
	if err != nil {
		var np *ref.NoPlatformError
		if errors.As(err, &np) {
			return nil, fmt.Errorf("%s has no image for %s (it has %s): build for those platforms with --platform, or use a base image that has %s",
				s, platform.Format(p), strings.Join(np.Have, ", "), platform.Format(p))
		}
		return nil, err
	}
	img, ok := sel.(v1.Image)
	if !ok {
		return nil, fmt.Errorf("%s for %s is not a single image", s, platform.Format(p))
	}
	if _, isIndex := a.(v1.ImageIndex); !isIndex {
		// A single image: it must be for p.
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading the config of %s: %w", s, err)
		}
		have := specs.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		if cf.Architecture != "" && !platform.Match(p, have) && !(platform.AMD64Level(p) > 1 && platform.Compat(p).Match(have) && have.Architecture == "amd64") {
			return nil, fmt.Errorf("%s is a single image for %s, not %s: build with --platform %s, or use a multi-platform base",
				s, platform.Format(platform.Normalize(have)), platform.Format(p), platform.Format(platform.Normalize(have)))
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config of %s (%s): %w", s, platform.Format(p), err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	b = &baseImage{ref: s, img: img, digest: d, cfg: cf}
	x.notePulled(s, d)
	x.mu.Lock()
	x.bases[key] = b
	x.mu.Unlock()
	return b, nil
}
