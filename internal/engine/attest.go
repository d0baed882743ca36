package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/attest"
	"github.com/manyarch/manyarch/internal/index"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/sbom"
)

// Attest is what --sbom, --provenance and --attest ask for: attestations
// attached to the result, one attestation manifest per platform, stored
// as BuildKit stores them (internal/attest).
type Attest struct {
	SBOM bool // an SPDX SBOM of each platform's image
	// Provenance is "" (none), attest.ModeMin or attest.ModeMax.
	Provenance string
	// BuilderVersion is manyarch's version, for the provenance.
	BuilderVersion string
}

// Enabled reports whether any attestation is asked for.
func (a Attest) Enabled() bool { return a.SBOM || a.Provenance != "" }

// BuilderID is the SLSA builder id of the native engine.
const BuilderID = "https://github.com/manyarch/manyarch"

// ParseAttest reads buildx's flags: --sbom (true, false), --provenance
// (true, false, mode=min|max; true is mode=min, as buildx's default) and
// --attest values (type=sbom[,disabled=true], type=provenance[,mode=...]
// [,disabled=true]). Later values win.
func ParseAttest(sbomFlag, provenanceFlag string, attests []string) (Attest, error) {
	var a Attest
	set := func(typ string, o Output, where string) error {
		disabled := o.Attrs["disabled"] == "true"
		switch typ {
		case "sbom":
			for k := range o.Attrs {
				if k != "disabled" && k != "type" {
					return fmt.Errorf("%s: type=sbom has no %s= here (manyarch's own catalogers make the SBOM): remove it", where, k)
				}
			}
			a.SBOM = !disabled
		case "provenance":
			mode := attest.ModeMin
			for k, v := range o.Attrs {
				switch k {
				case "mode":
					if v != attest.ModeMin && v != attest.ModeMax {
						return fmt.Errorf("%s: mode=%s: use mode=min or mode=max", where, v)
					}
					mode = v
				case "disabled", "type":
				case "version":
					if v != "v1" {
						return fmt.Errorf("%s: version=%s: manyarch writes SLSA provenance v1 only", where, v)
					}
				default:
					return fmt.Errorf("%s: unknown attribute %s= (use mode=min|max)", where, k)
				}
			}
			a.Provenance = mode
			if disabled {
				a.Provenance = ""
			}
		default:
			return fmt.Errorf("%s: unknown attestation type %q: use type=sbom or type=provenance", where, typ)
		}
		return nil
	}
	boolOrAttrs := func(typ, v, flag string) error {
		switch v {
		case "":
			return nil
		case "true", "1":
			return set(typ, Output{Attrs: map[string]string{}}, flag)
		case "false", "0":
			return set(typ, Output{Attrs: map[string]string{"disabled": "true"}}, flag)
		}
		o, err := parseAttrs("type=" + typ + "," + v)
		if err != nil {
			return fmt.Errorf("%s=%s: %w", flag, v, err)
		}
		return set(typ, o, flag+"="+v)
	}
	if err := boolOrAttrs("sbom", sbomFlag, "--sbom"); err != nil {
		return Attest{}, err
	}
	if err := boolOrAttrs("provenance", provenanceFlag, "--provenance"); err != nil {
		return Attest{}, err
	}
	for _, s := range attests {
		o, err := parseAttrs(s)
		if err != nil {
			return Attest{}, fmt.Errorf("--attest %s: want type=sbom or type=provenance[,mode=min|max] (comma-separated KEY=VALUE)", s)
		}
		typ := o.Attrs["type"]
		if typ == "" {
			typ = o.Type
		}
		if err := set(typ, o, "--attest "+s); err != nil {
			return Attest{}, err
		}
	}
	return a, nil
}

// recordDownload notes the SHA-256 of what an ADD URL gave, for the
// provenance's materials.
func (x *executor) recordDownload(u, sha256Hex string) {
	x.downloads.Store(u, sha256Hex)
}

