package index

import (
	"context"
	"fmt"
	"regexp"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// semverRE matches a docker tag that is a semantic version: optional "v",
// MAJOR.MINOR.PATCH without leading zeros, optional -PRERELEASE (tags cannot
// hold "+BUILD").
var semverRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)
})

// Tags returns the tags to apply for tag. Without semver it is tag itself
// (and "latest" when latest is set). With semver, tag must be a version:
// "v1.2.3" gives "1.2.3", "1.2" and "1" (and "latest"); a pre-release such as
// "1.2.3-rc.1" gives only itself, so pre-releases never move the short tags
// or latest.
func Tags(tag string, semver, latest bool) ([]string, error) {
	if tag == "" {
		return nil, fmt.Errorf("expanding tags: empty tag")
	}
	if !semver {
		out := []string{tag}
		if latest && tag != "latest" {
			out = append(out, "latest")
		}
		return out, nil
	}
	m := semverRE().FindStringSubmatch(tag)
	if m == nil {
		return nil, fmt.Errorf("expanding tag %q: %w: want MAJOR.MINOR.PATCH, optionally with a leading v and a -PRERELEASE, such as v1.2.3 or 1.2.3-rc.1", tag, ErrNotSemver)
	}
	full := m[1] + "." + m[2] + "." + m[3] + m[4]
	if m[4] != "" {
		return []string{full}, nil
	}
	out := []string{full, m[1] + "." + m[2], m[1]}
	if latest {
		out = append(out, "latest")
	}
	return out, nil
}

// Resolver says what a tag points at now: found is false when the tag does
// not exist. The CLI passes remote.Head or the store's Resolve.
type Resolver func(ctx context.Context, tag string) (d v1.Descriptor, found bool, err error)

// CheckImmutable returns a *TagConflictError (wrapping ErrTagExists) when any
// of tags exists and points at something other than want. Tags that are
// missing or already point at want are fine.
func CheckImmutable(ctx context.Context, resolve Resolver, tags []string, want v1.Hash) error {
	conflict := &TagConflictError{Want: want, Conflicts: map[string]v1.Hash{}}
	for _, t := range tags {
		d, found, err := resolve(ctx, t)
		if err != nil {
			return fmt.Errorf("checking tag %s: %w", t, err)
		}
		if found && d.Digest != want {
			conflict.Conflicts[t] = d.Digest
			conflict.Order = append(conflict.Order, t)
		}
	}
	if len(conflict.Order) > 0 {
		return conflict
	}
	return nil
}
