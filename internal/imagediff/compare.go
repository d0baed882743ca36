package imagediff

import (
	"context"
	"fmt"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
)

// pair is one platform of the comparison: an entry of A, of B, or both.
type pair struct {
	a, b *image.Entry
}

// Compare explains how artifact b differs from artifact a, each a v1.Image
// or a v1.ImageIndex (a single image is compared with the index entry of its
// config's platform). It reads manifests and configs, and the blobs of at
// most one pair of layers per platform; a nil error means the Report is
// complete. Platforms are compared one after the other, the two layers of a
// platform in parallel.
func Compare(ctx context.Context, a, b image.Artifact, opts ...Option) (*Report, error) {
	o := options{maxPaths: DefaultMaxPaths}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	r := &Report{SchemaVersion: SchemaVersion, Index: []Difference{}, Platforms: []PlatformReport{}}
	var err error
	if r.A, err = describe(a); err != nil {
		return nil, fmt.Errorf("reading the first image: %w", err)
	}
	if r.B, err = describe(b); err != nil {
		return nil, fmt.Errorf("reading the second image: %w", err)
	}
	ea, err := image.Entries(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("reading the first image: %w", err)
	}
	eb, err := image.Entries(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("reading the second image: %w", err)
	}
	pairs := pairEntries(ea, eb)
	if len(o.platforms) > 0 {
		if pairs, err = choose(pairs, o.platforms, ea, eb); err != nil {
			return nil, err
		}
	}
	same := r.A.Digest == r.B.Digest
	identical := true
	for _, p := range pairs {
		pr, err := comparePlatform(ctx, a, b, p, same, o.maxPaths)
		if err != nil {
			return nil, err
		}
		identical = identical && !pr.Different()
		r.Platforms = append(r.Platforms, *pr)
	}
	if len(o.platforms) > 0 {
		r.Identical = identical
		return r, nil
	}
	r.Identical = same
	if !same {
		d, err := compareIndex(a, b, pairs)
		if err != nil {
			return nil, err
		}
		if len(d) == 0 && identical {
			// Nothing above explains the different digests: only the JSON
			// encoding of the manifests differs.
			d.add("encoding", str(r.A.Digest), str(r.B.Digest))
		}
		r.Index = d
	}
	return r, nil
}

func describe(a image.Artifact) (Artifact, error) {
	mt, err := a.MediaType()
	if err != nil {
		return Artifact{}, err
	}
	h, err := a.Digest()
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{MediaType: string(mt), Digest: h.String()}, nil
}

// pairEntries matches the entries of two artifacts by platform: A's order,
// then B's entries that A lacks.
func pairEntries(ea, eb []image.Entry) []pair {
	used := make([]bool, len(eb))
	var out []pair
	for i := range ea {
		p := pair{a: &ea[i]}
		for j := range eb {
			if !used[j] && platform.Match(ea[i].Platform, eb[j].Platform) {
				used[j] = true
				p.b = &eb[j]
				break
			}
		}
		out = append(out, p)
	}
	for j := range eb {
		if !used[j] {
			out = append(out, pair{b: &eb[j]})
		}
	}
	return out
}

// choose keeps the pairs of the wanted platforms, in the order of pairs.
func choose(pairs []pair, want []specs.Platform, ea, eb []image.Entry) ([]pair, error) {
	have := make([]specs.Platform, len(pairs))
	for i, p := range pairs {
		have[i] = p.platform()
	}
	sel := platform.Select(have, want, platform.Only)
	if len(sel.Missing) > 0 {
		return nil, &NoPlatformError{Want: sel.Missing[0], A: formatEntries(ea), B: formatEntries(eb)}
	}
	keep := make([]bool, len(pairs))
	for _, i := range sel.Best {
		keep[i] = true
	}
	var out []pair
	for i, p := range pairs {
		if keep[i] {
			out = append(out, p)
		}
	}
	return out, nil
}

func formatEntries(es []image.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = platform.Format(e.Platform)
	}
	return out
}

func (p pair) platform() specs.Platform {
	if p.a != nil {
		return p.a.Platform
	}
	return p.b.Platform
}

// entryImage returns the image of entry e of artifact x.
func entryImage(x image.Artifact, e *image.Entry) (v1.Image, error) {
	switch v := x.(type) {
	case v1.Image:
		return v, nil
	case v1.ImageIndex:
		return v.Image(e.Descriptor.Digest)
	}
	return nil, fmt.Errorf("%T is neither an image nor an index", x)
}

