package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/index"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/store"
)

func newIndexCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "index",
		Short: "Create and edit multi-platform indexes (manifest lists)",
		Long: `Create and edit multi-platform image indexes: OCI image indexes and Docker
manifest lists.

Unlike docker manifest and buildx imagetools, manyarch takes each descriptor's
platform from the image's own config and refuses to write an index that
disagrees with its content: a descriptor labelled amd64 over an arm64 image,
two images for one platform, a wrong digest, size or media type.

TARGET and SOURCE are any reference: a name with a registry host
(localhost:5000/app:1) is that registry, one without a host the local store,
store:NAME the store's copy of any name; docker://REF or --push names the
registry, oci:DIR[:TAG] a layout.`,
	}
	cmd.AddCommand(newIndexCreateCmd(g), newIndexAppendCmd(g), newIndexRemoveCmd(g), newIndexAnnotateCmd(g))
	return cmd
}

// indexOutput are the flags that say where and how an index is written.
type indexOutput struct {
	rf     remoteFlags
	prf    progressFlags
	tf     tagFlags
	push   bool
	stderr io.Writer // shared by the logger and the progress printer
}

// env returns the command's reference environment, its logger writing to
// the stderr the progress printer will use.
func (o *indexOutput) env(g *globalOptions, cmd *cobra.Command) *ref.Env {
	o.stderr = stderrFor(cmd)
	return g.newEnv(o.stderr, &o.rf)
}

func (o *indexOutput) AddFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.push, "push", false, "write TARGET to its registry rather than the local store")
	o.rf.AddFlags(cmd)
	o.prf.AddFlags(cmd)
	o.tf.AddFlags(cmd)
}

// target is where an index goes: a registry reference, or a reference for ref.Write.
type target struct {
	registry string        // registry form, when the index goes to a registry
	local    ref.Reference // otherwise
}

func (t target) String() string {
	if t.registry != "" {
		return t.registry
	}
	return t.local.String()
}

// name is the target's name as a user gives it again.
func (t target) name() string {
	if t.registry != "" {
		return t.registry
	}
	return sourceName(t.local)
}

// place says where the target is written (see place).
func (t target) place() string {
	if t.registry != "" {
		r, err := ref.NewRegistry(t.registry)
		if err == nil {
			return "registry " + registryHost(r)
		}
		return "its registry"
	}
	switch t.local.Transport {
	case ref.Store:
		return "the local store"
	case ref.OCI:
		return "an OCI layout"
	case ref.OCIArchive:
		return "an OCI archive"
	}
	return "a docker archive"
}

// targets expands TARGET to every tag --semver and --latest ask for.
func (o *indexOutput) targets(s string) ([]target, error) {
	r, err := parseRef(s)
	if err != nil {
		return nil, err
	}
	if o.push || r.Transport == ref.Docker {
		if r.Transport != ref.Store && r.Transport != ref.Docker {
			return nil, fmt.Errorf("--push needs a registry TARGET (HOST/REPO[:TAG]), not %s", s)
		}
		regs, err := o.tf.expand(r.Registry())
		if err != nil {
			return nil, err
		}
		out := make([]target, len(regs))
		for i, reg := range regs {
			out[i] = target{registry: reg}
		}
		return out, nil
	}
	if !o.tf.semver && !o.tf.latest {
		return []target{{local: r}}, nil
	}
	var tag string
	switch r.Transport {
	case ref.Store:
		n, err := name.ParseReference(r.Registry())
		if err != nil {
			return nil, err
		}
		t, ok := n.(name.Tag)
		if !ok {
			return nil, fmt.Errorf("%s: --semver and --latest need a tag, not a digest", s)
		}
		tag = t.TagStr()
	case ref.OCI:
		tag = r.Tag
		if tag == "" {
			tag = "latest"
		}
	default:
		return nil, fmt.Errorf("%s: --semver and --latest need a store, registry or oci: TARGET", s)
	}
	tags, err := index.Tags(tag, o.tf.semver, o.tf.latest)
	if err != nil {
		return nil, err
	}
	var out []target
	for _, t := range tags {
		nr, err := r.WithTag(t)
		if err != nil {
			return nil, err
		}
		out = append(out, target{local: nr})
	}
	return out, nil
}

