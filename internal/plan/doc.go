// Package plan turns a parsed Dockerfile into a Plan: for every target
// platform, the stages the target needs with every instruction expanded into
// a typed Step, the stages that do not depend on the target shared, and a
// content-free cache Key on each step and stage. It is the front half of the
// native build engine (internal/engine executes a Plan) and of any other
// engine that wants BuildKit's Dockerfile semantics without BuildKit.
//
// # Use
//
//	f, err := dockerfile.Parse(ctx, "Dockerfile", r)
//	p, err := plan.New(ctx, f, plan.Options{
//		Platforms:     []specs.Platform{amd64, arm64},
//		BuildPlatform: amd64,
//		BuildArgs:     map[string]string{"VERSION": "1.2"},
//		Target:        "release",
//		ResolveBase:   resolve, // FROM busybox → its config, per platform
//	})
//	fmt.Print(p) // the printable plan: `go test ./internal/plan -update` goldens
//
// New has no other state than its inputs and does no I/O but
// Options.ResolveBase, which it calls for each external image the target
// needs (FROM, COPY --from=image, RUN --mount from=image), once per reference
// and platform, because ENV, WORKDIR, USER, SHELL and ONBUILD of a base image
// change what later instructions mean. The executor passes a resolver backed
// by internal/ref and the store; tests pass plantest.Resolver.
//
// # Semantics
//
// Semantics are BuildKit's (frontend/dockerfile/dockerfile2llb), verified by
// the golden plans in testdata/dockerfile and by testdata/dockerfile/bkdiff,
// which diffs them against dockerfile2llb: the automatic platform ARGs,
// global ARGs and their scoping in stages, variable expansion per
// instruction, WORKDIR and COPY destination resolution, the shell form and
// heredocs of RUN, RUN mounts with their defaults, ONBUILD triggers of base
// images and base stages (which may add stage dependencies), pruning of the
// stages the target does not need, and the config and history BuildKit
// writes. As dockerfile2llb, each instruction has its own dispatch function
// (dispatchRun, dispatchCopy, dispatchEnv, ...). Errors are *dockerfile.Error
// values located in the Dockerfile (unknown stage in --from, cycles, bad
// values, failed expansions, unresolvable bases).
//
// Platforms mean what internal/platform says, in --platform and in
// FROM --platform alike: linux/armel is linux/arm/v5 (containerd's
// Normalize says linux/arm/v6), arm is arm/v7, arm64/v8 is arm64.
//
// Sharing: a stage is planned for every target platform; two plans of the
// same Dockerfile stage with equal Keys are the same stage, kept once in
// Plan.Stages with all its Targets. A stage pinned with
// FROM --platform=$BUILDPLATFORM whose steps see no TARGET* argument has
// equal keys for every target, so a cross-compiling toolchain stage is built
// once; BuildKit reaches the same result by deduplicating equal LLB.
//
// Keys: Step.Key hashes (HashKey) the parent key (base image config digest,
// or the base stage's key), the expanded instruction, the ARGs and
// environment the step sees, the shell, working directory, user and platform
// (PlatformKey). It is content-free: the executor's cache adds the content
// of the files a COPY or ADD reads. Stage.Key hashes the last step's key and
// the final config.
//
// For the executor and the summary, Plan.ContextPaths lists what the build
// reads from the context (BuildKit's FollowPaths; LocalPaths the same for a
// named context that is a directory, LocalContexts which of those it reads) and Plan.CrossCompileHints
// names builder stages that run under emulation for foreign targets although
// FROM --platform=$BUILDPLATFORM would let them cross-compile natively.
//
// # What it must not do
//
// The package is pure: it must not import the executor (internal/engine), the
// store, snapshots, the sandbox, registries or emulation, must not read the
// build context or any file, and must not run anything. How a COPY is
// carried out (the in-memory overlay plan of internal/engine's planfs.go, the
// file hashing of the cache) belongs to the executor.
package plan
