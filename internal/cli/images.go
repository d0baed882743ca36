package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
)

// imageSummary is one row of `manyarch images`; its JSON form is stable.
type imageSummary struct {
	Name      string   `json:"name"`
	Tag       string   `json:"tag"`
	Digest    string   `json:"digest"`
	MediaType string   `json:"mediaType"`
	Platforms []string `json:"platforms"`
	// Size is the sum of the distinct blobs the image references.
	Size int64 `json:"size"`
}

func newImagesCmd(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "images",
		Short: "List the images in the local store",
		Long: `List the images in the local store: name, tag, digest, platforms and size.

The size counts every distinct blob once (layers shared between platforms are
counted once).`,
		Example: `  manyarch images
  manyarch images --format json
  manyarch images --format '{{range .}}{{.Name}}:{{.Tag}} {{join .Platforms ","}}{{"\n"}}{{end}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			env := g.newEnv(cmd.ErrOrStderr(), nil)
			defer env.Close()
			st, err := env.Store(ctx)
			if err != nil {
				return err
			}
			named, err := st.Names(ctx)
			if err != nil {
				return err
			}
			rows := make([]imageSummary, 0, len(named))
			for _, n := range named {
				row, err := summarize(ctx, env, n.Name, n.Descriptor)
				if err != nil {
					return fmt.Errorf("reading %s: %w", n.Name, err)
				}
				rows = append(rows, row)
			}
			if done, err := writeFormatted(cmd.OutOrStdout(), format, rows); done {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTAG\tDIGEST\tPLATFORMS\tSIZE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Tag, shortDigest(r.Digest), strings.Join(r.Platforms, ","), humanSize(r.Size))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "", formatFlagHelp)
	return cmd
}

// summarize reads what one store name points at.
func summarize(ctx context.Context, env *ref.Env, name string, d v1.Descriptor) (imageSummary, error) {
	repo, tag := splitTag(name)
	s := imageSummary{Name: repo, Tag: tag, Digest: d.Digest.String(), MediaType: string(d.MediaType)}
	r, err := ref.Parse(repo + "@" + d.Digest.String())
	if err != nil {
		return s, err
	}
	a, err := ref.Read(ctx, env, r)
	if err != nil {
		return s, err
	}
	entries, err := ref.Entries(ctx, a)
	if err != nil {
		return s, err
	}
	for _, e := range entries {
		s.Platforms = append(s.Platforms, platform.Format(e.Platform))
	}
	s.Size, err = artifactSize(a)
	return s, err
}

// artifactSize sums the sizes of the distinct blobs an artifact references:
// manifests, configs and layers.
func artifactSize(a ref.Artifact) (int64, error) {
	seen := map[v1.Hash]bool{}
	var total int64
	add := func(d v1.Descriptor) {
		if !seen[d.Digest] {
			seen[d.Digest] = true
			total += d.Size
		}
	}
	var walkImage func(img v1.Image) error
	walkImage = func(img v1.Image) error {
		m, err := img.Manifest()
		if err != nil {
			return err
		}
		add(m.Config)
		for _, l := range m.Layers {
			add(l)
		}
		return nil
	}
	var walkIndex func(idx v1.ImageIndex) error
	walkIndex = func(idx v1.ImageIndex) error {
		im, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range im.Manifests {
			add(d)
			switch {
			case d.MediaType.IsIndex():
				child, err := idx.ImageIndex(d.Digest)
				if err != nil {
					return err
				}
				if err := walkIndex(child); err != nil {
					return err
				}
			case d.MediaType.IsImage():
				img, err := idx.Image(d.Digest)
				if err != nil {
					return err
				}
				if err := walkImage(img); err != nil {
					return err
				}
			}
		}
		return nil
	}
	size, err := a.Size()
	if err != nil {
		return 0, err
	}
	total += size
	switch v := a.(type) {
	case v1.ImageIndex:
		err = walkIndex(v)
	case v1.Image:
		err = walkImage(v)
	}
	return total, err
}

// splitTag splits "repo:tag" (the repo may hold a registry port).
func splitTag(name string) (repo, tag string) {
	i := strings.LastIndex(name, ":")
	if i < 0 || strings.Contains(name[i:], "/") {
		return name, ""
	}
	return name[:i], name[i+1:]
}

// shortDigest abbreviates a digest for tables, as docker does.
func shortDigest(d string) string {
	_, hex, ok := strings.Cut(d, ":")
	if ok && len(hex) > 12 {
		return hex[:12]
	}
	return d
}
