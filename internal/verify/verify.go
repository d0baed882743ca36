package verify

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/manyarch/manyarch/internal/platform"
)

// SchemaVersion is the version of the JSON report; doc.go describes it.
const SchemaVersion = 1

// Run verifies artifact, a v1.Image or a v1.ImageIndex, and returns the
// report. Each platform's image is checked in parallel; each layer is read
// once. An error means the artifact could not be verified at all (its
// index or manifests unreadable, ctx cancelled); problems with its content,
// unreadable layers included, are findings in the report.
func Run(ctx context.Context, artifact any, opts ...Option) (*Report, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("verify options: %w", err)
		}
	}
	r := &Report{SchemaVersion: SchemaVersion, Findings: []Finding{}, Platforms: []PlatformReport{}}
	var targets []*target
	switch a := artifact.(type) {
	case v1.ImageIndex:
		mt, err := a.MediaType()
		if err != nil {
			return nil, fmt.Errorf("reading index media type: %w", err)
		}
		d, err := a.Digest()
		if err != nil {
			return nil, fmt.Errorf("reading index digest: %w", err)
		}
		r.MediaType, r.Digest = string(mt), d.String()
		if targets, err = readIndex(ctx, a, 0, r); err != nil {
			return nil, fmt.Errorf("reading index %s: %w", d, err)
		}
		indexFindings(targets, &o, r)
		r.Findings = append(r.Findings, validateFindings(ctx, a)...)
	case v1.Image:
		mt, err := a.MediaType()
		if err != nil {
			return nil, fmt.Errorf("reading image media type: %w", err)
		}
		d, err := a.Digest()
		if err != nil {
			return nil, fmt.Errorf("reading image digest: %w", err)
		}
		r.MediaType, r.Digest = string(mt), d.String()
		cf, err := a.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading config of image %s: %w", d, err)
		}
		t := &target{img: a, platform: specs.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}}
		targets = []*target{t}
		for _, p := range o.only {
			if !platform.Match(p, t.platform) {
				r.Findings = append(r.Findings, Finding{
					Severity: SeverityError,
					Code:     CodeMissingPlatform,
					Platform: platform.Format(p),
					Expected: platform.Format(p),
					Found:    platform.Format(t.platform),
					Message:  fmt.Sprintf("the image is for %s, not %s", platform.Format(t.platform), platform.Format(p)),
				})
			}
		}
		indexFindings(targets, &o, r)
	default:
		return nil, fmt.Errorf("verifying %T: %w", artifact, ErrNotArtifact)
	}

	if len(o.only) > 0 {
		have := make([]specs.Platform, len(targets))
		for i, t := range targets {
			have[i] = t.platform
		}
		var keep []*target
		for _, i := range platform.Select(have, o.only, platform.Only).All {
			keep = append(keep, targets[i])
		}
		targets = keep
	}

	// Platforms run in parallel; their layers share one limit of o.jobs
	// concurrent reads, so the platform goroutines only wait, and a layer
	// several platforms share is read once.
	uses := map[v1.Hash]int{}
	for _, t := range targets {
		layers, err := t.img.Layers()
		if err != nil {
			return nil, fmt.Errorf("listing layers of %s: %w", platform.Format(t.platform), err)
		}
		for i, l := range layers {
			d, err := l.Digest()
			if err != nil {
				return nil, fmt.Errorf("reading digest of layer %d of %s: %w", i, platform.Format(t.platform), err)
			}
			uses[d]++
		}
	}
	sc := newScanner(o.jobs, uses)
	reports := make([]PlatformReport, len(targets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(o.jobs, 1))
	for i, t := range targets {
		g.Go(func() error {
			pr, err := verifyImage(gctx, t, &o, sc)
			if err != nil {
				return err
			}
			reports[i] = *pr
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	r.Platforms = reports
	for _, f := range r.Findings {
		if f.Severity == SeverityError {
			r.Errors++
		} else {
			r.Warnings++
		}
	}
	for _, p := range r.Platforms {
		r.Errors += p.Errors
		r.Warnings += p.Warnings
	}
	return r, nil
}

// verifyImage checks one platform's image.
func verifyImage(ctx context.Context, t *target, o *options, sc *scanner) (*PlatformReport, error) {
	img := t.img
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading image digest: %w", err)
	}
	plat := platform.Normalize(t.platform)
	name := platform.Format(plat)
	pr := &PlatformReport{Platform: name, Manifest: d.String()}
	col := &collector{limit: o.findingLimit}
	add := func(f Finding) {
		f.Platform, f.Manifest = name, d.String()
		col.add(f)
	}
	defer func() {
		pr.Findings = col.sorted()
		pr.Omitted = col.omitted
		pr.Errors, pr.Warnings = col.errors, col.warnings
	}()
	for _, f := range t.findings {
		add(f)
	}

	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s (%s): %w", d, name, err)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config of %s (%s): %w", d, name, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("parsing config of %s (%s): %w", d, name, err)
	}
	configFindings(t, m, rawConfig, cf, add)

	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers of %s (%s): %w", d, name, err)
	}
	pr.Layers = len(layers)
	by := createdBy(cf, len(layers))
	refs := make([]LayerRef, len(layers))
	digests := make([]v1.Hash, len(layers))
	for i, l := range layers {
		ld, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("reading digest of layer %d of %s (%s): %w", i, d, name, err)
		}
		refs[i] = LayerRef{Index: i, Digest: ld.String(), CreatedBy: by[i]}
		digests[i] = ld
	}
	defer func() {
		for _, ld := range digests {
			sc.release(ld)
		}
	}()

	// Read the layers in parallel; apply them in order.
	scans, errs, err := scanLayers(ctx, sc, layers, digests)
	if err != nil {
		return nil, err
	}
	tr := newTree()
	complete := true
	for i, s := range scans {
		layerFindings(i, refs[i], s, errs[i], m.Layers[i], cf, add)
		if s == nil {
			complete = false
			continue
		}
		pr.Bytes += s.bytes
		if complete {
			tr.apply(i, s.entries)
		}
		scans[i] = nil // let the entries go once applied
	}
	if !complete {
		return pr, nil // the final tree is unknown: file checks would guess
	}
	pr.Files = tr.files
	arch, known := lookupArch(plat)
	if !known && plat.Architecture != "" {
		add(Finding{
			Code:    CodeUnknownPlatform,
			Found:   name,
			Message: fmt.Sprintf("verify does not know the ELF machine of %s; its files were not checked", name),
		})
	}
	c := &checker{platform: plat, name: name, arch: arch, known: known, tree: tr, layers: refs, add: add, ignored: o.ignored}
	pr.ELFFiles = c.checkELFs()
	c.checkInterpreters()
	argv := append(append([]string{}, cf.Config.Entrypoint...), cf.Config.Cmd...)
	c.checkEntrypoint(argv, cf.Config.Env, cf.Config.WorkingDir)
	return pr, nil
}

