package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newCopyCmd(g *globalOptions) *cobra.Command {
	var (
		pf    platformFlags
		rf    remoteFlags
		all   bool
		quiet bool
	)
	cmd := &cobra.Command{
		Use:     "copy SOURCE DESTINATION",
		Aliases: []string{"cp"},
		Short:   "Copy an image or index between the store, registries, layouts and archives",
		Long: `Copy an image or a whole multi-platform index from any reference to any other
(see 'manyarch --help' for the forms). Digests are kept: the destination holds
the same bytes as the source. A name with a registry host (localhost:5000/app,
registry.example.com/app) is that registry, as crane and skopeo read it, for
SOURCE and DESTINATION alike; a name without one is the local store, and
store:NAME is the store's copy of any name. The message says where it went. Every platform is copied unless --platform names
some: one platform copies that platform's image alone, several copy an index
of just those.

docker-archive destinations hold one image: name the platform with --platform.`,
		Example: `  manyarch copy fixtures/busybox:1.35 oci-archive:/tmp/bb.tar
  manyarch copy oci-archive:/tmp/bb.tar busybox:copy
  manyarch copy --platform linux/arm64 fixtures/busybox:1.35 docker-archive:/tmp/bb-arm64.tar
  manyarch copy --platform linux/amd64,linux/arm64 fixtures/busybox:1.35 oci:/tmp/bb-layout:1.35
  manyarch copy fixtures/busybox:1.35 localhost:5000/busybox:1.35`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := parseSource(&rf, &pf, args[0], notAllPlatforms(all))
			if err != nil {
				return err
			}
			src := s.ref
			dst, err := parseRef(args[1])
			if err != nil {
				return err
			}
			env := g.newEnv(cmd.ErrOrStderr(), &rf)
			defer env.Close()
			a, err := s.read(ctx, env)
			if err != nil {
				return err
			}
			desc, err := writeRef(ctx, env, dst, a)
			if err != nil {
				return err
			}
			if err := carrySignatures(ctx, env, src, dst, a, cmd.ErrOrStderr(), quiet); err != nil {
				return err
			}
			if !quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "Copied %s to %s\n%s\n", sourceName(src), place(dst), desc.Digest)
			}
			return nil
		},
	}
	pf.AddFlags(cmd, "copy only these platforms (comma list or repeated)")
	cmd.Flags().BoolVarP(&all, "all-platforms", "a", false, "copy every platform of an index (the default)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing on success")
	rf.AddFlags(cmd)
	return cmd
}
