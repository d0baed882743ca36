package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/imagediff"
	"github.com/manyarch/manyarch/internal/ref"
)

func newDiffCmd(g *globalOptions) *cobra.Command {
	var (
		format   string
		maxPaths int
		pf       platformFlags
		rf       remoteFlags
	)
	cmd := &cobra.Command{
		Use:   "diff IMAGE1 IMAGE2",
		Short: "Explain why two images or indexes differ, platform by platform",
		Long: `Compare two images or indexes and explain why they differ.

The index: media types, annotations, platforms only in one, and manifests that
are not runnable images (attestations). Each platform both have is identical
when its manifest digests are equal; otherwise the report lists:

  - manifest differences (media types, annotations, layer blobs that hold the
    same content in another compression);
  - config differences field by field: created, env, cmd, entrypoint,
    workdir, user, labels, history entries (created_by, created) and
    rootfs diff IDs;
  - the first layer whose diff IDs differ (or that only one image has), and
    within it every differing path with what differs: content (sha256),
    mode, owner, size, link target, type, mtime, xattrs; paths only in one.
    Layers are streamed, never held in memory; --max-paths caps the paths
    listed, all are counted.

A single image is compared with the entry of its platform in an index.
--platform limits the comparison to those platforms and leaves the index
level out.

--format json prints the report as JSON (schemaVersion 1, documented in the
internal/imagediff package); a Go template is applied to the same value.

Exit status: 0 when the images are identical, 1 when they differ, 2 when they
cannot be compared.`,
		Example: `  manyarch diff fixtures/hello:1.0 fixtures/busybox:1.35
  manyarch diff --platform linux/arm64 --max-paths 5 fixtures/hello:1.0 fixtures/busybox:1.35
  manyarch copy fixtures/busybox:1.35 oci-archive:/tmp/busybox.tar && manyarch diff fixtures/busybox:1.35 oci-archive:/tmp/busybox.tar
  manyarch diff --format json fixtures/hello:1.0 fixtures/busybox:1.35 > diff.json
  manyarch diff --format '{{.Identical}}' fixtures/hello:1.0 fixtures/hello:1.0`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			fail := func(err error) error { return &ExitError{Code: 2, Err: err} }
			ctx := cmd.Context()
			if err := rf.Validate(); err != nil {
				return fail(err)
			}
			if maxPaths < 0 {
				return fail(fmt.Errorf("--max-paths must be 0 (all) or more, not %d", maxPaths))
			}
			opts := []imagediff.Option{imagediff.WithMaxPaths(maxPaths)}
			ps, err := pf.Platforms()
			if err != nil {
				return fail(err)
			}
			if len(ps) > 0 {
				opts = append(opts, imagediff.WithPlatforms(ps...))
			}
			var refs [2]ref.Reference
			for i, a := range args {
				if refs[i], err = ref.Parse(a); err != nil {
					return fail(err)
				}
			}
			env := g.newEnv(cmd.ErrOrStderr(), &rf)
			defer env.Close()
			var arts [2]image.Artifact
			for i, r := range refs {
				if arts[i], err = ref.Read(ctx, env, r); err != nil {
					return fail(err)
				}
			}
			rep, err := imagediff.Compare(ctx, arts[0], arts[1], opts...)
			if err != nil {
				return fail(fmt.Errorf("comparing %s and %s: %w", refs[0], refs[1], err))
			}
			rep.A.Reference, rep.B.Reference = refs[0].String(), refs[1].String()
			if format == "text" {
				format = ""
			}
			done, err := writeFormatted(cmd.OutOrStdout(), format, rep)
			if err != nil {
				return fail(err)
			}
			if !done {
				if err := imagediff.WriteText(cmd.OutOrStdout(), rep); err != nil {
					return fail(err)
				}
			}
			if !rep.Identical {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", `output format: "text" (default), "json", or a Go template such as '{{.Identical}}'`)
	cmd.Flags().IntVar(&maxPaths, "max-paths", imagediff.DefaultMaxPaths, "differing paths listed per platform (0 lists all; all are counted)")
	pf.AddFlags(cmd, "compare only these platforms (comma list, repeatable)")
	rf.AddFlags(cmd)
	return cmd
}
