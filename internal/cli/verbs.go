package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/store"
)

// The verbs crane and skopeo users reach for (issue #22 item 9). Each takes
// any reference under the rule for names (parseRef): the local store, a
// registry, an OCI layout or archive.

// onePlatform refuses more than one --platform.
func onePlatform(ps []specs.Platform) error {
	if len(ps) > 1 {
		return fmt.Errorf("--platform: name one platform, got %d", len(ps))
	}
	return nil
}

// readVerb is a read-only verb on one reference and at most one --platform:
// show writes what it shows of the artifact.
func readVerb(g *globalOptions, c *cobra.Command, platformHelp string, show func(cmd *cobra.Command, arg string, a image.Artifact) error) *cobra.Command {
	var (
		pf platformFlags
		rf remoteFlags
	)
	c.Args = cobra.ExactArgs(1)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		a, done, err := readOne(cmd, g, &rf, &pf, args[0])
		if err != nil {
			return err
		}
		defer done()
		return show(cmd, args[0], a)
	}
	pf.AddFlags(c, platformHelp)
	rf.AddFlags(c)
	return c
}

func newDigestCmd(g *globalOptions) *cobra.Command {
	return readVerb(g, &cobra.Command{
		Use:   "digest REF",
		Short: "Print the digest of an image or index (crane digest)",
		Long: `Print the digest of what REF names: the index's, or with --platform that
platform's image manifest's. REF is any reference; a name with a registry host
asks the registry.`,
		Example: `  manyarch digest fixtures/busybox:1.35
  manyarch digest --platform linux/arm64 fixtures/busybox:1.35`,
	}, "the digest of this platform's image", func(cmd *cobra.Command, arg string, a image.Artifact) error {
		d, err := a.Digest()
		if err != nil {
			return fmt.Errorf("%s: %w", arg, err)
		}
		_, err = fmt.Fprintln(cmd.OutOrStdout(), d)
		return err
	})
}

func newManifestCmd(g *globalOptions) *cobra.Command {
	return readVerb(g, &cobra.Command{
		Use:   "manifest REF",
		Short: "Print the manifest or index of REF as stored (crane manifest)",
		Long: `Print the exact bytes of the manifest or index REF names (as inspect --raw);
with --platform, that platform's image manifest.`,
		Example: `  manyarch manifest fixtures/busybox:1.35
  manyarch manifest --platform linux/arm64 fixtures/busybox:1.35`,
	}, "print this platform's image manifest", func(cmd *cobra.Command, arg string, a image.Artifact) error {
		b, err := a.RawManifest()
		if err != nil {
			return fmt.Errorf("%s: %w", arg, err)
		}
		_, err = cmd.OutOrStdout().Write(b)
		return err
	})
}

func newConfigCmd(g *globalOptions) *cobra.Command {
	return readVerb(g, &cobra.Command{
		Use:   "config REF",
		Short: "Print the config of an image as stored (crane config)",
		Long: `Print the exact bytes of an image's config. For an index, --platform names
the image (an index of one image needs none).`,
		Example: `  manyarch config --platform linux/arm64 fixtures/busybox:1.35
  manyarch config --platform linux/amd64 fixtures/hello:1.0`,
	}, "the config of this platform's image", func(cmd *cobra.Command, arg string, a image.Artifact) error {
		img, err := singleImage(arg, a)
		if err != nil {
			return err
		}
		b, err := img.RawConfigFile()
		if err != nil {
			return fmt.Errorf("%s: reading config: %w", arg, err)
		}
		_, err = cmd.OutOrStdout().Write(b)
		return err
	})
}

// readOne reads arg (with at most one --platform) for the read-only verbs;
// call done when finished with the artifact.
func readOne(cmd *cobra.Command, g *globalOptions, rf *remoteFlags, pf *platformFlags, arg string) (image.Artifact, func(), error) {
	s, err := parseSource(rf, pf, arg, onePlatform)
	if err != nil {
		return nil, nil, err
	}
	env := g.newEnv(cmd.ErrOrStderr(), rf)
	a, err := s.read(cmd.Context(), env)
	if err != nil {
		env.Close()
		return nil, nil, err
	}
	return a, func() { env.Close() }, nil
}

// singleImage returns a's image: a itself, or the one image of an index;
// an index of several names its platforms.
func singleImage(arg string, a image.Artifact) (v1.Image, error) {
	switch x := a.(type) {
	case v1.Image:
		return x, nil
	case v1.ImageIndex:
		im, err := x.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
		var imgs []v1.Descriptor
		var ps []string
		for _, d := range im.Manifests {
			if d.MediaType.IsImage() && !image.IsAttestation(d) {
				imgs = append(imgs, d)
				if d.Platform != nil {
					ps = append(ps, platform.Format(platform.Normalize(specPlatform(d.Platform))))
				}
			}
		}
		if len(imgs) == 1 {
			return x.Image(imgs[0].Digest)
		}
		return nil, fmt.Errorf("%s is an index of %d images (%s): name one with --platform", arg, len(imgs), strings.Join(ps, ", "))
	}
	return nil, fmt.Errorf("%s is neither an image nor an index", arg)
}

