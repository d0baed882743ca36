package plan

import (
	"context"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/manyarch/manyarch/internal/dockerfile"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// BaseResolver returns the config of the base image ref for platform p. The
// planner calls it once per distinct (ref, platform) among the stages it
// needs, sequentially, and only for external images (never for scratch or a
// stage). ref is the FROM (or COPY --from / RUN --mount from=) value after
// ARG expansion, in manyarch's reference syntax; the resolver decides what it
// means (store, registry, oci:DIR, ...). The planner reads Env, WorkingDir,
// User, Shell, OnBuild and the rest of Config from the result and mixes a
// digest of the whole config file into the stage's Key, so the resolver
// should return the config of the image it will actually use.
type BaseResolver func(ctx context.Context, ref string, p specs.Platform) (*v1.ConfigFile, error)

// Options are the inputs of New besides the Dockerfile.
type Options struct {
	// Platforms to build for, in output order. Empty means BuildPlatform.
	Platforms []specs.Platform
	// BuildPlatform is the platform the build runs on (BUILDPLATFORM); the
	// zero value means the host's (containerd/platforms.DefaultSpec).
	BuildPlatform specs.Platform
	// BuildArgs are the --build-arg values.
	BuildArgs map[string]string
	// Target is the --target stage; "" is the last stage.
	Target string
	// Contexts are named build contexts (buildx --build-context NAME=VALUE)
	// that are images: NAME → a reference in manyarch's syntax, which
	// FROM NAME, COPY --from=NAME and RUN --mount from=NAME use instead of
	// the image or the stage of that name (a stage named NAME is replaced
	// whole, its instructions not run, as in BuildKit). Names match as
	// BuildKit's do: alpine, alpine:latest and docker.io/library/alpine
	// are one name.
	Contexts map[string]string
	// LocalContexts are the names of named build contexts that are
	// directories (buildx --build-context NAME=DIR), matched as Contexts
	// are. The plan knows them by name only (never by host path, which
	// must not reach keys): COPY --from=NAME and RUN --mount from=NAME read
	// Source{Kind: SourceContext, Context: NAME}, and FROM NAME (or a stage
	// named NAME, replaced whole) is a stage with Base{Kind: BaseContext}:
	// the directory's files on scratch with an empty config, as BuildKit's
	// Dockerfile frontend makes a "local:" named context.
	LocalContexts []string
	// ResolveBase resolves base images. nil treats every external image as
	// having an empty config (no ENV, WORKDIR, USER or ONBUILD), which is
	// enough to preview a plan but not to build.
	ResolveBase BaseResolver
}

// Plan is what a build of a Dockerfile does, platform by platform, with every
// variable expanded: the input of the executor and of the cache.
type Plan struct {
	File          *dockerfile.File
	BuildPlatform specs.Platform
	Target        string // display name of the target stage
	// Platforms holds one entry per requested target platform, in order.
	Platforms []*PlatformPlan
	// Stages lists every distinct stage to build once, dependencies before
	// their users; a stage shared by several targets appears once.
	Stages []*Stage
	// Warnings from parsing and planning, without duplicates, in file order.
	Warnings []dockerfile.Warning
}

// PlatformPlan is the build of the target stage for one target platform.
// The image it produces carries Platform in its config even when
// Result.Platform differs (a target stage FROM --platform=...), as
// BuildKit's finalizeResultImage does.
type PlatformPlan struct {
	Platform specs.Platform
	// Stages needed for the target, dependencies first; the last is Result.
	// Stages not reachable from the target are pruned, as BuildKit does.
	Stages []*Stage
	Result *Stage
}

// Stage is one FROM of the Dockerfile planned for one platform.
type Stage struct {
	Index    int    // index in the Dockerfile
	Name     string // AS name, or "stage-N"
	Location dockerfile.Location
	// Platform is the platform of the stage's image and of its RUN steps: its
	// FROM --platform when given, else the target platform; a stage FROM
	// another stage has that stage's platform, and FROM scratch is always the
	// target platform (all as in BuildKit).
	Platform specs.Platform
	// FromPlatform is the stage's FROM --platform value as written
	// ("$BUILDPLATFORM"), "" when absent.
	FromPlatform string
	// Targets are the target platforms whose builds use this stage. More than
	// one means the stage does not depend on the target platform (a stage
	// pinned with --platform=$BUILDPLATFORM that uses no TARGET* argument)
	// and is built once for all of them.
	Targets []specs.Platform
	Base    Base
	Steps   []*Step
	// Config is the image config after the last step, as BuildKit writes it
	// (Env with PATH defaulted, WorkingDir, User, Cmd, Entrypoint, Labels,
	// ExposedPorts, Volumes, StopSignal, Healthcheck, Shell, OnBuild, ...).
	Config v1.Config
	// HealthcheckStartInterval is HEALTHCHECK --start-interval, which
	// go-containerregistry's HealthConfig has no field for; the executor
	// writes it as Healthcheck.StartInterval.
	HealthcheckStartInterval time.Duration
	// Author is the MAINTAINER (config file "author").
	Author string
	// History holds the entries BuildKit appends for the stage's own steps,
	// after those of its base (a base stage's entries are in its History).
	History []v1.History
	// Key identifies the stage's result: a hash of the base, every step's Key
	// and the arguments in scope. Two stages with equal keys produce the same
	// image.
	Key string
}

// Shared reports whether several target platforms use the stage.
func (s *Stage) Shared() bool { return len(s.Targets) > 1 }

// BaseKind says what a stage starts from.
type BaseKind int

const (
	BaseScratch BaseKind = iota // FROM scratch: no layers; config with only PATH and WorkingDir "/"
	BaseStage                   // FROM an earlier stage
	BaseImage                   // FROM an image resolved by the executor
	// BaseContext is FROM a named local context (Options.LocalContexts):
	// one layer of the directory's files, config as for scratch.
	BaseContext
)

func (k BaseKind) String() string {
	switch k {
	case BaseScratch:
		return "scratch"
	case BaseStage:
		return "stage"
	case BaseImage:
		return "image"
	case BaseContext:
		return "context"
	}
	return "unknown"
}

// Base is the starting point of a stage.
type Base struct {
	Kind     BaseKind
	Ref      string         // BaseImage: the expanded reference
	Stage    *Stage         // BaseStage
	Context  string         // BaseContext: the name in Options.LocalContexts
	Platform specs.Platform // the platform of the base
	// Config is the base image config from ResolveBase (BaseImage; nil when
	// no resolver was given). Stages with the same base share it: read-only.
	Config *v1.ConfigFile
}

// StepKind classifies a step by what the executor does with it.
type StepKind int

const (
	StepConfig  StepKind = iota // changes the image config only (ENV, LABEL, CMD, ARG, ...)
	StepRun                     // runs a process: a new layer from its changes
	StepCopy                    // COPY or ADD: a new layer written directly
	StepWorkdir                 // WORKDIR: creates the directory (a layer) unless it is "/"
)

func (k StepKind) String() string {
	switch k {
	case StepConfig:
		return "config"
	case StepRun:
		return "run"
	case StepCopy:
		return "copy"
	case StepWorkdir:
		return "workdir"
	}
	return "unknown"
}

// Step is one instruction of a stage with everything expanded.
type Step struct {
	Kind        StepKind
	Instruction string // "RUN", "COPY", ...
	Source      string // the instruction as written
	Location    dockerfile.Location
	OnBuild     bool // an ONBUILD trigger of the base
	Platform    specs.Platform
	// Env is what a process started at this step sees, in BuildKit's order:
	// the image's Env and the ARGs in scope with their values (and, for a
	// RUN with an ssh mount, SSH_AUTH_SOCK).
	Env []string
	// Args are the ARGs in scope ("KEY=VALUE", each name once, in order of
	// declaration, valued as a process sees them): the "|N KEY=VALUE" prefix
	// of BuildKit's RUN history.
	Args    []string
	Shell   []string // effective shell for shell-form commands
	WorkDir string
	User    string

	Run     *RunStep     // StepRun
	Copy    *CopyStep    // StepCopy
	Workdir *WorkdirStep // StepWorkdir
	// History is the entry BuildKit writes for the step; zero for ONBUILD,
	// which BuildKit does not record.
	History v1.History
	// Key is the content-free part of the step's cache key: a hash of the
	// parent's key, the expanded instruction, the arguments and environment
	// it sees, the shell, workdir and user, and the platform. The executor
	// adds the content of the files COPY/ADD read (and a RUN bind-mounts
	// from the context) and, for emulated RUN steps, the emulator.
	Key string
}

// Layer reports whether BuildKit writes a layer for the step (history
// EmptyLayer false).
func (s *Step) Layer() bool { return !s.History.EmptyLayer }

// RunStep is an expanded RUN.
type RunStep struct {
	// Args is the process's argv: shell + command for the shell form, the
	// JSON array for the exec form; heredocs already turned into the command
	// or script as BuildKit does.
	Args []string
	// Inline is a heredoc script starting with #! that BuildKit writes to a
	// file and mounts read-only at Target (Args then runs it).
	Inline   []InlineFile
	Mounts   []Mount
	Network  string // "default", "none" or "host"
	Security string // "sandbox" or "insecure"
	// ProxyEnv holds the HTTP(S)_PROXY, NO_PROXY, FTP_PROXY and ALL_PROXY
	// build args: BuildKit gives them to the process but keeps them out of
	// the cache key and the history, and so does manyarch.
	ProxyEnv []string
}

// InlineFile is a heredoc turned into a file.
type InlineFile struct {
	Name string      // heredoc word (COPY <<EOF: the file name under the destination)
	Path string      // RUN: where it is mounted; COPY: empty
	Data string      // content, variables expanded when the heredoc word is unquoted
	Mode os.FileMode // 0755 for RUN scripts, 0644 for COPY
}

// SourceKind says where a COPY or a mount reads from.
type SourceKind int

const (
	SourceContext SourceKind = iota // the build context, or a named local context (Source.Context)
	SourceStage                     // an earlier stage's result
	SourceImage                     // an image (COPY --from=alpine)
	SourceNone                      // nothing (tmpfs, cache without from, secret, ssh)
)

func (k SourceKind) String() string {
	switch k {
	case SourceContext:
		return "context"
	case SourceStage:
		return "stage"
	case SourceImage:
		return "image"
	case SourceNone:
		return "none"
	}
	return "unknown"
}

// Source is what a COPY --from or a RUN --mount from= names.
type Source struct {
	Kind  SourceKind
	Stage *Stage // SourceStage
	// Context is, for SourceContext, "" for the build context or the name
	// of a named local context as given in Options.LocalContexts.
	Context  string
	Image    string         // SourceImage: the reference as written
	Platform specs.Platform // SourceImage: the target platform, as in BuildKit
	// Config is the image's config from ResolveBase (SourceImage; nil when
	// no resolver was given; shared, read-only). Its digest is part of the
	// step's Key.
	Config *v1.ConfigFile
}

// Mount is an expanded RUN --mount.
type Mount struct {
	Type     string // bind, cache, tmpfs, secret, ssh
	Target   string // absolute path in the container
	From     Source
	Source   string // path in From ("" = its root)
	ReadOnly bool
	// cache
	CacheID string // defaults to the cleaned target, as in BuildKit
	Sharing string // shared, private or locked
	// tmpfs
	SizeLimit int64
	// cache, secret, ssh
	Mode     *uint64
	UID, GID *uint64
	// secret, ssh
	Required bool
	Env      string
}

// CopyStep is an expanded COPY or ADD.
type CopyStep struct {
	Add     bool
	From    Source
	Sources []string     // expanded paths or, for ADD, URLs and git refs
	Inline  []InlineFile // heredoc sources
	// Dest is absolute, resolved against the working directory and cleaned;
	// it ends in "/" when the destination named a directory ("dir/",
	// "dir/.", "."), which means "copy into this directory".
	Dest       string
	Chown      string
	Chmod      string
	Link       bool
	Parents    bool
	Excludes   []string
	Checksum   string // ADD --checksum
	KeepGitDir *bool  // ADD --keep-git-dir
	Unpack     *bool  // ADD --unpack; nil: ADD unpacks local archives, COPY never
}

// WorkdirStep is an expanded WORKDIR.
type WorkdirStep struct {
	Path string // absolute, cleaned
	// Mkdir is true when BuildKit creates the directory (a layer): any path
	// but "/". It is created with mode 0755 owned by User when set.
	Mkdir bool
}
