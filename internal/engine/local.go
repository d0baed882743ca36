package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/patternmatcher"

	"github.com/manyarch/manyarch/internal/plan"
)

// This file holds the local sources of a build: the directories on the
// host that COPY, ADD, RUN --mount and FROM read files from. One is the
// build context; the others are named contexts (--build-context NAME=DIR).
// Each is what BuildKit's llb.Local sends of its directory: its files less
// what its ignore file excludes, owners 0:0, content hashed for the cache
// keys with the sums remembered across builds (hashcache.go).

// localSource is one directory a build reads.
type localSource struct {
	// name is "" for the build context, else the name of a named context
	// as plan.Options.LocalContexts gives it.
	name   string
	dir    string                         // absolute
	ignore *patternmatcher.PatternMatcher // its .dockerignore; nil: nothing excluded
	hashes *contentHashes                 // remembered sums, shared by sources of one directory
}

// String names the source in messages: "the build context DIR", "the named
// context NAME (DIR)".
func (l *localSource) String() string {
	if l.name == "" {
		return "the build context " + l.dir
	}
	return fmt.Sprintf("the named context %s (%s)", l.name, l.dir)
}

// path resolves a source path inside the directory; a path that climbs
// out of it is an error.
func (l *localSource) path(src string) (string, error) {
	rel := path.Clean("/" + filepath.ToSlash(src))
	if c := path.Clean(filepath.ToSlash(src)); c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%s is outside %s: sources must be inside it (move the file in, or pick a larger directory)", src, l)
	}
	return securejoin.SecureJoin(l.dir, rel)
}

// hash writes the description of the tree at host, a path inside the
// directory, as what is sent of it (hashTree): the content part of a cache
// key.
func (l *localSource) hash(ctx context.Context, w io.Writer, host string) error {
	return hashTree(ctx, w, l.hashes, l.name, host, l.dir, l.ignore)
}

// openLocals reads the build context and the named contexts of req: their
// directories, ignore files and remembered sums (one file of sums per
// directory, whatever names it has). A named context's ignore file is the
// .dockerignore at its root, as BuildKit's frontend reads it for a
// "local:" context; the build context's may be the Dockerfile's own.
func openLocals(storeRoot, ctxDir string, req *Request) (map[string]*localSource, error) {
	ign, err := readIgnore(ctxDir, req.DockerfileName)
	if err != nil {
		return nil, err
	}
	byDir := map[string]*contentHashes{}
	hashes := func(dir string) *contentHashes {
		if byDir[dir] == nil {
			byDir[dir] = loadContentHashes(contextHashesPath(storeRoot, dir))
		}
		return byDir[dir]
	}
	locals := map[string]*localSource{"": {dir: ctxDir, ignore: ign, hashes: hashes(ctxDir)}}
	for name, d := range req.LocalContexts {
		dir, err := LocalContextDir(name, d)
		if err != nil {
			return nil, err
		}
		ign, err := readIgnore(dir, "")
		if err != nil {
			return nil, fmt.Errorf("--build-context %s=%s: %w", name, d, err)
		}
		locals[name] = &localSource{name: name, dir: dir, ignore: ign, hashes: hashes(dir)}
	}
	return locals, nil
}

// LocalContextDir checks the directory of the named context name
// (--build-context NAME=DIR) and returns it absolute.
func LocalContextDir(name, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("--build-context %s=%s: %w", name, dir, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", missingError(fmt.Sprintf("--build-context %s=%s: no such directory: give an existing directory, docker-image://REF or oci-layout://DIR[:TAG]", name, dir))
	case err != nil:
		return "", fmt.Errorf("--build-context %s=%s: %w", name, dir, err)
	case !fi.IsDir():
		return "", fmt.Errorf("--build-context %s=%s: %s is a file, not a directory: give the directory that holds it", name, dir, abs)
	}
	return abs, nil
}

// missingError is a message about something a well-formed value names that
// does not exist; it is fs.ErrNotExist to errors.Is (a runtime error, exit
// 1, not a usage error).
type missingError string

func (e missingError) Error() string { return string(e) }
func (e missingError) Unwrap() error { return fs.ErrNotExist }

// local returns the local source a plan.Source or plan.Base names.
func (x *executor) local(name string) (*localSource, error) {
	l, ok := x.locals[name]
	if !ok {
		return nil, fmt.Errorf("the named context %s has no directory: give --build-context %s=DIR", name, name)
	}
	return l, nil
}

// saveHashes writes back the remembered sums of every local source.
func (x *executor) saveHashes() {
	var done []*contentHashes
	for _, l := range x.locals {
		if !slices.Contains(done, l.hashes) {
			l.hashes.save()
			done = append(done, l.hashes)
		}
	}
}

// localBase is the layer a stage FROM a named local context starts with:
// the directory's files as COPY . / would copy them onto scratch, which is
// what BuildKit's frontend makes the root of such a stage. Its cache key
// is the content of what is sent (so an unchanged directory is a cache
// hit and the stage's steps after it are too); the history entry is
// BuildKit's exporter's for a layer without one ("local source for NAME").
func (x *executor) localBase(ctx context.Context, sr *stageRun, img *imageState) error {
	s := sr.stage
	l, err := x.local(s.Base.Context)
	if err != nil {
		return err
	}
	h := newHashWriter()
	if err := l.hash(ctx, h, l.dir); err != nil {
		return fmt.Errorf("reading %s: %w", l, err)
	}
	parts := []string{"cache-local", plan.PlatformKey(s.Platform), x.comp.compressorID(), "content=" + h.sum()}
	if x.epoch != nil {
		parts = append(parts, fmt.Sprintf("source-date-epoch=%d", x.epoch.Unix()))
	}
	key := plan.HashKey(parts...)
	layer, ok := x.cacheGet(ctx, s, key)
	if !ok {
		lowers, err := x.lowers(ctx, nil)
		if err != nil {
			return err
		}
		pf := newPlanFS(lowers, x.now)
		step := &plan.Step{Copy: &plan.CopyStep{Dest: "/"}}
		src := copySource{host: l.dir, rel: "", resetOwner: true}
		if err := x.copyInto(ctx, pf, step, []copySource{src}, l.ignore); err != nil {
			return fmt.Errorf("copying %s: %w", l, err)
		}
		if layer, err = x.planLayer(ctx, pf); err != nil {
			return err
		}
		x.cachePut(ctx, key, layer)
	}
	sr.key = key
	sr.created = x.createdOf(key)
	img.layers = append(img.layers, layer)
	img.cfg.History = append(img.cfg.History, v1.History{
		Created:   v1.Time{Time: sr.created},
		CreatedBy: "local source for " + LocalSessionName(s.Base.Context),
		Comment:   "buildkit.exporter.image.v0",
	})
	return nil
}

// LocalSessionName is the name buildx gives the directory of the named
// context name in BuildKit's session, and so what BuildKit's frontend asks
// for with "local:NAME": the name itself, but _context and _dockerfile for
// the two names the build's own directories have.
func LocalSessionName(name string) string {
	if name == "context" || name == "dockerfile" {
		return "_" + name
	}
	return name
}
