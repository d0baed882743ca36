package plan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/buildkit/util/suggest"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

const scratchName = "scratch"

// New plans the build of f for every platform in opts: for each target
// platform, the stages the target needs (pruned as BuildKit prunes), each
// with its resolved base and its steps fully expanded; stages that do not
// depend on the target platform are planned once and shared. It does no I/O
// but opts.ResolveBase. Errors about the Dockerfile are *dockerfile.Error.
func New(ctx context.Context, f *dockerfile.File, opts Options) (*Plan, error) {
	if f == nil || len(f.Stages) == 0 {
		return nil, errors.New("planning: no Dockerfile stages")
	}
	p := &planner{
		f:        f,
		opts:     opts,
		resolved: map[string]*v1.ConfigFile{},
		warnSeen: map[string]bool{},
		consumed: map[string]bool{},
	}
	p.build = opts.BuildPlatform
	if p.build.OS == "" || p.build.Architecture == "" {
		p.build = platforms.DefaultSpec()
	}
	p.build = platform.Normalize(p.build)
	for _, w := range f.Warnings {
		p.warn(w)
	}
	p.lint = f.Linter(p.warn)

	targets := opts.Platforms
	if len(targets) == 0 {
		targets = []specs.Platform{p.build}
	}
	seen := map[string]bool{}
	for _, tp := range targets {
		k := platforms.FormatAll(platform.Normalize(tp))
		if seen[k] {
			return nil, fmt.Errorf("planning: platform %s is given twice: list each target platform once", k)
		}
		seen[k] = true
	}
	plan := &Plan{File: f, BuildPlatform: p.build}
	for _, tp := range targets {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pp, err := p.planPlatform(ctx, platform.Normalize(tp))
		if err != nil {
			return nil, err
		}
		plan.Platforms = append(plan.Platforms, pp)
		plan.Target = pp.Result.Name
	}
	share(plan)
	p.warnUnusedBuildArgs()
	plan.Warnings = p.warnings
	sort.SliceStable(plan.Warnings, func(i, j int) bool {
		return plan.Warnings[i].Location.Line < plan.Warnings[j].Location.Line
	})
	if f.LintFailOnWarning() {
		// BuildKit's "# check=error=true": lint rules fail the build.
		var rules []string
		for _, w := range plan.Warnings {
			if w.URL != "" && !slices.Contains(rules, w.Rule) {
				rules = append(rules, w.Rule)
			}
		}
		if len(rules) > 0 {
			return nil, dockerfile.Errorf(dockerfile.Location{File: f.Name}, dockerfile.ErrLint,
				"lint violation found for rules: %s (# check=error=true): fix them or skip them with # check=skip=RULE", strings.Join(rules, ", "))
		}
	}
	return plan, nil
}

// planner holds what is shared between the target platforms of one plan.
type planner struct {
	f        *dockerfile.File
	opts     Options
	build    specs.Platform
	lint     *linter.Linter
	resolved map[string]*v1.ConfigFile // by ref + "\x00" + platform
	warnings []dockerfile.Warning
	warnSeen map[string]bool
	consumed map[string]bool // build args some ARG declared
}

func (p *planner) warn(w dockerfile.Warning) {
	k := w.Location.String() + "\x00" + w.Rule + "\x00" + w.Message
	if p.warnSeen[k] {
		return
	}
	p.warnSeen[k] = true
	p.warnings = append(p.warnings, w)
}

// node is one stage of the Dockerfile (or an image named by COPY --from or
// RUN --mount from=) for one target platform: BuildKit's dispatchState.
type node struct {
	st       *dockerfile.Stage // nil for an image source
	name     string            // display name
	baseName string            // expanded FROM value (or the image reference)
	platform *specs.Platform   // --platform, expanded
	base     *node             // FROM an earlier stage
	deps     []dep
	cmds     []cmdRef
	image    bool // an image or named context source, not a stage of the file
	replaced bool // a stage a named context (Options.Contexts, LocalContexts) replaces
	// local is the name of the named local context (Options.LocalContexts)
	// the node is: an image node for COPY --from or from=, or a stage FROM
	// it or replaced by it.
	local string

	triggersDone bool
	dispatched   bool
	out          *Stage
	// state during and after dispatch
	env        *dockerfile.Env
	args       []instructions.KeyValuePairOptional
	workdirSet bool
	config     *v1.ConfigFile
}

type dep struct {
	to *node
	in dockerfile.Instruction
}

