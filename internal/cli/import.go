package cli

import (
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/index"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/snapshot"
)

// importSource is one --platform P=PATH of `manyarch import`.
type importSource struct {
	platform specs.Platform
	path     string
}

func newImportCmd(g *globalOptions) *cobra.Command {
	var (
		tags    []string
		sources []string
		changes []string
		message string
		index   bool
	)
	cmd := &cobra.Command{
		Use:   "import -t NAME --platform PLATFORM=ROOTFS...",
		Short: "Make an image from root filesystems, one per platform",
		Long: `Make an image from root filesystems: for each --platform PLATFORM=ROOTFS, a
tarball (plain, gzip or zstd) or a directory becomes that platform's single
layer, and the config's os, architecture and variant are set from PLATFORM.
With several platforms the result is an OCI image index, as a multi-platform
image should be (--index makes one for a single platform too).

--change applies Dockerfile instructions to the config, as 'docker import'
does: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR.

Tarballs are checked and rewritten deterministically: an entry that would land
outside the root (../x) is refused. With SOURCE_DATE_EPOCH set, file times are
clamped to it and the config's created time is it, so the same input gives the
same digests on every run.

-t takes any reference: a store name, oci:DIR:TAG, oci-archive:FILE,
docker-archive:FILE or docker://REGISTRY/NAME:TAG.`,
		Example: `  manyarch import -t busybox:1.35 \
      --platform linux/arm64=rootfs-arm64.tar --platform linux/amd64=./rootfs-amd64/ \
      --change 'CMD ["/bin/sh"]'
  SOURCE_DATE_EPOCH=0 manyarch import -t oci-archive:/tmp/hello.tar --platform linux/riscv64=./hello-rootfs/ \
      --change 'ENTRYPOINT ["/hello"]'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if len(tags) == 0 {
				return fmt.Errorf("name the image with -t NAME (for example -t busybox:1.35)")
			}
			if len(sources) == 0 {
				return fmt.Errorf("give at least one --platform PLATFORM=ROOTFS (a tarball or a directory)")
			}
			var dsts []ref.Reference
			for _, t := range tags {
				r, err := ref.Parse(t)
				if err != nil {
					return fmt.Errorf("-t: %w", err)
				}
				dsts = append(dsts, r)
			}
			srcs, err := parseImportSources(sources)
			if err != nil {
				return err
			}
			var cfg v1.Config
			for _, c := range changes {
				if err := applyChange(&cfg, c); err != nil {
					return err
				}
			}
			epoch, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			tmpDir, err := os.MkdirTemp("", "manyarch-import-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmpDir)
			a, err := importImage(ctx, tmpDir, srcs, cfg, epoch, message, index || len(srcs) > 1)
			if err != nil {
				return err
			}
			env := g.newEnv(cmd.ErrOrStderr(), nil)
			defer env.Close()
			for _, dst := range dsts {
				desc, err := ref.Write(ctx, env, dst, a)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", dst, desc.Digest)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&tags, "tag", "t", nil, "name of the image (repeatable; any reference form)")
	cmd.Flags().StringArrayVar(&sources, "platform", nil, "PLATFORM=ROOTFS: a root filesystem tarball or directory for that platform (repeatable)")
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "apply a Dockerfile instruction to the config (repeatable)")
	cmd.Flags().StringVarP(&message, "message", "m", "", "comment for the layer's history entry")
	cmd.Flags().BoolVar(&index, "index", false, "make an image index even for one platform")
	return cmd
}

func parseImportSources(raw []string) ([]importSource, error) {
	var out []importSource
	for _, s := range raw {
		ps, path, ok := strings.Cut(s, "=")
		if !ok || path == "" {
			return nil, fmt.Errorf("--platform %q: want PLATFORM=ROOTFS, for example linux/arm64=./rootfs-arm64.tar", s)
		}
		p, err := platform.Parse(ps)
		if err != nil {
			return nil, fmt.Errorf("--platform %q: %w", s, err)
		}
		for _, o := range out {
			if platform.Match(o.platform, p) {
				return nil, fmt.Errorf("--platform %q: platform %s is given twice", s, platform.Format(p))
			}
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("--platform %q: root filesystem: %w", s, err)
		}
		out = append(out, importSource{platform: p, path: path})
	}
	return out, nil
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH, or returns nil when it is unset.
func sourceDateEpoch() (*time.Time, error) {
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative number of seconds since 1970", v)
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}

// importImage builds one single-layer image per source, in parallel, and an
// index of them when asIndex is set.
func importImage(ctx context.Context, tmpDir string, srcs []importSource, cfg v1.Config, epoch *time.Time, message string, asIndex bool) (image.Artifact, error) {
	imgs := make([]v1.Image, len(srcs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for i, s := range srcs {
		g.Go(func() error {
			img, err := importOne(gctx, tmpDir, s, cfg, epoch, message)
			if err != nil {
				return fmt.Errorf("importing %s for %s: %w", s.path, platform.Format(s.platform), err)
			}
			imgs[i] = img
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if !asIndex {
		return imgs[0], nil
	}
	children := make([]index.Child, len(imgs))
	for i, img := range imgs {
		p := srcs[i].platform
		children[i] = index.Child{Artifact: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
		}}
	}
	return index.New(types.OCIImageIndex, nil, children...)
}

func importOne(ctx context.Context, tmpDir string, s importSource, cfg v1.Config, epoch *time.Time, message string) (v1.Image, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return nil, err
	}
	// The layer tar stays in tmpDir until the caller has written the image.
	tmp, err := os.CreateTemp(tmpDir, "layer-*.tar")
	if err != nil {
		return nil, err
	}
	opts := snapshot.TarOptions{SourceDateEpoch: epoch, Name: filepath.Base(s.path), TempDir: tmpDir}
	// The layer is compressed once, here; its diff ID is computed from it.
	zw := gzip.NewWriter(tmp)
	if fi.IsDir() {
		err = snapshot.WriteTar(ctx, zw, s.path, opts)
	} else {
		var in *os.File
		if in, err = os.Open(s.path); err == nil {
			err = snapshot.Normalize(ctx, in, zw, opts)
			in.Close()
		}
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromFile(tmp.Name(), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	created := time.Now().UTC().Truncate(time.Second)
	if epoch != nil {
		created = *epoch
	}
	// The history says nothing of the source path, so the same tree
	// imported from two places gives the same image.
	comment := message
	cf := &v1.ConfigFile{
		Architecture: s.platform.Architecture,
		OS:           s.platform.OS,
		Variant:      s.platform.Variant,
		Created:      v1.Time{Time: created},
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers"},
	}
	base, err := mutate.ConfigFile(mutate.MediaType(empty.Image, types.OCIManifestSchema1), cf)
	if err != nil {
		return nil, err
	}
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	return mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "manyarch import",
			Comment:   comment,
		},
	})
}
