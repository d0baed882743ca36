package store

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var (
	// ErrNotFound is returned (wrapped) when a name, or a blob, is not in the store.
	ErrNotFound = errors.New("not found")
	// ErrInvalidName is returned (wrapped) for a name that is empty, holds a
	// NUL or newline, or has a "." or ".." path component.
	ErrInvalidName = errors.New("invalid name: must be non-empty, without NUL, newline or a . or .. path component")
	// ErrUnsupportedDigest is returned (wrapped) for a digest algorithm other than sha256.
	ErrUnsupportedDigest = errors.New("unsupported digest algorithm (only sha256)")
	// ErrGCInTransaction is returned by GC called with the context of a Transaction,
	// which would deadlock on the store's own lock.
	ErrGCInTransaction = errors.New("gc cannot run inside a transaction")
)

// CorruptBlobError reports a stored blob whose content does not match its digest
// or expected size. It is returned at the point the mismatch is detected: at open
// when the size on disk is already wrong, else at the end of the stream.
type CorruptBlobError struct {
	Digest   v1.Hash
	Path     string
	WantSize int64 // -1 when unknown
	GotSize  int64
	Got      v1.Hash // zero when reading stopped before the end (size mismatch)
	// UsedBy names the images (index.json names) whose trees reference the
	// blob, as far as they can be read; empty when none does.
	UsedBy []string
}

func (e *CorruptBlobError) Error() string {
	what := ""
	switch {
	case e.WantSize >= 0 && e.GotSize != e.WantSize:
		what = fmt.Sprintf("size %d, want %d", e.GotSize, e.WantSize)
	case e.Got != (v1.Hash{}):
		what = fmt.Sprintf("content hashes to %s", e.Got)
	default:
		what = "content does not match its digest"
	}
	if len(e.UsedBy) == 0 {
		return fmt.Sprintf("blob %s at %s is corrupt: %s; no named image uses it: `manyarch check --repair` removes it", e.Digest, e.Path, what)
	}
	return fmt.Sprintf("blob %s at %s is corrupt: %s; it is used by %s: run `manyarch check --repair` to fetch it again from the registry it came from, or pull %s again",
		e.Digest, e.Path, what, strings.Join(e.UsedBy, ", "), e.UsedBy[0])
}

// MissingBlobError reports a blob that a manifest or a caller references but the
// store does not hold. It unwraps to ErrNotFound.
type MissingBlobError struct {
	Digest v1.Hash
	Path   string
	// Foreign holds the URLs of a foreign (non-distributable) layer, which
	// registries do not serve and the store may legitimately lack.
	Foreign []string
}

func (e *MissingBlobError) Error() string {
	if len(e.Foreign) > 0 {
		return fmt.Sprintf("foreign layer %s is not in the store (%s); it is served from %v, fetch it from there", e.Digest, e.Path, e.Foreign)
	}
	return fmt.Sprintf("blob %s is missing from the store (%s); pull or build the image again", e.Digest, e.Path)
}

func (e *MissingBlobError) Unwrap() error { return ErrNotFound }

// MismatchError reports content offered to WriteBlob that does not match the
// digest or size the caller declared. Nothing is left in the store.
type MismatchError struct {
	Want     v1.Hash
	Got      v1.Hash // zero when the size check failed first
	WantSize int64
	GotSize  int64 // at least this many bytes when the input was too long
}

func (e *MismatchError) Error() string {
	if e.WantSize >= 0 && e.GotSize != e.WantSize {
		if e.Want == (v1.Hash{}) {
			return fmt.Sprintf("content has size %d, want %d", e.GotSize, e.WantSize)
		}
		return fmt.Sprintf("content for %s has size %d, want %d", e.Want, e.GotSize, e.WantSize)
	}
	return fmt.Sprintf("content declared as %s hashes to %s", e.Want, e.Got)
}

// NotLayoutError reports a directory that exists, is not empty and is not an OCI
// image layout, so Open will not write into it.
type NotLayoutError struct {
	Path   string
	Reason string
}

func (e *NotLayoutError) Error() string {
	return fmt.Sprintf("%s is not an OCI image layout (%s); choose an empty or new directory", e.Path, e.Reason)
}

// DamagedIndexError reports an index.json that cannot be fully read. Nothing
// that depends on the set of names (GC, prune, Tag, Untag) runs on it, so no
// blob is removed and no name is lost.
type DamagedIndexError struct {
	Path string
	Err  error
}

func (e *DamagedIndexError) Error() string {
	return fmt.Sprintf("%s is damaged: %v; nothing was removed or changed: restore it from a backup, or run `manyarch check` to list the images whose blobs are still in the store", e.Path, e.Err)
}

func (e *DamagedIndexError) Unwrap() error { return e.Err }

// DamagedRootError reports a GC root GC cannot follow: a tagged (or child)
// manifest that is missing, or a root blob that is corrupt. GC stops before it
// removes anything, since the blobs that root keeps cannot be known.
type DamagedRootError struct {
	Digest v1.Hash
	Name   string // the index.json name or roots/ file that holds it, when known
	Err    error
}

func (e *DamagedRootError) Error() string {
	what := e.Digest.String()
	if e.Name != "" {
		what = fmt.Sprintf("%s (%s)", e.Name, e.Digest)
	}
	return fmt.Sprintf("cannot follow %s: %v; nothing was removed: run `manyarch check --repair`, or untag the image and pull it again, then collect garbage", what, e.Err)
}

func (e *DamagedRootError) Unwrap() error { return e.Err }

// errBatchDone is a BlobBatch used after its Commit or Abort (a bug in the caller).
var errBatchDone = errors.New("writing blobs: the batch was committed or aborted already")
