package ref

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
)

// Transport says where a reference's content lives.
type Transport int

const (
	// Store is the local store, falling back to a registry for reads.
	Store Transport = iota
	// Docker is a registry only.
	Docker
	// OCI is an OCI image layout directory.
	OCI
	// OCIArchive is an OCI image layout in a tar file.
	OCIArchive
	// DockerArchive is a tar file in the format of `docker save`.
	DockerArchive
)

var transportNames = map[Transport]string{
	Store:         "",
	Docker:        "docker://",
	OCI:           "oci:",
	OCIArchive:    "oci-archive:",
	DockerArchive: "docker-archive:",
}

// Reference is a parsed reference. The zero value is not valid; use Parse.
type Reference struct {
	Transport Transport
	// Name is, for Store and Docker, the image name with its tag or digest,
	// in familiar form for Store ("busybox:latest"); for DockerArchive the
	// optional NAME:TAG inside the archive.
	Name string
	// Path is the directory or file of the OCI, OCIArchive and
	// DockerArchive transports.
	Path string
	// Tag is the optional TAG of the OCI and OCIArchive transports.
	Tag string

	parsed name.Reference // Store and Docker
	// pinnedTag is the familiar NAME:TAG of a NAME:TAG@DIGEST reference.
	pinnedTag string
	// id is set when the reference reads as an image ID ("sha256:HEX" or
	// 12 to 64 hex digits, as build and images print them): when no name
	// matches, it is looked up among the store's images (ResolveStore).
	id string
}

