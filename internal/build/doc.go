// Package build turns a Dockerfile and a context into multi-platform images.
//
// # Engines
//
// An Engine builds a Request:
//
//	type Engine interface {
//		Build(ctx context.Context, req *Request) (*Result, error)
//	}
//
// A Request holds the Dockerfile's bytes and name, the context directory, the
// target platforms, --build-arg values, --target, labels and annotations, -t
// tags and -o outputs, cache options, secrets, the job limit and a progress
// function; a Result holds the executed Plan, the index descriptor and, per
// platform, the manifest, config and how each step went (cached, emulated,
// time). The native engine (the default) is planner + cache + executor below;
// the BuildKit engine (internal/build/buildkit) sends the same Request to one
// or more BuildKit daemons. ParseOutput parses -o values as buildx does.
//
// # Data flow of the native engine
//
//	Request.Dockerfile
//	  │ dockerfile.Parse: BuildKit's parser; located errors and lint warnings
//	  ▼
//	*dockerfile.File
//	  │ NewPlan(ctx, file, PlanOptions{Platforms, BuildPlatform, BuildArgs,
//	  │         Target, ResolveBase}): pure, no I/O but ResolveBase
//	  ▼
//	*Plan: per target platform the stages the target needs, every step
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
// NewPlan is the front half of the native engine and has no other state than
// its inputs: it calls PlanOptions.ResolveBase for each external image the
// target needs (FROM, COPY --from=image, RUN --mount from=image), once per
// reference and platform, because ENV, WORKDIR, USER, SHELL and ONBUILD of a
// base image change what later instructions mean. The executor passes a
// resolver backed by internal/ref and the store; tests pass a table.
//
// Semantics are BuildKit's (frontend/dockerfile/dockerfile2llb), verified by
// the golden plans in testdata/dockerfile: the automatic platform ARGs, global
// ARGs and their scoping in stages, variable expansion per instruction,
// WORKDIR and COPY destination resolution, the shell form and heredocs of RUN,
// RUN mounts with their defaults, ONBUILD triggers of base images and base
// stages (which may add stage dependencies), pruning of the stages the target
// does not need, and the config and history BuildKit writes. Errors are
// *dockerfile.Error values located in the Dockerfile (unknown stage in
// --from, cycles, bad values, failed expansions, unresolvable bases).
//
// Sharing: a stage is planned for every target platform; two plans of the same
// Dockerfile stage with equal Keys are the same stage, kept once in
// Plan.Stages with all its Targets. A stage pinned with
// FROM --platform=$BUILDPLATFORM whose steps see no TARGET* argument has
// equal keys for every target, so a cross-compiling toolchain stage is built
// once; BuildKit reaches the same result by deduplicating equal LLB.
//
// For the executor and the summary, Plan.ContextPaths lists what the build
// reads from the context (BuildKit's FollowPaths) and Plan.CrossCompileHints
// names builder stages that run under emulation for foreign targets although
// FROM --platform=$BUILDPLATFORM would let them cross-compile natively.
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
// Keys: Step.Key hashes the parent key (base image config digest, or the base
// stage's key), the expanded instruction, the ARGs and environment the step
// sees, the shell, working directory, user and platform. It is content-free:
// the cache adds the content of the files a COPY or ADD reads. Stage.Key hashes
// the last step's key and the final config.
package build