// comparePlatform compares the images of one platform. same says the
// artifacts are identical, so nothing needs reading.
func comparePlatform(ctx context.Context, a, b image.Artifact, p pair, same bool, maxPaths int) (*PlatformReport, error) {
	pr := &PlatformReport{Platform: platform.Format(p.platform()), Manifest: []Difference{}, Config: []Difference{}}
	if p.a != nil {
		pr.A = str(p.a.Descriptor.Digest.String())
	}
	if p.b != nil {
		pr.B = str(p.b.Descriptor.Digest.String())
	}
	switch {
	case p.b == nil:
		pr.Status = StatusOnlyInA
		return pr, nil
	case p.a == nil:
		pr.Status = StatusOnlyInB
		return pr, nil
	case same || p.a.Descriptor.Digest == p.b.Descriptor.Digest:
		pr.Status = StatusIdentical
		return pr, nil
	}
	pr.Status = StatusDifferent
	ia, err := entryImage(a, p.a)
	if err != nil {
		return nil, fmt.Errorf("%s of the first image: %w", pr.Platform, err)
	}
	ib, err := entryImage(b, p.b)
	if err != nil {
		return nil, fmt.Errorf("%s of the second image: %w", pr.Platform, err)
	}
	if err := compareImages(ctx, pr, ia, ib, maxPaths); err != nil {
		return nil, fmt.Errorf("comparing %s: %w", pr.Platform, err)
	}
	return pr, nil
}

// compareImages fills pr with the differences of two images of the same
// platform whose manifests differ.
func compareImages(ctx context.Context, pr *PlatformReport, ia, ib v1.Image, maxPaths int) error {
	ma, err := ia.Manifest()
	if err != nil {
		return fmt.Errorf("reading the first manifest: %w", err)
	}
	mb, err := ib.Manifest()
	if err != nil {
		return fmt.Errorf("reading the second manifest: %w", err)
	}
	ca, err := ia.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the first config: %w", err)
	}
	cb, err := ib.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the second config: %w", err)
	}
	var md diffs
	md.addString("mediaType", string(ma.MediaType), string(mb.MediaType))
	md.addString("artifactType", ma.ArtifactType, mb.ArtifactType)
	md.addString("config.mediaType", string(ma.Config.MediaType), string(mb.Config.MediaType))
	md.addMap("annotations", ma.Annotations, mb.Annotations)
	if ma.Subject != nil || mb.Subject != nil {
		md.add("subject", subject(ma.Subject), subject(mb.Subject))
	}
	cd := diffs(compareConfig(ca, cb))
	if len(cd) == 0 && ma.Config.Digest != mb.Config.Digest {
		cd.add("encoding", str(ma.Config.Digest.String()), str(mb.Config.Digest.String()))
	}
	lr, err := compareLayers(ctx, &md, ia, ib, ma, mb, ca, cb, maxPaths)
	if err != nil {
		return err
	}
	if len(md) == 0 && len(cd) == 0 && lr.First == 0 {
		md.add("encoding", pr.A, pr.B)
	}
	pr.Manifest = nonNil(md)
	pr.Config = nonNil(cd)
	pr.Layers = lr
	return nil
}

func nonNil(d diffs) []Difference {
	if d == nil {
		return []Difference{}
	}
	return d
}

func subject(d *v1.Descriptor) *string {
	if d == nil {
		return nil
	}
	return str(d.Digest.String())
}

// compareLayers compares the layers of two images by diff ID and the first
// pair that differs path by path. Layers with the same diff ID but another
// blob (another compression) are manifest differences.
func compareLayers(ctx context.Context, md *diffs, ia, ib v1.Image, ma, mb *v1.Manifest, ca, cb *v1.ConfigFile, maxPaths int) (*LayerReport, error) {
	la, err := ia.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading the first image's layers: %w", err)
	}
	lb, err := ib.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading the second image's layers: %w", err)
	}
	for _, c := range []struct {
		which  string
		layers int
		m      *v1.Manifest
		cf     *v1.ConfigFile
	}{{"first", len(la), ma, ca}, {"second", len(lb), mb, cb}} {
		if c.layers != len(c.m.Layers) || c.layers != len(c.cf.RootFS.DiffIDs) {
			return nil, fmt.Errorf("the %s image is inconsistent: its manifest lists %d layers and its config %d diff IDs",
				c.which, len(c.m.Layers), len(c.cf.RootFS.DiffIDs))
		}
	}
	lr := &LayerReport{CountA: len(la), CountB: len(lb), AlsoDiffer: []int{}, Paths: []PathDiff{}}
	for i := range max(len(la), len(lb)) {
		if i < len(la) && i < len(lb) && ca.RootFS.DiffIDs[i] == cb.RootFS.DiffIDs[i] {
			x, y := ma.Layers[i], mb.Layers[i]
			md.add(fmt.Sprintf("layers[%d].digest", i+1), str(x.Digest.String()), str(y.Digest.String()))
			md.addString(fmt.Sprintf("layers[%d].mediaType", i+1), string(x.MediaType), string(y.MediaType))
			md.addMap(fmt.Sprintf("layers[%d].annotations", i+1), x.Annotations, y.Annotations)
			continue
		}
		if lr.First == 0 {
			lr.First = i + 1
		} else {
			lr.AlsoDiffer = append(lr.AlsoDiffer, i+1)
		}
	}
	if lr.First == 0 {
		return lr, nil
	}
	n := lr.First - 1
	var xa, xb v1.Layer
	if n < len(la) {
		xa, lr.A = la[n], layerInfo(ma.Layers[n], ca.RootFS.DiffIDs[n])
	}
	if n < len(lb) {
		xb, lr.B = lb[n], layerInfo(mb.Layers[n], cb.RootFS.DiffIDs[n])
	}
	names := [2]string{fmt.Sprintf("layer %d of the first image", lr.First), fmt.Sprintf("layer %d of the second image", lr.First)}
	if lr.A != nil {
		names[0] = fmt.Sprintf("layer %d of the first image (%s)", lr.First, lr.A.Digest)
	}
	if lr.B != nil {
		names[1] = fmt.Sprintf("layer %d of the second image (%s)", lr.First, lr.B.Digest)
	}
	ea, eb, err := readPair(ctx, xa, xb, names)
	if err != nil {
		return nil, err
	}
	comparePaths(lr, ea, eb, maxPaths)
	return lr, nil
}

