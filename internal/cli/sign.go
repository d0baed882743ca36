package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/sign"
)

func newSignCmd(g *globalOptions) *cobra.Command {
	var (
		key       string
		newBundle bool
		rf        remoteFlags
	)
	cmd := &cobra.Command{
		Use:   "sign --key cosign.key REF",
		Short: "Sign an index and every platform manifest with a cosign key",
		Long: `Sign REF (an index and each of its platform manifests, or a single image) with
a cosign key, where REF lives: in its registry, in the local store or in an
oci: layout. The signatures are cosign v3's:

  - by default a Sigstore bundle (application/vnd.dev.sigstore.bundle.v0.3+json,
    a DSSE-signed in-toto statement naming the manifest's digest) stored as a
    referrer of the manifest: through the registry's referrers API, or, where
    there is none (the CNCF registry 2.8, the store, layouts), in the index
    tagged sha256-<digest>; as 'cosign sign' writes it;
  - with --new-bundle-format=false, cosign's legacy form: an image tagged
    sha256-<digest>.sig of simple-signing payloads, as
    'cosign sign --new-bundle-format=false' writes it.

'cosign verify --key' and 'manyarch verify --key' read either.

A name with a registry host (localhost:5000/app:1) is signed in that registry;
a name without one (hello:1.0), or store:NAME, in the local store, where
'manyarch push' and 'copy' carry the signatures along; oci:DIR[:TAG] in the
layout. Archives cannot be signed in place: sign, then write the archive.

The key is cosign's: make one with 'cosign generate-key-pair' (ECDSA P-256,
encrypted PEM); COSIGN_PASSWORD holds its password (empty when unset).

Not supported: keyless signing (Fulcio certificates, the Rekor transparency
log, timestamp authorities; nothing here reaches them): use 'cosign sign' for
that.`,
		Example: `  COSIGN_PASSWORD=secret cosign generate-key-pair
  COSIGN_PASSWORD=secret manyarch sign --key cosign.key localhost:5000/hello:1.0
  manyarch verify --key cosign.pub localhost:5000/hello:1.0
  cosign verify --allow-http-registry --insecure-ignore-tlog=true --key cosign.pub localhost:5000/hello:1.0
  COSIGN_PASSWORD=secret manyarch sign --new-bundle-format=false --key cosign.key hello:1.0
  COSIGN_PASSWORD=secret manyarch sign --key cosign.key oci:/tmp/hello-layout:1.0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if key == "" {
				return fmt.Errorf("--key is required: a private key from 'cosign generate-key-pair' (keyless signing is not supported: use cosign sign)")
			}
			if err := rf.Validate(); err != nil {
				return err
			}
			r, err := parseRef(args[0])
			if err != nil {
				return err
			}
			if r.Transport == ref.OCIArchive || r.Transport == ref.DockerArchive {
				_, err := sign.RepositoryOf(r)
				return err
			}
			priv, err := sign.LoadPrivateKey(key, []byte(os.Getenv("COSIGN_PASSWORD")))
			if err != nil {
				return err
			}
			env := g.newEnv(cmd.ErrOrStderr(), &rf)
			defer env.Close()
			if r.Transport == ref.Store {
				if _, err := resolveLocal(ctx, env, r); err != nil {
					return fmt.Errorf("%w: sign a registry image by its registry name (HOST/REPO:TAG or docker://NAME)", err)
				}
			}
			repo, err := sign.RepositoryOf(r)
			if err != nil {
				return err
			}
			a, err := ref.Read(ctx, env, r)
			if err != nil {
				return err
			}
			targets, err := signTargets(ctx, a)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			format := sign.Bundle
			if !newBundle {
				format = sign.Legacy
			}
			if err := sign.Sign(ctx, env, repo, targets, priv, format); err != nil {
				return err
			}
			for _, t := range targets {
				fmt.Fprintf(cmd.OutOrStdout(), "signed %-14s %s (%s)\n", t.Name, t.Digest(), format)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "in %s\n", repo)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "cosign private key (cosign.key); COSIGN_PASSWORD is its password")
	cmd.Flags().BoolVar(&newBundle, "new-bundle-format", true, "write cosign v3's Sigstore bundle as a referrer; false writes the legacy sha256-<digest>.sig image (cosign's flag)")
	rf.AddFlags(cmd)
	return cmd
}

// signTargets are the manifests a signature covers: an index and each of
// its platform images (attestation manifests left out), or the one image.
func signTargets(ctx context.Context, a image.Artifact) ([]sign.Target, error) {
	desc, err := image.Describe(a)
	if err != nil {
		return nil, err
	}
	if _, ok := a.(v1.Image); ok {
		return []sign.Target{{Descriptor: desc, Name: "image"}}, nil
	}
	out := []sign.Target{{Descriptor: desc, Name: "index"}}
	es, err := image.Entries(ctx, a)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		out = append(out, sign.Target{Descriptor: e.Descriptor, Name: platform.Format(e.Platform)})
	}
	return out, nil
}

// signatureRepositories are where the signatures of r (as verify read it)
// may live: a store reference's image is the store's when the store holds
// it (and, for a name with a registry host, also that registry's, where
// cosign signs it), else the registry's it was read from.
func signatureRepositories(ctx context.Context, env *ref.Env, r ref.Reference) ([]sign.Repository, error) {
	if r.Transport != ref.Store {
		p, err := sign.RepositoryOf(r)
		return []sign.Repository{p}, err
	}
	var out []sign.Repository
	if _, err := resolveLocal(ctx, env, r); err == nil {
		p, err := sign.RepositoryOf(r)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
		if !hasRegistryHost(r.Name) {
			return out, nil
		}
	}
	dr, err := ref.NewRegistry(r.Registry())
	if err != nil {
		return nil, err
	}
	p, err := sign.RepositoryOf(dr)
	return append(out, p), err
}

// verifySignatures is verify --key: the index and every platform manifest
// of a (read from r) must carry a signature by the public key at keyPath,
// all in one of the places signatureRepositories names. It says on w what
// it found.
func verifySignatures(ctx context.Context, env *ref.Env, r ref.Reference, a image.Artifact, keyPath string, w io.Writer) error {
	pub, err := sign.LoadPublicKey(keyPath)
	if err != nil {
		return err
	}
	repos, err := signatureRepositories(ctx, env, r)
	if err != nil {
		return err
	}
	targets, err := signTargets(ctx, a)
	if err != nil {
		return err
	}
	var errs []error
	for _, repo := range repos {
		found, err := sign.Verify(ctx, env, repo, targets, pub)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var parts []string
		for _, v := range found {
			parts = append(parts, fmt.Sprintf("%s (%s)", v.Target.Name, v.Format))
		}
		fmt.Fprintf(w, "%s: signed by %s in %s: %s\n", r, keyPath, repo, strings.Join(parts, ", "))
		return nil
	}
	return fmt.Errorf("%s: signature check failed (key %s): %w", r, keyPath, errors.Join(errs...))
}

// carrySignatures copies the signatures of a (read from src) to where it
// was just written (dst), so that a copy or push of a signed image is a
// signed image. Images without signatures, and destinations that cannot
// hold them (archives), are left as they are; it says on w what it copied
// (unless quiet: -q prints nothing on success), or, when copying fails,
// that it did not and how to sign again (the image is written by then:
// that is not the command's failure).
func carrySignatures(ctx context.Context, env *ref.Env, src, dst ref.Reference, a image.Artifact, w io.Writer, quiet bool) error {
	if dst.Transport == ref.OCIArchive || dst.Transport == ref.DockerArchive {
		return nil
	}
	froms, err := signatureRepositories(ctx, env, src)
	if err != nil {
		return nil // an archive source holds no signatures
	}
	from := froms[0]
	to, err := sign.RepositoryOf(dst)
	if err != nil {
		return nil
	}
	targets, err := signTargets(ctx, a)
	if err != nil {
		return err
	}
	n, err := sign.Copy(ctx, env, from, to, targets)
	if err != nil {
		// The image is written; a registry that will not list referrers
		// must not fail the copy, but the user must know.
		fmt.Fprintf(w, "warning: the image was written, but its signatures were not all copied: %v\n  sign it again where it now is: manyarch sign --key cosign.key %s\n", err, dst)
		return nil
	}
	if n > 0 && !quiet {
		fmt.Fprintf(w, "Copied %d signature(s) to %s\n", n, to)
	}
	return nil
}
