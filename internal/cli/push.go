package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/index"
	"github.com/manyarch/manyarch/internal/progress"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/store"
)

func newPushCmd(g *globalOptions) *cobra.Command {
	var (
		pf  platformFlags
		rf  remoteFlags
		prf progressFlags
		tf  tagFlags
	)
	cmd := &cobra.Command{
		Use:   "push SOURCE [DESTINATION]",
		Short: "Push an image or index to a registry",
		Long: `Push an image or a multi-platform index to a registry. SOURCE is any reference
(see 'manyarch --help'), read as docker push reads it: a NAME is the local
store's copy first, even with a registry host (docker://NAME reads the
registry). DESTINATION is a registry reference, HOST/REPO[:TAG], and defaults
to SOURCE's own name.

Every blob is uploaded first (-j at a time; blobs the registry has are skipped,
blobs from another repository of the same registry are mounted), then every
platform's manifest, and the tag last, so an interrupted push never leaves the
tag pointing at missing content. Transient failures are retried.

Credentials come from ~/.docker/config.json ($DOCKER_CONFIG) and its credential
helpers: run 'manyarch login HOST' (or docker login). Registries on localhost and
127.0.0.1 are spoken to over plain HTTP; --insecure allows it for others.`,
		Example: `  manyarch push hello:1.0 localhost:5000/hello:1.0
  manyarch push --platform linux/arm64 hello:1.0 localhost:5000/hello:1.0-arm64
  manyarch push --semver --latest hello:1.0 localhost:5000/hello:v1.0.0
  manyarch copy hello:1.0 oci-archive:/tmp/hello.tar
  manyarch push oci-archive:/tmp/hello.tar localhost:5000/hello:from-archive`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := parseSourceWith(&rf, &pf, args[0], nil, ref.Parse)
			if err != nil {
				return err
			}
			src := s.ref
			var dst string
			if len(args) == 2 {
				if dst, err = registryRef(args[1]); err != nil {
					return err
				}
			} else {
				if src.Transport != ref.Store && src.Transport != ref.Docker {
					return fmt.Errorf("%s has no registry name: give a DESTINATION (HOST/REPO[:TAG])", src)
				}
				dst = src.Registry()
			}
			targets, err := tf.expand(dst)
			if err != nil {
				return err
			}
			stderr := stderrFor(cmd)
			printer, err := prf.printer(stderr)
			if err != nil {
				return err
			}
			env := g.newEnv(stderr, &rf)
			defer env.Close()

			a, err := s.read(ctx, env)
			if err != nil {
				return err
			}
			desc, err := remote.Describe(a)
			if err != nil {
				return fmt.Errorf("%s: %w", src, err)
			}
			if tf.immutable {
				if err := index.CheckImmutable(ctx, registryResolver(env.Remote), targets, desc.Digest); err != nil {
					return err
				}
			}
			opts := append(slices.Clip(env.Remote), remote.WithProgress(printer.Event))
			switch src.Transport {
			case ref.Store:
				if _, rerr := resolveLocal(ctx, env, src); rerr == nil {
					// From the store: hold it (GC waits) and send its blob files.
					st, serr := env.Store(ctx)
					if serr != nil {
						return serr
					}
					err = st.Transaction(ctx, func(ctx context.Context) error {
						return pushAll(ctx, ref.LayoutFiles(a, st.Layout()), targets, opts)
					})
					break
				}
				err = pushAll(ctx, a, targets, opts)
			case ref.OCI:
				err = pushAll(ctx, ref.LayoutFiles(a, store.NewLayout(src.Path)), targets, opts)
			default:
				err = pushAll(ctx, a, targets, opts)
			}
			if cerr := printer.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if dr, err := ref.NewRegistry(targets[0]); err == nil {
				if err := carrySignatures(ctx, env, src, dr, a, stderr, prf.quiet); err != nil {
					return err
				}
			}
			if !prf.quiet {
				printPushed(cmd.OutOrStdout(), targets, desc.Digest)
			}
			return nil
		},
	}
	pf.AddFlags(cmd, "push only these platforms (comma list or repeated); one platform pushes that image alone")
	rf.AddFlags(cmd)
	prf.AddFlags(cmd)
	tf.AddFlags(cmd)
	return cmd
}

