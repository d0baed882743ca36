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
