// Package index creates, edits and validates multi-platform image indexes:
// OCI image indexes and Docker manifest lists.
//
// Its point is consistency. docker manifest, buildx imagetools and crane all
// take a descriptor's platform from the user or from the source index; this
// package takes it from each image's config (os, architecture, variant,
// os.version, os.features) and refuses to write an index whose descriptors
// disagree with their content:
//
//	idx, err := index.Create(ctx, []image.Artifact{amd64Image, arm64Image},
//		index.WithMediaType(index.MediaTypeOCI))
//
// Create flattens indexes given as sources, keeps BuildKit attestation
// manifests (platform unknown/unknown, annotated
// vnd.docker.reference.type=attestation-manifest) next to the image they
// describe, filters platforms (WithPlatforms), sets annotations on the index
// and on descriptors (WithAnnotations, ParseAnnotation), and refuses
// duplicates and inconsistencies, naming the descriptor and the reason.
// Append adds sources to an index, Remove drops platforms, Annotate changes a
// descriptor's platform fields and annotations, refusing a change that
// contradicts the image's config unless forced. These edits rebuild the index
// flat: nested indexes are replaced by their images.
//
// Validate lists every Problem of an index; `manyarch verify` shares it.
//
// Tags expands a tag to its semantic-version family (v1.2.3 → 1.2.3, 1.2, 1)
// and CheckImmutable refuses to move a tag that points elsewhere.
package index
