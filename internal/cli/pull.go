package cli

import (
	"fmt"
	"slices"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/store"
)

func newPullCmd(g *globalOptions) *cobra.Command {
	var (
		pf  platformFlags
		rf  remoteFlags
		prf progressFlags
		all bool
	)
	cmd := &cobra.Command{
		Use:   "pull REFERENCE",
		Short: "Pull an image or index from a registry into the local store",
		Long: `Pull an image or a multi-platform index from a registry into the local store,
under the name you give. By digest (NAME@DIGEST) the content is checked against
the digest and recorded as a repository digest with no tag ('manyarch images
--digests' shows it; run, inspect, test and rmi take NAME@DIGEST back); with
NAME:TAG@DIGEST it is also tagged NAME:TAG. Every platform is pulled
unless --platform names some: one platform pulls that image alone, several pull
an index of just those. Blobs the store has are not fetched again; the others
are fetched -j at a time and checked against their digests.`,
		Example: `  manyarch pull localhost:5000/hello:1.0
  manyarch pull --platform linux/arm64 localhost:5000/hello:1.0
  manyarch pull --progress plain docker://localhost:5000/hello:1.0.0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := parseSource(&rf, &pf, args[0], notAllPlatforms(all))
			if err != nil {
				return err
			}
			r, ps := s.ref, s.platforms
			if r.Transport != ref.Store && r.Transport != ref.Docker {
				return fmt.Errorf("%s is not a registry reference: pull reads registries; use `manyarch copy` for layouts and archives", args[0])
			}
			local, err := r.InStore()
			if err != nil {
				return err
			}
			// NAME:TAG, NAME@DIGEST (a digest record: `images` shows it with
			// no tag) or, for NAME:TAG@DIGEST, both: the content is fetched
			// by digest (so checked against it) and tagged NAME:TAG, as docker.
			storeNames := []string{local.Name}
			if t := local.PinnedTag(); t != "" {
				storeNames = []string{t, local.Name}
			}
			stderr := stderrFor(cmd)
			printer, err := prf.printer(stderr)
			if err != nil {
				return err
			}
			env := g.newEnv(stderr, &rf)
			defer env.Close()
			// Opening (on first use, creating) the store, reading the
			// manifest and preparing the blob reads (its own ping and
			// authentication) depend on nothing of each other: they run at
			// once, and the pull waits for the slowest, not for their sum.
			// Errors are reported in that order, as if they ran in turn.
			var (
				wg            sync.WaitGroup
				st            *store.Store
				stErr, blbErr error
				blobs         *remote.Blobs
			)
			wg.Go(func() { st, stErr = env.Store(ctx) })
			wg.Go(func() { blobs, blbErr = remote.OpenBlobs(ctx, r.Registry(), env.Remote...) })
			opts := append(slices.Clip(env.Remote), remote.WithProgress(printer.Event))
			a, _, err := remote.Read(ctx, r.Registry(), opts...)
			if err == nil {
				a, err = ref.Select(ctx, a, ps)
			}
			wg.Wait()
			if stErr != nil {
				_ = printer.Close()
				return stErr
			}
			if err == nil {
				err = blbErr
			}
			var desc v1.Descriptor
			if err == nil {
				desc, err = ref.Pull(ctx, st, a, storeNames, blobs, rf.jobs, printer.Event)
			}
			if cerr := printer.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("pulling %s: %w", r, err)
			}
			if !prf.quiet {
				for _, n := range storeNames {
					fmt.Fprintf(cmd.OutOrStdout(), "Pulled %s\n", n)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", desc.Digest)
			}
			return nil
		},
	}
	pf.AddFlags(cmd, "pull only these platforms (comma list or repeated)")
	cmd.Flags().BoolVarP(&all, "all-platforms", "a", false, "pull every platform of an index (the default)")
	rf.AddFlags(cmd)
	prf.AddFlags(cmd)
	return cmd
}
