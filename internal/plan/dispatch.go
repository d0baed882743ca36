package plan

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/buildkit/util/suggest"
	"github.com/moby/buildkit/util/system"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// historyComment is the comment BuildKit puts on the history entries it writes.
const historyComment = "buildkit.dockerfile.v0"

// dispatcher expands and applies the instructions of one stage, keeping the
// state BuildKit's dispatchState keeps.
type dispatcher struct {
	g   *graph
	n   *node
	out *Stage
	os  string

	cmdSet         bool
	cmdLoc         []parser.Range
	entrypointLoc  []parser.Range
	healthcheckLoc []parser.Range
	parentKey      string
}

func (g *graph) dispatch(ctx context.Context, n *node) error {
	st := n.st
	out := &Stage{Index: st.Index, Name: st.DisplayName(), Location: st.Location, FromPlatform: st.Platform, Targets: []specs.Platform{g.target}}
	d := &dispatcher{g: g, n: n, out: out}

	switch {
	case n.base != nil:
		b := n.base
		if !b.dispatched {
			return dockerfile.Errorf(st.Location, dockerfile.ErrStageNotFound, "FROM %s: stage %s is not built", n.baseName, b.name)
		}
		out.Platform = b.out.Platform
		out.Base = Base{Kind: BaseStage, Stage: b.out, Platform: b.out.Platform}
		n.config = &v1.ConfigFile{Config: *b.out.Config.DeepCopy(), Author: b.config.Author}
		n.config.Config.OnBuild = nil
		// BuildKit starts from the base stage's variables and then applies
		// the image Env again, so an ENV shadowed by a later ARG in the base
		// stage wins again here (and moves to the end).
		n.env = b.env.Clone()
		for _, e := range n.config.Config.Env {
			k, v, _ := strings.Cut(e, "=")
			n.env.Set(k, v)
		}
		n.args = slices.Clone(b.args)
		n.workdirSet = b.workdirSet
		out.HealthcheckStartInterval = b.out.HealthcheckStartInterval
		d.parentKey = b.out.Key
	case n.local != "":
		// A named local context as the base: its files on scratch, with
		// the empty image config of BuildKit's frontend (dockerfile2llb's
		// emptyImage: WorkingDir "/", PATH below), for --platform or the
		// target platform. The executor adds the files' content to the
		// keys, as for COPY from the context.
		pl := g.platformOf(n)
		out.Platform = pl
		out.Base = Base{Kind: BaseContext, Context: n.local, Platform: pl}
		n.config = &v1.ConfigFile{OS: pl.OS, Architecture: pl.Architecture, Variant: pl.Variant, OSVersion: pl.OSVersion}
		n.config.Config.WorkingDir = "/"
		d.parentKey = HashKey("context", n.local, PlatformKey(pl))
	case n.baseName == scratchName:
		// BuildKit builds scratch stages for the target platform even with
		// a --platform flag, and starts them with WorkingDir "/".
		out.Platform = g.target
		out.Base = Base{Kind: BaseScratch, Platform: out.Platform}
		n.config = &v1.ConfigFile{OS: g.target.OS, Architecture: g.target.Architecture, Variant: g.target.Variant}
		n.config.Config.WorkingDir = "/"
		d.parentKey = HashKey("scratch", PlatformKey(out.Platform))
	default:
		pl := g.platformOf(n)
		cfg, err := g.p.resolve(ctx, st.Location, n.baseName, pl)
		if err != nil {
			return err
		}
		out.Platform = pl
		out.Base = Base{Kind: BaseImage, Ref: n.baseName, Platform: pl}
		if g.p.opts.ResolveBase != nil {
			out.Base.Config = cfg
		}
		n.config = cfg.DeepCopy()
		n.config.Config.OnBuild = nil
		d.parentKey = HashKey("image", n.baseName, PlatformKey(pl), configDigest(cfg))
	}
	d.os = out.Platform.OS
	if n.base == nil {
		if !hasEnv(n.config.Config.Env, "PATH") && d.os != "windows" {
			n.config.Config.Env = append(n.config.Config.Env, "PATH="+system.DefaultPathEnv(d.os))
		}
		n.env = dockerfile.NewEnv(n.config.Config.Env...)
		if wd := n.config.Config.WorkingDir; wd != "" {
			nwd, err := system.NormalizeWorkdir(wd, wd, d.os)
			if err != nil {
				return dockerfile.Errorf(st.Location, dockerfile.ErrInvalidValue, "working directory %q of the base image: %w", wd, err)
			}
			n.config.Config.WorkingDir = nwd
		}
	}

	for _, c := range n.cmds {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.step(ctx, c); err != nil {
			return err
		}
	}
	out.Config = n.config.Config
	out.Author = n.config.Author
	out.Key = HashKey("stage", d.parentKey, PlatformKey(out.Platform), jsonString(out.Config), out.Author,
		strconv.FormatInt(int64(out.HealthcheckStartInterval), 10))
	n.out = out
	n.dispatched = true
	return nil
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if shell.EqualEnvKeys(k, key) {
			return true
		}
	}
	return false
}

