package ref

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Constructors build a Reference from its parts, so code that already holds
// a name or a path does not format a string for Parse to take apart again.
// They check what Parse checks and fail with the same *SyntaxError.

// NewStore returns the local-store reference NAME[:TAG|@DIGEST] (the form
// Parse reads without a transport).
func NewStore(s string) (Reference, error) { return parseName(s, s, Store) }

// NewRegistry returns the registry-only reference of NAME[:TAG|@DIGEST]
// (what Parse reads as docker://NAME).
func NewRegistry(s string) (Reference, error) {
	return parseName(transportNames[Docker]+s, s, Docker)
}

// NewOCILayout returns the oci:DIR[:TAG] reference of an OCI image layout
// directory. dir may hold any character but NUL; tag, when set, may not
// hold '/', '@' or ':'.
func NewOCILayout(dir, tag string) (Reference, error) { return newLayout(OCI, dir, tag) }

// NewOCIArchive returns the oci-archive:FILE[:TAG] reference of an OCI
// layout in a tar file.
func NewOCIArchive(file, tag string) (Reference, error) { return newLayout(OCIArchive, file, tag) }

func newLayout(t Transport, path, tag string) (Reference, error) {
	raw := transportNames[t] + path
	if tag != "" {
		raw += ":" + tag
	}
	switch {
	case path == "":
		return Reference{}, &SyntaxError{Ref: raw, Reason: transportNames[t] + " needs a path"}
	case strings.ContainsRune(path, 0):
		return Reference{}, &SyntaxError{Ref: raw, Reason: "the path contains a NUL byte"}
	case strings.ContainsAny(tag, "/@:") || strings.ContainsAny(tag, "\x00\n\r\t "):
		return Reference{}, &SyntaxError{Ref: raw, Reason: fmt.Sprintf("tag %q may not contain '/', '@', ':' or white space", tag)}
	}
	return Reference{Transport: t, Path: path, Tag: tag}, nil
}

// InStore returns the local-store form of a registry (docker://) reference:
// the same name, tag, digest and pinned tag, read and written in the store.
// A Store reference is returned as it is; other transports are an error.
func (r Reference) InStore() (Reference, error) {
	switch r.Transport {
	case Store:
		return r, nil
	case Docker:
		out := r
		out.Transport, out.Name = Store, familiar(r.parsed)
		return out, nil
	}
	return Reference{}, fmt.Errorf("%s names no image in a registry or the store", r)
}

// WithTag returns r with its tag replaced by tag (and any digest dropped):
// NAME:TAG for Store and Docker references, DIR:TAG for oci: and
// oci-archive:. Other transports are an error.
func (r Reference) WithTag(tag string) (Reference, error) {
	switch r.Transport {
	case OCI, OCIArchive:
		return newLayout(r.Transport, r.Path, tag)
	case Store, Docker:
		raw := r.parsed.Context().Name() + ":" + tag
		t, err := name.NewTag(raw, name.WeakValidation)
		if err != nil {
			return Reference{}, &SyntaxError{Ref: raw, Reason: err.Error()}
		}
		out := Reference{Transport: r.Transport, parsed: t, Name: t.Name()}
		if r.Transport == Store {
			out.Name = familiar(t)
		}
		return out, nil
	}
	return Reference{}, fmt.Errorf("%s: a %q reference has no tag to set", r, transportNames[r.Transport])
}