// attestations makes the attestation manifests of the built images, one
// per platform, as index children to append after the images.
func (x *executor) attestations(ctx context.Context, res *Result) ([]index.Child, error) {
	a := x.req.Attest
	if !a.Enabled() {
		return nil, nil
	}
	var out []index.Child
	for i, img := range x.images {
		pr := res.Platforms[i]
		pf := platform.Format(pr.Platform)
		purl := ""
		if len(x.req.Tags) > 0 {
			purl = attest.DockerPURL(x.req.Tags[0], pr.Platform)
		}
		var stmts []attest.Statement
		if a.SBOM {
			inv, err := sbom.Catalog(ctx, img)
			if err != nil {
				return nil, fmt.Errorf("--sbom for %s: %w", pf, err)
			}
			doc := sbom.ImageSPDX(sbom.Subject{Name: firstTag(x.req.Tags), Digest: pr.Manifest.Digest.String(), Platform: pf}, inv, x.now)
			s, err := attest.NewStatement(attest.PredicateSPDX, pr.Manifest.Digest, purl, doc)
			if err != nil {
				return nil, err
			}
			stmts = append(stmts, s)
		}
		if a.Provenance != "" {
			b, err := x.provenanceFacts(ctx, i, pr)
			if err != nil {
				return nil, fmt.Errorf("--provenance for %s: %w", pf, err)
			}
			pred, err := attest.Provenance(b)
			if err != nil {
				return nil, err
			}
			s, err := attest.NewStatement(attest.PredicateSLSA1, pr.Manifest.Digest, purl, pred)
			if err != nil {
				return nil, err
			}
			stmts = append(stmts, s)
		}
		att, desc, err := attest.Manifest(pr.Manifest.Digest, stmts)
		if err != nil {
			return nil, fmt.Errorf("attestation manifest for %s: %w", pf, err)
		}
		out = append(out, index.Child{Artifact: att, Descriptor: desc})
	}
	return out, nil
}

func firstTag(tags []string) string {
	if len(tags) == 0 {
		return ""
	}
	return tags[0]
}

// provenanceFacts gathers what the provenance of platform i says: the
// request (never its secrets), the base images of the platform's stages
// with their digests, the ADD URLs with the SHA-256 of what they gave,
// and the RUN steps that ran under emulation with the emulator.
func (x *executor) provenanceFacts(ctx context.Context, i int, pr PlatformResult) (attest.Build, error) {
	pp := x.plan.Platforms[i]
	b := attest.Build{
		BuilderID: BuilderID, BuilderVersion: x.req.Attest.BuilderVersion, Mode: x.req.Attest.Provenance,
		DockerfilePath: x.req.DockerfileName, Dockerfile: x.req.Dockerfile,
		BuildArgs: x.req.BuildArgs, Target: x.req.Target,
		BuilderPlatform: x.plan.BuildPlatform, Platform: pr.Platform,
	}
	if x.epoch == nil {
		b.Started, b.Finished = x.started, time.Now()
	}
	seenBase := map[string]bool{}
	addBase := func(r string, p specs.Platform) error {
		k := r + "\x00" + platform.Format(p)
		if seenBase[k] {
			return nil
		}
		seenBase[k] = true
		base, err := x.base(ctx, r, p)
		if err != nil {
			return err
		}
		b.Bases = append(b.Bases, attest.Base{Ref: r, Platform: p, Digest: base.digest})
		return nil
	}
	seenURL := map[string]bool{}
	for _, s := range pp.Stages {
		if s.Base.Kind == plan.BaseImage {
			if err := addBase(s.Base.Ref, s.Base.Platform); err != nil {
				return attest.Build{}, err
			}
		}
		// Images read by COPY --from and RUN --mount=from= are materials too.
		for _, step := range s.Steps {
			var froms []plan.Source
			if step.Copy != nil {
				froms = append(froms, step.Copy.From)
			}
			if step.Run != nil {
				for _, m := range step.Run.Mounts {
					froms = append(froms, m.From)
				}
			}
			for _, f := range froms {
				if f.Kind == plan.SourceImage {
					if err := addBase(f.Image, f.Platform); err != nil {
						return attest.Build{}, err
					}
				}
			}
		}
		results := x.stages[s].results
		for j, step := range s.Steps {
			switch {
			case step.Kind == plan.StepCopy && step.Copy.Add:
				for _, src := range step.Copy.Sources {
					if !plan.IsURL(src) || seenURL[src] {
						continue
					}
					seenURL[src] = true
					sum, _ := x.downloads.Load(src)
					hexSum, _ := sum.(string)
					if hexSum == "" {
						hexSum = strings.TrimPrefix(step.Copy.Checksum, "sha256:")
					}
					b.Downloads = append(b.Downloads, attest.Download{URL: src, SHA256: hexSum})
				}
			case step.Kind == plan.StepRun && j < len(results) && results[j].Emulated:
				emu := "emulated"
				if d, err := planEmulation(ctx, step.Platform, x.n.opts.Emulation); err == nil {
					emu = d.String()
				}
				b.Emulated = append(b.Emulated, attest.Step{Stage: s.Name, Location: step.Location.String(),
					Command: strings.Join(step.Run.Args, " "), Emulator: emu, Cached: results[j].Cached})
			}
		}
	}
	return b, nil
}
