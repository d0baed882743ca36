package buildkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"

	"github.com/manyarch/manyarch/internal/builders"
	"github.com/manyarch/manyarch/internal/engine"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/progress"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/sshagent"
	"github.com/manyarch/manyarch/internal/store"
)

// DefaultMaxExportSize bounds the OCI tarball one node sends back.
const DefaultMaxExportSize int64 = 32 << 30

// Options configure the BuildKit engine.
type Options struct {
	// Builder is the set of nodes to build on. Required.
	Builder builders.Builder
	// Env reads base images from the store and writes outputs. Required;
	// the caller closes it after Build returns.
	Env *ref.Env
	// DialTimeout bounds each node's first answer (0: DefaultDialTimeout).
	DialTimeout time.Duration
	// MaxExportSize bounds each node's OCI export in bytes (0:
	// DefaultMaxExportSize).
	MaxExportSize int64
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
}

// Engine builds on BuildKit nodes.
type Engine struct {
	opts Options
	log  *slog.Logger
	// wrapStore, set by tests, wraps the store the nodes read bases from.
	wrapStore func(content.Store) content.Store
}

var _ engine.Engine = (*Engine)(nil)

// New returns the BuildKit engine of opts.Builder.
func New(opts Options) *Engine {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.MaxExportSize <= 0 {
		opts.MaxExportSize = DefaultMaxExportSize
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{opts: opts, log: log}
}

// span logs, at debug level, that phase of node (empty: the build) ended,
// with its start after since and its duration: where a build's time goes
// (`manyarch -vv build --builder ...`).
func (e *Engine) span(node, phase string, since, start time.Time) {
	e.log.Debug("buildkit phase", "node", node, "phase", phase,
		"at", start.Sub(since).Round(time.Millisecond), "took", time.Since(start).Round(time.Millisecond))
}

// nodeRun is one node's share of a build.
type nodeRun struct {
	status    Status
	client    *bkclient.Client
	platforms []specs.Platform
	export    string              // the OCI tarball it sent back
	images    map[string]v1.Image // its images in the store, by platform
}

// Build runs req on the builder's nodes. Nothing runs unless every node
// answers; nothing is tagged unless every node succeeds.
func (e *Engine) Build(ctx context.Context, req *engine.Request) (*engine.Result, error) {
	t0 := time.Now()
	b := e.opts.Builder
	if len(b.Nodes) == 0 {
		return nil, fmt.Errorf("builder %s has no nodes", b.Name)
	}
	if e.opts.Env == nil {
		return nil, errors.New("buildkit: Options.Env is required")
	}
	if err := engine.CheckOutputs(req); err != nil {
		return nil, err
	}
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	st, err := e.opts.Env.Store(ctx)
	if err != nil {
		return nil, err
	}

	// 1. Dial every node, in parallel; any failure stops the build here.
	runs, err := e.dialAll(ctx, t0)
	defer func() {
		for _, r := range runs {
			if r != nil && r.client != nil {
				r.client.Close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}

	// 2. Schedule.
	want := req.Platforms
	if len(want) == 0 {
		want = []specs.Platform{runs[0].status.Native[0]}
	}
	statuses := make([]Status, len(runs))
	for i, r := range runs {
		statuses[i] = r.status
	}
	assigned, err := Assign(b.Name, statuses, want)
	if err != nil {
		return nil, err
	}
	for i, r := range runs {
		r.platforms = assigned[i]
	}

	// 3 and 4 hold the store's transaction, so no gc removes what a node
	// sent back before it is tagged.
	var res *engine.Result
	err = st.Transaction(ctx, func(ctx context.Context) error {
		res, err = e.solveAll(ctx, st, req, runs, want, t0)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.span("", "build", t0, t0)
	return res, nil
}

// solveAll solves on every node at once, each node's images going into st
// as soon as that node has sent them, then writes the outputs, tags last.
func (e *Engine) solveAll(ctx context.Context, st *store.Store, req *engine.Request, runs []*nodeRun, want []specs.Platform, t0 time.Time) (*engine.Result, error) {
	tmpRoot := st.Layout().BuildTmp()
	if err := os.MkdirAll(tmpRoot, 0o700); err != nil {
		return nil, fmt.Errorf("creating build directory: %w", err)
	}
	tmp, err := os.MkdirTemp(tmpRoot, "buildkit-")
	if err != nil {
		return nil, fmt.Errorf("creating build directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	start := time.Now()
	so, err := e.solveOpt(ctx, st, req, want, tmp)
	if err != nil {
		return nil, err
	}
	e.span("", "plan, bases and local mounts", t0, start)

	// 3. Solve on every node at once; each node's export is imported
	// while the others still build.
	g, gctx := errgroup.WithContext(ctx)
	for i, r := range runs {
		if len(r.platforms) == 0 {
			continue
		}
		g.Go(func() error {
			n := r.status.Node.Name
			r.export = filepath.Join(tmp, fmt.Sprintf("node%d.tar", i))
			start := time.Now()
			if err := e.solve(gctx, r, so, req.Progress, t0); err != nil {
				return err
			}
			e.span(n, "solve (build and OCI export)", t0, start)
			start = time.Now()
			if err := e.importExport(gctx, st, r); err != nil {
				return err
			}
			e.span(n, "import into the store", t0, start)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("build cancelled (nothing tagged): %w", context.Cause(ctx))
		}
		return nil, err
	}

	// 4. One index, then the outputs, tags last.
	start = time.Now()
	res := &engine.Result{}
	images := make([]v1.Image, len(want))
	for i, p := range want {
		var img v1.Image
		for _, r := range runs {
			if img = r.images[platform.Format(p)]; img != nil {
				break
			}
		}
		if img == nil {
			return nil, fmt.Errorf("no node returned an image for %s", platform.Format(p))
		}
		images[i] = img
		pr, err := platformResult(p, img)
		if err != nil {
			return nil, err
		}
		res.Platforms = append(res.Platforms, pr)
	}
	if err := engine.FinishImages(ctx, e.opts.Env, st, req, res, images); err != nil {
		return nil, err
	}
	e.span("", "index and outputs", t0, start)
	return res, nil
}

// dialAll dials every node of the builder at once and asks each for its
// workers. Every run that was dialled is returned (to be closed) even
// when another failed; the error names each node that failed.
func (e *Engine) dialAll(ctx context.Context, t0 time.Time) ([]*nodeRun, error) {
	b := e.opts.Builder
	runs := make([]*nodeRun, len(b.Nodes))
	errs := make([]error, len(b.Nodes))
	var wg sync.WaitGroup
	for i, n := range b.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer e.span(n.Name, "dial and list workers", t0, time.Now())
			c, err := dial(ctx, n)
			if err != nil {
				errs[i] = err
				return
			}
			runs[i] = &nodeRun{client: c}
			runs[i].status, errs[i] = probeClient(ctx, c, n, e.opts.DialTimeout)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if ctx.Err() != nil {
			return runs, fmt.Errorf("build cancelled (nothing ran): %w", context.Cause(ctx))
		}
		return runs, fmt.Errorf("builder %s (nothing ran): %w", b.Name, err)
	}
	return runs, nil
}

// platformResult describes the image a node built for p.
func platformResult(p specs.Platform, img v1.Image) (engine.PlatformResult, error) {
	d, err := img.Digest()
	if err != nil {
		return engine.PlatformResult{}, err
	}
	size, err := img.Size()
	if err != nil {
		return engine.PlatformResult{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return engine.PlatformResult{}, err
	}
	cfg, err := img.ConfigName()
	if err != nil {
		return engine.PlatformResult{}, err
	}
	return engine.PlatformResult{Platform: p, Config: cfg, Manifest: v1.Descriptor{MediaType: mt, Digest: d, Size: size}}, nil
}

// checkRequest refuses what the BuildKit engine does not carry over.
func checkRequest(req *engine.Request) error {
	if req.ContextDir == "" {
		return errors.New("build: no context directory")
	}
	fi, err := os.Stat(req.ContextDir)
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("build context %s is not a directory", req.ContextDir)
	}
	if req.CheckOnly {
		return errors.New("--check plans and lints on the local builder: the BuildKit engine builds only")
	}
	if req.Attest.Enabled() {
		return errors.New("--sbom/--provenance/--attest are written by the local builder only so far: build without --builder, or without them")
	}
	if req.MemoryLimit > 0 {
		return errors.New("--memory-limit applies to the local builder only: set buildkitd's own limits (its cgroup) on the nodes")
	}
	return nil
}

// solveOpts is what every node's Solve shares.
type solveOpts struct {
	attrs   map[string]string
	dfName  string // the Dockerfile's name in messages
	mounts  map[string]fsutil.FS
	session []session.Attachable
	stores  map[string]storeRef
	cacheTo []bkclient.CacheOptionsEntry
	cacheIn []bkclient.CacheOptionsEntry
	allow   []string
}

func (e *Engine) solveOpt(ctx context.Context, st *store.Store, req *engine.Request, want []specs.Platform, tmp string) (*solveOpts, error) {
	so := &solveOpts{attrs: map[string]string{}, mounts: map[string]fsutil.FS{}}
	// The Dockerfile: its bytes (-f - works too) in a directory of its own.
	dfDir := filepath.Join(tmp, "dockerfile")
	if err := os.Mkdir(dfDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dfDir, "Dockerfile"), req.Dockerfile, 0o600); err != nil {
		return nil, err
	}
	if req.DockerfileName != "" && req.DockerfileName != "-" {
		// A Dockerfile's own ignore file (Dockerfile.dockerignore) wins
		// over the context's .dockerignore, as in BuildKit.
		if b, err := os.ReadFile(req.DockerfileName + ".dockerignore"); err == nil {
			if err := os.WriteFile(filepath.Join(dfDir, "Dockerfile.dockerignore"), b, 0o600); err != nil {
				return nil, err
			}
		}
	}
	var err error
	if so.mounts["context"], err = fsutil.NewFS(req.ContextDir); err != nil {
		return nil, fmt.Errorf("build context %s: %w", req.ContextDir, err)
	}
	if so.mounts["dockerfile"], err = fsutil.NewFS(dfDir); err != nil {
		return nil, err
	}
	if err := localContexts(req, so); err != nil {
		return nil, err
	}
	so.attrs["filename"] = "Dockerfile"
	so.dfName = req.DockerfileName
	if so.dfName == "" {
		so.dfName = "Dockerfile"
	}
	so.attrs["platform"] = formatPlatforms(want) // replaced per node
	for k, v := range req.BuildArgs {
		so.attrs["build-arg:"+k] = v
	}
	if req.Target != "" {
		so.attrs["target"] = req.Target
	}
	for k, v := range req.Labels {
		so.attrs["label:"+k] = v
	}
	if req.Pull {
		// buildx --pull: the frontend resolves every image on its registry.
		so.attrs["image-resolve-mode"] = "pull"
	}
	if req.NoCache {
		so.attrs["no-cache"] = ""
	} else if len(req.NoCacheFilter) > 0 {
		so.attrs["no-cache"] = strings.Join(req.NoCacheFilter, ",")
	}
	if req.SourceDateEpoch != nil {
		so.attrs["build-arg:SOURCE_DATE_EPOCH"] = strconv.FormatInt(req.SourceDateEpoch.Unix(), 10)
	}
	if len(req.Secrets) > 0 {
		var srcs []secretsprovider.Source
		for _, s := range req.Secrets {
			src := secretsprovider.Source{ID: s.Attrs["id"], Env: s.Attrs["env"]}
			for _, f := range []string{s.Attrs["src"], s.Attrs["source"], s.Dest} {
				if src.FilePath == "" {
					src.FilePath = f
				}
			}
			if src.ID == "" {
				return nil, errors.New("--secret: id= is required")
			}
			srcs = append(srcs, src)
		}
		ss, err := secretsprovider.NewStore(srcs)
		if err != nil {
			return nil, fmt.Errorf("--secret: %w", err)
		}
		so.session = append(so.session, secretsprovider.NewSecretProvider(ss))
	}
	if len(req.SSH) > 0 {
		// Checked as the native engine checks them (clear errors, before
		// any node is asked), then served by BuildKit's own provider.
		if _, err := sshagent.Load(ctx, req.SSH); err != nil {
			return nil, err
		}
		confs := make([]sshprovider.AgentConfig, 0, len(req.SSH))
		for _, s := range req.SSH {
			confs = append(confs, sshprovider.AgentConfig{ID: s.ID, Paths: s.Paths})
		}
		p, err := sshprovider.NewSSHAgentProvider(confs)
		if err != nil {
			return nil, fmt.Errorf("--ssh: %w", err)
		}
		so.session = append(so.session, p)
	}
	for _, c := range req.CacheFrom {
		so.cacheIn = append(so.cacheIn, cacheEntry(c))
	}
	for _, c := range req.CacheTo {
		so.cacheTo = append(so.cacheTo, cacheEntry(c))
	}
	so.allow = append(so.allow, req.Allow...)
	// Bases in the store and oci: layouts go to the nodes as named
	// OCI-layout contexts.
	stores, err := baseContexts(ctx, e.opts.Env, st, req, want, so.attrs)
	if err != nil {
		return nil, err
	}
	so.stores = stores
	return so, nil
}

// cacheEntry is a --cache-from/--cache-to value as BuildKit takes it
// (type=local,src=DIR / dest=DIR; type=registry,ref=REF).
func cacheEntry(o engine.Output) bkclient.CacheOptionsEntry {
	attrs := map[string]string{}
	for k, v := range o.Attrs {
		attrs[k] = v
	}
	if o.Dest != "" {
		attrs["dest"] = o.Dest
	}
	return bkclient.CacheOptionsEntry{Type: o.Type, Attrs: attrs}
}

func formatPlatforms(ps []specs.Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = platform.Format(p)
	}
	return strings.Join(s, ",")
}

// solve runs one node's Solve, streaming its OCI export to r.export.
//
// A base download from manyarch's store that an earlier build left part
// way (a Ctrl-C, a cancelled or failed build) makes the node's next fetch
// of that blob resume at its offset, which BuildKit's OCI-layout fetcher
// cannot do ("failed to copy: unsupported offset", BuildKit v0.34). Such
// a solve is retried once, after the node's garbage collector has removed
// the partial download (it goes once no lease holds it: a prune that
// matches no cache record runs the collector and removes nothing else).
func (e *Engine) solve(ctx context.Context, r *nodeRun, so *solveOpts, pf progress.Func, t0 time.Time) error {
	err := e.solveOnce(ctx, r, so, pf, t0)
	if err == nil || ctx.Err() != nil || !staleIngest(err) {
		return err
	}
	n := r.status.Node
	e.log.Info("a partial base download blocks the build: collecting it and building again", "node", n.Name, "addr", n.Addr, "err", err)
	if perr := collectGarbage(ctx, r.client); perr != nil {
		return &NodeError{Node: n, Phase: "holds a partial download of a base image that it cannot resume", Err: fmt.Errorf("%w; removing it failed (%v): run `buildctl --addr %s prune` or restart that buildkitd, then build again", err, perr, n.Addr)}
	}
	if rerr := os.Remove(r.export); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		return rerr
	}
	err = e.solveOnce(ctx, r, so, pf, t0)
	if err != nil && ctx.Err() == nil && staleIngest(err) {
		return &NodeError{Node: n, Phase: "holds a partial download of a base image that it cannot resume", Err: fmt.Errorf("%w (an interrupted build left it, and a build still holds it): wait for the node's other builds to end, or run `buildctl --addr %s prune`, then build again", err, n.Addr)}
	}
	return err
}

// staleIngest reports whether err is BuildKit failing to resume a
// partial download at its offset.
func staleIngest(err error) bool {
	return strings.Contains(err.Error(), "unsupported offset")
}

// gcOnlyFilter matches no cache record: a prune with it only runs the
// node's garbage collector.
const gcOnlyFilter = "id==manyarch-runs-the-garbage-collector-only"

// collectGarbage runs c's garbage collector, which removes downloads no
// lease holds, and prunes no cache record.
func collectGarbage(ctx context.Context, c *bkclient.Client) error {
	ch := make(chan bkclient.UsageInfo)
	var pruned []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range ch {
			pruned = append(pruned, u.ID)
		}
	}()
	err := c.Prune(ctx, ch, bkclient.WithFilter([]string{gcOnlyFilter}))
	close(ch)
	<-done
	if err == nil && len(pruned) > 0 {
		err = fmt.Errorf("the prune matched cache records %v", pruned)
	}
	return err
}

func (e *Engine) solveOnce(ctx context.Context, r *nodeRun, so *solveOpts, pf progress.Func, t0 time.Time) error {
	n := r.status.Node
	attrs := make(map[string]string, len(so.attrs))
	for k, v := range so.attrs {
		attrs[k] = v
	}
	attrs["platform"] = formatPlatforms(r.platforms)
	var (
		mu      sync.Mutex
		written *limitedFile
	)
	opt := bkclient.SolveOpt{
		Frontend:            "dockerfile.v0",
		FrontendAttrs:       attrs,
		LocalMounts:         so.mounts,
		Session:             so.session,
		CacheExports:        so.cacheTo,
		CacheImports:        so.cacheIn,
		AllowedEntitlements: so.allow,
		OCIStores:           contentStores(so.stores, e.wrapStore),
		Exports: []bkclient.ExportEntry{{
			Type:  bkclient.ExporterOCI,
			Attrs: map[string]string{},
			Output: func(map[string]string) (io.WriteCloser, error) {
				f, err := os.OpenFile(r.export, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
				if err != nil {
					return nil, err
				}
				mu.Lock()
				written = &limitedFile{f: f, max: e.opts.MaxExportSize}
				mu.Unlock()
				return written, nil
			},
		}},
	}
	tr := newTracker(n, r.platforms, pf)
	tr.dfName = so.dfName
	tr.log, tr.since = e.log, t0
	ch := make(chan *bkclient.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s := range ch {
			tr.update(s)
		}
	}()
	_, err := r.client.Solve(ctx, nil, opt, ch)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if written != nil && written.over {
		return &NodeError{Node: n, Phase: "sent too much", Err: fmt.Errorf("its OCI export passed %d bytes", e.opts.MaxExportSize)}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return tr.explain(err)
	}
	if written == nil {
		return &NodeError{Node: n, Phase: "sent no result", Err: errors.New("the OCI export never started")}
	}
	return nil
}

// limitedFile is a file that refuses writes past max bytes.
type limitedFile struct {
	f    *os.File
	n    int64
	max  int64
	over bool
}

func (l *limitedFile) Write(p []byte) (int, error) {
	if l.n+int64(len(p)) > l.max {
		l.over = true
		return 0, fmt.Errorf("OCI export larger than %d bytes", l.max)
	}
	n, err := l.f.Write(p)
	l.n += int64(n)
	return n, err
}

func (l *limitedFile) Close() error { return l.f.Close() }

// importExport writes the images of r's OCI export into st, by platform.
func (e *Engine) importExport(ctx context.Context, st *store.Store, r *nodeRun) error {
	n := r.status.Node
	src, err := ref.NewOCIArchive(r.export, "")
	if err != nil {
		return err
	}
	a, err := ref.Read(ctx, e.opts.Env, src)
	if err != nil {
		return &NodeError{Node: n, Phase: "sent an unreadable result", Err: err}
	}
	for _, p := range r.platforms {
		sel, err := ref.Select(ctx, a, []specs.Platform{p})
		if err != nil {
			return &NodeError{Node: n, Phase: "sent an incomplete result", Err: err}
		}
		img, ok := sel.(v1.Image)
		if !ok {
			return &NodeError{Node: n, Phase: "sent an incomplete result", Err: fmt.Errorf("%s is not an image", platform.Format(p))}
		}
		if _, err := st.WriteImage(ctx, img); err != nil {
			return fmt.Errorf("writing the %s image from node %s into the store: %w", platform.Format(p), n.Name, err)
		}
		if r.images == nil {
			r.images = map[string]v1.Image{}
		}
		r.images[platform.Format(p)] = img
	}
	return nil
}