// write checks --immutable and writes idx to every target, printing the
// result unless -q.
func (o *indexOutput) write(cmd *cobra.Command, env *ref.Env, targets []target, idx v1.ImageIndex) error {
	ctx := cmd.Context()
	h, err := idx.Digest()
	if err != nil {
		return err
	}
	if o.tf.immutable {
		names := make([]string, len(targets))
		for i, t := range targets {
			names[i] = t.String()
		}
		if err := index.CheckImmutable(ctx, o.resolver(env, targets), names, h); err != nil {
			return err
		}
	}
	if o.stderr == nil {
		o.stderr = stderrFor(cmd)
	}
	printer, err := o.prf.printer(o.stderr)
	if err != nil {
		return err
	}
	opts := append(slices.Clip(env.Remote), remote.WithProgress(printer.Event))
	for _, t := range targets {
		if t.registry != "" {
			_, err = remote.Write(ctx, t.registry, idx, opts...)
		} else {
			_, err = ref.Write(ctx, env, t.local, idx)
		}
		if err != nil {
			break
		}
	}
	if cerr := printer.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if !o.prf.quiet {
		printIndex(cmd.OutOrStdout(), idx, targets, h)
	}
	return nil
}

// resolver finds what a target names now, for --immutable.
func (o *indexOutput) resolver(env *ref.Env, targets []target) index.Resolver {
	byName := map[string]target{}
	for _, t := range targets {
		byName[t.String()] = t
	}
	regs := registryResolver(env.Remote)
	return func(ctx context.Context, s string) (v1.Descriptor, bool, error) {
		t := byName[s]
		if t.registry != "" {
			return regs(ctx, t.registry)
		}
		var st *store.Store
		var key string
		var err error
		switch t.local.Transport {
		case ref.Store:
			st, err = env.Store(ctx)
			key = t.local.Name
		case ref.OCI:
			st, err = store.Open(ctx, t.local.Path)
			key = t.local.Tag
			if key == "" {
				key = "latest"
			}
		default:
			return v1.Descriptor{}, false, nil // archives are rewritten whole
		}
		if err != nil {
			return v1.Descriptor{}, false, err
		}
		d, err := st.Resolve(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return v1.Descriptor{}, false, nil
		}
		return d, err == nil, err
	}
}

func printIndex(w io.Writer, idx v1.ImageIndex, targets []target, h v1.Hash) {
	im, err := idx.IndexManifest()
	if err == nil {
		for _, d := range im.Manifests {
			p := "-"
			if d.Platform != nil {
				p = d.Platform.String()
			}
			if image.IsAttestation(d) {
				p = "attestation for " + shortDigest(d.Annotations[image.AnnotationReferenceDigest])
			}
			fmt.Fprintf(w, "  %-22s %s\n", p, d.Digest)
		}
	}
	for _, t := range targets {
		fmt.Fprintf(w, "Wrote %s to %s\n", t.name(), t.place())
	}
	fmt.Fprintln(w, h)
}

