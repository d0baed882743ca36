package index

import (
	"context"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
)

// entry is one image of an index being built.
type entry struct {
	img    v1.Image
	desc   v1.Descriptor
	source string // for messages: "source 2", "the index"
}

func (e entry) attestation() bool { return image.IsAttestation(e.desc) }

// Create builds an index of the images in sources (indexes are flattened),
// each descriptor's platform taken from its image's config. It refuses
// sources whose index descriptors disagree with their configs, two images for
// one platform, and any other Problem, with an *InconsistentError naming each
// descriptor. Default media type: OCI image index.
func Create(ctx context.Context, sources []image.Artifact, opts ...Option) (v1.ImageIndex, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("creating index: %w", err)
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("creating index: no sources")
	}
	entries, err := collectAll(ctx, sources, 1, o.platforms)
	if err != nil {
		return nil, fmt.Errorf("creating index: %w", err)
	}
	mt := o.mediaType.types()
	if o.mediaType == "" {
		mt = types.OCIImageIndex
	}
	idx, err := finish(ctx, entries, mt, nil, o)
	if err != nil {
		return nil, fmt.Errorf("creating index: %w", err)
	}
	return idx, nil
}

// Append returns idx with the images of sources added after its own, with the
// same checks as Create; WithPlatforms filters the new sources only. The
// media type stays idx's unless WithMediaType says otherwise.
func Append(ctx context.Context, idx v1.ImageIndex, sources []image.Artifact, opts ...Option) (v1.ImageIndex, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("appending to index: %w", err)
	}
	have, mt, ann, err := existing(ctx, idx)
	if err != nil {
		return nil, fmt.Errorf("appending to index: %w", err)
	}
	added, err := collectAll(ctx, sources, 1, o.platforms)
	if err != nil {
		return nil, fmt.Errorf("appending to index: %w", err)
	}
	if o.mediaType != "" {
		mt = o.mediaType.types()
	}
	out, err := finish(ctx, append(have, added...), mt, ann, o)
	if err != nil {
		return nil, fmt.Errorf("appending to index: %w", err)
	}
	return out, nil
}

// Remove returns idx without the images of the given platforms and the
// attestations that describe them. Removing nothing, or everything, is an error.
func Remove(ctx context.Context, idx v1.ImageIndex, ps []specs.Platform) (v1.ImageIndex, error) {
	if len(ps) == 0 {
		return nil, fmt.Errorf("removing from index: no platform given")
	}
	have, mt, ann, err := existing(ctx, idx)
	if err != nil {
		return nil, fmt.Errorf("removing from index: %w", err)
	}
	removed := map[string]bool{}
	var keep []entry
	match := matching(have, ps)
	for i, e := range have {
		if match[i] {
			removed[e.desc.Digest.String()] = true
			continue
		}
		keep = append(keep, e)
	}
	if len(removed) == 0 {
		return nil, fmt.Errorf("removing %s from index: %w: the index has %s", platform.FormatList(ps), ErrNoMatch, present(have))
	}
	keep = slices.DeleteFunc(keep, func(e entry) bool {
		return e.attestation() && removed[e.desc.Annotations[image.AnnotationReferenceDigest]]
	})
	if len(keep) == 0 {
		return nil, fmt.Errorf("removing %s from index: it would leave the index empty", platform.FormatList(ps))
	}
	out, err := finish(ctx, keep, mt, ann, &options{})
	if err != nil {
		return nil, fmt.Errorf("removing from index: %w", err)
	}
	return out, nil
}

// Change is what Annotate changes in one descriptor; nil fields stay as they are.
type Change struct {
	OS, Architecture, Variant, OSVersion *string
	OSFeatures                           *[]string
	Annotations                          map[string]string // added; an empty value deletes the key
}

// Annotate changes the platform fields and annotations of the descriptor for
// target. A platform that contradicts the image's config is refused with
// ErrContradictsConfig unless force is set (then the index is written as
// asked, and Validate will report it).
func Annotate(ctx context.Context, idx v1.ImageIndex, target specs.Platform, c Change, force bool) (v1.ImageIndex, error) {
	have, mt, ann, err := existing(ctx, idx)
	if err != nil {
		return nil, fmt.Errorf("annotating index: %w", err)
	}
	var hits []int
	for i, e := range have {
		if !e.attestation() && e.desc.Platform != nil && platform.Match(target, spec(*e.desc.Platform)) {
			hits = append(hits, i)
		}
	}
	switch len(hits) {
	case 0:
		return nil, fmt.Errorf("annotating %s: %w: the index has %s", platform.Format(target), ErrNoMatch, present(have))
	case 1:
	default:
		return nil, fmt.Errorf("annotating %s: %d descriptors match it; remove the duplicates first", platform.Format(target), len(hits))
	}
	e := &have[hits[0]]
	p := *e.desc.Platform
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.OS, c.OS)
	set(&p.Architecture, c.Architecture)
	set(&p.Variant, c.Variant)
	set(&p.OSVersion, c.OSVersion)
	if c.OSFeatures != nil {
		p.OSFeatures = slices.Clone(*c.OSFeatures)
	}
	cfg, err := configPlatform(e.img)
	if err != nil {
		return nil, fmt.Errorf("annotating %s: reading config of %s: %w", platform.Format(target), e.desc.Digest, err)
	}
	if why := disagreement(p, cfg); why != "" && !force {
		return nil, fmt.Errorf("annotating descriptor %s: %w: refusing to label it %s because %s; use --force to write it anyway", e.desc.Digest, ErrContradictsConfig, describe(p), why)
	}
	e.desc.Platform = &p
	if len(c.Annotations) > 0 {
		m := map[string]string{}
		for k, v := range e.desc.Annotations {
			m[k] = v
		}
		for k, v := range c.Annotations {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		e.desc.Annotations = m
	}
	out, err := build(have, mt, ann)
	if err != nil {
		return nil, fmt.Errorf("annotating %s: %w", platform.Format(target), err)
	}
	if force {
		return out, nil
	}
	if probs := Validate(ctx, out); len(probs) > 0 {
		return nil, fmt.Errorf("annotating %s: %w", platform.Format(target), &InconsistentError{Problems: probs})
	}
	return out, nil
}

