package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/sign"
)

func newSignCmd(g *globalOptions) *cobra.Command {
	var (
		key string
		rf  remoteFlags
	)
	cmd := &cobra.Command{
		Use:   "sign --key cosign.key REF",
		Short: "Sign an index and every platform manifest with a cosign key",
		Long: `Sign REF (an index and each of its platform manifests, or a single image)
in its registry, as cosign does with --new-bundle-format=false: for each
manifest a signature image tagged REPO:sha256-<digest>.sig, which cosign verify
--key reads, and manyarch verify --key checks.

The key is cosign's: make one with 'cosign generate-key-pair' (ECDSA P-256,
encrypted PEM); COSIGN_PASSWORD holds its password (empty when unset).

Not supported: keyless signing (Fulcio certificates, Rekor transparency log;
nothing here reaches them: use 'cosign sign' for that), cosign v3's bundle
form, and signing images in the local store or oci: layouts (push first).`,
		Example: `  COSIGN_PASSWORD=secret cosign generate-key-pair
  COSIGN_PASSWORD=secret manyarch sign --key cosign.key localhost:5000/hello:1.0
  manyarch verify --key cosign.pub localhost:5000/hello:1.0
  cosign verify --allow-http-registry --insecure-ignore-tlog=true --key cosign.pub localhost:5000/hello:1.0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if key == "" {
				return fmt.Errorf("--key is required: a private key from 'cosign generate-key-pair' (keyless signing is not supported)")
			}
			if err := rf.Validate(); err != nil {
				return err
			}
			r, repo, err := signRegistryRef(args[0])
			if err != nil {
				return err
			}
			priv, err := sign.LoadPrivateKey(key, []byte(os.Getenv("COSIGN_PASSWORD")))
			if err != nil {
				return err
			}
			env := g.newEnv(cmd.ErrOrStderr(), &rf)
			defer env.Close()
			a, err := ref.Read(ctx, env, r)
			if err != nil {
				return err
			}
			targets, err := signTargets(ctx, a)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if err := sign.Sign(ctx, env, repo, targets, priv); err != nil {
				return err
			}
			for _, t := range targets {
				fmt.Fprintf(cmd.OutOrStdout(), "signed %-14s %s\n", t.Name, t.Digest)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "cosign private key (cosign.key); COSIGN_PASSWORD is its password")
	rf.AddFlags(cmd)
	return cmd
}

// signRegistryRef is s as a registry reference, and its repository (the
// identity cosign's payload names). The local store and layouts are refused.
func signRegistryRef(s string) (ref.Reference, string, error) {
	r, err := ref.Parse(s)
	if err != nil {
		return ref.Reference{}, "", err
	}
	if r.Transport != ref.Store && r.Transport != ref.Docker {
		return ref.Reference{}, "", fmt.Errorf("%s: signatures live in a registry: push it first (manyarch push), then sign or verify the registry reference", s)
	}
	n, err := name.ParseReference(r.Registry())
	if err != nil {
		return ref.Reference{}, "", err
	}
	dr, err := ref.Parse("docker://" + r.Registry())
	if err != nil {
		return ref.Reference{}, "", err
	}
	return dr, n.Context().Name(), nil
}

// signTargets are the manifests a signature covers: an index and each of
// its platform images (attestation manifests left out), or the one image.
func signTargets(ctx context.Context, a image.Artifact) ([]sign.Target, error) {
	d, err := a.Digest()
	if err != nil {
		return nil, err
	}
	if img, ok := a.(v1.Image); ok {
		desc, err := partial.Descriptor(img)
		if err != nil {
			return nil, err
		}
		return []sign.Target{{Digest: desc.Digest, Name: "image"}}, nil
	}
	out := []sign.Target{{Digest: d, Name: "index"}}
	es, err := image.Entries(ctx, a)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		out = append(out, sign.Target{Digest: e.Descriptor.Digest, Name: platform.Format(e.Platform)})
	}
	return out, nil
}

// verifySignatures is verify --key: every manifest signSignatures names
// must carry a signature by the public key at keyPath.
func verifySignatures(ctx context.Context, env *ref.Env, arg string, a image.Artifact, keyPath string) error {
	_, repo, err := signRegistryRef(arg)
	if err != nil {
		return err
	}
	pub, err := sign.LoadPublicKey(keyPath)
	if err != nil {
		return err
	}
	targets, err := signTargets(ctx, a)
	if err != nil {
		return err
	}
	if err := sign.Verify(ctx, env, repo, targets, pub); err != nil {
		return fmt.Errorf("%s: signature check failed: %w", arg, err)
	}
	return nil
}
