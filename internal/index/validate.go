package index

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
)

// Problem is one inconsistency Validate found.
type Problem struct {
	Kind     ProblemKind
	Digest   v1.Hash // the descriptor at fault; zero for the index itself
	Platform string  // what the descriptor says its platform is, if anything
	Reason   string  // what is wrong, for people
}

// ProblemKind classifies a Problem for programs (verify maps kinds to its
// finding codes); the Reason is for people and may change.
type ProblemKind string

const (
	ProblemUnreadable        ProblemKind = "unreadable"         // a manifest, config or the index could not be read
	ProblemMediaType         ProblemKind = "media-type"         // media types disagree with the content
	ProblemEmpty             ProblemKind = "empty"              // an index with no manifests
	ProblemNesting           ProblemKind = "nesting"            // indexes nested too deep
	ProblemDigest            ProblemKind = "digest"             // a manifest or config does not hash to its digest or size
	ProblemPlatformMismatch  ProblemKind = "platform-mismatch"  // descriptor platform vs config
	ProblemNoPlatform        ProblemKind = "no-platform"        // an image descriptor without a platform
	ProblemDuplicatePlatform ProblemKind = "duplicate-platform" // two images for one platform
	ProblemAttestation       ProblemKind = "attestation"        // an attestation for an image not in the index
)

func (p Problem) String() string {
	switch {
	case p.Digest == (v1.Hash{}):
		return "index: " + p.Reason
	case p.Platform != "":
		return fmt.Sprintf("descriptor %s (%s): %s", p.Digest, p.Platform, p.Reason)
	}
	return fmt.Sprintf("descriptor %s: %s", p.Digest, p.Reason)
}

// Validate checks idx and every index nested in it and returns what is wrong,
// in manifest order (nil when nothing is):
//   - each manifest hashes to its descriptor's digest and has its size;
//   - each descriptor's media type is the one its manifest declares, and an
//     index descriptor points at an index, an image descriptor at an image;
//   - each image descriptor has a platform, and it equals the image config's
//     os/architecture/variant after normalization (os.version and
//     os.features too, when the descriptor sets them);
//   - each config blob hashes to the digest its manifest gives, with its size;
//   - no two image descriptors of one index have the same platform;
//   - each attestation manifest refers to an image of the same index.
//
// Layers are not read: their digests are checked whenever they are copied.
func Validate(ctx context.Context, idx v1.ImageIndex) []Problem {
	var probs []Problem
	validate(ctx, idx, 0, &probs)
	return probs
}

type rawManifest struct {
	MediaType types.MediaType  `json:"mediaType"`
	Config    *v1.Descriptor   `json:"config"`
	Manifests *json.RawMessage `json:"manifests"`
}

// addFunc records a problem about descriptor d.
type addFunc func(kind ProblemKind, d v1.Descriptor, format string, args ...any)

// seenAt is where validate saw a platform first.
type seenAt struct {
	digest v1.Hash
	plat   string
}

func validate(ctx context.Context, idx v1.ImageIndex, depth int, probs *[]Problem) {
	add := func(kind ProblemKind, d v1.Descriptor, format string, args ...any) {
		p := Problem{Kind: kind, Digest: d.Digest, Reason: fmt.Sprintf(format, args...)}
		if d.Platform != nil {
			p.Platform = describe(*d.Platform)
		}
		*probs = append(*probs, p)
	}
	if depth > 8 {
		*probs = append(*probs, Problem{Kind: ProblemNesting, Reason: "indexes nested more than 8 deep"})
		return
	}
	mt, err := idx.MediaType()
	if err != nil {
		*probs = append(*probs, Problem{Kind: ProblemUnreadable, Reason: fmt.Sprintf("reading media type: %v", err)})
		return
	}
	if !mt.IsIndex() {
		*probs = append(*probs, Problem{Kind: ProblemMediaType, Reason: fmt.Sprintf("media type %q is not an index type", mt)})
	}
	im, err := idx.IndexManifest()
	if err != nil {
		*probs = append(*probs, Problem{Kind: ProblemUnreadable, Reason: fmt.Sprintf("reading index manifest: %v", err)})
		return
	}
	if len(im.Manifests) == 0 {
		*probs = append(*probs, Problem{Kind: ProblemEmpty, Reason: "the index lists no manifests"})
	}
	images := map[v1.Hash]bool{}
	for _, d := range im.Manifests {
		if d.MediaType.IsImage() && !image.IsAttestation(d) {
			images[d.Digest] = true
		}
	}
	byPlatform := map[string]seenAt{}

	for _, d := range im.Manifests {
		if ctx.Err() != nil {
			*probs = append(*probs, Problem{Kind: ProblemUnreadable, Reason: fmt.Sprintf("validation stopped: %v", ctx.Err())})
			return
		}
		raw, child, ok := readChild(idx, d, add)
		if !ok {
			continue
		}
		rm, ok := checkManifest(d, raw, add)
		if !ok {
			continue
		}
		switch c := child.(type) {
		case v1.ImageIndex:
			validate(ctx, c, depth+1, probs)
		case v1.Image:
			checkImage(c, d, rm, images, byPlatform, add)
		}
	}
}