// scanLayers reads the layers in parallel (through sc, which shares scans
// between platforms); a layer that does not read has its error in errs.
// The error is ctx's.
func scanLayers(ctx context.Context, sc *scanner, layers []v1.Layer, digests []v1.Hash) ([]*layerScan, []error, error) {
	scans := make([]*layerScan, len(layers))
	errs := make([]error, len(layers))
	g, gctx := errgroup.WithContext(ctx)
	for i, l := range layers {
		g.Go(func() error {
			s, err := sc.scan(gctx, digests[i], l)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				errs[i] = err
				return nil
			}
			scans[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return scans, errs, nil
}

// layerFindings adds the findings about layer i itself: unreadable (s is
// nil, err says why), or a blob or diff ID not matching the manifest's
// descriptor want or the config.
func layerFindings(i int, ref LayerRef, s *layerScan, err error, want v1.Descriptor, cf *v1.ConfigFile, add func(Finding)) {
	if s == nil {
		add(Finding{
			Code:    CodeLayerUnreadable,
			Layer:   &ref,
			Found:   err.Error(),
			Message: fmt.Sprintf("layer %d (%s) cannot be read: %v", i+1, ref.Digest, err),
			Cause:   layerCause(err),
			Fix:     "pull or import the image again; if the registry or store serves the same bytes, push the image again from a good copy",
		})
		return
	}
	if s.digest != want.Digest || s.size != want.Size {
		add(Finding{
			Code:     CodeDigestMismatch,
			Layer:    &ref,
			Found:    fmt.Sprintf("%s, %d bytes", s.digest, s.size),
			Expected: fmt.Sprintf("%s, %d bytes", want.Digest, want.Size),
			Message:  fmt.Sprintf("layer %d's blob does not match its digest and size in the manifest", i+1),
			Cause:    "the blob was corrupted or replaced in the registry or store",
			Fix:      "pull or push the image again from a good copy",
		})
	}
	if i < len(cf.RootFS.DiffIDs) && s.diffID != cf.RootFS.DiffIDs[i] {
		add(Finding{
			Code:     CodeDigestMismatch,
			Layer:    &ref,
			Found:    s.diffID.String(),
			Expected: cf.RootFS.DiffIDs[i].String(),
			Message:  fmt.Sprintf("layer %d's uncompressed digest does not match the config's rootfs.diff_ids[%d]; runtimes refuse to unpack it", i+1, i),
			Cause:    "the layer or the config was changed without the other",
			Fix:      "rebuild the image",
		})
	}
}

func layerCause(err error) string {
	if errors.Is(err, errTruncated) {
		return "the blob is shorter than its compressed stream: an interrupted download, push or copy"
	}
	return "the blob is corrupted, or it is not a tar stream (gzip, zstd or uncompressed)"
}