// readSources reads every SOURCE reference.
func readSources(ctx context.Context, env *ref.Env, args []string) ([]image.Artifact, error) {
	out := make([]image.Artifact, len(args))
	for i, s := range args {
		r, err := parseRef(s)
		if err != nil {
			return nil, err
		}
		a, err := ref.Read(ctx, env, r)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// lockTargets holds the name locks (ref.LockNames) of the local targets,
// and of the index read unless it comes from a registry, across an edit's
// read, change and write: two edits of one index at once both land, rather
// than the second writing what it read before the first.
func lockTargets(ctx context.Context, env *ref.Env, read string, push bool, targets []target) (func(), error) {
	var refs []ref.Reference
	if r, err := parseRef(read); err == nil && !push {
		refs = append(refs, r)
	}
	for _, t := range targets {
		if t.registry == "" {
			refs = append(refs, t.local)
		}
	}
	return ref.LockNames(ctx, env, refs...)
}

// readIndex reads TARGET, which must be an index.
func readIndex(ctx context.Context, env *ref.Env, s string, push bool) (v1.ImageIndex, error) {
	r, err := parseRef(s)
	if err != nil {
		return nil, err
	}
	var a image.Artifact
	if push && r.Transport == ref.Store {
		a, _, err = remote.Read(ctx, r.Registry(), env.Remote...)
	} else {
		a, err = ref.Read(ctx, env, r)
	}
	if err != nil {
		return nil, err
	}
	idx, ok := a.(v1.ImageIndex)
	if !ok {
		return nil, fmt.Errorf("%s is a single image, not an index: use `manyarch index create %s %s ...` to make one", s, s, s)
	}
	return idx, nil
}

func indexOptions(annotations []string, mediaType string, pf platformFlags) ([]index.Option, error) {
	var opts []index.Option
	ps, err := pf.Platforms()
	if err != nil {
		return nil, err
	}
	if len(ps) > 0 {
		opts = append(opts, index.WithPlatforms(ps))
	}
	for _, s := range annotations {
		a, err := index.ParseAnnotation(s)
		if err != nil {
			return nil, fmt.Errorf("--annotation: %w", err)
		}
		opts = append(opts, index.WithAnnotations(a))
	}
	if mediaType != "" {
		m, err := index.ParseMediaType(mediaType)
		if err != nil {
			return nil, fmt.Errorf("--media-type: %w", err)
		}
		opts = append(opts, index.WithMediaType(m))
	}
	return opts, nil
}

const annotationUsage = "annotation KEY=VALUE on the index; index:KEY=VALUE, manifest-descriptor:KEY=VALUE or manifest-descriptor[PLATFORM]:KEY=VALUE (repeatable)"

func newIndexCreateCmd(g *globalOptions) *cobra.Command {
	var (
		out         indexOutput
		pf          platformFlags
		annotations []string
		mediaType   string
	)
	cmd := &cobra.Command{
		Use:   "create TARGET SOURCE...",
		Short: "Create an index from images and indexes",
		Long: `Create an index of the images in the SOURCEs (any references; indexes among them
are flattened) and write it to TARGET. Each descriptor's platform is read from
its image's config; a source index whose descriptors disagree with their
configs, and two images for one platform, are refused. BuildKit attestation
manifests are kept next to the image they describe.`,
		Example: `  manyarch push --platform linux/amd64 hello:1.0 localhost:5000/hello:1.0-amd64
  manyarch push --platform linux/arm64 hello:1.0 localhost:5000/hello:1.0-arm64
  manyarch index create --push --media-type docker localhost:5000/hello:multi localhost:5000/hello:1.0-amd64 localhost:5000/hello:1.0-arm64
  manyarch index create hello:multi localhost:5000/hello:1.0-amd64 localhost:5000/hello:1.0-arm64
  manyarch index create --push --semver --immutable localhost:5000/hello:v2.0.0 hello:multi
  manyarch index create --platform linux/arm64 --annotation org.opencontainers.image.version=1.0 hello:arm64-only hello:1.0`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := out.rf.Validate(); err != nil {
				return err
			}
			opts, err := indexOptions(annotations, mediaType, pf)
			if err != nil {
				return err
			}
			targets, err := out.targets(args[0])
			if err != nil {
				return err
			}
			env := out.env(g, cmd)
			defer env.Close()
			srcs, err := readSources(ctx, env, args[1:])
			if err != nil {
				return err
			}
			idx, err := index.Create(ctx, srcs, opts...)
			if err != nil {
				return fmt.Errorf("index create %s: %w", args[0], err)
			}
			// --immutable's check and the write are one step for local
			// targets: two creates at once cannot both find the tag free.
			unlock, err := lockTargets(ctx, env, args[0], out.push, targets)
			if err != nil {
				return err
			}
			defer unlock()
			return out.write(cmd, env, targets, idx)
		},
	}
	pf.AddFlags(cmd, "keep only these platforms (comma list or repeated)")
	cmd.Flags().StringArrayVar(&annotations, "annotation", nil, annotationUsage)
	cmd.Flags().StringVar(&mediaType, "media-type", "oci", "oci (OCI image index) or docker (Docker manifest list)")
	out.AddFlags(cmd)
	return cmd
}

func newIndexAppendCmd(g *globalOptions) *cobra.Command {
	var (
		out         indexOutput
		pf          platformFlags
		annotations []string
		mediaType   string
	)
	cmd := &cobra.Command{
		Use:   "append TARGET SOURCE...",
		Short: "Add the images of SOURCEs to the index TARGET",
		Long: `Add the images of the SOURCEs to the index TARGET and write it back. The checks
of 'index create' apply: a platform TARGET already has is refused (remove it
first with 'manyarch index remove').`,
		Example: `  manyarch index create hello:multi localhost:5000/hello:1.0-amd64
  manyarch index append hello:multi localhost:5000/hello:1.0-arm64
  manyarch index append --push localhost:5000/hello:multi localhost:5000/hello:1.0-arm64`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := out.rf.Validate(); err != nil {
				return err
			}
			if !cmd.Flags().Changed("media-type") {
				mediaType = ""
			}
			opts, err := indexOptions(annotations, mediaType, pf)
			if err != nil {
				return err
			}
			targets, err := out.targets(args[0])
			if err != nil {
				return err
			}
			env := out.env(g, cmd)
			defer env.Close()
			srcs, err := readSources(ctx, env, args[1:])
			if err != nil {
				return err
			}
			unlock, err := lockTargets(ctx, env, args[0], out.push, targets)
			if err != nil {
				return err
			}
			defer unlock()
			idx, err := readIndex(ctx, env, args[0], out.push)
			if err != nil {
				return err
			}
			if idx, err = index.Append(ctx, idx, srcs, opts...); err != nil {
				return fmt.Errorf("index append %s: %w", args[0], err)
			}
			return out.write(cmd, env, targets, idx)
		},
	}
	pf.AddFlags(cmd, "add only these platforms of the SOURCEs")
	cmd.Flags().StringArrayVar(&annotations, "annotation", nil, annotationUsage)
	cmd.Flags().StringVar(&mediaType, "media-type", "", "convert to oci or docker (default: keep TARGET's)")
	out.AddFlags(cmd)
	return cmd
}

