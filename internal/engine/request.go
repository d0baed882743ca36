package engine

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/manyarch/manyarch/internal/sandbox"
	"github.com/manyarch/manyarch/internal/sshagent"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/progress"
)

// Engine builds a Request: the native engine (plan, cache, execute under
// emulation, store) and the BuildKit client engine implement it.
//
// A nil error promises that every output of the Request was written; on an
// error no output (in particular no tag in the store) names a partial result.
// Build is safe to call concurrently with distinct Requests.
type Engine interface {
	Build(ctx context.Context, req *Request) (*Result, error)
}

// Request is one `manyarch build`: what docker buildx build takes, less the
// flags that only shape the CLI's own output (--iidfile and --metadata-file
// are written by the CLI from the Result).
type Request struct {
	// Dockerfile is the Dockerfile's content, already read (-f FILE, or
	// standard input with -f -).
	Dockerfile []byte
	// DockerfileName names it in messages: the -f path, "-" for stdin.
	DockerfileName string
	// ContextDir is the build context directory; .dockerignore in it applies.
	ContextDir string
	// Platforms to build, in output order; empty means the build platform.
	Platforms []specs.Platform
	// BuildPlatform overrides the host platform (tests, remote builders).
	BuildPlatform specs.Platform
	BuildArgs     map[string]string // --build-arg
	Target        string            // --target
	Labels        map[string]string // --label, applied to the result images
	// Annotations are --annotation values for the index and manifests,
	// "KEY=VALUE" or "index:KEY=VALUE" / "manifest[PLATFORM]:KEY=VALUE".
	Annotations []string
	// Tags are the -t names: written to the store, and pushed with Push.
	Tags []string
	Push bool
	// Outputs are the -o outputs (see ParseOutput).
	Outputs []Output
	// NoCache disables the build cache; NoCacheFilter only for these stages.
	NoCache       bool
	NoCacheFilter []string
	// CacheFrom and CacheTo are --cache-from / --cache-to (type=local or
	// type=registry attributes, as ParseOutput parses them).
	CacheFrom []Output
	CacheTo   []Output
	// Secrets are --secret id=ID,src=PATH|env=VAR sources for RUN
	// --mount=type=secret.
	Secrets []Output
	// SSH are the --ssh agents and keys for RUN --mount=type=ssh (see
	// package sshagent); Build checks them before anything runs.
	SSH []sshagent.Spec
	// Jobs bounds the steps run at once (-j); 0 means the number of CPUs.
	Jobs int
	// MemoryLimit, when positive, bounds in bytes the memory (and swap) of
	// all RUN processes of the build together (--memory-limit): they run in
	// one cgroup, each step in a child of it.
	MemoryLimit int64
	// Allow grants entitlements (--allow): EntitlementSecurityInsecure
	// lets RUN --security=insecure steps run privileged; without it they
	// fail the build before anything runs.
	Allow []string
	// ExtraHosts, Ulimits and ShmSize apply to every RUN step (buildx's
	// --add-host, --ulimit, --shm-size); ExtraHosts are sandbox.ParseHost
	// lines. Network "none" runs every RUN without a network (buildx
	// --network none); "", "default" and "host" keep RUN's own.
	ExtraHosts []string
	Ulimits    []sandbox.Ulimit
	ShmSize    int64
	Network    string
	// Pull reads every base image named with a registry host
	// (127.0.0.1:5000/base:1, docker.io/library/busybox) from its registry
	// even when the store has it, as buildx --pull; the store's name is
	// then updated to what was read (see pull.go). Hostless names (store
	// names) and NAME@DIGEST are read as without Pull.
	Pull bool
	// Contexts are named build contexts that are images (--build-context
	// NAME=docker-image://REF or oci-layout://DIR:TAG): NAME → REF in
	// manyarch's syntax; see plan.Options.Contexts.
	Contexts map[string]string
	// LocalContexts are named build contexts that are directories
	// (--build-context NAME=DIR): NAME → DIR. COPY --from=NAME, RUN
	// --mount from=NAME and FROM NAME read the directory as they read the
	// build context, with the .dockerignore at its root (not the build
	// context's); see plan.Options.LocalContexts. Nothing of DIR but its
	// content reaches the result or the cache keys.
	LocalContexts map[string]string
	// CheckOnly plans the build (base images resolved, lint and planning
	// warnings gathered) and runs nothing: Result has the Plan and the
	// Warnings only (buildx build --check).
	CheckOnly bool
	// DownloadMaxSize bounds each ADD <url> download in bytes
	// (--add-max-size): 0 is DefaultDownloadMaxSize, negative no bound.
	DownloadMaxSize int64
	// DownloadTimeout is how long an ADD <url> download waits for its
	// server to connect, answer or send more of the body (--add-timeout):
	// 0 is DefaultDownloadTimeout.
	DownloadTimeout time.Duration
	// SourceDateEpoch, when set, clamps layer times and sets created
	// (SOURCE_DATE_EPOCH from the environment or --build-arg).
	SourceDateEpoch *time.Time
	// Attest asks for SBOM and provenance attestations (--sbom,
	// --provenance, --attest; see attest.go).
	Attest Attest
	// Progress receives build events (a step on a platform, emulated or
	// not, cached or not, its time); nil discards them.
	Progress progress.Func
}