func newLsCmd(g *globalOptions) *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:     "ls REPOSITORY",
		Aliases: []string{"list-tags"},
		Short:   "List the tags of a repository (crane ls, skopeo list-tags)",
		Long: `List the tags of REPOSITORY, one a line: a repository with a registry host
(localhost:5000/app) or docker://REPO asks the registry; one without a host, or
store:REPO, lists the local store's tags of it; oci:DIR lists the layout's tags.`,
		Example: `  manyarch ls fixtures/busybox
  manyarch list-tags fixtures/hello`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := rf.Validate(); err != nil {
				return err
			}
			env := g.newEnv(cmd.ErrOrStderr(), &rf)
			defer env.Close()
			var tags []string
			if strings.HasPrefix(args[0], "oci:") {
				names, err := layoutNames(ctx, strings.TrimPrefix(args[0], "oci:"))
				if err != nil {
					return err
				}
				tags = names
			} else {
				r, repo, err := repositoryRef(args[0])
				if err != nil {
					return err
				}
				if r.Transport == ref.Docker {
					if tags, err = remote.ListTags(ctx, repo, env.Remote...); err != nil {
						return err
					}
				} else {
					st, err := env.Store(ctx)
					if err != nil {
						return err
					}
					named, err := st.Names(ctx)
					if err != nil {
						return err
					}
					want := familiarRepo(r)
					for _, n := range named {
						if rp, tag, ok := splitStoreName(n.Name); ok && rp == want {
							tags = append(tags, tag)
						}
					}
					if len(tags) == 0 {
						return fmt.Errorf("%s: no tags of repository %s in the local store %s (see `manyarch images`)", args[0], want, st.Root())
					}
				}
			}
			sort.Strings(tags)
			for _, t := range tags {
				fmt.Fprintln(cmd.OutOrStdout(), t)
			}
			return nil
		},
	}
	rf.AddFlags(cmd)
	return cmd
}

// repositoryRef parses REPOSITORY (a tag or digest on it is refused) under
// the rule for names, and returns it with its registry form HOST/REPO.
func repositoryRef(s string) (ref.Reference, string, error) {
	r, err := parseRef(s)
	if err != nil {
		return r, "", err
	}
	if r.Transport != ref.Store && r.Transport != ref.Docker {
		return r, "", fmt.Errorf("%s is not a repository: give NAME, HOST/NAME, docker://NAME or oci:DIR", s)
	}
	n, err := name.ParseReference(r.Registry())
	if err != nil {
		return r, "", fmt.Errorf("%s: %w", s, err)
	}
	if base := strings.TrimPrefix(strings.TrimPrefix(s, "store:"), "docker://"); strings.Contains(base[strings.LastIndex(base, "/")+1:], ":") || strings.Contains(base, "@") {
		return r, "", fmt.Errorf("%s names a tag or digest: give the repository alone (%s)", s, strings.TrimSuffix(sourceName(r), ":"+n.Identifier()))
	}
	return r, n.Context().Name(), nil
}

// familiarRepo is a store reference's repository as the store names it.
func familiarRepo(r ref.Reference) string {
	n := r.Name
	if i := strings.LastIndex(n, "@"); i >= 0 {
		n = n[:i]
	}
	if i := strings.LastIndex(n, ":"); i > strings.LastIndex(n, "/") {
		n = n[:i]
	}
	return n
}