func newIndexRemoveCmd(g *globalOptions) *cobra.Command {
	var (
		out indexOutput
		pf  platformFlags
	)
	cmd := &cobra.Command{
		Use:   "remove TARGET --platform PLATFORM...",
		Short: "Remove platforms from the index TARGET",
		Example: `  manyarch index remove hello:multi --platform linux/arm64
  manyarch index remove --push localhost:5000/hello:multi --platform linux/arm64/v8`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := out.rf.Validate(); err != nil {
				return err
			}
			ps, err := pf.Platforms()
			if err != nil {
				return err
			}
			if len(ps) == 0 {
				return fmt.Errorf("name the platforms to remove with --platform")
			}
			targets, err := out.targets(args[0])
			if err != nil {
				return err
			}
			env := out.env(g, cmd)
			defer env.Close()
			unlock, err := lockTargets(ctx, env, args[0], out.push, targets)
			if err != nil {
				return err
			}
			defer unlock()
			idx, err := readIndex(ctx, env, args[0], out.push)
			if err != nil {
				return err
			}
			if idx, err = index.Remove(ctx, idx, ps); err != nil {
				return fmt.Errorf("index remove %s: %w", args[0], err)
			}
			return out.write(cmd, env, targets, idx)
		},
	}
	pf.AddFlags(cmd, "platforms to remove (comma list or repeated)")
	out.AddFlags(cmd)
	return cmd
}

