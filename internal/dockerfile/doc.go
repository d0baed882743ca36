// Package dockerfile is manyarch's Dockerfile front end: a thin adapter over
// BuildKit's own parser, instruction and shell-lexer packages
// (github.com/moby/buildkit/frontend/dockerfile/{parser,instructions,shell,linter}),
// so that syntax, escapes, heredocs, flags and variable expansion are exactly
// BuildKit's, with errors and warnings located as FILE:LINE(:COL).
//
// It owns the language, not the build:
//
//   - Parse reads a Dockerfile into a File: the global ARGs before the first
//     FROM (MetaArgs), the stages (FROM ... AS name, --platform, base name, all
//     unexpanded) with BuildKit's typed instructions, and the lint warnings that
//     depend on the text alone. "# escape=", "# syntax=" (recorded) and
//     "# check=" (lint configuration) directives are honoured.
//   - PlatformArgs and File.GlobalArgs compute the automatic platform
//     arguments (BUILDPLATFORM BUILDOS BUILDARCH BUILDVARIANT TARGETPLATFORM
//     TARGETOS TARGETARCH TARGETVARIANT, plus BuildKit's BUILDOSVERSION,
//     TARGETOSVERSION and TARGETSTAGE) and the global ARGs exactly as BuildKit
//     does; Env is BuildKit's ordered variable list; File.Lexer is its lexer.
//   - File.ParseTriggers turns ONBUILD triggers (of a base image's config, or a
//     base stage's ONBUILD instructions) into instructions.
//
// Per-target-platform semantics (which stages a target needs, ARG scoping
// inside stages, expanded steps, COPY --from and cycles) belong to the planner
// in internal/engine, which reports its errors with this package's *Error.
//
// Errors: every error about the Dockerfile's content is an *Error whose
// message starts with the location and which unwraps to one of the sentinel
// kinds (ErrUnknownInstruction, ErrBadFlag, ErrSyntax, ErrDuplicateStage,
// ErrStageNotFound, ErrCycle, ...) and, where BuildKit reported it, to
// BuildKit's error:
//
//	Dockerfile:7: unknown instruction: "RUNN" (did you mean RUN?)
//	Dockerfile:3:6: COPY unknown flag: --form (did you mean from?)
//
// Deliberate difference from BuildKit: two stages with the same name are an
// error (ErrDuplicateStage) rather than BuildKit's DuplicateStageName warning,
// since COPY --from=NAME would silently pick the last one.
//
// The package does no I/O beyond reading the Dockerfile, never prints, and a
// File is safe for concurrent readers (instructions are Cloned before
// expansion).
package dockerfile
