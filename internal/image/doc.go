// Package image is manyarch's image vocabulary: what an artifact is (a
// go-containerregistry v1.Image or v1.ImageIndex, told apart with a type
// switch), which index entries are attestation manifests and the annotation
// keys that say so, and the runnable images of an artifact with their
// platforms (Entries).
//
// It is a leaf: it imports go-containerregistry and the OCI types, and
// internal/platform (itself a leaf) for the one platform normalization, and
// nothing else of manyarch. ref, remote, index, verify and imagediff all sit
// above it and share these words instead of importing each other for them.
//
// It must not read or write anything (no registry, no store, no files): it
// only names and classifies what callers already hold.
package image
