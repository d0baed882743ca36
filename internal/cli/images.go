package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/store"
)

// imageSummary is one row of `manyarch images`; its JSON form is stable.
type imageSummary struct {
	Name string `json:"name"`
	// Tag is "" for a digest record (pulled by NAME@DIGEST).
	Tag string `json:"tag"`
	// RepoDigest is the digest a digest record was pulled by, or, on a tag
	// row, that of a digest record of the same name and content ("" if none):
	// NAME@REPODIGEST names the image. It differs from Digest when the pull
	// selected platforms from an index.
	RepoDigest string   `json:"repoDigest,omitempty"`
	Digest     string   `json:"digest"`
	MediaType  string   `json:"mediaType"`
	Platforms  []string `json:"platforms"`
	// Size is the sum of the distinct blobs the image references.
	Size int64 `json:"size"`
}

func newImagesCmd(g *globalOptions) *cobra.Command {
	var (
		format  string
		digests bool
	)
	cmd := &cobra.Command{
		Use:   "images",
		Short: "List the images in the local store",
		Long: `List the images in the local store: name, tag, digest, platforms and size.

The size counts every distinct blob once (layers shared between platforms are
counted once). An image pulled by digest (NAME@DIGEST) is listed with the tag
<none>; --digests adds the REPO DIGEST column, the digest NAME was pulled by
(NAME@DIGEST names it for run, inspect, test and rmi). An entry that cannot be
read is skipped with a warning naming it. Signatures kept beside an image
(manyarch sign's NAME:sha256-<digest>[.sig]) are not listed.`,
		Example: `  manyarch images
  manyarch images --digests
  manyarch images --format json
  manyarch images --format '{{.Name}}:{{.Tag}} {{join .Platforms ","}}'`,
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
				if ref.IsSignatureTag(n.Name) {
					continue // manyarch sign's signatures beside an image (verify --key reads them)
				}
				// One entry that cannot be read (a name other tools wrote, a
				// missing manifest) is skipped with a warning, never the list.
				row, err := summarize(ctx, st, n.Name, n.Descriptor)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: skipping %q (%s) in %s: %v; see `manyarch check`, or remove the name with `manyarch rmi --no-prune '%s'`\n",
						n.Name, n.Descriptor.Digest, st.Root(), err, n.Name)
					continue
				}
				rows = append(rows, row)
			}
			linkRepoDigests(rows)
			if done, err := writeFormatted(cmd.OutOrStdout(), format, rows); done {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			if digests {
				fmt.Fprintln(tw, "NAME\tTAG\tREPO DIGEST\tDIGEST\tPLATFORMS\tSIZE")
			} else {
				fmt.Fprintln(tw, "NAME\tTAG\tDIGEST\tPLATFORMS\tSIZE")
			}
			for _, r := range rows {
				tag := r.Tag
				if tag == "" {
					tag = "<none>"
				}
				fmt.Fprintf(tw, "%s\t%s\t", r.Name, tag)
				if digests {
					rd := r.RepoDigest
					if rd == "" {
						rd = "<none>"
					}
					fmt.Fprintf(tw, "%s\t", rd)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", shortDigest(r.Digest), strings.Join(r.Platforms, ","), humanSize(r.Size))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "", formatFlagHelp)
	cmd.Flags().BoolVar(&digests, "digests", false, "show the repository digests (what NAME@DIGEST pulls recorded)")
	return cmd
}

// summarize reads what one store name points at, from the store alone.
func summarize(ctx context.Context, st *store.Store, name string, d v1.Descriptor) (imageSummary, error) {
	repo, tag, repoDigest, err := splitName(name)
	if err != nil {
		return imageSummary{}, err
	}
	s := imageSummary{Name: repo, Tag: tag, RepoDigest: repoDigest, Digest: d.Digest.String(), MediaType: string(d.MediaType)}
	if !d.MediaType.IsIndex() && !d.MediaType.IsImage() {
		return s, fmt.Errorf("media type %q is neither an image nor an index", d.MediaType)
	}
	a, err := ref.FromStore(ctx, st, d)
	if err != nil {
		return s, err
	}
	entries, err := image.Entries(ctx, a)
	if err != nil {
		return s, err
	}
	for _, e := range entries {
		s.Platforms = append(s.Platforms, platform.Format(e.Platform))
	}
	s.Size, err = artifactSize(a)
	return s, err
}

// splitName splits a store name into repository, tag ("repo:tag"; the
// repository may hold a registry port) and digest ("repo@sha256:…", a digest
// record). Names other tools wrote ("latest") are listed as they are; only a
// digest part that is not a digest is refused.
func splitName(name string) (repo, tag, digest string, err error) {
	if i := strings.LastIndex(name, "@"); i >= 0 {
		h, err := v1.NewHash(name[i+1:])
		if err != nil {
			return "", "", "", fmt.Errorf("name %q: the part after '@' is not a digest: %w", name, err)
		}
		if strings.Contains(name[:i], "@") {
			return "", "", "", fmt.Errorf("name %q holds more than one '@'", name)
		}
		repo, tag = splitTag(name[:i])
		return repo, tag, h.String(), nil
	}
	repo, tag = splitTag(name)
	return repo, tag, "", nil
}

// linkRepoDigests shows, on each tag row, the repository digest of a digest
// record of the same name and content, as `docker images --digests` does.
func linkRepoDigests(rows []imageSummary) {
	type key struct{ name, digest string }
	byContent := map[key]string{}
	for _, r := range rows {
		if r.Tag == "" && r.RepoDigest != "" {
			byContent[key{r.Name, r.Digest}] = r.RepoDigest
		}
	}
	for i, r := range rows {
		if r.Tag != "" && r.RepoDigest == "" {
			rows[i].RepoDigest = byContent[key{r.Name, r.Digest}]
		}
	}
}

// artifactSize sums the sizes of the distinct blobs an artifact references:
// manifests, configs and layers.
func artifactSize(a image.Artifact) (int64, error) {
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
