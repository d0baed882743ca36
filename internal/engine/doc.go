// Package engine turns a Dockerfile and a context into multi-platform images.
//
// # Engines
//
// An Engine builds a Request:
//
//	type Engine interface {
//		Build(ctx context.Context, req *Request) (*Result, error)
//	}
//
// A Request holds the Dockerfile's bytes and name, the context directory and
// the named contexts (directories and images, --build-context), the
// target platforms, --build-arg values, --target, labels and annotations, -t
// tags and -o outputs, cache options, secrets, the job limit and a progress
// function; a Result holds the executed Plan, the index descriptor and, per
// platform, the manifest, config and how each step went (cached, emulated,
// time). The native engine (the default) is planner + cache + executor below;
// the BuildKit engine (internal/engine/buildkit) sends the same Request to one
// or more BuildKit daemons. ParseOutput parses -o values as buildx does.
//
// The directories a build reads files from are its local sources
// (local.go): the build context and each named context that is a
// directory, each with its own ignore file and remembered content sums,
// the same hashing and copying for all of them.
//
// # Data flow of the native engine
//
//	Request.Dockerfile
//	  │ dockerfile.Parse: BuildKit's parser; located errors and lint warnings
//	  ▼
//	*dockerfile.File
//	  │ plan.New(ctx, file, plan.Options{Platforms, BuildPlatform, BuildArgs,
//	  │          Target, ResolveBase}): internal/plan, pure, no I/O but ResolveBase
//	  ▼
//	*plan.Plan: per target platform the stages the target needs, every step
//	  │ expanded, stages independent of the target shared; each Step has a Key
//	  │ cache: Key + content of the files a COPY/ADD reads (+ the emulator for
//	  │ an emulated RUN) → a hit reuses the layer, a miss runs the step
//	  ▼
//	executor: the distinct Plan.Stages in dependency order, in parallel
//	  │ within -j (a shared stage once); StepRun → sandbox.Run on a snapshot,
//	  │ under emulation when Step.Platform is foreign; StepCopy and
//	  │ StepWorkdir → a layer written directly; StepConfig → nothing to run
//	  ▼
//	images: base layers + step layers, Stage.Config and Stage.History
//	  │ → one image per PlatformPlan.Result → index → store → outputs
//	  ▼
//	Result
//
// # The planner
//
// Planning is internal/plan's (see its package documentation): a pure,
// typed, printable Plan made from the Dockerfile, the build arguments and
// the base images' configs, which NewNative's executor resolves through
// internal/ref and the store (engine.go's resolveBase). The executor names
// the plan's types through the aliases in plan.go (Plan, Stage, Step, ...).
// How a COPY is carried out is the executor's: planFS (planfs.go) plans
// the layer over the parent's layer directories in memory.
//
// # The executor
//
// NewNative returns the native Engine. Build runs in one store Transaction:
// every distinct Plan stage runs once, in its own goroutine once the stages
// it reads are done; RUN, COPY and WORKDIR steps take a share of the -j
// limit (an emulated RUN counts double). RUN runs in internal/sandbox on an
// overlay of the parent's layer directories (internal/snapshot) under the
// emulation internal/emulation decides, and the overlay's upper directory is
// the layer; COPY, ADD and WORKDIR change a host mount of the parent and its
// diff is the layer (COPY --link: a tar of the copied files alone). Layers are
// compressed into the store as they are made and recorded in the build cache
// (see cache.go); the outputs are written last, store tags after everything
// else, so a failed build names nothing.
//
// Keys: Step.Key (internal/plan) is content-free; the executor's cache key of
// a step adds, with plan.HashKey, the content of the files a COPY or ADD
// reads, the emulator of an emulated RUN and the layer compression (see
// cache.go).
package engine