func newIndexAnnotateCmd(g *globalOptions) *cobra.Command {
	var (
		out                            indexOutput
		plat, os, arch, variant, osVer string
		osFeatures, annotations        []string
		force                          bool
	)
	cmd := &cobra.Command{
		Use:   "annotate TARGET --platform PLATFORM [flags]",
		Short: "Change the platform fields or annotations of one descriptor",
		Long: `Change the descriptor of one platform in the index TARGET: its os.version,
os.features, variant (or os and architecture), and its annotations. A change
that contradicts the image's config (labelling an arm64 image amd64, a variant
or os.version the config does not state) is refused unless --force.`,
		Example: `  manyarch index annotate hello:multi --platform linux/amd64 --annotation com.example.tested=true
  manyarch index annotate --push localhost:5000/hello:multi --platform linux/amd64 --annotation com.example.tested=`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := out.rf.Validate(); err != nil {
				return err
			}
			if plat == "" {
				return fmt.Errorf("name the descriptor to change with --platform")
			}
			p, err := platform.Parse(plat)
			if err != nil {
				return fmt.Errorf("--platform: %w", err)
			}
			var c index.Change
			str := func(flag string, v *string) *string {
				if cmd.Flags().Changed(flag) {
					return v
				}
				return nil
			}
			c.OS, c.Architecture, c.Variant, c.OSVersion = str("os", &os), str("arch", &arch), str("variant", &variant), str("os-version", &osVer)
			if cmd.Flags().Changed("os-features") {
				c.OSFeatures = &osFeatures
			}
			for _, s := range annotations {
				k, v, ok := strings.Cut(s, "=")
				if !ok || k == "" {
					return fmt.Errorf("--annotation %q: want KEY=VALUE (an empty VALUE removes KEY)", s)
				}
				if c.Annotations == nil {
					c.Annotations = map[string]string{}
				}
				c.Annotations[k] = v
			}
			if c.OS == nil && c.Architecture == nil && c.Variant == nil && c.OSVersion == nil && c.OSFeatures == nil && c.Annotations == nil {
				return fmt.Errorf("nothing to change: give --os-version, --os-features, --variant, --os, --arch or --annotation")
			}
			targets, err := out.targets(args[0])
			if err != nil {
				return err
			}
			env := out.env(g, cmd)
			defer env.Close()
			unlock, err := lockTargets(ctx, env, args[0], out.push, targets)
			if err != nil {
				return err
			}
			defer unlock()
			idx, err := readIndex(ctx, env, args[0], out.push)
			if err != nil {
				return err
			}
			if idx, err = index.Annotate(ctx, idx, p, c, force); err != nil {
				return fmt.Errorf("index annotate %s: %w", args[0], err)
			}
			return out.write(cmd, env, targets, idx)
		},
	}
	cmd.Flags().StringVar(&plat, "platform", "", "the descriptor to change")
	cmd.Flags().StringVar(&os, "os", "", "set the OS")
	cmd.Flags().StringVar(&arch, "arch", "", "set the architecture")
	cmd.Flags().StringVar(&variant, "variant", "", "set the variant")
	cmd.Flags().StringVar(&osVer, "os-version", "", "set os.version")
	cmd.Flags().StringSliceVar(&osFeatures, "os-features", nil, "set os.features (comma list)")
	cmd.Flags().StringArrayVar(&annotations, "annotation", nil, "descriptor annotation KEY=VALUE (repeatable; empty VALUE removes KEY)")
	cmd.Flags().BoolVar(&force, "force", false, "write a change that contradicts the image config")
	out.AddFlags(cmd)
	return cmd
}