// existing flattens idx into entries, keeping its descriptors as they are.
func existing(ctx context.Context, idx v1.ImageIndex) ([]entry, types.MediaType, map[string]string, error) {
	mt, err := idx.MediaType()
	if err != nil {
		return nil, "", nil, fmt.Errorf("reading index media type: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, "", nil, fmt.Errorf("reading index manifest: %w", err)
	}
	var es []entry
	if err := flatten(ctx, idx, "the index", 0, func(e entry) { es = append(es, e) }); err != nil {
		return nil, "", nil, err
	}
	return es, mt, im.Annotations, nil
}

// collectAll flattens sources into entries with platforms from the configs,
// keeping those that match ps (all when ps is empty) and their attestations.
func collectAll(ctx context.Context, sources []image.Artifact, first int, ps []specs.Platform) ([]entry, error) {
	var es []entry
	var probs []Problem
	for i, src := range sources {
		label := fmt.Sprintf("source %d", i+first)
		switch a := src.(type) {
		case v1.Image:
			d, err := image.Describe(a)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", label, err)
			}
			cfg, err := configPlatform(a)
			if err != nil {
				return nil, fmt.Errorf("%s: reading config of %s: %w", label, d.Digest, err)
			}
			d.Platform = &cfg
			es = append(es, entry{img: a, desc: d, source: label})
		case v1.ImageIndex:
			err := flatten(ctx, a, label, 0, func(e entry) {
				if e.attestation() {
					es = append(es, e)
					return
				}
				cfg, err := configPlatform(e.img)
				if err != nil {
					probs = append(probs, Problem{Digest: e.desc.Digest, Reason: fmt.Sprintf("in %s: reading its config: %v", label, err)})
					return
				}
				if e.desc.Platform != nil {
					if why := disagreement(*e.desc.Platform, cfg); why != "" {
						probs = append(probs, Problem{Digest: e.desc.Digest, Platform: describe(*e.desc.Platform), Reason: fmt.Sprintf("in %s: %s", label, why)})
						return
					}
				}
				e.desc.Platform = &cfg
				es = append(es, e)
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", label, err)
			}
		default:
			return nil, fmt.Errorf("%s: %T is neither an image nor an index", label, src)
		}
	}
	if len(probs) > 0 {
		return nil, &InconsistentError{Problems: probs}
	}
	if len(ps) > 0 {
		kept := map[string]bool{}
		var out []entry
		match := matching(es, ps)
		for i, e := range es {
			if match[i] {
				kept[e.desc.Digest.String()] = true
				out = append(out, e)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w %s: the sources have %s", ErrNoMatch, platform.FormatList(ps), present(es))
		}
		for _, e := range es {
			if e.attestation() && kept[e.desc.Annotations[image.AnnotationReferenceDigest]] {
				out = append(out, e)
			}
		}
		es = out
	}
	return es, nil
}

// flatten calls f for every image under idx, depth first in manifest order.
func flatten(ctx context.Context, idx v1.ImageIndex, label string, depth int, f func(entry)) error {
	if depth > 8 {
		return fmt.Errorf("indexes nested more than 8 deep")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("reading index manifest: %w", err)
	}
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return fmt.Errorf("reading nested index %s: %w", d.Digest, err)
			}
			if err := flatten(ctx, child, label, depth+1, f); err != nil {
				return err
			}
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return fmt.Errorf("reading image %s: %w", d.Digest, err)
			}
			f(entry{img: img, desc: *d.DeepCopy(), source: label})
		default:
			return fmt.Errorf("descriptor %s has media type %q; only images and indexes can be indexed", d.Digest, d.MediaType)
		}
	}
	return nil
}

