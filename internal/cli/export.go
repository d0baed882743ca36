package cli

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/fsutil"
)

// maxExportEntries bounds the paths of one export (every layer together).
const maxExportEntries = 1 << 20

func newExportCmd(g *globalOptions) *cobra.Command {
	var (
		pf      platformFlags
		rf      remoteFlags
		output  string
		maxSize int64
	)
	cmd := &cobra.Command{
		Use:   "export REF -o FILE",
		Short: "Write a platform's flattened filesystem as a tar (crane export, docker export)",
		Long: `Write the filesystem a container of REF's image starts with as one tar: the
layers applied in order, whiteouts and opaque directories honoured, each path
once (from the highest layer that has it). For an index, --platform names the
image (an index of one image needs none).

-o FILE is written whole or not at all; -o - writes to stdout, where an error
leaves a partial tar. The files' sizes together may not pass --max-size, nor the
entries 1048576.`,
		Example: `  manyarch export --platform linux/arm64 -o /tmp/bb-arm64.tar fixtures/busybox:1.35
  manyarch export --platform linux/amd64 -o /tmp/hello.tar fixtures/hello:1.0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" {
				return newUsageError(cmd, errors.New("name the output with -o FILE (or -o - for stdout)"))
			}
			if strings.HasPrefix(output, "type=") || strings.Contains(output, ",dest=") {
				// buildx's --output syntax, by habit: export writes one tar.
				return newUsageError(cmd, fmt.Errorf("-o takes the tar file to write (or - for stdout), not build's %q; for the files in a directory, export to a tar and unpack it (-o FS.tar, then tar -xf FS.tar -C DIR), or build with --output type=local,dest=DIR", output))
			}
			if maxSize < 1 {
				return fmt.Errorf("--max-size must be positive, got %d", maxSize)
			}
			a, done, err := readOne(cmd, g, &rf, &pf, args[0])
			if err != nil {
				return err
			}
			defer done()
			img, err := singleImage(args[0], a)
			if err != nil {
				return err
			}
			write := func(w io.Writer) error { return exportImage(cmd.Context(), img, w, maxSize) }
			if output == "-" {
				err = write(cmd.OutOrStdout())
			} else {
				err = fsutil.WriteFile(output, 0o644, write)
			}
			if err != nil {
				return fmt.Errorf("exporting %s: %w", args[0], err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "the tar file to write, or - for stdout")
	cmd.Flags().Int64Var(&maxSize, "max-size", 16<<30, "refuse an image whose files together are larger (bytes)")
	pf.AddFlags(cmd, "export this platform's image")
	rf.AddFlags(cmd)
	return cmd
}

// exportImage writes img's flattened filesystem to w as a tar. Layers are
// read from the top down: a path is written from the highest layer that
// has it, a whiteout (.wh.NAME) hides NAME and everything under it in lower
// layers, an opaque marker (.wh..wh..opq) hides the lower layers' entries
// under its directory.
func exportImage(ctx context.Context, img v1.Image, w io.Writer, maxSize int64) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("listing layers: %w", err)
	}
	x := &exporter{tw: tar.NewWriter(w), seen: map[string]bool{}, opaque: map[string]int{}, left: maxSize, maxSize: maxSize}
	for i := len(layers) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := x.layer(ctx, layers[i], i); err != nil {
			d, _ := layers[i].Digest()
			return fmt.Errorf("layer %d of %d (%s): %w", i+1, len(layers), d, err)
		}
	}
	return x.tw.Close()
}

type exporter struct {
	tw *tar.Writer
	// seen: a path already decided by a higher layer; true when nothing
	// below it may appear (a file, symlink or whiteout), false for a
	// directory, whose lower contents still show.
	seen map[string]bool
	// opaque: a directory made opaque by layer n hides layers below n.
	opaque        map[string]int
	left, maxSize int64
}

func (x *exporter) layer(ctx context.Context, l v1.Layer, n int) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	// This layer's own decisions apply to lower layers only.
	seen := map[string]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the layer tar: %w", err)
		}
		p := path.Clean("/" + h.Name)
		if p == "/" {
			continue
		}
		dir, base := path.Dir(p), path.Base(p)
		if base == ".wh..wh..opq" {
			if _, ok := x.opaque[dir]; !ok {
				x.opaque[dir] = n
			}
			continue
		}
		whiteout := strings.HasPrefix(base, ".wh.")
		if whiteout {
			p = path.Join(dir, strings.TrimPrefix(base, ".wh."))
			if p == dir || path.Base(p) == "." || path.Base(p) == ".." {
				return fmt.Errorf("whiteout %q names no entry", h.Name)
			}
		}
		if _, done := x.seen[p]; done || x.hidden(p, n) {
			continue
		}
		if _, dup := seen[p]; dup {
			continue
		}
		seen[p] = whiteout || h.Typeflag != tar.TypeDir
		if len(x.seen)+len(seen) > maxExportEntries {
			return fmt.Errorf("more than %d entries", maxExportEntries)
		}
		if whiteout {
			continue
		}
		h.Name = strings.TrimPrefix(p, "/")
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if h.Typeflag == tar.TypeLink {
			h.Linkname = strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")
		}
		if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeRegA {
			if h.Size > x.left {
				return fmt.Errorf("the files pass --max-size %d bytes at %s; raise --max-size", x.maxSize, p)
			}
			x.left -= h.Size
		}
		if err := x.tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
		if h.Size > 0 && (h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeRegA) {
			if _, err := io.CopyN(x.tw, tr, h.Size); err != nil {
				return fmt.Errorf("copying %s: %w", p, err)
			}
		}
	}
	for p, v := range seen {
		x.seen[p] = v
	}
	return nil
}

// hidden reports whether a higher layer hid p: a parent that is a file or
// whiteout there, or an opaque parent directory from a layer above n.
func (x *exporter) hidden(p string, n int) bool {
	for d := path.Dir(p); ; d = path.Dir(d) {
		if final, ok := x.seen[d]; ok && final {
			return true
		}
		if m, ok := x.opaque[d]; ok && m > n {
			return true
		}
		if d == "/" {
			return false
		}
	}
}
