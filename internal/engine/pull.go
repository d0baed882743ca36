package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/store"
)

// --pull (buildx: "always attempt to pull all referenced images").
//
// Without it a base is read from the store first, then from its registry
// (internal/ref). With it, a base named with a registry host and a tag
// (127.0.0.1:5000/base:1, docker.io/library/busybox:1.36) is read from that
// registry, once per build, whatever the store holds: the build uses the
// tag's digest there now, and its cache keys, made of the base's digest,
// change with it. When the build has succeeded, the store's name for the base
// is updated to what was read (before the build's own outputs), as `manyarch
// pull` names it: the platforms the build used and those the store's earlier
// copy had, so a later build without --pull uses the same base.
//
// A hostless name (busybox, fixtures/busybox:1.35) is a store name (the rule
// of docs/conventions.md): it is read as without --pull, and a build that
// found it in the store says once that --pull had no registry to read it
// from. NAME@DIGEST names one content wherever it is read, store: names the
// store explicitly, and oci:, oci-archive: and docker-archive: are files:
// --pull changes none of them.

// pulledBase is a base that --pull read from its registry.
type pulledBase struct {
	seq  int64         // first use, for the order of Result.Pulled
	name string        // as the Dockerfile names it
	reg  ref.Reference // docker://NAME
	once sync.Once
	a    image.Artifact
	err  error

	mu   sync.Mutex
	used []v1.Hash // the images the build took from a
}

// pullNote marks a hostless base found in the store under --pull.
type pullNote struct{ seq int64 }

var pullSeq atomic.Int64

// readBase reads the base s (parsed as r): from its registry under --pull
// when s has a registry host and a tag, else as ref.Read does.
func (x *executor) readBase(ctx context.Context, s string, r ref.Reference) (image.Artifact, error) {
	env := x.n.opts.Env
	if !x.req.Pull || r.Transport != ref.Store || r.Digest() != "" || strings.HasPrefix(s, "store:") {
		return ref.Read(ctx, env, r)
	}
	if !ref.HasRegistryHost(s) {
		if _, err := ref.ResolveStore(ctx, x.st, r); err == nil {
			x.pulls.LoadOrStore(s, &pullNote{seq: pullSeq.Add(1)})
		}
		return ref.Read(ctx, env, r)
	}
	reg, err := ref.NewRegistry(s)
	if err != nil {
		return nil, err
	}
	v, _ := x.pulls.LoadOrStore(s, &pulledBase{seq: pullSeq.Add(1), name: s, reg: reg})
	pb := v.(*pulledBase)
	pb.once.Do(func() {
		pb.a, _, pb.err = remote.Read(ctx, reg.Registry(), env.Remote...)
		if pb.err != nil {
			pb.err = fmt.Errorf("--pull: %w (build without --pull to use the store's copy, if it has one)", pb.err)
		}
	})
	return pb.a, pb.err
}

// notePulled records that the build took image d from the base s.
func (x *executor) notePulled(s string, d v1.Hash) {
	v, ok := x.pulls.Load(s)
	if !ok {
		return
	}
	if pb, ok := v.(*pulledBase); ok {
		pb.mu.Lock()
		if !slices.Contains(pb.used, d) {
			pb.used = append(pb.used, d)
		}
		pb.mu.Unlock()
	}
}

// pullWarnings says once per hostless base found in the store that --pull
// did not read it from a registry.
func (x *executor) pullWarnings() []dockerfile.Warning {
	type note struct {
		seq  int64
		name string
	}
	var notes []note
	x.pulls.Range(func(k, v any) bool {
		if n, ok := v.(*pullNote); ok {
			notes = append(notes, note{n.seq, k.(string)})
		}
		return true
	})
	sort.Slice(notes, func(i, j int) bool { return notes[i].seq < notes[j].seq })
	var out []dockerfile.Warning
	for _, n := range notes {
		hub := "docker.io/" + n.name
		if !strings.Contains(n.name, "/") {
			hub = "docker.io/library/" + n.name
		}
		out = append(out, dockerfile.Warning{
			Location: dockerfile.Location{File: x.req.DockerfileName},
			Rule:     "PullFromStore",
			Message: fmt.Sprintf("--pull: %s names no registry host, so it is a local store name and was read from the store; name its registry (%s, or HOST/%s) to pull it",
				n.name, hub, n.name),
		})
	}
	return out
}

// storePulled names in the store what --pull read, each base under its
// store name: the images the build used and those the store's earlier
// copy had (when the registry still has their platforms).
func (x *executor) storePulled(ctx context.Context) ([]Pulled, error) {
	var pbs []*pulledBase
	x.pulls.Range(func(_, v any) bool {
		if pb, ok := v.(*pulledBase); ok && pb.err == nil && len(pb.used) > 0 {
			pbs = append(pbs, pb)
		}
		return true
	})
	sort.Slice(pbs, func(i, j int) bool { return pbs[i].seq < pbs[j].seq })
	var out []Pulled
	for _, pb := range pbs {
		d, err := x.storePulledBase(ctx, pb)
		if err != nil {
			return nil, fmt.Errorf("--pull: naming %s in the store: %w", pb.name, err)
		}
		out = append(out, Pulled{Ref: pb.name, Digest: d})
	}
	return out, nil
}

func (x *executor) storePulledBase(ctx context.Context, pb *pulledBase) (v1.Hash, error) {
	local, err := pb.reg.InStore()
	if err != nil {
		return v1.Hash{}, err
	}
	regDigest, err := pb.a.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	var had []specs.Platform
	switch old, err := ref.ResolveStore(ctx, x.st, local); {
	case err == nil && old.Digest == regDigest:
		return regDigest, nil // the store has it already
	case err == nil:
		if a, err := ref.FromStore(ctx, x.st, old); err == nil {
			if es, err := image.Entries(ctx, a); err == nil {
				for _, e := range es {
					had = append(had, e.Platform)
				}
			}
		}
	case !errors.Is(err, store.ErrNotFound):
		return v1.Hash{}, err
	}
	a := pb.a
	if idx, ok := a.(v1.ImageIndex); ok {
		entries, err := image.Entries(ctx, idx)
		if err != nil {
			return v1.Hash{}, err
		}
		var keep []specs.Platform
		for _, e := range entries {
			if slices.Contains(pb.used, e.Descriptor.Digest) ||
				slices.ContainsFunc(had, func(p specs.Platform) bool { return platform.Match(p, e.Platform) }) {
				keep = append(keep, e.Platform)
			}
		}
		if len(keep) < len(entries) {
			if a, err = ref.Select(ctx, idx, keep); err != nil {
				return v1.Hash{}, err
			}
		}
	}
	blobs, err := remote.OpenBlobs(ctx, pb.reg.Registry(), x.n.opts.Env.Remote...)
	if err != nil {
		return v1.Hash{}, err
	}
	desc, err := ref.Pull(ctx, x.st, a, []string{local.Name}, blobs, int(max(x.jobs, 1)), nil)
	if err != nil {
		return v1.Hash{}, err
	}
	return desc.Digest, nil
}
