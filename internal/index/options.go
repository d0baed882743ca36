package index

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// Option configures Create and Append.
type Option func(*options) error

type options struct {
	platforms   []specs.Platform
	annotations []Annotation
	mediaType   MediaType
}

func makeOptions(opts []Option) (*options, error) {
	o := &options{}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// WithPlatforms keeps only the images of these platforms (and their
// attestations). Default: all.
func WithPlatforms(ps []specs.Platform) Option {
	return func(o *options) error {
		for _, p := range ps {
			if p.OS == "" || p.Architecture == "" {
				return fmt.Errorf("platform %+v needs an OS and an architecture", p)
			}
		}
		o.platforms = append(o.platforms, ps...)
		return nil
	}
}

// WithAnnotations sets annotations on the index or its descriptors (see
// ParseAnnotation). Default: none added; Append keeps the index's own.
func WithAnnotations(as ...Annotation) Option {
	return func(o *options) error {
		for _, a := range as {
			if a.Key == "" {
				return fmt.Errorf("annotation with an empty key")
			}
		}
		o.annotations = append(o.annotations, as...)
		return nil
	}
}

// WithMediaType chooses an OCI image index or a Docker manifest list.
// Default: OCI for Create, the index's own for Append.
func WithMediaType(m MediaType) Option {
	return func(o *options) error {
		if _, err := ParseMediaType(string(m)); err != nil {
			return err
		}
		o.mediaType = m
		return nil
	}
}

// MediaType names the kind of index to write.
type MediaType string

// Index kinds.
const (
	MediaTypeOCI    MediaType = "oci"    // application/vnd.oci.image.index.v1+json
	MediaTypeDocker MediaType = "docker" // application/vnd.docker.distribution.manifest.list.v2+json
)

// ParseMediaType checks a --media-type value.
func ParseMediaType(s string) (MediaType, error) {
	switch m := MediaType(strings.ToLower(s)); m {
	case MediaTypeOCI, MediaTypeDocker:
		return m, nil
	}
	return "", fmt.Errorf("unknown index media type %q: want oci or docker", s)
}

func (m MediaType) types() types.MediaType {
	if m == MediaTypeDocker {
		return types.DockerManifestList
	}
	return types.OCIImageIndex
}

// Annotation is one KEY=VALUE for the index itself or for its descriptors.
type Annotation struct {
	Key, Value string
	Descriptor bool            // on image descriptors rather than the index
	Platform   *specs.Platform // with Descriptor: only this platform's descriptor
}

func (a Annotation) String() string {
	switch {
	case !a.Descriptor:
		return "index:" + a.Key + "=" + a.Value
	case a.Platform != nil:
		return "manifest-descriptor[" + platform.Format(*a.Platform) + "]:" + a.Key + "=" + a.Value
	}
	return "manifest-descriptor:" + a.Key + "=" + a.Value
}

// ParseAnnotation parses the --annotation syntax of docker buildx imagetools:
//
//	KEY=VALUE                                 on the index
//	index:KEY=VALUE                           on the index
//	manifest-descriptor:KEY=VALUE             on every image descriptor
//	manifest-descriptor[linux/arm64]:KEY=VALUE on that platform's descriptor
func ParseAnnotation(s string) (Annotation, error) {
	var a Annotation
	rest := s
	if i := strings.Index(s, ":"); i >= 0 && i < strings.Index(s+"=", "=") {
		typ := s[:i]
		rest = s[i+1:]
		switch {
		case typ == "index":
		case typ == "manifest-descriptor":
			a.Descriptor = true
		case strings.HasPrefix(typ, "manifest-descriptor[") && strings.HasSuffix(typ, "]"):
			a.Descriptor = true
			p, err := platform.Parse(typ[len("manifest-descriptor[") : len(typ)-1])
			if err != nil {
				return Annotation{}, fmt.Errorf("annotation %q: %w", s, err)
			}
			a.Platform = &p
		case typ == "manifest" || strings.HasPrefix(typ, "manifest["):
			return Annotation{}, fmt.Errorf("annotation %q: annotating image manifests would change their digests; use index: or manifest-descriptor:", s)
		default:
			return Annotation{}, fmt.Errorf("annotation %q: unknown target %q: want index, manifest-descriptor or manifest-descriptor[PLATFORM]", s, typ)
		}
	}
	k, v, ok := strings.Cut(rest, "=")
	if !ok || k == "" {
		return Annotation{}, fmt.Errorf("annotation %q: want [TARGET:]KEY=VALUE", s)
	}
	a.Key, a.Value = k, v
	return a, nil
}