// Pushed is one reference a build pushed.
type Pushed struct {
	Ref      string  // 127.0.0.1:5000/demo/app:1.0, or REPO@sha256:... by digest
	Digest   v1.Hash // what the reference names now
	ByDigest bool    // pushed with no tag (push-by-digest)
}

// Result is what a successful Build produced.
type Result struct {
	// Plan is the plan that was executed.
	Plan *plan.Plan
	// Index is the descriptor of the image index of all platforms (its
	// digest is the --iidfile content for a multi-platform build).
	Index v1.Descriptor
	// Platforms holds one entry per built platform, in Request order.
	Platforms []PlatformResult
	// Pushed lists what was pushed to registries, in -t order: the
	// reference (REPO:TAG, or REPO@DIGEST with push-by-digest) and the
	// digest of the manifest or index pushed.
	Pushed []Pushed
	// Pulled lists the bases Request.Pull read from their registries, in
	// the order the build first used them.
	Pulled []Pulled
	// Warnings from the Dockerfile and the build.
	Warnings []dockerfile.Warning
}

// Pulled is a base image a build read from its registry (--pull) and named
// in the store.
type Pulled struct {
	Ref    string  // 127.0.0.1:5000/base:1, as the Dockerfile names it
	Digest v1.Hash // what the registry's tag named (the index, or the image)
}

// PlatformResult is the image built for one platform.
type PlatformResult struct {
	Platform specs.Platform
	Manifest v1.Descriptor // the image manifest in the index
	Config   v1.Hash       // its config digest
	Steps    []StepResult
}

// StepResult is how one step of the plan went.
type StepResult struct {
	Key      string        // plan.Step.Key extended with content, as the cache saw it
	Stage    string        // stage name
	Cached   bool          // reused from the build cache
	Emulated bool          // ran under an emulator (RUN steps for a foreign platform)
	Duration time.Duration // 0 when cached
}

// Output is a parsed -o/--output, --cache-from/--cache-to or --secret value:
// a type and its key=value attributes, in the CSV form buildx uses.
type Output struct {
	Type  string            // local, tar, oci, docker, image, registry (outputs); local, registry (cache)
	Dest  string            // dest= (file or directory; "-" is standard output)
	Attrs map[string]string // every other attribute (name=, push=, compression=, ...)
}

// Output types of -o, as buildx names them.
var outputTypes = map[string]bool{"local": true, "tar": true, "oci": true, "docker": true, "image": true, "registry": true}

// ErrBadOutput is wrapped by ParseOutput's errors.
var ErrBadOutput = errors.New("bad output")

// ParseOutput parses an -o value as buildx does: "type=oci,dest=out.tar",
// "type=local,dest=DIR", "type=registry", "type=image,name=app:1,push=true",
// and the shorthands "DIR" (type=local,dest=DIR) and "-" (type=tar,dest=-).
func ParseOutput(s string) (Output, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Output{}, fmt.Errorf("%w: empty -o value: want e.g. type=oci,dest=image.tar", ErrBadOutput)
	}
	if s == "-" {
		return Output{Type: "tar", Dest: "-", Attrs: map[string]string{}}, nil
	}
	if !strings.Contains(s, "=") {
		return Output{Type: "local", Dest: s, Attrs: map[string]string{}}, nil
	}
	out, err := parseAttrs(s)
	if err != nil {
		return Output{}, err
	}
	if out.Type == "" {
		return Output{}, fmt.Errorf("%w: -o %s has no type=: want one of local, tar, oci, docker, image, registry", ErrBadOutput, s)
	}
	if !outputTypes[out.Type] {
		return Output{}, fmt.Errorf("%w: -o %s: unknown type %q: want one of local, tar, oci, docker, image, registry", ErrBadOutput, s, out.Type)
	}
	switch out.Type {
	case "local", "tar", "oci", "docker":
		if out.Dest == "" && out.Type == "local" {
			return Output{}, fmt.Errorf("%w: -o %s: type=local needs dest=DIR", ErrBadOutput, s)
		}
		if out.Dest == "" && (out.Type == "oci" || out.Type == "tar") {
			return Output{}, fmt.Errorf("%w: -o %s: type=%s needs dest=FILE (or dest=- for standard output)", ErrBadOutput, s, out.Type)
		}
	}
	return out, nil
}

// ParseAttrs parses a buildx-style CSV "type=T,key=value,..." without
// checking the type (for --cache-from, --cache-to and --secret).
func ParseAttrs(s string) (Output, error) { return parseAttrs(s) }

func parseAttrs(s string) (Output, error) {
	r := csv.NewReader(strings.NewReader(s))
	fields, err := r.Read()
	if err != nil && !errors.Is(err, io.EOF) {
		return Output{}, fmt.Errorf("%w: %q: %w", ErrBadOutput, s, err)
	}
	out := Output{Attrs: map[string]string{}}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			return Output{}, fmt.Errorf("%w: %q: %q is not key=value", ErrBadOutput, s, f)
		}
		switch k {
		case "type":
			out.Type = strings.ToLower(v)
		case "dest":
			out.Dest = v
		default:
			if _, dup := out.Attrs[k]; dup {
				return Output{}, fmt.Errorf("%w: %q: %s given twice", ErrBadOutput, s, k)
			}
			out.Attrs[k] = v
		}
	}
	return out, nil
}