// cmdRef is an instruction with the nodes its --from and from= name.
type cmdRef struct {
	in      dockerfile.Instruction
	from    *node   // COPY --from
	mounts  []*node // per RUN --mount, nil when the mount names no stage or image
	onBuild bool
}

// graph is the stage graph for one target platform.
type graph struct {
	p      *planner
	target specs.Platform
	global *dockerfile.Env
	nodes  []*node
	byName map[string]*node
}

func (p *planner) planPlatform(ctx context.Context, tp specs.Platform) (*PlatformPlan, error) {
	f := p.f
	targetName := p.opts.Target
	if targetName == "" {
		targetName = f.Stages[len(f.Stages)-1].Name
	}
	auto := dockerfile.PlatformArgs(p.build, tp, targetName, p.opts.BuildArgs)
	global, declared, err := f.GlobalArgs(auto, p.opts.BuildArgs)
	if err != nil {
		return nil, err
	}
	for k := range declared {
		p.consumed[k] = true
	}
	g := &graph{p: p, target: tp, global: global, byName: map[string]*node{}}
	if err := g.addStages(declared); err != nil {
		return nil, err
	}
	target, err := g.findTarget()
	if err != nil {
		return nil, err
	}
	for _, n := range g.nodes {
		if n.replaced {
			continue
		}
		for _, in := range n.st.Commands {
			c, err := g.command(in)
			if err != nil {
				return nil, err
			}
			n.cmds = append(n.cmds, c)
			n.addDeps(c)
		}
	}
	if err := g.checkCycles(); err != nil {
		return nil, err
	}

	// Resolve bases and ONBUILD triggers of the reachable stages until the
	// triggers add no new dependency (BuildKit's resolveStages).
	var reach []*node
	for {
		reach = reachable(target, g.nodes)
		grew := false
		for _, n := range reach {
			if n.triggersDone || n.image {
				continue
			}
			n.triggersDone = true
			var triggers []string
			switch {
			case n.local != "" && n.base == nil:
				// a directory: no image config, no ONBUILD
			case n.base != nil:
				for _, c := range n.base.cmds {
					if ob, ok := c.in.Command.(*instructions.OnbuildCommand); ok {
						triggers = append(triggers, ob.Expression)
					}
				}
			case n.baseName != scratchName:
				cfg, err := p.resolve(ctx, n.st.Location, n.baseName, g.platformOf(n))
				if err != nil {
					return nil, err
				}
				triggers = cfg.Config.OnBuild
			}
			if len(triggers) == 0 {
				continue
			}
			ins, err := f.ParseTriggers(n.st.Location, triggers)
			if err != nil {
				return nil, err
			}
			var cmds []cmdRef
			for _, in := range ins {
				c, err := g.command(in)
				if err != nil {
					return nil, err
				}
				c.onBuild = true
				if c.from != nil || slices.ContainsFunc(c.mounts, func(m *node) bool { return m != nil }) {
					grew = true
				}
				n.addDeps(c)
				cmds = append(cmds, c)
			}
			n.cmds = append(cmds, n.cmds...)
		}
		if !grew {
			break
		}
		if err := g.checkCycles(); err != nil {
			return nil, err
		}
	}

	pp := &PlatformPlan{Platform: tp}
	inReach := map[*node]bool{}
	for _, n := range reach {
		inReach[n] = true
	}
	for _, n := range g.nodes {
		if !inReach[n] || n.image {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := g.dispatch(ctx, n); err != nil {
			return nil, err
		}
		pp.Stages = append(pp.Stages, n.out)
	}
	pp.Result = target.out
	return pp, nil
}

// addStages expands each FROM with the global arguments (BuildKit's
// buildDispatchStates).
func (g *graph) addStages(declared map[string]bool) error {
	lex := g.p.f.Lexer()
	known := func() []string {
		keys := g.global.Keys()
		for k := range declared {
			keys = append(keys, k)
		}
		return keys
	}
	for _, st := range g.p.f.Stages {
		res, err := lex.ProcessWordWithMatches(st.BaseName, g.global)
		if err != nil {
			return dockerfile.Errorf(st.Location, dockerfile.ErrExpansion, "FROM %s: %w", st.BaseName, err)
		}
		g.reportUndefinedFromArgs(st, res.Unmatched, declared, known())
		if res.Result == "" {
			return dockerfile.Errorf(st.Location, dockerfile.ErrExpansion,
				"base name (%s) should not be blank: define the ARG before the first FROM or pass --build-arg", st.BaseName)
		}
		n := &node{st: st, name: st.DisplayName(), baseName: res.Result}
		if nc, ok := g.p.namedContext(st.Name); ok && st.Name != "" {
			n.replaced = true // the stage is the context
			if nc.local != "" {
				n.local = nc.local
			} else {
				n.baseName = nc.image
			}
		}
		if st.Platform != "" {
			pres, err := lex.ProcessWordWithMatches(st.Platform, g.global)
			if err != nil {
				return dockerfile.Errorf(st.Location, dockerfile.ErrExpansion, "FROM --platform=%s: %w", st.Platform, err)
			}
			g.reportUndefinedFromArgs(st, pres.Unmatched, declared, known())
			g.lintPlatform(st, pres)
			if pres.Result == "" {
				return dockerfile.Errorf(st.Location, dockerfile.ErrExpansion,
					"FROM --platform=%s is empty after expansion: use --platform=$BUILDPLATFORM or a platform such as linux/amd64", st.Platform)
			}
			pl, err := parseFromPlatform(pres.Result)
			if err != nil {
				return dockerfile.Errorf(st.Location, dockerfile.ErrInvalidValue, "FROM --platform=%s: %w", st.Platform, err)
			}
			n.platform = &pl
		}
		if b, ok := g.byName[n.baseName]; ok && !n.replaced {
			n.base = b
		} else if nc, ok := g.p.namedContext(n.baseName); ok && !n.replaced {
			if nc.local != "" {
				n.local = nc.local
			} else {
				n.baseName = nc.image
			}
		}
		g.nodes = append(g.nodes, n)
		if st.Name != "" {
			g.byName[strings.ToLower(st.Name)] = n
		}
	}
	return nil
}

func (g *graph) reportUndefinedFromArgs(st *dockerfile.Stage, unmatched map[string]struct{}, declared map[string]bool, known []string) {
	for _, name := range sortedKeys(unmatched) {
		if declared[name] {
			continue
		}
		if _, ok := g.global.Get(name); ok {
			continue
		}
		s, _ := suggest.Search(name, known, true)
		g.p.lint.Run(&linter.RuleUndefinedArgInFrom, rangesOf(st.Location), linter.RuleUndefinedArgInFrom.Format(name, s))
	}
}

func (g *graph) lintPlatform(st *dockerfile.Stage, res shell.ProcessWordResult) {
	if len(res.Matched) == 1 && len(res.Unmatched) == 0 {
		if _, ok := res.Matched["TARGETPLATFORM"]; ok {
			if v, _ := g.global.Get("TARGETPLATFORM"); v == res.Result {
				g.p.lint.Run(&linter.RuleRedundantTargetPlatform, rangesOf(st.Location), linter.RuleRedundantTargetPlatform.Format(st.Platform))
			}
		}
	}
	if len(res.Matched) == 0 && len(res.Unmatched) == 0 {
		if pl, err := parseFromPlatform(res.Result); err == nil &&
			!strings.Contains(st.Name, pl.OS) && !strings.Contains(st.Name, pl.Architecture) {
			g.p.lint.Run(&linter.RuleFromPlatformFlagConstDisallowed, rangesOf(st.Location), linter.RuleFromPlatformFlagConstDisallowed.Format(res.Result))
		}
	}
}

// parseFromPlatform reads a FROM --platform value: what is a platform at
// all is decided as in BuildKit (containerd's Parse: "nope" is not, "linux"
// is the host's architecture), what it means as everywhere in manyarch
// (platform.ParseAny, the spellings of --platform: linux/armel is
// linux/arm/v5, not containerd's linux/arm/v6).
func parseFromPlatform(s string) (specs.Platform, error) {
	pl, err := platforms.Parse(s)
	if err != nil {
		return specs.Platform{}, err
	}
	if p, err := platform.ParseAny(s); err == nil {
		return p, nil
	}
	return platform.Normalize(pl), nil
}

func (g *graph) findTarget() (*node, error) {
	name := g.p.opts.Target
	if name == "" {
		return g.nodes[len(g.nodes)-1], nil
	}
	if n, ok := g.byName[strings.ToLower(name)]; ok {
		return n, nil
	}
	msg := fmt.Sprintf("target stage %q could not be found", name)
	if s, ok := suggest.Search(name, g.p.f.StageNames(), true); ok {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	} else if names := g.p.f.StageNames(); len(names) > 0 {
		msg += ": the stages are " + strings.Join(names, ", ")
	} else {
		msg += ": no stage has a name (FROM ... AS NAME)"
	}
	return nil, dockerfile.Errorf(dockerfile.Location{File: g.p.f.Name}, dockerfile.ErrStageNotFound, "%s", msg)
}

// command resolves what an instruction's --from and from= name (BuildKit's
// toCommand and detectRunMount).
func (g *graph) command(in dockerfile.Instruction) (cmdRef, error) {
	c := cmdRef{in: in}
	switch x := in.Command.(type) {
	case *instructions.CopyCommand:
		if x.From == "" {
			break
		}
		res, err := g.p.f.Lexer().ProcessWordWithMatches(x.From, shell.EnvsFromSlice(nil))
		if err != nil || res.Result != x.From {
			return c, dockerfile.Errorf(in.Location, dockerfile.ErrExpansion,
				"COPY --from=%s: variable expansion is not supported for --from: define a stage with FROM ${ARG} AS name (ARG from the global scope) and use --from=name", x.From)
		}
		n, err := g.source(in, x.From, true)
		if err != nil {
			return c, err
		}
		c.from = n
	case *instructions.RunCommand:
		for _, m := range instructions.GetMounts(x) {
			from := m.From
			if from == "" {
				c.mounts = append(c.mounts, nil)
				continue
			}
			n, err := g.source(in, from, false)
			if err != nil {
				return c, err
			}
			c.mounts = append(c.mounts, n)
		}
	}
	return c, nil
}

// source finds the stage a --from names (by index for COPY, or by name) or
// makes an image node for it.
func (g *graph) source(in dockerfile.Instruction, from string, allowIndex bool) (*node, error) {
	if allowIndex {
		if i, err := strconv.Atoi(from); err == nil {
			if i < 0 || i >= len(g.nodes) {
				return nil, dockerfile.Errorf(in.Location, dockerfile.ErrStageNotFound,
					"COPY --from=%d: invalid stage index %d: the Dockerfile has stages 0 to %d", i, i, len(g.nodes)-1)
			}
			return g.nodes[i], nil
		}
	}
	if n, ok := g.byName[strings.ToLower(from)]; ok {
		return n, nil
	}
	if nc, ok := g.p.namedContext(from); ok {
		return &node{name: from, baseName: nc.image, local: nc.local, image: true}, nil
	}
	return &node{name: from, baseName: from, image: true}, nil
}

// isDir reports whether the node is a named local context itself: a
// source of COPY --from or from=, or a stage it replaces (not a stage FROM
// it, which has instructions of its own).
func (n *node) isDir() bool { return n.local != "" && (n.image || n.replaced) }

// addDeps notes the stages c copies or mounts from. A stage replaced by a
// named local context is not one: the step reads the directory itself.
func (n *node) addDeps(c cmdRef) {
	if c.from != nil && !c.from.image && !c.from.isDir() {
		n.deps = append(n.deps, dep{to: c.from, in: c.in})
	}
	for _, m := range c.mounts {
		if m != nil && !m.image && !m.isDir() {
			n.deps = append(n.deps, dep{to: m, in: c.in})
		}
	}
}

// checkCycles reports the first cycle through --from and from= edges
// (BuildKit's validateCircularDependency, in file order).
func (g *graph) checkCycles() error {
	visited := map[*node]bool{}
	onPath := map[*node]bool{}
	var path []dep
	var visit func(n *node) []dep
	visit = func(n *node) []dep {
		if visited[n] {
			return nil
		}
		visited[n] = true
		onPath[n] = true
		for _, d := range n.deps {
			path = append(path, d)
			if onPath[d.to] {
				return path
			}
			if c := visit(d.to); c != nil {
				return c
			}
			path = path[:len(path)-1]
		}
		onPath[n] = false
		return nil
	}
	for _, n := range g.nodes {
		path = path[:0]
		cycle := visit(n)
		if cycle == nil {
			continue
		}
		// keep the part of the path that is the cycle itself
		last := cycle[len(cycle)-1].to
		start := 0
		for i, d := range cycle {
			if g.owner(d) == last {
				start = i
				break
			}
		}
		cycle = cycle[start:]
		names := []string{g.owner(cycle[0]).name}
		var where []string
		for _, d := range cycle {
			names = append(names, d.to.name)
			where = append(where, fmt.Sprintf("%s at %s", d.in.Name(), d.in.Location))
		}
		return dockerfile.Errorf(cycle[0].in.Location, dockerfile.ErrCycle,
			"circular dependency detected on stage %s: %s (%s): a stage cannot copy or mount from itself or from a stage that needs it",
			g.owner(cycle[0]).name, strings.Join(names, " -> "), strings.Join(where, ", "))
	}
	return nil
}

// owner is the node holding the instruction of d.
func (g *graph) owner(d dep) *node {
	for _, n := range g.nodes {
		for _, x := range n.deps {
			if x.in.Location == d.in.Location && x.to == d.to {
				return n
			}
		}
	}
	return nil
}

// reachable lists the nodes the target needs, in file order: its base chain
// and everything copied or mounted from, transitively.
func reachable(target *node, all []*node) []*node {
	seen := map[*node]bool{}
	var walk func(n *node)
	walk = func(n *node) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		walk(n.base)
		for _, d := range n.deps {
			walk(d.to)
		}
	}
	walk(target)
	var out []*node
	for _, n := range all {
		if seen[n] {
			out = append(out, n)
		}
	}
	return out
}

