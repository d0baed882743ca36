package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
)

// inspectView is what `manyarch inspect` shows; its JSON form is stable.
type inspectView struct {
	Name      string `json:"name"`
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	// Size is the size of the manifest or index itself.
	Size int64 `json:"size"`
	// Manifests lists an index's children (images, attestations, indexes).
	Manifests []manifestView `json:"manifests,omitempty"`
	// Annotations are the index's or the image manifest's own.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Platform, Config and Layers describe a single image.
	Platform string      `json:"platform,omitempty"`
	Config   *configView `json:"config,omitempty"`
	Layers   []layerView `json:"layers,omitempty"`
	// Manifest is the manifest or index as stored ({{json .Manifest}}, as
	// buildx imagetools inspect); Image the image's config, or for an index
	// a map of each platform's config ({{json .Image}}).
	Manifest json.RawMessage `json:"manifest"`
	Image    any             `json:"image"`
}

// layerView is one layer of an image manifest.
type layerView struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type manifestView struct {
	Platform    string            `json:"platform"`
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Attestation bool              `json:"attestation,omitempty"`
	Describes   string            `json:"describes,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Config      *configView       `json:"config,omitempty"`
	// ManifestAnnotations and Layers are the child image manifest's.
	ManifestAnnotations map[string]string `json:"manifestAnnotations,omitempty"`
	Layers              []layerView       `json:"layers,omitempty"`
}

type configView struct {
	Digest       string            `json:"digest"`
	OS           string            `json:"os"`
	Architecture string            `json:"architecture"`
	Variant      string            `json:"variant,omitempty"`
	Created      *time.Time        `json:"created,omitempty"`
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	Env          []string          `json:"env,omitempty"`
	WorkingDir   string            `json:"workingDir,omitempty"`
	User         string            `json:"user,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	ExposedPorts []string          `json:"exposedPorts,omitempty"`
	Layers       int               `json:"layers"`
	LayersSize   int64             `json:"layersSize"`
}