// step expands and applies one instruction (BuildKit's dispatch): its words
// are expanded, its own dispatch function (instructions.go) applies it, and
// every instruction then gets its history entry and key alike.
func (d *dispatcher) step(ctx context.Context, c cmdRef) error {
	in := c.in
	cmd := in.Clone()
	lint := d.g.p.lint.WithMergedConfigFromComments(cmd.Comments())
	if err := d.expand(cmd, in, lint); err != nil {
		return err
	}
	cfg := &d.n.config.Config
	st := &stepState{c: c, lint: lint, cfg: cfg, s: &Step{
		Kind:        StepConfig,
		Instruction: in.Name(),
		Source:      in.String(),
		Location:    in.Location,
		OnBuild:     c.onBuild,
		Platform:    d.out.Platform,
		Env:         d.n.env.Slice(),
		Args:        d.argStrings(),
		Shell:       d.shell(),
		WorkDir:     cfg.WorkingDir,
		User:        cfg.User,
	}}
	if err := d.dispatchCommand(ctx, cmd, st); err != nil {
		return err
	}
	s := st.s
	if st.history != "" {
		s.History = v1.History{CreatedBy: st.history, Comment: historyComment, EmptyLayer: !st.layer}
		d.out.History = append(d.out.History, s.History)
	}
	s.Key = d.stepKey(s, st.keyExtra)
	d.parentKey = s.Key
	d.out.Steps = append(d.out.Steps, s)
	return nil
}

// expand expands the variables in an instruction's words (BuildKit's
// SupportsSingleWordExpansion; ARG expands its own defaults) and in its
// heredocs (SupportsSingleWordExpansionRaw).
func (d *dispatcher) expand(cmd instructions.Command, in dockerfile.Instruction, lint *linter.Linter) error {
	if _, isArg := cmd.(*instructions.ArgCommand); !isArg {
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			lex := d.g.p.f.Lexer()
			err := ex.Expand(func(word string) (string, error) {
				res, unmatched, err := lex.ProcessWord(word, d.n.env)
				d.reportUndefined(cmd, unmatched, lint)
				return res, err
			})
			if err != nil {
				return d.errorf(in, dockerfile.ErrExpansion, "%s: %w", in.Name(), err)
			}
		}
	}
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
		lex := shell.NewLex('\\')
		lex.SkipProcessQuotes = true
		err := ex.ExpandRaw(func(word string) (string, error) {
			res, unmatched, err := lex.ProcessWord(word, d.n.env)
			d.reportUndefined(cmd, unmatched, lint)
			return res, err
		})
		if err != nil {
			return d.errorf(in, dockerfile.ErrExpansion, "%s heredoc: %w", in.Name(), err)
		}
	}
	return nil
}

// shell is the effective shell for shell-form commands.
func (d *dispatcher) shell() []string {
	if sh := d.n.config.Config.Shell; len(sh) > 0 {
		return slices.Clone(sh)
	}
	if d.os == "windows" {
		return []string{"cmd", "/S", "/C"}
	}
	return []string{"/bin/sh", "-c"}
}

// argStrings lists the ARGs in scope as BuildKit's RUN history does: each
// name once, in order of first declaration, with the value a process sees.
func (d *dispatcher) argStrings() []string {
	return argPairs(d.n.args, d.n.env)
}

