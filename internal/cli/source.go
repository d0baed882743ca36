package cli

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/ref"
)

// source is the image a command starts from (copy, pull, push, inspect):
// the reference given on the command line and the --platform selection.
type source struct {
	ref       ref.Reference
	platforms []specs.Platform
}

// parseSource checks the registry flags, parses --platform, lets check
// refuse a platform list the command cannot take (nil: any), and parses
// arg under the rule for names (parseRef), in that order, so every command
// reports the same mistake first.
func parseSource(rf *remoteFlags, pf *platformFlags, arg string, check func([]specs.Platform) error) (source, error) {
	return parseSourceWith(rf, pf, arg, check, parseRef)
}

// parseSourceWith is parseSource with the reference parser given: push's
// SOURCE is read as docker push reads it (ref.Parse: the store's copy first).
func parseSourceWith(rf *remoteFlags, pf *platformFlags, arg string, check func([]specs.Platform) error, parse func(string) (ref.Reference, error)) (source, error) {
	if err := rf.Validate(); err != nil {
		return source{}, err
	}
	ps, err := pf.Platforms()
	if err != nil {
		return source{}, err
	}
	if check != nil {
		if err := check(ps); err != nil {
			return source{}, err
		}
	}
	r, err := parse(arg)
	if err != nil {
		return source{}, err
	}
	return source{ref: r, platforms: ps}, nil
}

// read reads the source through env and narrows it to its platforms
// (ref.Select: one platform gives its image, several a sub-index).
func (s source) read(ctx context.Context, env *ref.Env) (image.Artifact, error) {
	a, err := ref.Read(ctx, env, s.ref)
	if err != nil {
		return nil, err
	}
	if a, err = ref.Select(ctx, a, s.platforms); err != nil {
		return nil, fmt.Errorf("%s: %w", s.ref, err)
	}
	return a, nil
}

// notAllPlatforms refuses --all-platforms together with --platform.
func notAllPlatforms(all bool) func([]specs.Platform) error {
	return func(ps []specs.Platform) error {
		if all && len(ps) > 0 {
			return fmt.Errorf("--all-platforms and --platform exclude each other")
		}
		return nil
	}
}
