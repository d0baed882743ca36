package verify

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/index"
	"github.com/manyarch/manyarch/internal/platform"
)

// Index and config consistency.
//
// internal/index.Validate owns the index checks shared with `manyarch
// index`; Run adds its problems as index-inconsistent findings. The checks
// below overlap with it where verify gives a stable code, a cause and a fix
// (config-mismatch, duplicate-platform, digest-mismatch, unknown-platform);
// Validate's problems of those kinds are not repeated (coveredProblem).
// TODO(index): when index.Problem carries a stable kind, map it to codes
// here and drop the overlapping checks.

// maxIndexDepth bounds nested indexes.
const maxIndexDepth = 4

// target is one image to verify.
type target struct {
	desc     *v1.Descriptor // the index entry; nil for a lone image
	platform specs.Platform // what the index says (or the config, for a lone image)
	img      v1.Image
	findings []Finding // index-level findings about this entry
}

// dockerRefType is the annotation BuildKit puts on attestation manifests.
const dockerRefType = image.AnnotationReferenceType

// isAttestation reports whether d is an attestation manifest (provenance,
// SBOM) that BuildKit and others add to an index; they are not images.
func isAttestation(d v1.Descriptor) bool {
	if image.IsAttestation(d) {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// coveredProblem reports whether p is one that verify's own checks report
// with a code, a cause and a fix (a test plants each kind and fails if both
// report it).
func coveredProblem(p index.Problem) bool {
	switch p.Kind {
	case index.ProblemDigest, // digest-mismatch
		index.ProblemPlatformMismatch,  // config-mismatch
		index.ProblemNoPlatform,        // unknown-platform
		index.ProblemDuplicatePlatform: // duplicate-platform
		return true
	}
	return false
}

// validateFindings runs index.Validate and returns its problems that
// verify's own checks do not report.
func validateFindings(ctx context.Context, idx v1.ImageIndex) []Finding {
	var out []Finding
	for _, p := range index.Validate(ctx, idx) {
		if coveredProblem(p) {
			continue
		}
		f := Finding{
			Severity: SeverityError,
			Code:     CodeIndexInconsistent,
			Message:  p.String(),
			Fix:      "re-create the index from its images (manyarch index create takes each platform from the config)",
		}
		if p.Digest != (v1.Hash{}) {
			f.Manifest = p.Digest.String()
		}
		f.Platform = p.Platform
		out = append(out, f)
	}
	return out
}

func toSpecs(p *v1.Platform) specs.Platform {
	if p == nil {
		return specs.Platform{}
	}
	return specs.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion}
}

// digestOf is the sha256 digest of b.
func digestOf(b []byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(b))}
}

// readIndex lists the images of idx, recursing into nested indexes, and
// records the entries it skips.
func readIndex(ctx context.Context, idx v1.ImageIndex, depth int, r *Report) ([]*target, error) {
	if depth > maxIndexDepth {
		return nil, fmt.Errorf("indexes nested deeper than %d", maxIndexDepth)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index manifest: %w", err)
	}
	var out []*target
	for i := range m.Manifests {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d := m.Manifests[i]
		switch {
		case isAttestation(d):
			r.Skipped = append(r.Skipped, Skipped{Digest: d.Digest.String(), Reason: "attestation manifest"})
			continue
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading nested index %s: %w", d.Digest, err)
			}
			ts, err := readIndex(ctx, child, depth+1, r)
			if err != nil {
				return nil, fmt.Errorf("in nested index %s: %w", d.Digest, err)
			}
			out = append(out, ts...)
			continue
		case !d.MediaType.IsImage():
			r.Skipped = append(r.Skipped, Skipped{Digest: d.Digest.String(), Reason: fmt.Sprintf("not an image manifest (%s)", d.MediaType)})
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading manifest %s: %w", d.Digest, err)
		}
		t := &target{desc: &d, platform: toSpecs(d.Platform), img: img}
		raw, err := img.RawManifest()
		if err != nil {
			return nil, fmt.Errorf("reading manifest %s: %w", d.Digest, err)
		}
		if got := digestOf(raw); got != d.Digest || int64(len(raw)) != d.Size {
			t.findings = append(t.findings, Finding{
				Code:     CodeDigestMismatch,
				Found:    fmt.Sprintf("%s, %d bytes", got, len(raw)),
				Expected: fmt.Sprintf("%s, %d bytes", d.Digest, d.Size),
				Message:  "the manifest does not match the digest and size the index gives for it",
				Cause:    "the index was edited by hand, or the registry or store serves a different manifest",
				Fix:      "re-create the index from the manifests as they are (manyarch index create)",
			})
		}
		out = append(out, t)
	}
	return out, nil
}