// splitStoreName splits a store name NAME:TAG; digest records and names
// other tools wrote are not tags.
func splitStoreName(s string) (repo, tag string, ok bool) {
	if strings.Contains(s, "@") {
		return "", "", false
	}
	i := strings.LastIndex(s, ":")
	if i <= strings.LastIndex(s, "/") {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// layoutNames lists the names (ref.name annotations) of the OCI layout dir.
func layoutNames(ctx context.Context, dir string) ([]string, error) {
	if dir == "" {
		return nil, fmt.Errorf("oci: needs a layout directory (oci:DIR)")
	}
	if tag := strings.IndexByte(dir, ':'); tag >= 0 {
		return nil, fmt.Errorf("oci:%s names a tag: give the layout directory alone (oci:%s)", dir, dir[:tag])
	}
	st, err := openLayout(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("oci:%s: %w", dir, err)
	}
	named, err := st.Names(ctx)
	if err != nil {
		return nil, fmt.Errorf("oci:%s: %w", dir, err)
	}
	out := make([]string, 0, len(named))
	for _, n := range named {
		out = append(out, n.Name)
	}
	return out, nil
}

func newCatalogCmd(g *globalOptions) *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   "catalog [HOST|store:|oci:DIR]",
		Short: "List the repositories of a registry, the local store or a layout (crane catalog)",
		Long: `List repositories, one a line: of the registry HOST[:PORT] (its /v2/_catalog,
which many public registries refuse), of the local store (no argument, or
store:), or the names of an OCI layout (oci:DIR).`,
		Example: `  manyarch catalog
  manyarch catalog store:`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := rf.Validate(); err != nil {
				return err
			}
			env := g.newEnv(cmd.ErrOrStderr(), &rf)
			defer env.Close()
			arg := "store:"
			if len(args) == 1 {
				arg = args[0]
			}
			var out []string
			switch {
			case arg == "store:":
				st, err := env.Store(ctx)
				if err != nil {
					return err
				}
				named, err := st.Names(ctx)
				if err != nil {
					return err
				}
				seen := map[string]bool{}
				for _, n := range named {
					repo, _, ok := splitStoreName(n.Name)
					if !ok {
						if i := strings.LastIndex(n.Name, "@"); i > 0 {
							repo, ok = n.Name[:i], true
						}
					}
					if ok && !seen[repo] {
						seen[repo] = true
						out = append(out, repo)
					}
				}
			case strings.HasPrefix(arg, "oci:"):
				names, err := layoutNames(ctx, strings.TrimPrefix(arg, "oci:"))
				if err != nil {
					return err
				}
				out = names
			default:
				host := strings.TrimSuffix(strings.TrimPrefix(arg, "docker://"), "/")
				if host == "" || strings.ContainsAny(host, "/@") {
					return newUsageError(cmd, fmt.Errorf("catalog %q: give a registry HOST[:PORT] (localhost:5000), store: or oci:DIR", arg))
				}
				repos, err := remote.Catalog(ctx, host, env.Remote...)
				if err != nil {
					return err
				}
				out = repos
			}
			sort.Strings(out)
			for _, r := range out {
				fmt.Fprintln(cmd.OutOrStdout(), r)
			}
			return nil
		},
	}
	rf.AddFlags(cmd)
	return cmd
}

func newDeleteCmd(g *globalOptions) *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   "delete REF",
		Short: "Delete a tag or manifest from a registry, the local store or a layout (crane delete)",
		Long: `Delete what REF names. In a registry (a name with a registry host, or
docker://), the registry deletes the manifest: by digest, NAME@DIGEST removes
the manifest and with it every tag that points at it; by tag, registries that
delete tags remove the tag alone (the CNCF distribution registry deletes by
digest only, and says so). In the local store (a name without a host, or
store:NAME) and in oci:DIR:TAG the name is removed and the blobs stay until
'manyarch gc' (rmi removes and collects at once).`,
		Example: `  manyarch tag fixtures/busybox:1.35 busybox:doomed
  manyarch delete busybox:doomed`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := rf.Validate(); err != nil {
				return err
			}
			r, err := parseRef(args[0])
			if err != nil {
				return err
			}
			env := g.newEnv(cmd.ErrOrStderr(), &rf)
			defer env.Close()
			switch r.Transport {
			case ref.Docker:
				if err := remote.Delete(ctx, r.Registry(), env.Remote...); err != nil {
					var te *transport.Error
					if r.Digest() == "" && errors.As(err, &te) && (te.StatusCode == http.StatusMethodNotAllowed || hasUnsupported(te)) {
						return fmt.Errorf("%s: registry %s deletes manifests by digest only; `manyarch delete %s@$(manyarch digest %s)` deletes the manifest and every tag pointing at it: %w",
							r.Name, registryHost(r), familiarRepo(r), r.Name, err)
					}
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s from registry %s\n", r.Name, registryHost(r))
			case ref.Store:
				st, err := env.Store(ctx)
				if err != nil {
					return err
				}
				if err := st.Untag(ctx, r.Name); err != nil {
					return fmt.Errorf("deleting %s: %w (see `manyarch images`)", r.Name, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s from the local store (its blobs stay until `manyarch gc`)\n", r.Name)
			case ref.OCI:
				if r.Tag == "" {
					return fmt.Errorf("%s: name the tag to delete (oci:DIR:TAG)", args[0])
				}
				st, err := openLayout(ctx, r.Path)
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				if err := st.Untag(ctx, r.Tag); err != nil {
					return fmt.Errorf("deleting %s: %w", args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s from OCI layout %s\n", r.Tag, r.Path)
			default:
				return fmt.Errorf("%s: delete works on registries, the local store and oci:DIR:TAG; remove an archive file itself", args[0])
			}
			return nil
		},
	}
	rf.AddFlags(cmd)
	return cmd
}

// openLayout opens an existing OCI layout; it never creates one.
func openLayout(ctx context.Context, dir string) (*store.Store, error) {
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		return nil, fmt.Errorf("no OCI image layout at %s (no index.json): %w", dir, err)
	}
	return store.Open(ctx, dir)
}

func hasUnsupported(te *transport.Error) bool {
	for _, d := range te.Errors {
		if d.Code == transport.UnsupportedErrorCode {
			return true
		}
	}
	return false
}
