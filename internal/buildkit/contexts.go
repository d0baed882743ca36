package buildkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"

	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/engine"
	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/store"
)

// storeID names manyarch's store among a Solve's OCI stores.
const storeID = "manyarch-store"

// storeRef is an OCI layout a Solve reads bases from.
type storeRef struct{ layout store.Layout }

// contentStores gives the layouts to BuildKit as read-only content
// stores, each through wrap when it is not nil.
func contentStores(m map[string]storeRef, wrap func(content.Store) content.Store) map[string]content.Store {
	out := map[string]content.Store{}
	for id, s := range m {
		var cs content.Store = blobStore{layout: s.layout}
		if wrap != nil {
			cs = wrap(cs)
		}
		out[id] = cs
	}
	return out
}

// ContextKey is the frontend attribute that names the base image name as a
// named context, as the Dockerfile frontend looks it up: the familiar name
// less ":latest".
func ContextKey(name string) (string, error) {
	n, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", err
	}
	return "context:" + strings.TrimSuffix(reference.FamiliarString(n), ":latest"), nil
}

// baseContexts finds the base images of the build (the planner's
// ResolveBase calls: every FROM, COPY --from and RUN --mount from= image
// after ARG expansion) and gives those in manyarch's store, and those
// given as oci:DIR[:TAG] layouts, to the nodes as named OCI-layout
// contexts in attrs, as buildctl --oci-layout does, so `--build-arg
// BASE=fixtures/x:1` or `--build-arg BASE=oci:DIR:TAG` builds from the same
// image on both engines. Bases not in the store are left to the nodes
// (their registries), and so are, with --pull, those named with a registry
// host and a tag, which the nodes pull again (image-resolve-mode=pull). BuildKit's frontend takes only image names in FROM,
// so an oci: base must come from a build argument, whose value the nodes
// see as a name standing for the layout (manyarch-oci/base-HEX); archives
// are refused with advice.
func baseContexts(ctx context.Context, env *ref.Env, st *store.Store, req *engine.Request, want []specs.Platform, attrs map[string]string) (map[string]storeRef, error) {
	f, err := dockerfile.Parse(ctx, req.DockerfileName, bytes.NewReader(req.Dockerfile))
	if err != nil {
		return nil, err
	}
	found := map[string]v1.Descriptor{}
	layouts := map[string]ociBase{}
	resolve := func(ctx context.Context, s string, p specs.Platform) (*v1.ConfigFile, error) {
		r, err := ref.Parse(s)
		if err != nil {
			return nil, err
		}
		var a image.Artifact
		switch r.Transport {
		case ref.Store:
			if req.Pull && r.Digest() == "" && !strings.HasPrefix(s, "store:") && ref.HasRegistryHost(s) {
				return &v1.ConfigFile{}, nil // --pull: the node pulls it (image-resolve-mode=pull)
			}
			desc, err := ref.ResolveStore(ctx, st, r)
			if errors.Is(err, store.ErrNotFound) {
				return &v1.ConfigFile{}, nil // the node pulls it
			}
			if err != nil {
				return nil, fmt.Errorf("base %s: %w", s, err)
			}
			if a, err = ref.FromStore(ctx, st, desc); err != nil {
				return nil, fmt.Errorf("base %s: %w", s, err)
			}
			found[s] = desc
		case ref.OCI:
			if a, err = ref.Read(ctx, env, r); err != nil {
				return nil, fmt.Errorf("base %s: %w", s, err)
			}
			d, err := a.Digest()
			if err != nil {
				return nil, fmt.Errorf("base %s: %w", s, err)
			}
			layouts[s] = ociBase{dir: r.Path, digest: d}
		default:
			return nil, fmt.Errorf("base %s: the BuildKit engine takes bases from the store, an oci: layout or a registry: copy it into the store first (manyarch copy %s NAME:TAG) and use NAME:TAG", s, s)
		}
		sel, err := ref.Select(ctx, a, []specs.Platform{p})
		if err != nil {
			return nil, fmt.Errorf("base %s for %s: %w", s, platform.Format(p), err)
		}
		img, ok := sel.(v1.Image)
		if !ok {
			return nil, fmt.Errorf("base %s for %s: not an image", s, platform.Format(p))
		}
		return img.ConfigFile()
	}
	opts := plan.Options{Platforms: want, BuildArgs: req.BuildArgs, Target: req.Target,
		Contexts: req.Contexts, LocalContexts: slices.Sorted(maps.Keys(req.LocalContexts)), ResolveBase: resolve}
	if _, err := plan.New(ctx, f, opts); err != nil {
		return nil, err
	}
	stores := map[string]storeRef{}
	// --build-context NAME=...: the nodes' frontend looks up context:NAME.
	named := map[string][]string{} // reference -> context names
	for name, v := range req.Contexts {
		key := "context:" + plan.ContextName(name)
		switch desc, inStore := found[v]; {
		case inStore:
			attrs[key] = "oci-layout://" + storeID + "@" + desc.Digest.String()
			stores[storeID] = storeRef{layout: st.Layout()}
		case strings.HasPrefix(v, "oci:"):
			named[v] = append(named[v], key)
		default:
			attrs[key] = "docker-image://" + v // the node pulls it
		}
	}
	for name, desc := range found {
		key, err := ContextKey(name)
		if err != nil {
			return nil, fmt.Errorf("base %s: %w", name, err)
		}
		attrs[key] = "oci-layout://" + storeID + "@" + desc.Digest.String()
		stores[storeID] = storeRef{layout: st.Layout()}
	}
	n := 0
	for s, b := range layouts {
		var args []string
		for k, v := range req.BuildArgs {
			if v == s {
				args = append(args, k)
			}
		}
		id := fmt.Sprintf("manyarch-oci-%d", n)
		if keys := named[s]; len(keys) > 0 {
			for _, k := range keys {
				attrs[k] = "oci-layout://" + id + "@" + b.digest.String()
			}
			stores[id] = storeRef{layout: store.NewLayout(b.dir)}
			n++
			if len(args) == 0 {
				continue
			}
		}
		if len(args) == 0 {
			return nil, fmt.Errorf("base %s is named in %s itself: BuildKit's Dockerfile frontend takes only image names there; name it through a build argument (ARG BASE, FROM ${BASE}, --build-arg BASE=%s), or copy it into the store (manyarch copy %s NAME:TAG)", s, req.DockerfileName, s, s)
		}
		name := "manyarch-oci/base-" + b.digest.Hex[:16]
		id = fmt.Sprintf("manyarch-oci-%d", n)
		n++
		for _, k := range args {
			attrs["build-arg:"+k] = name
		}
		attrs["context:"+name] = "oci-layout://" + id + "@" + b.digest.String()
		stores[id] = storeRef{layout: store.NewLayout(b.dir)}
	}
	if len(stores) == 0 {
		return nil, nil
	}
	return stores, nil
}

// localContexts gives the nodes the named contexts that are directories
// (--build-context NAME=DIR) as buildx does: each directory is a local
// mount of the session (named NAME, or _context and _dockerfile for those
// two names) and the frontend attribute context:NAME says "local:" and
// that mount. The frontend reads the directory's own .dockerignore from it
// and applies it.
func localContexts(req *engine.Request, so *solveOpts) error {
	for name, d := range req.LocalContexts {
		dir, err := engine.LocalContextDir(name, d)
		if err != nil {
			return err
		}
		local := engine.LocalSessionName(name)
		if so.mounts[local], err = fsutil.NewFS(dir); err != nil {
			return fmt.Errorf("--build-context %s=%s: %w", name, d, err)
		}
		so.attrs["context:"+plan.ContextName(name)] = "local:" + local
	}
	return nil
}

// ociBase is a base image in an OCI layout directory.
type ociBase struct {
	dir    string
	digest v1.Hash
}