// indexFindings checks the entries against each other and the required
// platforms: duplicates go on the entries, missing platforms on r.
func indexFindings(ts []*target, o *options, r *Report) {
	seen := map[string]*target{}
	for _, t := range ts {
		if t.desc == nil {
			continue
		}
		if t.desc.Platform == nil {
			t.findings = append(t.findings, Finding{
				Code:     CodeUnknownPlatform,
				Severity: SeverityWarning,
				Message:  "the index entry has no platform, so no runtime will select it",
				Fix:      "add the platform to the index entry (manyarch index create reads it from the config)",
			})
			continue
		}
		n := platform.Normalize(t.platform)
		key := platform.Format(n) + "|" + t.platform.OSVersion
		if first, ok := seen[key]; ok {
			t.findings = append(t.findings, Finding{
				Code:     CodeDuplicatePlatform,
				Found:    t.desc.Digest.String(),
				Expected: "one manifest per platform",
				Message: fmt.Sprintf("%s is listed twice in the index (%s and %s); runtimes pull the first, so this one is never used",
					platform.Format(n), first.desc.Digest, t.desc.Digest),
				Cause: "the index was assembled from two builds of the same platform, or one image was added twice under different platforms",
				Fix:   "keep one manifest per platform when creating the index",
			})
			continue
		}
		seen[key] = t
	}
	want := append(append([]specs.Platform{}, o.require...), o.only...)
	have := make([]specs.Platform, len(ts))
	for i, t := range ts {
		have[i] = t.platform
	}
	sel := platform.Select(have, want, platform.Only)
	done := map[string]bool{}
	for i, p := range want {
		name := platform.Format(p)
		if done[name] {
			continue
		}
		done[name] = true
		if sel.Best[i] < 0 {
			r.Findings = append(r.Findings, Finding{
				Severity: SeverityError,
				Code:     CodeMissingPlatform,
				Platform: name,
				Expected: name,
				Found:    platform.FormatList(have),
				Message:  fmt.Sprintf("the index has no image for %s", name),
				Cause:    "the build did not include this platform, or its push failed",
				Fix:      fmt.Sprintf("build with --platform including %s and push the index again", name),
			})
		}
	}
}

// configFindings checks one image's manifest and config against each
// other and against the index entry.
func configFindings(t *target, m *v1.Manifest, rawConfig []byte, cf *v1.ConfigFile, add func(Finding)) {
	if got := digestOf(rawConfig); got != m.Config.Digest || int64(len(rawConfig)) != m.Config.Size {
		add(Finding{
			Code:     CodeDigestMismatch,
			Found:    fmt.Sprintf("%s, %d bytes", got, len(rawConfig)),
			Expected: fmt.Sprintf("%s, %d bytes", m.Config.Digest, m.Config.Size),
			Message:  "the image config does not match the digest and size in the manifest",
			Cause:    "the config blob was replaced or corrupted",
			Fix:      "push or import the image again",
		})
	}
	cfgPlatform := specs.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	if t.desc != nil && t.desc.Platform != nil && !platform.Match(cfgPlatform, t.platform) {
		add(Finding{
			Code:     CodeConfigMismatch,
			Found:    platform.Format(cfgPlatform) + " (image config)",
			Expected: platform.Format(t.platform) + " (index)",
			Message: fmt.Sprintf("the index lists this image as %s but its config says %s",
				platform.Format(t.platform), platform.Format(cfgPlatform)),
			Cause: "the index was assembled with a wrong platform for this manifest (docker manifest annotate, or imagetools create from a mislabelled source), or the wrong image was pushed under this platform",
			Fix:   "rebuild the index from correctly labelled images; the ELF checks below show which platform the files really are",
		})
	}
	if cf.OS == "" || cf.Architecture == "" {
		add(Finding{
			Code:     CodeConfigMismatch,
			Found:    fmt.Sprintf("os %q, architecture %q", cf.OS, cf.Architecture),
			Expected: "both set",
			Message:  "the image config does not say which platform it is for",
			Fix:      "set os and architecture in the config (every builder does; this image was assembled by hand)",
		})
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		add(Finding{
			Code:     CodeConfigMismatch,
			Found:    fmt.Sprintf("%d diff IDs in the config", len(cf.RootFS.DiffIDs)),
			Expected: fmt.Sprintf("%d, one per manifest layer", len(m.Layers)),
			Message:  "the config's rootfs.diff_ids do not match the manifest's layers",
			Cause:    "the manifest or the config was edited without the other",
			Fix:      "rebuild the image",
		})
	}
}

// createdBy maps each layer to its history entry's created_by, when the
// history's non-empty entries line up with the layers.
func createdBy(cf *v1.ConfigFile, layers int) []string {
	var out []string
	for _, h := range cf.History {
		if !h.EmptyLayer {
			out = append(out, strings.TrimSpace(strings.TrimPrefix(h.CreatedBy, "/bin/sh -c #(nop) ")))
		}
	}
	if len(out) != layers {
		return make([]string, layers)
	}
	return out
}