func layerInfo(d v1.Descriptor, diffID v1.Hash) *Layer {
	return &Layer{Digest: d.Digest.String(), DiffID: diffID.String(), MediaType: string(d.MediaType), Size: d.Size}
}

// compareIndex lists the top-level differences of two artifacts whose
// digests differ: media types, index annotations, the descriptors of each
// platform's manifest, and manifests that are not runnable images
// (attestations, nested indexes).
func compareIndex(a, b image.Artifact, pairs []pair) (diffs, error) {
	var d diffs
	da, err := partial.Descriptor(a)
	if err != nil {
		return nil, err
	}
	db, err := partial.Descriptor(b)
	if err != nil {
		return nil, err
	}
	d.addString("mediaType", string(da.MediaType), string(db.MediaType))
	ima, err := indexManifest(a)
	if err != nil {
		return nil, fmt.Errorf("reading the first index: %w", err)
	}
	imb, err := indexManifest(b)
	if err != nil {
		return nil, fmt.Errorf("reading the second index: %w", err)
	}
	if ima == nil || imb == nil {
		return d, nil
	}
	d.addString("artifactType", ima.ArtifactType, imb.ArtifactType)
	d.addMap("annotations", ima.Annotations, imb.Annotations)
	for _, p := range pairs {
		if p.a == nil || p.b == nil {
			continue
		}
		field := "manifests[" + platform.Format(p.platform()) + "]"
		x, y := p.a.Descriptor, p.b.Descriptor
		d.addMap(field+".annotations", x.Annotations, y.Annotations)
		d.addString(field+".artifactType", x.ArtifactType, y.ArtifactType)
		if x.Platform != nil && y.Platform != nil {
			d.addString(field+".platform", x.Platform.String(), y.Platform.String())
		}
	}
	others := func(im *v1.IndexManifest, pairs []pair, side func(pair) *image.Entry) []string {
		var out []string
		for _, m := range im.Manifests {
			if !slices.ContainsFunc(pairs, func(p pair) bool {
				e := side(p)
				return e != nil && e.Descriptor.Digest == m.Digest
			}) {
				out = append(out, m.Digest.String())
			}
		}
		return out
	}
	oa := others(ima, pairs, func(p pair) *image.Entry { return p.a })
	ob := others(imb, pairs, func(p pair) *image.Entry { return p.b })
	for _, h := range oa {
		if !slices.Contains(ob, h) {
			d.add("manifests["+h+"]", str(describeOther(ima, h)), nil)
		}
	}
	for _, h := range ob {
		if !slices.Contains(oa, h) {
			d.add("manifests["+h+"]", nil, str(describeOther(imb, h)))
		}
	}
	return d, nil
}

// describeOther names a manifest of an index that is not a runnable image.
func describeOther(im *v1.IndexManifest, h string) string {
	for _, m := range im.Manifests {
		if m.Digest.String() != h {
			continue
		}
		if image.IsAttestation(m) {
			return "attestation of " + m.Annotations["vnd.docker.reference.digest"]
		}
		return string(m.MediaType)
	}
	return h
}

func indexManifest(x image.Artifact) (*v1.IndexManifest, error) {
	idx, ok := x.(v1.ImageIndex)
	if !ok {
		return nil, nil
	}
	return idx.IndexManifest()
}
