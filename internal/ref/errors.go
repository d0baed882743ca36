package ref

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned (wrapped) when a reference names nothing.
var ErrNotFound = errors.New("not found")

// forms is the help text that every syntax error carries.
const forms = `references take one of these forms:
  NAME[:TAG|@DIGEST]           local store first, then the registry (busybox, fixtures/busybox:1.35)
  store:NAME[:TAG|@DIGEST]     the local store, also for names with a registry host (store:localhost:5000/app:1)
  docker://NAME[:TAG|@DIGEST]  a registry only (docker://registry.example.com/app:1.0)
  oci:DIR[:TAG]                an OCI image layout directory (oci:./out:latest)
  oci-archive:FILE[:TAG]       an OCI image layout in a tar file (oci-archive:/tmp/app.tar)
  docker-archive:FILE[:NAME[:TAG]]  a docker save tar file (docker-archive:/tmp/app.tar)`

// SyntaxError reports a malformed reference.
type SyntaxError struct {
	Ref    string
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid reference %q: %s\n%s", e.Ref, e.Reason, forms)
}

// NotFoundError reports a NAME reference that is neither in the local store
// nor readable from its registry. It matches ErrNotFound.
type NotFoundError struct {
	Name   string
	Store  string
	Remote error // why the registry did not give it
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("image %q is not in the store %s (see `manyarch images`), and its registry did not give it: %v", e.Name, e.Store, e.Remote)
}

func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

func (e *NotFoundError) Unwrap() error { return e.Remote }
