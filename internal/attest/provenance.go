package attest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// Provenance modes, as buildx's --provenance mode=: min leaves out the
// values of build arguments; max has them.
const (
	ModeMin = "min"
	ModeMax = "max"
)

// BuildType is the SLSA buildType of manyarch's native engine.
const BuildType = "https://github.com/manyarch/manyarch/blob/main/docs/supply-chain.md#provenance"

// Build is what the engine knows of one platform's build, the input of
// Provenance. It holds no secret: build secrets are not among its fields.
type Build struct {
	BuilderID      string // "https://github.com/manyarch/manyarch"
	BuilderVersion string // manyarch's version
	Mode           string // ModeMin or ModeMax
	DockerfilePath string // as given with -f
	Dockerfile     []byte // its content, for its digest
	BuildArgs      map[string]string
	Target         string
	// BuilderPlatform is the platform the build ran on; Platform the
	// image's.
	BuilderPlatform specs.Platform
	Platform        specs.Platform
	Bases           []Base     // every base image the platform's stages used
	Downloads       []Download // every ADD of a URL
	Emulated        []Step     // RUN steps that ran (or were cached) under emulation
	Started         time.Time
	Finished        time.Time
}

// Base is a base image as resolved: the reference as written (expanded),
// the platform chosen, and the image manifest's digest.
type Base struct {
	Ref      string
	Platform specs.Platform
	Digest   v1.Hash
}

// Download is an ADD <url> source and the SHA-256 of what it gave.
type Download struct {
	URL    string
	SHA256 string // hex
}

// Step is a RUN step that ran under emulation.
type Step struct {
	Stage    string `json:"stage"`
	Location string `json:"location,omitempty"` // Dockerfile:LINE
	Command  string `json:"command"`
	Emulator string `json:"emulator"` // "qemu-aarch64 (private binfmt_misc)"
	Cached   bool   `json:"cached,omitempty"`
}

// SLSA provenance v1 (https://slsa.dev/spec/v1.0/provenance), the fields
// manyarch writes. Field names of externalParameters follow BuildKit's.
type provenance struct {
	BuildDefinition buildDefinition `json:"buildDefinition"`
	RunDetails      runDetails      `json:"runDetails"`
}

type buildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   externalParameters   `json:"externalParameters"`
	InternalParameters   internalParameters   `json:"internalParameters"`
	ResolvedDependencies []resourceDescriptor `json:"resolvedDependencies"`
}

type externalParameters struct {
	ConfigSource configSource `json:"configSource"`
	Request      request      `json:"request"`
}

type configSource struct {
	Path   string            `json:"path"`
	Digest map[string]string `json:"digest"`
}

type request struct {
	Frontend string            `json:"frontend"`
	Args     map[string]string `json:"args,omitempty"`
	Locals   []local           `json:"locals"`
}

type local struct {
	Name string `json:"name"`
}

type internalParameters struct {
	BuilderPlatform string `json:"builderPlatform"`
	TargetPlatform  string `json:"targetPlatform"`
	// EmulatedSteps lists the RUN steps that ran under an emulator, and
	// which: empty when every step ran natively.
	EmulatedSteps []Step `json:"emulatedSteps"`
}

type resourceDescriptor struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest"`
}

type runDetails struct {
	Builder  builder  `json:"builder"`
	Metadata metadata `json:"metadata"`
}

type builder struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

type metadata struct {
	InvocationID string `json:"invocationID,omitempty"`
	StartedOn    string `json:"startedOn,omitempty"`
	FinishedOn   string `json:"finishedOn,omitempty"`
}

// Provenance is the SLSA provenance v1 predicate of b.
func Provenance(b Build) (any, error) {
	if b.Mode != ModeMin && b.Mode != ModeMax {
		return nil, fmt.Errorf("provenance mode %q: use min or max", b.Mode)
	}
	sum := sha256.Sum256(b.Dockerfile)
	p := provenance{}
	d := &p.BuildDefinition
	d.BuildType = BuildType
	d.ExternalParameters.ConfigSource = configSource{Path: b.DockerfilePath, Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}}
	d.ExternalParameters.Request = request{Frontend: "dockerfile.v0", Locals: []local{{"context"}, {"dockerfile"}}}
	args := map[string]string{}
	if b.Target != "" {
		args["target"] = b.Target
	}
	if b.Mode == ModeMax {
		for k, v := range b.BuildArgs {
			args["build-arg:"+k] = v
		}
	}
	if len(args) > 0 {
		d.ExternalParameters.Request.Args = args
	}
	d.InternalParameters = internalParameters{BuilderPlatform: platform.Format(b.BuilderPlatform), TargetPlatform: platform.Format(b.Platform),
		EmulatedSteps: append([]Step{}, b.Emulated...)}
	d.ResolvedDependencies = []resourceDescriptor{}
	for _, base := range b.Bases {
		d.ResolvedDependencies = append(d.ResolvedDependencies, resourceDescriptor{URI: DockerPURL(base.Ref, base.Platform),
			Digest: map[string]string{base.Digest.Algorithm: base.Digest.Hex}})
	}
	for _, dl := range b.Downloads {
		d.ResolvedDependencies = append(d.ResolvedDependencies, resourceDescriptor{URI: dl.URL, Digest: map[string]string{"sha256": dl.SHA256}})
	}
	sort.SliceStable(d.ResolvedDependencies, func(i, j int) bool { return d.ResolvedDependencies[i].URI < d.ResolvedDependencies[j].URI })
	p.RunDetails.Builder = builder{ID: b.BuilderID}
	if b.BuilderVersion != "" {
		p.RunDetails.Builder.Version = map[string]string{"manyarch": b.BuilderVersion}
	}
	if !b.Started.IsZero() {
		p.RunDetails.Metadata.StartedOn = b.Started.UTC().Format(time.RFC3339)
	}
	if !b.Finished.IsZero() {
		p.RunDetails.Metadata.FinishedOn = b.Finished.UTC().Format(time.RFC3339)
	}
	return p, nil
}

// DockerPURL is the package URL BuildKit gives an image reference:
// pkg:docker/NAME@TAG?platform=linux%2Farm64 (or @sha256:... for a
// digest reference).
func DockerPURL(ref string, p specs.Platform) string {
	name, version := ref, "latest"
	if i := strings.Index(name, "@"); i >= 0 {
		name, version = name[:i], name[i+1:]
	} else if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, version = name[:i], name[i+1:]
	}
	s := "pkg:docker/" + name + "@" + url.PathEscape(version)
	if p.OS != "" {
		s += "?platform=" + url.QueryEscape(platform.Format(p))
	}
	return s
}