func newInspectCmd(g *globalOptions) *cobra.Command {
	var (
		format string
		raw    bool
		pf     platformFlags
		rf     remoteFlags
	)
	cmd := &cobra.Command{
		Use:   "inspect REF",
		Short: "Show an image or index: platforms, digests, sizes and configs",
		Long: `Show what a reference names. For an index: its media type, digest and
annotations, and for each platform the manifest digest, size, a one-line config
summary, the descriptor's and manifest's annotations and the layers (digest,
size, media type). For an image: the same for its one platform. A name with a
registry host is read from the registry (store:NAME reads the store's copy).

--format json prints all of it; its fields (docs/json.md) are also the
template fields, with manifest (the manifest or index as stored) and image
(the config, or for an index a map of each platform's config), as buildx
imagetools inspect's {{json .Manifest}} and {{json .Image}}.

--raw prints the exact manifest bytes (of one platform with --platform).`,
		Example: `  manyarch inspect fixtures/busybox:1.35
  manyarch inspect --platform linux/arm64 fixtures/busybox:1.35
  manyarch inspect --raw fixtures/busybox:1.35
  manyarch inspect --format json oci-archive:/tmp/bb.tar
  manyarch inspect --format '{{range .Manifests}}{{.Platform}} {{.Digest}}{{"\n"}}{{end}}' fixtures/busybox:1.35
  manyarch inspect --format '{{json .Manifest}}' fixtures/busybox:1.35
  manyarch inspect --platform linux/arm64 --format '{{json .Image}}' fixtures/busybox:1.35`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := parseSource(&rf, &pf, args[0], func(ps []specs.Platform) error {
				if len(ps) > 1 {
					return fmt.Errorf("--platform: inspect shows one platform at a time, got %d", len(ps))
				}
				return nil
			})
			if err != nil {
				return err
			}
			r := s.ref
			env := g.newEnv(cmd.ErrOrStderr(), &rf)
			defer env.Close()
			a, err := s.read(ctx, env)
			if err != nil {
				return err
			}
			if raw {
				b, err := a.RawManifest()
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			view, err := inspect(ctx, r.String(), a)
			if err != nil {
				return fmt.Errorf("inspecting %s: %w", r, err)
			}
			if done, err := writeFormatted(cmd.OutOrStdout(), format, view); done {
				return err
			}
			return printInspect(cmd.OutOrStdout(), view)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", formatFlagHelp)
	cmd.Flags().BoolVar(&raw, "raw", false, "print the exact manifest bytes")
	pf.AddFlags(cmd, "show only this platform's image (for example linux/arm64)")
	rf.AddFlags(cmd)
	return cmd
}

// inspect builds the view of a.
func inspect(ctx context.Context, name string, a image.Artifact) (*inspectView, error) {
	mt, err := a.MediaType()
	if err != nil {
		return nil, err
	}
	d, err := a.Digest()
	if err != nil {
		return nil, err
	}
	size, err := a.Size()
	if err != nil {
		return nil, err
	}
	raw, err := a.RawManifest()
	if err != nil {
		return nil, err
	}
	v := &inspectView{Name: name, MediaType: string(mt), Digest: d.String(), Size: size, Manifest: raw}
	switch x := a.(type) {
	case v1.Image:
		cv, err := configOf(x)
		if err != nil {
			return nil, err
		}
		v.Config = cv
		v.Platform = platform.Format(platform.Normalize(cv.platform()))
		if v.Annotations, v.Layers, err = manifestParts(x); err != nil {
			return nil, err
		}
		if v.Image, err = rawConfig(x); err != nil {
			return nil, err
		}
	case v1.ImageIndex:
		im, err := x.IndexManifest()
		if err != nil {
			return nil, err
		}
		v.Annotations = im.Annotations
		configs := map[string]json.RawMessage{}
		for _, c := range im.Manifests {
			mv := manifestView{MediaType: string(c.MediaType), Digest: c.Digest.String(), Size: c.Size, Annotations: c.Annotations}
			if c.Platform != nil {
				mv.Platform = platform.Format(platform.Normalize(specPlatform(c.Platform)))
			}
			if image.IsAttestation(c) {
				mv.Attestation = true
				mv.Describes = c.Annotations["vnd.docker.reference.digest"]
			} else if c.MediaType.IsImage() {
				img, err := x.Image(c.Digest)
				if err != nil {
					return nil, err
				}
				if mv.Config, err = configOf(img); err != nil {
					return nil, fmt.Errorf("platform %s (%s): %w", mv.Platform, c.Digest, err)
				}
				if mv.ManifestAnnotations, mv.Layers, err = manifestParts(img); err != nil {
					return nil, fmt.Errorf("platform %s (%s): %w", mv.Platform, c.Digest, err)
				}
				if configs[mv.Platform], err = rawConfig(img); err != nil {
					return nil, fmt.Errorf("platform %s (%s): %w", mv.Platform, c.Digest, err)
				}
			}
			v.Manifests = append(v.Manifests, mv)
		}
		v.Image = configs
	}
	return v, nil
}

// manifestParts returns an image manifest's annotations and layers.
func manifestParts(img v1.Image) (map[string]string, []layerView, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, nil, fmt.Errorf("reading manifest: %w", err)
	}
	layers := make([]layerView, len(m.Layers))
	for i, l := range m.Layers {
		layers[i] = layerView{MediaType: string(l.MediaType), Digest: l.Digest.String(), Size: l.Size, Annotations: l.Annotations}
	}
	return m.Annotations, layers, nil
}

// rawConfig is an image's config as stored (bounded by the reader: a
// registry's config is checked against remote.MaxConfigSize).
func rawConfig(img v1.Image) (json.RawMessage, error) {
	b, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("the config blob is not JSON")
	}
	return b, nil
}

func configOf(img v1.Image) (*configView, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	cv := &configView{
		Digest: m.Config.Digest.String(), OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant,
		Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd, Env: cf.Config.Env,
		WorkingDir: cf.Config.WorkingDir, User: cf.Config.User, Labels: cf.Config.Labels, Layers: len(m.Layers),
	}
	if !cf.Created.IsZero() {
		t := cf.Created.UTC()
		cv.Created = &t
	}
	for p := range cf.Config.ExposedPorts {
		cv.ExposedPorts = append(cv.ExposedPorts, p)
	}
	sort.Strings(cv.ExposedPorts)
	for _, l := range m.Layers {
		cv.LayersSize += l.Size
	}
	return cv, nil
}

