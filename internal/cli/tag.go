package cli

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/ref"
)

func newTagCmd(g *globalOptions) *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   "tag SOURCE TARGET",
		Short: "Give an image another name, in the local store or a registry",
		Long: `Give the image or index SOURCE names the name TARGET. A name without a
registry host is in the local store (SOURCE must be there); a name with one
(localhost:5000/app:1) is in that registry, as crane tag reads it, so
'manyarch tag hello:1.0 localhost:5000/hello:1.0' writes the registry (like a
push) and says so. store:NAME is the store's copy of any name (docker's
'docker tag hello localhost:5000/hello' is 'manyarch tag hello store:localhost:5000/hello').`,
		Example: `  manyarch tag fixtures/busybox:1.35 busybox:latest
  manyarch tag fixtures/busybox@$(manyarch inspect --format '{{.Digest}}' fixtures/busybox:1.35) busybox:pinned
  manyarch tag fixtures/busybox:1.35 store:localhost:5000/busybox:1.35`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := rf.Validate(); err != nil {
				return err
			}
			src, err := nameRef(args[0])
			if err != nil {
				return err
			}
			dst, err := nameRef(args[1])
			if err != nil {
				return err
			}
			if dst.Digest() != "" {
				return fmt.Errorf("target %s: a tag cannot be a digest; use NAME:TAG", args[1])
			}
			env := g.newEnv(cmd.ErrOrStderr(), &rf)
			defer env.Close()
			var a image.Artifact
			if src.Transport == ref.Store {
				st, err := env.Store(ctx)
				if err != nil {
					return err
				}
				desc, err := resolveLocal(ctx, env, src)
				if err != nil {
					return err
				}
				if dst.Transport == ref.Store {
					return st.Tag(ctx, dst.Name, desc)
				}
				if a, err = ref.FromStore(ctx, st, desc); err != nil {
					return err
				}
			} else if a, err = ref.Read(ctx, env, src); err != nil {
				return err
			}
			desc, err := writeRef(ctx, env, dst, a)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Tagged %s in %s\n%s\n", dst.Name, where(dst), desc.Digest)
			return nil
		},
	}
	cmd.Flags().BoolVar(&rf.insecure, "insecure", false, "allow plain HTTP and unverified TLS for registries")
	rf.jobs = 4
	return cmd
}

// where is "the local store" or "registry HOST".
func where(r ref.Reference) string {
	if r.Transport == ref.Docker {
		return "registry " + registryHost(r)
	}
	return "the local store"
}

// nameRef parses s under the rule for names (parseRef) and refuses what is
// not a name in the store or a registry.
func nameRef(s string) (ref.Reference, error) {
	r, err := parseRef(s)
	if err != nil {
		return r, err
	}
	if r.Transport != ref.Store && r.Transport != ref.Docker {
		return r, fmt.Errorf("%s: tag names images in the local store or a registry (NAME[:TAG|@DIGEST]); use `manyarch copy` for layouts and archives", s)
	}
	return r, nil
}

func newRmiCmd(g *globalOptions) *cobra.Command {
	var noPrune bool
	cmd := &cobra.Command{
		Use:     "rmi NAME...",
		Aliases: []string{"untag"},
		Short:   "Remove names from the local store and free the space no name uses",
		Long: `Remove names from the local store. Then, unless --no-prune is given, remove
the blobs that no remaining name (or build cache record) references, as
'manyarch gc' does.`,
		Example: `  manyarch rmi busybox:latest
  manyarch rmi --no-prune fixtures/busybox:1.35 hello:1.0
  manyarch rmi localhost:5000/hello@sha256:…   # a digest record (pull by digest)`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			env := g.newEnv(cmd.ErrOrStderr(), nil)
			env.HoldStore = false // it collects garbage itself
			defer env.Close()
			st, err := env.Store(ctx)
			if err != nil {
				return err
			}
			for _, a := range args {
				r, err := storeRef(a)
				if err != nil {
					// A name that is no reference (another tool's, or one an
					// older manyarch wrote) goes as `images` names it.
					if uerr := st.Untag(ctx, a); uerr == nil {
						fmt.Fprintf(cmd.OutOrStdout(), "Untagged: %s\n", a)
						continue
					}
					return err
				}
				// NAME@DIGEST removes the digest record `pull NAME@DIGEST` wrote.
				if err := st.Untag(ctx, r.Name); err != nil {
					if r.Digest() != "" {
						return fmt.Errorf("removing %s: %w: no digest record of that name (see `manyarch images --digests`; remove tags by NAME:TAG)", r.Name, err)
					}
					return fmt.Errorf("removing %s: %w (see `manyarch images`)", r.Name, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Untagged: %s\n", r.Name)
			}
			if noPrune {
				return nil
			}
			stats, err := collectGarbage(cmd, st)
			if err != nil {
				return err
			}
			if stats.BlobsRemoved > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted %d blobs, %s\n", stats.BlobsRemoved, humanSize(stats.BytesFreed))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noPrune, "no-prune", false, "keep the blobs that no name references any more")
	return cmd
}

func newGCCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "gc",
		Short: "Remove blobs and temporary files that nothing in the store references",
		Long: `Remove the blobs that no name and no build cache record references, and the
temporary files that interrupted writes left behind. gc waits for the manyarch
commands reading or writing the store in other processes to finish (saying so
on stderr; run only until its layers are unpacked) and blocks new ones while it
runs.`,
		Example: "  manyarch gc",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			env := g.newEnv(cmd.ErrOrStderr(), nil)
			env.HoldStore = false // it collects garbage itself
			defer env.Close()
			st, err := env.Store(ctx)
			if err != nil {
				return err
			}
			stats, err := collectGarbage(cmd, st)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted %d blobs (%s) and %d temporary files; kept %d blobs\n",
				stats.BlobsRemoved, humanSize(stats.BytesFreed), stats.TempsRemoved, stats.BlobsKept)
			return nil
		},
	}
}

// storeRef parses s as a name in the local store.
func storeRef(s string) (ref.Reference, error) {
	r, err := ref.Parse(s)
	if err != nil {
		return r, err
	}
	if r.Transport != ref.Store {
		return r, fmt.Errorf("%s: this command works on names in the local store (NAME[:TAG|@DIGEST]); use `manyarch copy` for other references", s)
	}
	return r, nil
}

// resolveLocal finds a store reference's descriptor without going to a registry.
func resolveLocal(ctx context.Context, env *ref.Env, r ref.Reference) (v1.Descriptor, error) {
	st, err := env.Store(ctx)
	if err != nil {
		return v1.Descriptor{}, err
	}
	desc, err := ref.ResolveStore(ctx, st, r)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("%s: %w (see `manyarch images`)", r.Name, err)
	}
	return desc, nil
}