// pushAll writes a under every target, the first fully and the rest as tags
// of content the registry then has.
func pushAll(ctx context.Context, a image.Artifact, targets []string, opts []remote.Option) error {
	for _, t := range targets {
		if _, err := remote.Write(ctx, t, a, opts...); err != nil {
			return err
		}
	}
	return nil
}

func printPushed(w io.Writer, targets []string, h v1.Hash) {
	for _, t := range targets {
		fmt.Fprintf(w, "Pushed %s\n", t)
	}
	fmt.Fprintln(w, h)
}

// registryRef checks that s names a registry location (NAME[:TAG|@DIGEST] or
// docker://...) and returns it in registry form.
func registryRef(s string) (string, error) {
	r, err := ref.Parse(s)
	if err != nil {
		return "", err
	}
	if r.Transport != ref.Store && r.Transport != ref.Docker {
		return "", fmt.Errorf("%s is not a registry reference (want HOST/REPO[:TAG]); use `manyarch copy` to write layouts and archives", s)
	}
	return r.Registry(), nil
}

// registryResolver looks tags up in their registry, for --immutable.
func registryResolver(opts []remote.Option) index.Resolver {
	return func(ctx context.Context, tag string) (v1.Descriptor, bool, error) {
		d, err := remote.Head(ctx, tag, opts...)
		if errors.Is(err, remote.ErrNotFound) {
			return v1.Descriptor{}, false, nil
		}
		return d, err == nil, err
	}
}

// progressFlags are --progress and -q.
type progressFlags struct {
	mode  string
	quiet bool
}

func (f *progressFlags) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.mode, "progress", "auto", "progress output: auto, tty, plain, json or quiet (to stderr)")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "print no progress and nothing on success")
}

// printer returns the progress printer for stderr. Give the logger the
// writer the printer writes to (stderrFor), so their lines never interleave.
func (f *progressFlags) printer(w io.Writer) (*progress.Printer, error) {
	m, err := progress.ParseMode(f.mode)
	if err != nil {
		return nil, fmt.Errorf("--progress: %w", err)
	}
	if f.quiet {
		m = progress.ModeQuiet
	}
	if lw, ok := w.(*lockedWriter); ok {
		if m == progress.ModeAuto {
			m = progress.ModePlain
			if progress.IsTerminal(lw.w) {
				m = progress.ModeTTY
			}
		}
	}
	return progress.NewPrinter(w, m), nil
}

// lockedWriter serializes the writes of the progress printer and the logger
// to one stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// stderrFor wraps cmd's stderr for sharing between printer and logger.
func stderrFor(cmd *cobra.Command) io.Writer {
	return &lockedWriter{w: cmd.ErrOrStderr()}
}

// tagFlags are --semver, --latest and --immutable.
type tagFlags struct {
	semver, latest, immutable bool
}

func (f *tagFlags) AddFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.semver, "semver", false, "the tag is a version: also write MAJOR.MINOR and MAJOR (v1.2.3 → 1.2.3, 1.2, 1); pre-releases only themselves")
	cmd.Flags().BoolVar(&f.latest, "latest", false, "also write the tag latest (not for pre-releases)")
	cmd.Flags().BoolVar(&f.immutable, "immutable", false, "refuse to move a tag that already points at other content")
}

// expand returns the registry references to write for r (registry form).
func (f *tagFlags) expand(r string) ([]string, error) {
	if !f.semver && !f.latest {
		return []string{r}, nil
	}
	n, err := name.ParseReference(r)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", r, err)
	}
	t, ok := n.(name.Tag)
	if !ok {
		return nil, fmt.Errorf("%s: --semver and --latest need a tag, not a digest", r)
	}
	tags, err := index.Tags(t.TagStr(), f.semver, f.latest)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(tags))
	for i, tag := range tags {
		out[i] = t.Context().Tag(tag).String()
	}
	return out, nil
}