// platformOf is the platform a node's base is pulled for: its --platform, or
// the target (BuildKit's resolveBaseImage).
func (g *graph) platformOf(n *node) specs.Platform {
	if n.platform != nil {
		return *n.platform
	}
	return g.target
}

// resolve returns the config of a base image, calling ResolveBase once per
// reference and platform.
func (p *planner) resolve(ctx context.Context, at dockerfile.Location, ref string, pl specs.Platform) (*v1.ConfigFile, error) {
	key := ref + "\x00" + platforms.FormatAll(pl)
	if c, ok := p.resolved[key]; ok {
		return c, nil
	}
	cfg := &v1.ConfigFile{OS: pl.OS, Architecture: pl.Architecture, Variant: pl.Variant}
	if p.opts.ResolveBase != nil {
		c, err := p.opts.ResolveBase(ctx, ref, pl)
		if err != nil {
			return nil, dockerfile.Wrap(at, dockerfile.ErrBaseImage, fmt.Errorf("resolving base image %s for %s: %w", ref, platforms.Format(pl), err))
		}
		if c == nil {
			return nil, dockerfile.Errorf(at, dockerfile.ErrBaseImage, "resolving base image %s for %s: no config returned", ref, platforms.Format(pl))
		}
		cfg = c.DeepCopy()
		if cfg.OS != "" && cfg.Architecture != "" && (cfg.OS != pl.OS || cfg.Architecture != pl.Architecture) {
			got := platforms.FormatAll(platform.Normalize(specs.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}))
			p.lint.Run(&linter.RuleInvalidBaseImagePlatform, rangesOf(at), linter.RuleInvalidBaseImagePlatform.Format(ref, platforms.FormatAll(pl), got))
		}
	}
	p.resolved[key] = cfg
	return cfg, nil
}