// finish dedupes entries by digest, orders attestations after their images,
// applies descriptor annotations, builds the index and validates it.
func finish(ctx context.Context, es []entry, mt types.MediaType, ann map[string]string, o *options) (v1.ImageIndex, error) {
	seen := map[v1.Hash]bool{}
	var images, atts []entry
	for _, e := range es {
		if seen[e.desc.Digest] {
			continue
		}
		seen[e.desc.Digest] = true
		if e.attestation() {
			atts = append(atts, e)
		} else {
			images = append(images, e)
		}
	}
	var ordered []entry
	placed := map[v1.Hash]bool{}
	for _, img := range images {
		ordered = append(ordered, img)
		for _, a := range atts {
			if a.desc.Annotations[image.AnnotationReferenceDigest] == img.desc.Digest.String() {
				ordered = append(ordered, a)
				placed[a.desc.Digest] = true
			}
		}
	}
	for _, a := range atts {
		if !placed[a.desc.Digest] {
			ordered = append(ordered, a) // Validate reports it
		}
	}

	idxAnn := map[string]string{}
	for k, v := range ann {
		idxAnn[k] = v
	}
	for _, a := range o.annotations {
		if !a.Descriptor {
			idxAnn[a.Key] = a.Value
			continue
		}
		hit := false
		for i := range ordered {
			e := &ordered[i]
			if e.attestation() || (a.Platform != nil && !platform.Match(*a.Platform, spec(*e.desc.Platform))) {
				continue
			}
			hit = true
			m := map[string]string{}
			for k, v := range e.desc.Annotations {
				m[k] = v
			}
			m[a.Key] = a.Value
			e.desc.Annotations = m
		}
		if !hit {
			if a.Platform == nil {
				return nil, fmt.Errorf("annotation %s: %w: the index has no image descriptors", a, ErrNoMatch)
			}
			return nil, fmt.Errorf("annotation %s: %w %s: the index has %s", a, ErrNoMatch, platform.Format(*a.Platform), present(ordered))
		}
	}
	idx, err := build(ordered, mt, idxAnn)
	if err != nil {
		return nil, err
	}
	if probs := Validate(ctx, idx); len(probs) > 0 {
		return nil, &InconsistentError{Problems: probs}
	}
	return idx, nil
}

// build makes the index with New, so descriptors hold exactly the fields
// given (no artifactType for plain images; see New).
func build(es []entry, mt types.MediaType, ann map[string]string) (v1.ImageIndex, error) {
	if len(ann) == 0 {
		ann = nil
	}
	children := make([]Child, len(es))
	for i, e := range es {
		children[i] = Child{Artifact: e.img, Descriptor: e.desc}
	}
	return New(mt, ann, children...)
}

// configPlatform is the platform an image's config declares.
func configPlatform(img v1.Image) (v1.Platform, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Platform{}, err
	}
	if cf.OS == "" || cf.Architecture == "" {
		return v1.Platform{}, fmt.Errorf("the config names no os/architecture")
	}
	return v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion, OSFeatures: slices.Clone(cf.OSFeatures)}, nil
}

// disagreement says how a descriptor platform d contradicts config platform
// cfg, or "" when it does not. OS, architecture and variant are compared
// after normalization; os.version and os.features only when d sets them.
func disagreement(d, cfg v1.Platform) string {
	if !platform.Match(spec(d), spec(cfg)) {
		return fmt.Sprintf("its config says %s", describe(cfg))
	}
	if d.OSVersion != "" && d.OSVersion != cfg.OSVersion {
		return fmt.Sprintf("its config says os.version %q, not %q", cfg.OSVersion, d.OSVersion)
	}
	if len(d.OSFeatures) > 0 && !sameSet(d.OSFeatures, cfg.OSFeatures) {
		return fmt.Sprintf("its config says os.features [%s], not [%s]", strings.Join(cfg.OSFeatures, ","), strings.Join(d.OSFeatures, ","))
	}
	return ""
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func spec(p v1.Platform) specs.Platform {
	return specs.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion, OSFeatures: p.OSFeatures}
}

func describe(p v1.Platform) string {
	s := platform.Format(spec(p))
	if p.OSVersion != "" {
		s += " os.version=" + p.OSVersion
	}
	if len(p.OSFeatures) > 0 {
		s += " os.features=" + strings.Join(p.OSFeatures, ",")
	}
	return s
}

// matching reports which images of es (not attestations, not entries
// without a platform) are of one of the platforms ps, by platform.Select
// with platform.Only: the one platform selection of manyarch.
func matching(es []entry, ps []specs.Platform) []bool {
	var have []specs.Platform
	var at []int
	for i, e := range es {
		if !e.attestation() && e.desc.Platform != nil {
			have = append(have, spec(*e.desc.Platform))
			at = append(at, i)
		}
	}
	match := make([]bool, len(es))
	for _, j := range platform.Select(have, ps, platform.Only).All {
		match[at[j]] = true
	}
	return match
}

// present lists the platforms of the images in es, for error messages.
func present(es []entry) string {
	var s []string
	for _, e := range es {
		if !e.attestation() && e.desc.Platform != nil {
			s = append(s, describe(*e.desc.Platform))
		}
	}
	if len(s) == 0 {
		return "no platform images"
	}
	return strings.Join(s, ", ")
}