// arg applies an ARG in a stage (BuildKit's dispatchArg): a --build-arg wins,
// then the default expanded with what is in scope, then, for an ARG without
// a default, the global ARG or automatic argument of the same name.
func (d *dispatcher) arg(c *instructions.ArgCommand, lint *linter.Linter) (string, error) {
	var parts []string
	buildArgs := d.g.p.opts.BuildArgs
	for _, a := range c.Args {
		lintSecret(lint, "ARG", a.Key, c.Location())
		d.g.p.consumed[a.Key] = true
		bv, hasValue := buildArgs[a.Key]
		hasDefault := a.Value != nil
		if !hasDefault && !hasValue {
			if v, ok := d.g.global.Get(a.Key); ok {
				a.Value = &v
			}
		}
		if hasValue {
			a.Value = &bv
		} else if hasDefault {
			res, unmatched, err := d.g.p.f.Lexer().ProcessWord(*a.Value, d.n.env)
			d.reportUndefined(c, unmatched, lint)
			if err != nil {
				return "", err
			}
			a.Value = &res
		}
		if a.Value != nil && a.Key != "BUILDKIT_SBOM_SCAN_CONTEXT" && a.Key != "BUILDKIT_SBOM_SCAN_STAGE" {
			d.n.env.Set(a.Key, *a.Value)
		}
		d.n.args = append(d.n.args, a)
		if a.Value != nil {
			parts = append(parts, a.Key+"="+*a.Value)
		} else {
			parts = append(parts, a.Key)
		}
	}
	return "ARG " + strings.Join(parts, " "), nil
}

// reportUndefined is BuildKit's UndefinedVar rule.
func (d *dispatcher) reportUndefined(cmd instructions.Command, unmatched map[string]struct{}, lint *linter.Linter) {
	for _, name := range sortedKeys(unmatched) {
		if slices.ContainsFunc(d.n.args, func(a instructions.KeyValuePairOptional) bool { return a.Key == name }) {
			continue
		}
		if name == "BUILDKIT_SBOM_SCAN_CONTEXT" || name == "BUILDKIT_SBOM_SCAN_STAGE" {
			continue
		}
		match, _ := suggest.Search(name, d.n.env.Keys(), true)
		lint.Run(&linter.RuleUndefinedVar, cmd.Location(), linter.RuleUndefinedVar.Format(name, match))
	}
}

func (d *dispatcher) usedOnce(c instructions.Command, prev *[]parser.Range, lint *linter.Linter) {
	if *prev != nil {
		lint.Run(&linter.RuleMultipleInstructionsDisallowed, *prev, linter.RuleMultipleInstructionsDisallowed.Format(c.Name()))
	}
	*prev = c.Location()
}

// run expands a RUN (BuildKit's dispatchRun and dispatchRunMounts).
func (d *dispatcher) run(ctx context.Context, c *instructions.RunCommand, ref cmdRef) (*RunStep, error) {
	r := &RunStep{Network: instructions.GetNetwork(c), Security: instructions.GetSecurity(c)}
	args, inline, err := d.runArgs(c)
	if err != nil {
		return nil, err
	}
	r.Args, r.Inline = args, inline
	for i, m := range instructions.GetMounts(c) {
		var src *node
		if i < len(ref.mounts) {
			src = ref.mounts[i]
		}
		mt, err := d.runMount(ctx, m, src, r.Mounts)
		if err != nil {
			return nil, err
		}
		r.Mounts = append(r.Mounts, mt)
	}

	r.ProxyEnv = proxyEnv(d.g.p.opts.BuildArgs)
	return r, nil
}

// proxyNames are the proxy variables BuildKit passes to RUN, in the order
// its exec op appends them (solver/llbsolver/ops/exec.go, proxyEnvList).
var proxyNames = []string{"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"}

// proxyEnv is the environment BuildKit gives every RUN for the proxy
// build arguments: each proxy variable takes the value of the last build
// argument of its name in either spelling, in sorted key order (so
// http_proxy wins over HTTP_PROXY; dockerfile2llb's
// proxyEnvFromBuildArgs), and is set in both spellings, upper case first.
// An empty value sets nothing, as in BuildKit.
func proxyEnv(buildArgs map[string]string) []string {
	vals := map[string]string{}
	for _, k := range sortedKeys(buildArgs) {
		if isProxyArg(k) {
			vals[strings.ToUpper(k)] = buildArgs[k]
		}
	}
	var env []string
	for _, name := range proxyNames {
		if v := vals[name]; v != "" {
			env = append(env, name+"="+v, strings.ToLower(name)+"="+v)
		}
	}
	return env
}