// imageID is what an image ID looks like: a digest, or a prefix of its
// hex of at least 12 digits (docker's short IDs).
var imageID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(sha256:)?([0-9a-f]{12,64})$`) })

// Parse parses s in any of the forms the package documents.
func Parse(s string) (Reference, error) {
	if strings.TrimSpace(s) == "" {
		return Reference{}, &SyntaxError{Ref: s, Reason: "empty reference"}
	}
	if strings.ContainsAny(s, "\x00\n\r\t ") {
		return Reference{}, &SyntaxError{Ref: s, Reason: "contains white space or control characters"}
	}
	switch {
	case strings.HasPrefix(s, "store:"):
		// The local store explicitly, for names with a registry host that
		// commands would otherwise read as the registry (docs/conventions.md).
		return parseName(s, strings.TrimPrefix(s, "store:"), Store)
	case strings.HasPrefix(s, "docker://"):
		return parseName(s, strings.TrimPrefix(s, "docker://"), Docker)
	case strings.HasPrefix(s, "oci:"):
		return parseLayout(s, strings.TrimPrefix(s, "oci:"), OCI)
	case strings.HasPrefix(s, "oci-archive:"):
		return parseLayout(s, strings.TrimPrefix(s, "oci-archive:"), OCIArchive)
	case strings.HasPrefix(s, "docker-archive:"):
		rest := strings.TrimPrefix(s, "docker-archive:")
		path, img, _ := strings.Cut(rest, ":")
		if path == "" {
			return Reference{}, &SyntaxError{Ref: s, Reason: "docker-archive: needs a file path"}
		}
		r := Reference{Transport: DockerArchive, Path: path}
		if img != "" {
			t, err := name.NewTag(img, name.WeakValidation)
			if err == nil {
				err = checkName(t.Context())
			}
			if err != nil {
				return Reference{}, &SyntaxError{Ref: s, Reason: fmt.Sprintf("image name %q inside the archive: %v", img, err)}
			}
			r.Name, r.parsed = familiar(t), t
		}
		return r, nil
	}
	if i := strings.Index(s, "://"); i >= 0 {
		return Reference{}, &SyntaxError{Ref: s, Reason: fmt.Sprintf("unknown transport %q", s[:i+3])}
	}
	// "oci-layout:/tmp/x" is not a registry with an empty port.
	if t, rest, ok := strings.Cut(s, ":"); ok && !strings.Contains(t, "/") && strings.HasPrefix(rest, "/") {
		return Reference{}, &SyntaxError{Ref: s, Reason: fmt.Sprintf("unknown transport %q", t+":")}
	}
	r, err := parseName(s, s, Store)
	if m := imageID().FindStringSubmatch(s); err == nil && m != nil {
		r.id = m[2]
		if m[1] != "" && len(m[2]) != 64 {
			r.id = "" // "sha256:" with a short hex is a name:tag
		}
	}
	if err != nil {
		// "docker:latest" is an image; "oci-layout:/tmp/x" is a misspelt transport.
		if t, _, ok := strings.Cut(s, ":"); ok && isTransportTypo(t) {
			return Reference{}, &SyntaxError{Ref: s, Reason: fmt.Sprintf("unknown transport %q", t+":")}
		}
	}
	return r, err
}

// isTransportTypo reports whether t, the text before the first colon of a
// reference that is not a valid image name, is a transport of other tools.
func isTransportTypo(t string) bool {
	switch t {
	case "oci-layout", "docker", "docker-daemon", "dir", "containers-storage", "ocidir", "tar", "archive":
		return true
	}
	return false
}

func parseName(raw, s string, t Transport) (Reference, error) {
	if s == "" {
		return Reference{}, &SyntaxError{Ref: raw, Reason: "missing image name"}
	}
	n, err := name.ParseReference(s, name.WeakValidation)
	if err != nil {
		if lower, ok := upperRepository(s); ok {
			return Reference{}, &SyntaxError{Ref: raw, Reason: fmt.Sprintf("the repository name must be lower case; did you mean %q? (registries and docker refuse upper case)", lower)}
		}
		return Reference{}, &SyntaxError{Ref: raw, Reason: err.Error()}
	}
	if err := checkName(n.Context()); err != nil {
		return Reference{}, &SyntaxError{Ref: raw, Reason: err.Error()}
	}
	r := Reference{Transport: t, parsed: n}
	if t == Store {
		r.Name = familiar(n)
	} else {
		r.Name = n.Name()
	}
	if _, ok := n.(name.Digest); ok {
		// NAME:TAG@DIGEST: go-containerregistry keeps the digest and drops
		// the tag; keep it, as docker's pull tags NAME:TAG after checking
		// that the registry's NAME:TAG content has DIGEST.
		base := s[:strings.LastIndex(s, "@")]
		if i := strings.LastIndex(base, ":"); i > strings.LastIndex(base, "/") {
			t, err := name.NewTag(base, name.WeakValidation)
			if err != nil {
				return Reference{}, &SyntaxError{Ref: raw, Reason: err.Error()}
			}
			r.pinnedTag = familiar(t)
		}
	}
	return r, nil
}

// upperRepository reports whether s fails only for upper-case letters in
// its repository path (a registry host may hold them), and returns s with
// that path lower-cased.
func upperRepository(s string) (string, bool) {
	host, rest := "", s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		if first := s[:i]; first == "localhost" || strings.ContainsAny(first, ".:") {
			host, rest = s[:i+1], s[i+1:]
		}
	}
	end := strings.IndexAny(rest, ":@")
	if end < 0 {
		end = len(rest)
	}
	repo := rest[:end]
	if strings.ToLower(repo) == repo {
		return "", false
	}
	lower := host + strings.ToLower(repo) + rest[end:]
	if _, err := name.ParseReference(lower, name.WeakValidation); err != nil {
		return "", false
	}
	return lower, true
}

func parseLayout(raw, rest string, t Transport) (Reference, error) {
	// Like containers/image: the path ends at the first colon.
	path, tag, _ := strings.Cut(rest, ":")
	if path == "" {
		return Reference{}, &SyntaxError{Ref: raw, Reason: transportNames[t] + " needs a path"}
	}
	if strings.ContainsAny(tag, "/@") {
		return Reference{}, &SyntaxError{Ref: raw, Reason: fmt.Sprintf("tag %q may not contain '/' or '@'", tag)}
	}
	return Reference{Transport: t, Path: path, Tag: tag}, nil
}

// checkName refuses a registry host with an empty label ("..", ".x") and
// the repository paths checkRepository refuses.
func checkName(r name.Repository) error {
	host := r.RegistryStr()
	if h, _, ok := strings.Cut(host, ":"); ok && !strings.HasPrefix(host, "[") {
		host = h
	}
	if !strings.HasPrefix(host, "[") && slices.Contains(strings.Split(host, "."), "") {
		return fmt.Errorf("registry %q has an empty label (a leading, trailing or doubled '.'), which no host name has", r.RegistryStr())
	}
	return checkRepository(r.RepositoryStr())
}

// checkRepository refuses repository paths that go-containerregistry's weak
// validation lets through but the distribution grammar does not: an empty,
// "." or ".." component, or one that does not start and end with a letter or
// digit ("../x", "a//b", "a/./b"). Such names could step out of a directory
// where a name becomes a path, and no registry serves them.
func checkRepository(repo string) error {
	for _, c := range strings.Split(repo, "/") {
		switch {
		case c == "":
			return fmt.Errorf("repository %q has an empty path component; remove the extra '/'", repo)
		case c == "." || c == "..":
			return fmt.Errorf("repository %q has a %q path component, which names may not hold", repo, c)
		case !isAlnum(c[0]) || !isAlnum(c[len(c)-1]):
			return fmt.Errorf("repository %q: component %q must start and end with a lower-case letter or digit", repo, c)
		}
	}
	return nil
}

func isAlnum(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }

// familiar returns n as docker prints it: without the default registry and
// the library/ prefix, with the tag or digest.
func familiar(n name.Reference) string {
	repo := n.Context().RegistryStr() + "/" + n.Context().RepositoryStr()
	if n.Context().RegistryStr() == name.DefaultRegistry {
		repo = strings.TrimPrefix(n.Context().RepositoryStr(), "library/")
	}
	switch v := n.(type) {
	case name.Digest:
		return repo + "@" + v.DigestStr()
	case name.Tag:
		return repo + ":" + v.TagStr()
	}
	return repo
}

// Registry returns the registry form of a Store or Docker reference, for
// fetching it remotely.
func (r Reference) Registry() string {
	if r.parsed == nil {
		return ""
	}
	return r.parsed.Name()
}

// Digest returns the digest of a NAME@DIGEST reference, or "".
func (r Reference) Digest() string {
	if d, ok := r.parsed.(name.Digest); ok {
		return d.DigestStr()
	}
	return ""
}

// PinnedTag returns the familiar NAME:TAG of a NAME:TAG@DIGEST reference
// ("busybox:1.36" for busybox:1.36@sha256:…), or "" for any other form.
// Name and Registry of such a reference carry the digest only.
func (r Reference) PinnedTag() string { return r.pinnedTag }

// String returns r in the syntax Parse reads.
func (r Reference) String() string {
	switch r.Transport {
	case Store, Docker:
		return transportNames[r.Transport] + r.Name
	case DockerArchive:
		if r.Name != "" {
			return "docker-archive:" + r.Path + ":" + r.Name
		}
		return "docker-archive:" + r.Path
	default:
		if r.Tag != "" {
			return transportNames[r.Transport] + r.Path + ":" + r.Tag
		}
		return transportNames[r.Transport] + r.Path
	}
}

// HasRegistryHost reports whether name (no transport) starts with a
// registry host, as docker's reference grammar tells a host from a path:
// a first component that holds a '.' or a ':' port, or is "localhost".
// "127.0.0.1:5000/app" and "docker.io/library/busybox" have one;
// "busybox" and "demo/app:1" do not.
func HasRegistryHost(name string) bool {
	first, _, ok := strings.Cut(name, "/")
	if !ok {
		return false
	}
	return first == "localhost" || strings.ContainsAny(first, ".:")
}
