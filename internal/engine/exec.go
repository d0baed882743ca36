package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/manyarch/manyarch/internal/cgroup"
	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/progress"
	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/sshagent"
	"github.com/manyarch/manyarch/internal/store"
)

func newWeighted(n int64) *semaphore.Weighted { return semaphore.NewWeighted(n) }

// executor runs one Plan.
type executor struct {
	n      *Native
	req    *Request
	plan   *plan.Plan
	st     *store.Store
	snap   *snapshot.Snapshotter
	tmp    string // removed by close
	unlock func() // releases tmp's lock
	// locals are the build context ("") and the named contexts that are
	// directories, by name (local.go).
	locals   map[string]*localSource
	comp     Compression
	epoch    *time.Time
	now      time.Time // file times of what the build writes: SOURCE_DATE_EPOCH, else started
	started  time.Time // when the build started (UTC)
	jobs     int64
	sem      *semaphore.Weighted
	progress progress.Func
	noCache  bool
	mem      *cgroup.Memory   // --memory-limit; nil without
	ssh      *sshagent.Agents // --ssh, loaded before the build

	mu    sync.Mutex
	bases map[string]*baseImage
	// baseReads are the base image references read so far: *baseRead by
	// reference.
	baseReads sync.Map
	stages    map[*plan.Stage]*stageRun
	roots     []*snapshot.RootFS // read-only views of stages and images, closed at the end

	images      []v1.Image // per target platform, after assemble
	annotations annotations

	cacheFrom, cacheTo []*store.Store
	regFrom            []*registryCache       // --cache-from type=registry
	regTo              []string               // --cache-to type=registry refs
	usedRecords        map[string]cacheRecord // cache records this build used or made, by key

	planned sync.Map // planned layers of this build by identity: *plannedLayer

	downloads sync.Map // ADD URL -> hex SHA-256 of what it gave, for provenance (attest.go)
	pulls     sync.Map // --pull: base reference -> *pulledBase (pull.go)
}

// stageRun is the state of one Plan stage during the build.
type stageRun struct {
	stage *plan.Stage
	done  chan struct{}
	err   error
	img   *imageState
	// key chains the cache keys of the stage's steps (with content); equal
	// keys mean equal results.
	key string
	// created is the created time of the stage's newest layer (see
	// createdOf), for the history of metadata steps and the config.
	created time.Time
	// pending are the indexes in the image's history of metadata steps
	// run before the stage had a layer time (see datePending).
	pending []int
	results []StepResult

	viewOnce sync.Once
	view     string // directory holding the stage's file system, for COPY --from and mounts
	viewErr  error
}

func (x *executor) close() {
	x.mu.Lock()
	roots := x.roots
	x.roots = nil
	x.mu.Unlock()
	for _, r := range roots {
		r.Close()
	}
	x.snap.Close() // nothing uses the layer directories any more: prune may remove them
	x.saveHashes()
	if x.mem != nil {
		_ = x.mem.Remove()
	}
	os.RemoveAll(x.tmp)
	x.unlock()
}

