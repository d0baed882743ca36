package sign

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/manyarch/manyarch/internal/ref"
)

// Copy copies the signatures of targets from repository from to
// repository to: each target's legacy sha256-HEX.sig image (its layers
// added to one already at the destination) and each Sigstore bundle among
// its referrers, byte for byte, so they verify there as they did at the
// source. It returns how many signatures it copied (a bundle, or a
// signature image, counts one); a target with none is skipped. What it
// copies is not checked: verify does that.
func Copy(ctx context.Context, env *ref.Env, from, to Repository, targets []Target) (int, error) {
	if from == to {
		return 0, nil
	}
	var tags []string
	for _, t := range targets {
		tags = append(tags, ReferrersTag(t.Digest()), SigTag(t.Digest()))
	}
	unlock, err := to.lockTags(ctx, env, tags...)
	if err != nil {
		return 0, err
	}
	defer unlock()
	n := 0
	for _, t := range targets {
		refs, err := from.referrers(ctx, env, t.Digest())
		if err != nil {
			return n, fmt.Errorf("listing the referrers of %s (%s) in %s: %w", t.Name, t.Digest(), from, err)
		}
		for _, d := range refs {
			if !maybeBundle(d) {
				continue
			}
			img, err := from.manifest(ctx, env, d.Digest)
			if err != nil {
				return n, fmt.Errorf("reading the bundle %s of %s: %w", d.Digest, t.Name, err)
			}
			if m, err := img.Manifest(); err != nil || m.ArtifactType != MediaTypeBundle && m.Config.ArtifactType != MediaTypeBundle {
				continue // another tool's artifact: not ours to copy
			}
			if err := to.addReferrer(ctx, env, t.Digest(), img, d); err != nil {
				return n, fmt.Errorf("writing the bundle %s of %s: %w", d.Digest, t.Name, err)
			}
			n++
		}
		tag := SigTag(t.Digest())
		a, err := from.read(ctx, env, tag)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("reading %s: %w", from.tagName(tag), err)
		}
		img, ok := a.(v1.Image)
		if !ok {
			continue
		}
		if img, err = mergeSignatures(ctx, env, to, tag, img); err != nil {
			return n, err
		}
		if err := to.write(ctx, env, tag, img); err != nil {
			return n, fmt.Errorf("writing %s: %w", to.tagName(tag), err)
		}
		n++
	}
	return n, nil
}

// mergeSignatures is the signature image tagged tag in p with the layers
// of src it lacks added, or src when p has none.
func mergeSignatures(ctx context.Context, env *ref.Env, p Repository, tag string, src v1.Image) (v1.Image, error) {
	a, err := p.read(ctx, env, tag)
	if isNotFound(err) {
		return src, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p.tagName(tag), err)
	}
	dst, ok := a.(v1.Image)
	if !ok {
		return src, nil
	}
	dm, err := dst.Manifest()
	if err != nil {
		return nil, err
	}
	sm, err := src.Manifest()
	if err != nil {
		return nil, err
	}
	have := map[v1.Hash]bool{}
	for _, l := range dm.Layers {
		have[l.Digest] = true
	}
	for _, ld := range sm.Layers {
		if have[ld.Digest] {
			continue
		}
		l, err := src.LayerByDigest(ld.Digest)
		if err != nil {
			return nil, err
		}
		if dst, err = mutate.Append(dst, mutate.Addendum{Layer: l, Annotations: ld.Annotations, MediaType: ld.MediaType}); err != nil {
			return nil, err
		}
	}
	return dst, nil
}
