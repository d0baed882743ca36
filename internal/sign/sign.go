package sign

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/ref"
)

// Target is one manifest or index to sign or verify (its descriptor:
// digest, media type and size, which a bundle's subject names), and what
// to call it in messages ("index", "linux/arm64").
type Target struct {
	Descriptor v1.Descriptor
	Name       string
}

// Digest is the target's digest.
func (t Target) Digest() v1.Hash { return t.Descriptor.Digest }

// Format is the form a signature is written in.
type Format int

const (
	// Bundle is cosign v3's default: a Sigstore bundle (v0.3) holding a
	// DSSE-signed in-toto statement, stored as a referrer of the manifest.
	Bundle Format = iota
	// Legacy is cosign's simple-signing form, tag sha256-HEX.sig (cosign
	// sign --new-bundle-format=false).
	Legacy
)

func (f Format) String() string {
	if f == Legacy {
		return "legacy .sig"
	}
	return "bundle"
}

// Sign signs every target with key in repository p, in form f. Every
// signature is made (and every existing signature image it extends is
// read) before the first is written; a failed write leaves the targets
// signed before it signed, and nothing half-written. In the store and in
// layouts the signature tags are locked from the read to the write, so
// signers of one image at once all land.
func Sign(ctx context.Context, env *ref.Env, p Repository, targets []Target, key *ecdsa.PrivateKey, f Format) error {
	tags := make([]string, len(targets))
	for i, t := range targets {
		tags[i] = ReferrersTag(t.Digest())
		if f == Legacy {
			tags[i] = SigTag(t.Digest())
		}
	}
	unlock, err := p.lockTags(ctx, env, tags...)
	if err != nil {
		return err
	}
	defer unlock()
	writes := make([]func() error, 0, len(targets))
	for _, t := range targets {
		switch f {
		case Legacy:
			img, err := legacySignature(ctx, env, p, t, key)
			if err != nil {
				return err
			}
			writes = append(writes, func() error { return p.write(ctx, env, SigTag(t.Digest()), img) })
		default:
			body, err := makeBundle(t.Digest(), key)
			if err != nil {
				return fmt.Errorf("signing %s: %w", t.Name, err)
			}
			img, desc, err := bundleArtifact(body, t.Descriptor, time.Now())
			if err != nil {
				return fmt.Errorf("signing %s: %w", t.Name, err)
			}
			writes = append(writes, func() error { return p.addReferrer(ctx, env, t.Digest(), img, desc) })
		}
	}
	for i, w := range writes {
		if err := w(); err != nil {
			return fmt.Errorf("writing the signature of %s (%s) into %s: %w", targets[i].Name, targets[i].Digest(), p, err)
		}
	}
	return nil
}

// VerifyError names the target whose signature is missing or bad, and why.
type VerifyError struct {
	Target Target
	Reason string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("%s (%s): %s", e.Target.Name, e.Target.Digest(), e.Reason)
}

// Verified is a target with a good signature, and its form.
type Verified struct {
	Target Target
	Format Format
}

// Verify checks that every target has, in repository p, a signature by
// pub over its own digest, in either form: a Sigstore bundle among its
// referrers or a legacy sha256-HEX.sig image. It returns the form found
// for each, or a *VerifyError for each target without one (joined).
func Verify(ctx context.Context, env *ref.Env, p Repository, targets []Target, pub *ecdsa.PublicKey) ([]Verified, error) {
	var out []Verified
	var errs []error
	for _, t := range targets {
		f, err := verifyOne(ctx, env, p, t, pub)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, Verified{t, f})
	}
	return out, errors.Join(errs...)
}

func verifyOne(ctx context.Context, env *ref.Env, p Repository, t Target, pub *ecdsa.PublicKey) (Format, error) {
	var reasons []string
	bundles, err := checkBundles(ctx, env, p, t, pub, &reasons)
	if err == nil && bundles > 0 {
		return Bundle, nil
	}
	if err != nil {
		reasons = append(reasons, err.Error())
	}
	found, err := checkLegacy(ctx, env, p, t, pub)
	if found && err == nil {
		return Legacy, nil
	}
	if err != nil {
		reasons = append(reasons, err.Error())
	}
	if len(reasons) == 0 {
		return 0, &VerifyError{t, fmt.Sprintf("not signed: no Sigstore bundle refers to it in %s (referrers, or tag %s) and there is no legacy signature %s; sign it with `manyarch sign --key cosign.key` or cosign sign",
			p, ReferrersTag(t.Digest()), p.tagName(SigTag(t.Digest())))}
	}
	return 0, &VerifyError{t, strings.Join(reasons, "; ")}
}

// checkBundles looks for a good bundle among t's referrers. It returns
// 1 for a good one (nil error), 0 when there is none, appending to reasons
// why each bundle it found is not good.
func checkBundles(ctx context.Context, env *ref.Env, p Repository, t Target, pub *ecdsa.PublicKey, reasons *[]string) (int, error) {
	refs, err := p.referrers(ctx, env, t.Digest())
	if err != nil {
		return 0, fmt.Errorf("listing the referrers of %s: %v", t.Digest(), err)
	}
	if len(refs) > maxSignatures {
		return 0, fmt.Errorf("%s has %d referrers, more than %d", t.Digest(), len(refs), maxSignatures)
	}
	for _, d := range refs {
		if !maybeBundle(d) {
			continue // an SBOM or another tool's artifact
		}
		img, err := p.manifest(ctx, env, d.Digest)
		if err != nil {
			*reasons = append(*reasons, fmt.Sprintf("reading referrer %s: %v", d.Digest, err))
			continue
		}
		m, err := img.Manifest()
		if err != nil {
			*reasons = append(*reasons, fmt.Sprintf("reading referrer %s: %v", d.Digest, err))
			continue
		}
		for _, ld := range m.Layers {
			if !strings.HasPrefix(string(ld.MediaType), mediaTypeBundlePrefix) {
				continue
			}
			body, err := readLayer(img, ld, maxBundle)
			if err == nil {
				err = checkBundle(body, t.Digest(), pub)
			}
			if err == nil {
				return 1, nil
			}
			*reasons = append(*reasons, fmt.Sprintf("bundle %s (in %s@%s) %v", ld.Digest, p, d.Digest, err))
		}
	}
	return 0, nil
}

// maybeBundle reports whether the referrer d may hold a Sigstore bundle:
// its artifact type is a bundle's, or unknown, or (as registries that take
// it from the config's media type report it) the empty config's.
func maybeBundle(d v1.Descriptor) bool {
	return d.ArtifactType == "" || d.ArtifactType == mediaTypeEmpty || strings.HasPrefix(d.ArtifactType, mediaTypeBundlePrefix)
}