// summary is the one-line form of a config.
func (c *configView) summary() string {
	var parts []string
	if len(c.Entrypoint) > 0 {
		parts = append(parts, "entrypoint "+jsonList(c.Entrypoint))
	}
	if len(c.Cmd) > 0 {
		parts = append(parts, "cmd "+jsonList(c.Cmd))
	}
	layers := "layers"
	if c.Layers == 1 {
		layers = "layer"
	}
	parts = append(parts, fmt.Sprintf("%d %s %s", c.Layers, layers, humanSize(c.LayersSize)))
	if c.User != "" {
		parts = append(parts, "user "+c.User)
	}
	if c.WorkingDir != "" {
		parts = append(parts, "workdir "+c.WorkingDir)
	}
	if c.Created != nil {
		parts = append(parts, "created "+c.Created.Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}

func jsonList(ss []string) string {
	b, _ := json.Marshal(ss)
	return string(b)
}

func printInspect(w io.Writer, v *inspectView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", v.Name)
	fmt.Fprintf(tw, "MediaType:\t%s\n", v.MediaType)
	fmt.Fprintf(tw, "Digest:\t%s\n", v.Digest)
	printAnnotations(tw, "Annotations:", v.Annotations)
	if v.Config != nil {
		fmt.Fprintf(tw, "Platform:\t%s\n", v.Platform)
		fmt.Fprintf(tw, "Config:\t%s\n", v.Config.Digest)
		fmt.Fprintf(tw, "Summary:\t%s\n", v.Config.summary())
		if err := tw.Flush(); err != nil {
			return err
		}
		return printLayers(w, v.Layers)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tDIGEST\tSIZE\tCONFIG")
	for _, m := range v.Manifests {
		desc := ""
		switch {
		case m.Attestation:
			desc = "attestation for " + shortDigest(m.Describes)
		case m.Config != nil:
			desc = m.Config.summary()
		default:
			desc = m.MediaType
		}
		p := m.Platform
		if p == "" {
			p = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p, m.Digest, humanSize(m.Size), desc)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Per platform: its descriptor's and manifest's annotations, its layers.
	for _, m := range v.Manifests {
		if len(m.Annotations) == 0 && len(m.ManifestAnnotations) == 0 && len(m.Layers) == 0 {
			continue
		}
		p := m.Platform
		if m.Attestation {
			p = "attestation for " + shortDigest(m.Describes)
		}
		fmt.Fprintf(w, "\n%s (%s):\n", p, m.Digest)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		printAnnotations(tw, "  Descriptor annotations:", m.Annotations)
		printAnnotations(tw, "  Manifest annotations:", m.ManifestAnnotations)
		if err := tw.Flush(); err != nil {
			return err
		}
		if err := printLayers(w, m.Layers); err != nil {
			return err
		}
	}
	return nil
}

// printAnnotations writes a title and the sorted KEY=VALUE lines, or nothing.
func printAnnotations(tw io.Writer, title string, a map[string]string) {
	if len(a) == 0 {
		return
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == 0 {
			fmt.Fprintf(tw, "%s\t%s=%s\n", title, k, a[k])
		} else {
			fmt.Fprintf(tw, "\t%s=%s\n", k, a[k])
		}
	}
}

// printLayers writes the layer table of one image, or nothing.
func printLayers(w io.Writer, layers []layerView) error {
	if len(layers) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  LAYER\tDIGEST\tSIZE\tMEDIA TYPE")
	for i, l := range layers {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", i+1, l.Digest, humanSize(l.Size), l.MediaType)
	}
	return tw.Flush()
}

func (c *configView) platform() specs.Platform {
	return specs.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant}
}

// specPlatform converts a go-containerregistry platform.
func specPlatform(p *v1.Platform) specs.Platform {
	return specs.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion, OSFeatures: p.OSFeatures}
}