// run executes every stage of the plan once, dependencies first; stages run
// in parallel, steps weighed against the job limit.
func (x *executor) run(ctx context.Context) error {
	for _, s := range x.plan.Stages {
		x.stages[s] = &stageRun{stage: s, done: make(chan struct{})}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range x.plan.Stages {
		sr := x.stages[s]
		g.Go(func() error {
			defer close(sr.done)
			sr.err = x.runStage(gctx, sr)
			return sr.err
		})
	}
	return g.Wait()
}

// wait returns the finished run of stage s (a dependency).
func (x *executor) wait(ctx context.Context, s *plan.Stage) (*stageRun, error) {
	sr, ok := x.stages[s]
	if !ok {
		return nil, fmt.Errorf("stage %s is not part of the plan", s.Name)
	}
	select {
	case <-sr.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if sr.err != nil {
		// The dependency's error itself: errgroup may keep this one,
		// which returns as soon as done is closed, instead of it.
		return nil, fmt.Errorf("stage %s failed: %w", s.Name, sr.err)
	}
	return sr, nil
}

func (x *executor) runStage(ctx context.Context, sr *stageRun) error {
	s := sr.stage
	var img *imageState
	switch s.Base.Kind {
	case plan.BaseScratch:
		img = &imageState{cfg: scratchConfig(s.Platform)}
		sr.key = plan.HashKey("cache-scratch", plan.PlatformKey(s.Platform))
	case plan.BaseStage:
		parent, err := x.wait(ctx, s.Base.Stage)
		if err != nil {
			return err
		}
		img = parent.img.clone()
		sr.key, sr.created = parent.key, parent.created
	case plan.BaseContext:
		img = &imageState{cfg: scratchConfig(s.Platform)}
		if err := x.localBase(ctx, sr, img); err != nil {
			return dockerfile.Wrap(s.Location, dockerfile.ErrInvalidValue, err)
		}
	case plan.BaseImage:
		b, err := x.base(ctx, s.Base.Ref, s.Base.Platform)
		if err != nil {
			return dockerfile.Wrap(s.Location, dockerfile.ErrInvalidValue, err)
		}
		layers, err := b.img.Layers()
		if err != nil {
			return dockerfile.Wrap(s.Location, dockerfile.ErrInvalidValue, fmt.Errorf("reading the layers of %s: %w", s.Base.Ref, err))
		}
		img = &imageState{layers: layers, cfg: b.cfg.DeepCopy()}
		img.cfg.Config.OnBuild = nil
		sr.key = plan.HashKey("cache-image", b.digest.String())
	}
	img.cfg.OS, img.cfg.Architecture, img.cfg.Variant = s.Platform.OS, s.Platform.Architecture, s.Platform.Variant
	base := baseCreated(img.cfg)
	for i, step := range s.Steps {
		r, err := x.runStep(ctx, sr, img, i, step)
		if err != nil {
			return err
		}
		sr.results = append(sr.results, r)
	}
	img.cfg.Config = *s.Config.DeepCopy()
	img.cfg.Author = s.Author
	img.startInterval = s.HealthcheckStartInterval
	created := x.stageCreated(sr)
	if x.epoch == nil && sr.created.IsZero() && !base.IsZero() {
		// No layer of its own: the base's time, as BuildKit's exporter
		// dates such history ("the last layer with timestamp"), so that
		// a rebuild gives the same digest.
		created = base
	}
	x.datePending(sr, img, created)
	img.cfg.Created = v1.Time{Time: created}
	sr.img = img
	return nil
}

// baseCreated is the newest created time of a base image's history, else
// its config's; zero for none (scratch).
func baseCreated(cfg *v1.ConfigFile) time.Time {
	var t time.Time
	for _, h := range cfg.History {
		if h.Created.After(t) {
			t = h.Created.Time
		}
	}
	if t.IsZero() {
		t = cfg.Created.Time
	}
	return t.UTC()
}

// datePending gives the history entries of metadata steps that came before
// the stage's first layer the time t: BuildKit dates them with the first
// new layer's time (exporter/containerimage normalizeLayersAndHistory),
// not the build's start, so that a cached rebuild keeps the digest.
func (x *executor) datePending(sr *stageRun, img *imageState, t time.Time) {
	for _, i := range sr.pending {
		img.cfg.History[i].Created = v1.Time{Time: t}
	}
	sr.pending = nil
}

// stepName is how progress names a step: "build 2/5", and the instruction
// (its first line, shortened) for the event's message.
func stepName(s *plan.Stage, i int, step *plan.Step) (string, string) {
	src := step.Source
	if j := strings.IndexByte(src, '\n'); j >= 0 {
		src = src[:j] + " ..."
	}
	// Long commands keep their start and their end, where what tells
	// similar steps apart (an output name, a target) usually is.
	if r := []rune(src); len(r) > 100 {
		src = string(r[:64]) + " ... " + string(r[len(r)-31:])
	}
	return fmt.Sprintf("%s %d/%d", s.Name, i+1, len(s.Steps)), src
}

func (x *executor) runStep(ctx context.Context, sr *stageRun, img *imageState, i int, step *plan.Step) (StepResult, error) {
	s := sr.stage
	name, msg := stepName(s, i, step)
	id := fmt.Sprintf("%s/%d@%s", s.Name, i+1, plan.ShortKey(s.Key))
	res := StepResult{Stage: s.Name, Key: step.Key}
	ev := progress.Event{ID: id, Kind: progress.KindStep, Name: name, Platform: platform.Format(step.Platform), Message: msg}
	if len(s.Targets) == 1 && platform.Format(s.Targets[0]) != ev.Platform {
		// A stage on the build platform for one target's image: labelled
		// "linux/amd64->arm64".
		ev.Target = platform.Format(s.Targets[0])
	}

	history := step.History
	addHistory := func() {
		if history.CreatedBy != "" {
			h := history
			h.Created = v1.Time{Time: x.stageCreated(sr)}
			if x.epoch == nil && sr.created.IsZero() {
				// dated when the stage's first layer is (datePending)
				sr.pending = append(sr.pending, len(img.cfg.History))
			}
			img.cfg.History = append(img.cfg.History, h)
		}
	}
	if step.Kind == plan.StepConfig || (step.Kind == plan.StepWorkdir && !step.Workdir.Mkdir) {
		sr.key = plan.HashKey("cache-step", sr.key, step.Key)
		res.Key = sr.key
		addHistory()
		return res, nil
	}

	// start is reset by the step when it has its inputs and its share of
	// the job limit, so durations are execution times, not waits.
	start := time.Now()
	var (
		layer v1.Layer
		err   error
	)
	switch step.Kind {
	case plan.StepRun:
		layer, res.Emulated, res.Cached, err = x.runRun(ctx, sr, img, step, ev, &start)
	case plan.StepCopy:
		layer, res.Cached, err = x.runCopy(ctx, sr, img, step, ev, &start)
	case plan.StepWorkdir:
		layer, res.Cached, err = x.runWorkdir(ctx, sr, img, step, ev, &start)
	default:
		err = fmt.Errorf("unknown step kind %s", step.Kind)
	}
	res.Key = sr.key
	ev.Emulated = res.Emulated
	if err != nil {
		ev.Status, ev.Err, ev.Duration, ev.Message = progress.StatusFailed, errors.New(firstLine(err.Error())), time.Since(start), ""
		if ctx.Err() != nil {
			ev.Err = errors.New("stopped: another step failed or the build was interrupted")
		}
		x.progress.Send(ev)
		return res, locate(step, err)
	}
	if res.Cached {
		ev.Status = progress.StatusCached
	} else {
		res.Duration = time.Since(start)
		ev.Status, ev.Duration = progress.StatusDone, res.Duration
	}
	x.progress.Send(ev)
	img.layers = append(img.layers, layer)
	sr.created = x.createdOf(res.Key)
	x.datePending(sr, img, sr.created)
	addHistory()
	return res, nil
}

// stageCreated is the created time of the stage's newest layer so far, or
// of the build (SOURCE_DATE_EPOCH, else its start) when it made none.
func (x *executor) stageCreated(sr *stageRun) time.Time {
	if sr.created.IsZero() || x.epoch != nil {
		return x.now
	}
	return sr.created
}

// locate puts the step's Dockerfile location in front of err.
func locate(step *plan.Step, err error) error {
	var de *dockerfile.Error
	if errors.As(err, &de) || errors.Is(err, context.Canceled) {
		return err
	}
	return &dockerfile.Error{Location: step.Location, Err: fmt.Errorf("%s: %w", step.Instruction, err)}
}

// lowers unpacks the layers of img (once per chain ID) and returns the
// overlay lower directories, top first; never empty.
func (x *executor) lowers(ctx context.Context, layers []v1.Layer) ([]string, error) {
	dirs, err := x.snap.Prepare(ctx, layers)
	if err != nil {
		return nil, fmt.Errorf("unpacking layers: %w", err)
	}
	if len(dirs) == 0 {
		empty := filepath.Join(x.tmp, "empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return nil, err
		}
		dirs = []string{empty}
	}
	return dirs, nil
}

// mountRoot mounts img's file system with a fresh upper directory on the
// host (as root: overlayfs; otherwise a copy). The caller closes it.
func (x *executor) mountRoot(ctx context.Context, layers []v1.Layer) (*snapshot.RootFS, error) {
	lowers, err := x.lowers(ctx, layers)
	if err != nil {
		return nil, err
	}
	return snapshot.Mount(ctx, lowers, snapshot.MountOptions{TempDir: x.tmp})
}

// diffLayer writes the changes of root as a layer into the store.
func (x *executor) diffLayer(ctx context.Context, root *snapshot.RootFS) (v1.Layer, error) {
	return writeLayer(ctx, x.st, x.comp, func(w io.Writer) error {
		return root.Diff(ctx, w, snapshot.TarOptions{SourceDateEpoch: x.epoch})
	})
}

// stageView returns a directory holding the result file system of a stage
// (COPY --from=stage, RUN --mount from=stage); it stays until the build ends.
func (x *executor) stageView(ctx context.Context, sr *stageRun) (string, error) {
	sr.viewOnce.Do(func() {
		sr.view, sr.viewErr = x.view(ctx, sr.img.layers)
	})
	return sr.view, sr.viewErr
}

func (x *executor) view(ctx context.Context, layers []v1.Layer) (string, error) {
	root, err := x.mountRoot(ctx, layers)
	if err != nil {
		return "", err
	}
	x.mu.Lock()
	x.roots = append(x.roots, root)
	x.mu.Unlock()
	return root.Root(), nil
}

// imageView is stageView for an image named by COPY --from or from=.
func (x *executor) imageView(ctx context.Context, src plan.Source) (string, v1.Hash, error) {
	b, err := x.base(ctx, src.Image, src.Platform)
	if err != nil {
		return "", v1.Hash{}, err
	}
	key := "view\x00" + b.digest.String()
	x.mu.Lock()
	if v, ok := x.bases[key]; ok {
		x.mu.Unlock()
		return v.ref, b.digest, nil
	}
	x.mu.Unlock()
	layers, err := b.img.Layers()
	if err != nil {
		return "", v1.Hash{}, err
	}
	dir, err := x.view(ctx, layers)
	if err != nil {
		return "", v1.Hash{}, err
	}
	x.mu.Lock()
	x.bases[key] = &baseImage{ref: dir}
	x.mu.Unlock()
	return dir, b.digest, nil
}

// acquire takes weight from the job limit for a step.
func (x *executor) acquire(ctx context.Context, w int64) (func(), error) {
	w = min(max(w, 1), x.jobs)
	if err := x.sem.Acquire(ctx, w); err != nil {
		return nil, err
	}
	return func() { x.sem.Release(w) }, nil
}

// assemble makes one image per target platform and the index of them.
func (x *executor) assemble(ctx context.Context) (*Result, error) {
	res := &Result{Plan: x.plan, Warnings: x.plan.Warnings}
	for _, pp := range x.plan.Platforms {
		sr := x.stages[pp.Result]
		cfg := sr.img.cfg.DeepCopy()
		cfg.OS, cfg.Architecture, cfg.Variant = pp.Platform.OS, pp.Platform.Architecture, pp.Platform.Variant
		if len(x.req.Labels) > 0 {
			if cfg.Config.Labels == nil {
				cfg.Config.Labels = map[string]string{}
			}
			for k, v := range x.req.Labels {
				cfg.Config.Labels[k] = v
			}
		}
		img, err := newImage(sr.img.layers, cfg, sr.img.startInterval, x.annotations.forPlatform(x.annotations.manifest, pp.Platform))
		if err != nil {
			return nil, fmt.Errorf("making the image for %s: %w", platform.Format(pp.Platform), err)
		}
		d, err := img.Digest()
		if err != nil {
			return nil, err
		}
		cd, err := img.ConfigName()
		if err != nil {
			return nil, err
		}
		size, err := img.Size()
		if err != nil {
			return nil, err
		}
		pr := PlatformResult{Platform: pp.Platform, Config: cd,
			Manifest: v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: d, Size: size}}
		for _, s := range pp.Stages {
			pr.Steps = append(pr.Steps, x.stages[s].results...)
		}
		res.Platforms = append(res.Platforms, pr)
		x.images = append(x.images, img)
	}
	return res, nil
}

// Summary describes emulation in a finished build for people: the emulated
// steps with their total time, per stage, and for stages that ran emulated
// RUN steps but could be cross-compiled natively, Plan.CrossCompileHints.
// Steps answered from the cache do not count.
func Summary(res *Result) []string {
	if res == nil || res.Plan == nil {
		return nil
	}
	var out []string
	var total time.Duration
	count := 0
	byStage := map[string]time.Duration{}
	var order []string
	seen := map[string]bool{}
	cached := 0
	for _, pr := range res.Platforms {
		for _, s := range pr.Steps {
			if !s.Emulated || seen[s.Key] {
				continue
			}
			if s.Cached {
				cached++
				continue
			}
			seen[s.Key] = true
			count++
			total += s.Duration
			if _, ok := byStage[s.Stage]; !ok {
				order = append(order, s.Stage)
			}
			byStage[s.Stage] += s.Duration
		}
	}
	if count == 0 {
		if cached > 0 {
			return []string{fmt.Sprintf("no step ran under emulation (%d emulated RUN step(s) came from the cache)", cached)}
		}
		return []string{"no step ran under emulation"}
	}
	out = append(out, fmt.Sprintf("%d RUN step(s) ran under emulation, %.1fs in all", count, total.Seconds()))
	hints := map[string]plan.Hint{}
	for _, h := range res.Plan.CrossCompileHints() {
		hints[h.Stage] = h
	}
	for _, name := range order {
		out = append(out, fmt.Sprintf("  stage %s: %.1fs emulated", name, byStage[name].Seconds()))
		if h, ok := hints[name]; ok {
			out = append(out, fmt.Sprintf("  %s: hint: %s", h.Location, h.Message))
		}
	}
	return out
}