// runArgs is the command of a RUN: the exec form as it is, the shell form
// run by the effective shell, heredocs inlined, or, for a heredoc starting
// with #!, written to an inline file that is run.
func (d *dispatcher) runArgs(c *instructions.RunCommand) ([]string, []InlineFile, error) {
	var inline []InlineFile
	args := slices.Clone(c.CmdLine)
	if len(c.Files) == 0 && strings.TrimSpace(strings.Join(args, "")) == "" {
		// BuildKit runs a bare RUN as `sh -c ""` (and fails RUN [] when
		// it runs); neither does anything a user meant.
		return nil, nil, failf(dockerfile.ErrInvalidValue, "there is no command to run: write one (RUN make), or remove the line")
	}
	if len(c.Files) > 0 {
		if len(args) != 1 || !c.PrependShell {
			return nil, nil, failf(dockerfile.ErrSyntax, "heredocs need the shell form of RUN")
		}
		if hd := parser.MustParseHeredoc(args[0]); hd != nil {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
			if d.os != "windows" && strings.HasPrefix(data, "#!") {
				p := path.Join("/dev/pipes/", c.Files[0].Name)
				inline = append(inline, InlineFile{Name: c.Files[0].Name, Path: p, Data: data, Mode: 0o755})
				args = []string{p}
			} else {
				args = []string{data}
			}
		} else {
			var b strings.Builder
			b.WriteString(args[0])
			for _, f := range c.Files {
				b.WriteString("\n" + f.Data + f.Name)
			}
			args = []string{b.String()}
		}
	}
	if c.PrependShell {
		args = append(d.shell(), strings.Join(args, " "))
	}
	return args, inline, nil
}

// runMount expands one RUN --mount with BuildKit's defaults; src is the
// stage or image it names with from=, prior the mounts before it.
func (d *dispatcher) runMount(ctx context.Context, m *instructions.Mount, src *node, prior []Mount) (Mount, error) {
	mt := Mount{
		Type:      string(m.Type),
		Source:    m.Source,
		ReadOnly:  m.ReadOnly,
		CacheID:   m.CacheID,
		Sharing:   string(m.CacheSharing),
		SizeLimit: m.SizeLimit,
		Mode:      m.Mode,
		UID:       m.UID,
		GID:       m.GID,
		Required:  m.Required,
	}
	if m.Env != nil {
		mt.Env = *m.Env
	}
	switch {
	case src != nil && src.isDir():
		mt.From = Source{Kind: SourceContext, Context: src.local}
	case src != nil && src.image:
		img, err := d.imageSource(ctx, src)
		if err != nil {
			return Mount{}, err
		}
		mt.From = img
	case src != nil:
		if !src.dispatched {
			return Mount{}, failf(dockerfile.ErrStageNotFound, "cannot mount from stage %q to %q: the stage must be defined before the current stage %q",
				m.From, m.Target, d.n.name)
		}
		mt.From = Source{Kind: SourceStage, Stage: src.out}
	case m.Type == instructions.MountTypeBind:
		mt.From = Source{Kind: SourceContext}
	default:
		mt.From = Source{Kind: SourceNone}
	}
	switch m.Type {
	case instructions.MountTypeSecret:
		id := m.CacheID
		if m.Source != "" {
			id = m.Source
		}
		if id == "" {
			if m.Target == "" {
				return Mount{}, failf(dockerfile.ErrBadFlag, "secret mount needs id= or target=")
			}
			id = path.Base(m.Target)
		}
		mt.CacheID, mt.Source = id, ""
		mt.Target = m.Target
		if m.Env == nil && mt.Target == "" {
			mt.Target = "/run/secrets/" + path.Base(id)
		}
		return mt, nil
	case instructions.MountTypeSSH:
		if m.Source != "" {
			return Mount{}, failf(dockerfile.ErrBadFlag, "--mount=type=ssh does not support source=: use id= to pick the --ssh socket")
		}
		if mt.CacheID == "" {
			mt.CacheID = "default"
		}
		mt.Target = m.Target
		if mt.Target == "" {
			mt.Target = fmt.Sprintf("/run/buildkit/ssh_agent.%d", countSSH(prior))
		}
		return mt, nil
	case instructions.MountTypeCache:
		if mt.Sharing == "" {
			mt.Sharing = string(instructions.MountSharingShared)
		}
		if mt.CacheID == "" {
			mt.CacheID = path.Clean(m.Target)
		}
	}
	target := m.Target
	if target == "" {
		return Mount{}, failf(dockerfile.ErrBadFlag, "--mount=type=%s needs target=PATH", m.Type)
	}
	if !path.IsAbs(path.Clean(target)) {
		target = filepath.Join("/", d.n.config.Config.WorkingDir, target)
	}
	target = path.Clean(target)
	if target == "/" {
		return Mount{}, failf(dockerfile.ErrBadFlag, "invalid mount target %q: a mount cannot cover /", m.Target)
	}
	mt.Target = target
	if src := path.Join("/", m.Source); src != "/" {
		mt.Source = src
	} else {
		mt.Source = ""
	}
	return mt, nil
}

