package index

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Sentinel errors.
var (
	// ErrInconsistent: the index would have (or has) problems; the error is
	// an *InconsistentError listing them.
	ErrInconsistent = errors.New("inconsistent index")
	// ErrNoMatch: a platform filter or selector matched nothing.
	ErrNoMatch = errors.New("no descriptor matches")
	// ErrDuplicatePlatform: two images for one platform.
	ErrDuplicatePlatform = errors.New("duplicate platform")
	// ErrNotSemver: a tag given to Tags with semver on is not a version.
	ErrNotSemver = errors.New("not a semantic version")
	// ErrTagExists: CheckImmutable found a tag pointing elsewhere.
	ErrTagExists = errors.New("tag exists")
	// ErrContradictsConfig: Annotate was asked to label an image as
	// something its config says it is not.
	ErrContradictsConfig = errors.New("contradicts the image config")
)

// InconsistentError lists the problems that made Create, Append or Remove
// refuse an index.
type InconsistentError struct {
	Problems []Problem
}

func (e *InconsistentError) Error() string {
	s := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		s[i] = p.String()
	}
	return fmt.Sprintf("%v: %s", ErrInconsistent, strings.Join(s, "; "))
}

func (e *InconsistentError) Unwrap() error { return ErrInconsistent }

// TagConflictError: CheckImmutable found tags that point at other content.
type TagConflictError struct {
	Want      v1.Hash
	Conflicts map[string]v1.Hash // tag → digest it points at now
	Order     []string           // the conflicting tags in the order checked
}

func (e *TagConflictError) Error() string {
	s := make([]string, len(e.Order))
	for i, t := range e.Order {
		s[i] = fmt.Sprintf("%s points at %s", t, e.Conflicts[t])
	}
	return fmt.Sprintf("%v: %s, not %s; immutable tags are never moved (push under a new tag, or drop --immutable)", ErrTagExists, strings.Join(s, ", "), e.Want)
}

func (e *TagConflictError) Unwrap() error { return ErrTagExists }