func (p *planner) warnUnusedBuildArgs() {
	for _, k := range sortedKeys(p.opts.BuildArgs) {
		if p.consumed[k] || slices.Contains(dockerfile.PlatformArgNames, k) || isProxyArg(k) ||
			strings.HasPrefix(k, "BUILDKIT_") || k == "SOURCE_DATE_EPOCH" {
			continue
		}
		p.warn(dockerfile.Warning{
			Location: dockerfile.Location{File: p.f.Name},
			Rule:     "UnusedBuildArg",
			Message:  fmt.Sprintf("build-arg %s was not consumed: no ARG %s is in scope in the stages built", k, k),
		})
	}
}

func isProxyArg(k string) bool {
	switch strings.ToLower(k) {
	case "http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy":
		return true
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// namedRef is what a named context gives a name: an image reference
// (Options.Contexts) or a local directory, by its name as given in
// Options.LocalContexts.
type namedRef struct {
	image string
	local string
}

// namedContext is what Options.Contexts or Options.LocalContexts gives
// name, matched as BuildKit matches context names: by the familiar form
// less ":latest".
func (p *planner) namedContext(name string) (namedRef, bool) {
	if (len(p.opts.Contexts) == 0 && len(p.opts.LocalContexts) == 0) || name == "" {
		return namedRef{}, false
	}
	key := ContextName(name)
	for k, v := range p.opts.Contexts {
		if ContextName(k) == key {
			return namedRef{image: v}, true
		}
	}
	for _, k := range p.opts.LocalContexts {
		if ContextName(k) == key {
			return namedRef{local: k}, true
		}
	}
	return namedRef{}, false
}

// ContextName is the form BuildKit's Dockerfile frontend looks a named
// context up by: the familiar name less ":latest" ("alpine" for
// docker.io/library/alpine:latest), or name lower-cased when it is not an
// image name.
func ContextName(name string) string {
	n, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return strings.ToLower(name)
	}
	return strings.TrimSuffix(reference.FamiliarString(n), ":latest")
}