// imageSource resolves an image named by COPY --from or RUN --mount from=:
// for the target platform, as BuildKit does, even in a stage with its own
// --platform.
func (d *dispatcher) imageSource(ctx context.Context, n *node) (Source, error) {
	src := Source{Kind: SourceImage, Image: n.baseName, Platform: d.g.target}
	cfg, err := d.g.p.resolve(ctx, d.n.st.Location, n.baseName, d.g.target)
	if err != nil {
		return src, err
	}
	if d.g.p.opts.ResolveBase != nil {
		src.Config = cfg
	}
	return src, nil
}

func countSSH(ms []Mount) int {
	n := 0
	for _, m := range ms {
		if m.Type == string(instructions.MountTypeSSH) {
			n++
		}
	}
	return n
}

// copyStep expands COPY and ADD (BuildKit's dispatchCopy).
func (d *dispatcher) copyStep(ctx context.Context, ref cmdRef, sd instructions.SourcesAndDest, excludes []string, add bool, from, chown, chmod string, link, parents bool, checksum string, keepGit, unpack *bool) (*CopyStep, string, error) {
	name := "COPY"
	if add {
		name = "ADD"
	}
	dest, err := destPath(d.n.config.Config.WorkingDir, sd.DestPath, d.os)
	if err != nil {
		return nil, "", failf(dockerfile.ErrInvalidValue, "%s destination %q: %w", name, sd.DestPath, err)
	}
	cp := &CopyStep{
		Add:        add,
		Sources:    slices.Clone(sd.SourcePaths),
		Dest:       dest,
		Chown:      chown,
		Chmod:      chmod,
		Link:       link,
		Parents:    parents,
		Excludes:   slices.Clone(excludes),
		Checksum:   checksum,
		KeepGitDir: keepGit,
		Unpack:     unpack,
		From:       Source{Kind: SourceContext},
	}
	if err := CheckChown(chown); err != nil {
		return nil, "", failf(dockerfile.ErrInvalidValue, "%w", err)
	}
	if chown != "" && link && chownByName(chown) {
		return nil, "", failf(dockerfile.ErrInvalidValue, "--chown=%s: user and group names can't be resolved when used with --link: use a numeric uid[:gid]", chown)
	}
	if chmod != "" {
		if err := CheckChmod(chmod); err != nil {
			return nil, "", failf(dockerfile.ErrInvalidValue, "%w", err)
		}
	}
	if checksum != "" {
		if len(sd.SourcePaths) != 1 {
			return nil, "", failf(dockerfile.ErrInvalidValue, "ADD --checksum can't be specified for multiple sources")
		}
		if !IsURL(sd.SourcePaths[0]) && !IsGitURL(sd.SourcePaths[0]) {
			return nil, "", failf(dockerfile.ErrInvalidValue, "ADD --checksum requires an HTTP(S) or Git source, not %q", sd.SourcePaths[0])
		}
	}
	if !add {
		for _, s := range sd.SourcePaths {
			if IsGitURL(s) {
				return nil, "", failf(dockerfile.ErrInvalidValue, "source can't be a git ref for COPY: use ADD %s", s)
			}
			if IsURL(s) {
				return nil, "", failf(dockerfile.ErrInvalidValue, "source can't be a URL for COPY: use ADD %s, or RUN wget/curl", s)
			}
		}
	}
	if src := ref.from; src != nil {
		if src.isDir() {
			cp.From = Source{Kind: SourceContext, Context: src.local}
		} else if src.image {
			img, err := d.imageSource(ctx, src)
			if err != nil {
				return nil, "", err
			}
			cp.From = img
		} else {
			if !src.dispatched {
				return nil, "", failf(dockerfile.ErrStageNotFound, "cannot copy from stage %q, it needs to be defined before current stage %q",
					from, d.n.name)
			}
			cp.From = Source{Kind: SourceStage, Stage: src.out}
		}
	}
	for _, sc := range sd.SourceContents {
		cp.Inline = append(cp.Inline, InlineFile{Name: sc.Path, Data: sc.Data, Mode: 0o644})
	}

	var b strings.Builder
	b.WriteString(name)
	if parents {
		b.WriteString(" --parents")
	}
	if chown != "" {
		b.WriteString(" --chown=" + chown)
	}
	if chmod != "" {
		b.WriteString(" --chmod=" + chmod)
	}
	for _, s := range sd.SourcePaths {
		b.WriteString(" " + s)
	}
	for _, sc := range sd.SourceContents {
		b.WriteString(" <<" + sc.Path)
	}
	b.WriteString(" " + sd.DestPath + " # buildkit")
	return cp, b.String(), nil
}

