package cli

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
)

// The one rule for names (docs/conventions.md, issue #22 item 1): a name
// whose first component is a registry host (it holds a '.' or a ':' port, or
// is "localhost") names that registry wherever copy, tag, index, inspect and
// the registry verbs take a reference, as crane and skopeo read it. A name
// without a host names the local store (reads fall back to Docker Hub, as
// docker run does). store:NAME names the store's copy of any name, docker://
// the registry, explicitly. docker's own verbs keep docker's reading: pull
// keeps what it fetched under the full name, push SOURCE and build -t name the
// store's copy, run/test/verify/diff read the store first.

// hasRegistryHost reports whether name (no transport) starts with a
// registry host, as docker's reference grammar tells a host from a path.
func hasRegistryHost(name string) bool { return ref.HasRegistryHost(name) }

// parseRef parses s under the rule: a NAME with a registry host and no
// store: prefix is the registry reference docker://NAME.
func parseRef(s string) (ref.Reference, error) {
	r, err := ref.Parse(s)
	if err != nil || r.Transport != ref.Store || strings.HasPrefix(s, "store:") || !hasRegistryHost(s) {
		return r, err
	}
	return ref.NewRegistry(s)
}

// place says where r is, for "Copied X to PLACE" messages: the local store,
// a registry (by host), a layout or an archive, and the name there.
func place(r ref.Reference) string {
	switch r.Transport {
	case ref.Store:
		return "the local store as " + r.Name
	case ref.Docker:
		return fmt.Sprintf("registry %s as %s", registryHost(r), r.Name)
	case ref.OCI:
		return fmt.Sprintf("OCI layout %s", r.String())
	case ref.OCIArchive:
		return fmt.Sprintf("OCI archive %s", r.String())
	case ref.DockerArchive:
		return fmt.Sprintf("docker archive %s", r.String())
	}
	return r.String()
}

// registryHost is the registry host of a Docker reference ("index.docker.io"
// for Docker Hub).
func registryHost(r ref.Reference) string {
	host, _, _ := strings.Cut(r.Registry(), "/")
	return host
}

// sourceName prints r so that parseRef reads it back as the same place: a
// store name with a registry host gets its store: prefix.
func sourceName(r ref.Reference) string {
	switch r.Transport {
	case ref.Store:
		if hasRegistryHost(r.Name) {
			return "store:" + r.Name
		}
		return r.Name
	case ref.Docker:
		if hasRegistryHost(r.Name) {
			return r.Name
		}
	}
	return r.String()
}

// notPushedHint is what build adds to "tagged NAME in the local store" for
// a -t name with a registry host that --push does not send: where it is not.
func notPushedHint(tag string, push bool) string {
	if push || !hasRegistryHost(tag) {
		return ""
	}
	return " (not pushed: add --push to send it to its registry, or run `manyarch push " + tag + "`)"
}

// writeRef is ref.Write, except that a registry destination's error is
// remote.Write's own ("pushing REF: ..."), not wrapped again in "writing
// docker://REF:" (issue #22 item 12: push errors said their prefix twice).
func writeRef(ctx context.Context, env *ref.Env, dst ref.Reference, a image.Artifact) (v1.Descriptor, error) {
	if dst.Transport == ref.Docker {
		return remote.Write(ctx, dst.Registry(), a, env.Remote...)
	}
	return ref.Write(ctx, env, dst, a)
}