// readChild reads the manifest d names (an image or an index) and its raw
// bytes; ok is false when it cannot (the problem is added).
func readChild(idx v1.ImageIndex, d v1.Descriptor, add addFunc) (raw []byte, child any, ok bool) {
	var err error
	switch {
	case d.MediaType.IsIndex():
		var c v1.ImageIndex
		if c, err = idx.ImageIndex(d.Digest); err == nil {
			raw, err = c.RawManifest()
		}
		child = c
	case d.MediaType.IsImage():
		var c v1.Image
		if c, err = idx.Image(d.Digest); err == nil {
			raw, err = c.RawManifest()
		}
		child = c
	default:
		add(ProblemMediaType, d, "media type %q is neither an image nor an index", d.MediaType)
		return nil, nil, false
	}
	if err != nil {
		add(ProblemUnreadable, d, "reading it: %v", err)
		return nil, nil, false
	}
	return raw, child, true
}

// checkManifest checks raw against its descriptor d: digest, size, media
// type and shape; ok is false when it is not JSON.
func checkManifest(d v1.Descriptor, raw []byte, add addFunc) (rm rawManifest, ok bool) {
	h, n, _ := v1.SHA256(bytes.NewReader(raw))
	if h != d.Digest {
		add(ProblemDigest, d, "its manifest hashes to %s", h)
	}
	if n != d.Size {
		add(ProblemDigest, d, "its manifest is %d bytes, the descriptor says %d", n, d.Size)
	}
	if err := json.Unmarshal(raw, &rm); err != nil {
		add(ProblemUnreadable, d, "its manifest is not JSON: %v", err)
		return rm, false
	}
	if rm.MediaType != "" && rm.MediaType != d.MediaType {
		add(ProblemMediaType, d, "the descriptor says media type %s, the manifest says %s", d.MediaType, rm.MediaType)
	}
	if d.MediaType.IsImage() && rm.Config == nil {
		add(ProblemMediaType, d, "the descriptor says %s, but the manifest has no config: it is not an image", d.MediaType)
	}
	if d.MediaType.IsIndex() && rm.Manifests == nil {
		add(ProblemMediaType, d, "the descriptor says %s, but the manifest lists no manifests: it is not an index", d.MediaType)
	}
	return rm, true
}

// checkImage checks image c of the index: its config's digest, an
// attestation's subject (one of images), its platform against its config
// and against the platforms seen before (byPlatform).
func checkImage(c v1.Image, d v1.Descriptor, rm rawManifest, images map[v1.Hash]bool, byPlatform map[string]seenAt, add addFunc) {
	if rm.Config != nil {
		if cfg, err := c.RawConfigFile(); err != nil {
			add(ProblemUnreadable, d, "reading its config %s: %v", rm.Config.Digest, err)
		} else if ch, cn, _ := v1.SHA256(bytes.NewReader(cfg)); ch != rm.Config.Digest || cn != rm.Config.Size {
			add(ProblemDigest, d, "its config hashes to %s (%d bytes), the manifest says %s (%d bytes)", ch, cn, rm.Config.Digest, rm.Config.Size)
		}
	}
	if image.IsAttestation(d) {
		ref := d.Annotations[image.AnnotationReferenceDigest]
		if h, err := v1.NewHash(ref); err != nil || !images[h] {
			add(ProblemAttestation, d, "attestation for %q, which is not an image of this index", ref)
		}
		return
	}
	if d.Platform == nil {
		add(ProblemNoPlatform, d, "no platform: every image of an index needs one")
		return
	}
	cfg, err := configPlatform(c)
	if err != nil {
		add(ProblemUnreadable, d, "reading its config: %v", err)
		return
	}
	if why := disagreement(*d.Platform, cfg); why != "" {
		add(ProblemPlatformMismatch, d, "the descriptor says %s but %s", describe(*d.Platform), why)
	}
	key := platform.Format(platform.Normalize(spec(*d.Platform))) + " " + d.Platform.OSVersion
	if prev, ok := byPlatform[key]; ok && prev.digest != d.Digest {
		add(ProblemDuplicatePlatform, d, "%s is already in the index as %s; an index holds one image per platform (remove one: manyarch index remove --platform %s)", prev.plat, prev.digest, platform.Format(spec(*d.Platform)))
	} else if !ok {
		byPlatform[key] = seenAt{d.Digest, describe(*d.Platform)}
	}
}