// addEnv sets k in an image config Env, in place when present (BuildKit's addEnv).
func addEnv(env []string, k, v string) []string {
	for i, e := range env {
		key, _, _ := strings.Cut(e, "=")
		if shell.EqualEnvKeys(key, k) {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// runCommandString is BuildKit's RUN history text: "|N K=V ..." for the
// ARGs in scope, then the command.
func runCommandString(args []string, buildArgs []instructions.KeyValuePairOptional, env *dockerfile.Env) string {
	pairs := argPairs(buildArgs, env)
	if len(pairs) > 0 {
		pairs = append([]string{fmt.Sprintf("|%d", len(pairs))}, pairs...)
	}
	return strings.Join(append(pairs, args...), " ")
}

// argPairs is "KEY=VALUE" for each ARG declared (once, in order of first
// declaration), the value being what a process sees, else the ARG's own.
func argPairs(buildArgs []instructions.KeyValuePairOptional, env *dockerfile.Env) []string {
	var out []string
	idx := map[string]int{}
	for _, a := range buildArgs {
		v, ok := env.Get(a.Key)
		if !ok {
			v = a.ValueString()
		}
		if i, ok := idx[a.Key]; ok {
			out[i] = a.Key + "=" + v
		} else {
			idx[a.Key] = len(out)
			out = append(out, a.Key+"="+v)
		}
	}
	return out
}

var (
	secretKey = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)`)
	})
	secretAllow = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)(?:_|^)(?:public|file|version)(?:_|$)`) })
)

// lintSecret is BuildKit's SecretsUsedInArgOrEnv rule.
func lintSecret(lint *linter.Linter, instruction, key string, loc []parser.Range) {
	if secretKey().MatchString(key) && !secretAllow().MatchString(key) {
		lint.Run(&linter.RuleSecretsUsedInArgOrEnv, loc, linter.RuleSecretsUsedInArgOrEnv.Format(instruction, key))
	}
}

// stepError is an error of a step before it is located: a message and the
// kind (a dockerfile sentinel) it unwraps to without repeating its text.
type stepError struct {
	kind error
	err  error
}

func (e *stepError) Error() string   { return e.err.Error() }
func (e *stepError) Unwrap() []error { return []error{e.kind, e.err} }

func failf(kind error, format string, args ...any) error {
	return &stepError{kind: kind, err: fmt.Errorf(format, args...)}
}

func (d *dispatcher) errorf(in dockerfile.Instruction, kind error, format string, args ...any) error {
	return dockerfile.Errorf(in.Location, kind, format, args...)
}

// wrap locates an error of a step; its kind is the sentinel it wraps.
func (d *dispatcher) wrap(in dockerfile.Instruction, err error) error {
	for _, k := range []error{dockerfile.ErrStageNotFound, dockerfile.ErrBadFlag, dockerfile.ErrSyntax, dockerfile.ErrExpansion} {
		if errors.Is(err, k) {
			return dockerfile.Wrap(in.Location, k, fmt.Errorf("%s: %w", in.Name(), err))
		}
	}
	return dockerfile.Wrap(in.Location, dockerfile.ErrInvalidValue, fmt.Errorf("%s: %w", in.Name(), err))
}

func rangesOf(l dockerfile.Location) []parser.Range {
	end := max(l.EndLine, l.Line)
	var r []parser.Range
	for i := l.Line; i <= end; i++ {
		r = append(r, parser.Range{Start: parser.Position{Line: i}, End: parser.Position{Line: i}})
	}
	return r
}
