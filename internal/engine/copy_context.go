package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// This file holds what COPY and ADD read from the build context: the
// .dockerignore filter (as fsutil applies it) and the content hash of the
// files a step reads (the content part of its cache key).

// readIgnore reads the context's ignore file: DOCKERFILE.dockerignore next
// to the Dockerfile when there is one (as BuildKit), else .dockerignore at
// the context root. No file means nothing is ignored.
func readIgnore(ctxDir, dockerfileName string) (*patternmatcher.PatternMatcher, error) {
	var files []string
	if dockerfileName != "" && dockerfileName != "-" {
		files = append(files, dockerfileName+".dockerignore")
	}
	files = append(files, filepath.Join(ctxDir, ".dockerignore"))
	for _, p := range files {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		pm, err := patternmatcher.New(patterns)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return pm, nil
	}
	return nil, nil
}

// ignored reports whether rel (slash-separated, relative to the context
// root) is excluded by .dockerignore.
func ignored(pm *patternmatcher.PatternMatcher, rel string) bool {
	if pm == nil || rel == "" || rel == "." {
		return false
	}
	ok, err := pm.MatchesOrParentMatches(rel)
	return err == nil && ok
}

// ctxSent reports whether BuildKit sends the context path rel (host is
// where it is on the host) with the .dockerignore patterns pm, as fsutil's
// filterFS.Walk decides it: each path is matched with
// MatchesUsingParentResults along its components; an excluded directory is
// not walked into unless an exception (a !pattern) could match under it (any
// exception with a wildcard, or one that starts with the directory's path),
// and such a directory is itself sent when something under it is (logs
// then !logs/keep.log sends logs/ and logs/keep.log).
func ctxSent(pm *patternmatcher.PatternMatcher, host, rel string, isDir bool) bool {
	if pm == nil || rel == "" || rel == "." {
		return true
	}
	parts := strings.Split(rel, "/")
	var (
		info patternmatcher.MatchInfo
		m    bool
		err  error
	)
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		m, info, err = pm.MatchesUsingParentResults(p, info)
		if err != nil {
			return false
		}
		if i < len(parts)-1 && m && prunesDir(pm, p) {
			return false
		}
	}
	if !m {
		return true
	}
	if !isDir || prunesDir(pm, rel) {
		return false
	}
	return sentUnder(pm, host, rel)
}

// prunesDir reports whether fsutil skips the walk of the excluded
// directory dir (its onlyPrefixExcludeExceptions optimisation, which decides
// what is sent).
func prunesDir(pm *patternmatcher.PatternMatcher, dir string) bool {
	if !pm.Exclusions() {
		return true
	}
	for _, pat := range pm.Patterns() {
		if pat.Exclusion() && strings.ContainsAny(patternWithoutTrailingGlob(pat), "*[]?^\\") {
			return false
		}
	}
	for _, pat := range pm.Patterns() {
		if pat.Exclusion() && strings.HasPrefix(patternWithoutTrailingGlob(pat)+"/", dir+"/") {
			return false
		}
	}
	return true
}

func patternWithoutTrailingGlob(p *patternmatcher.Pattern) string {
	s := filepath.ToSlash(p.String())
	s = strings.TrimSuffix(s, "/**")
	return strings.TrimSuffix(s, "/*")
}

// sentUnder reports whether anything under the directory rel is sent.
func sentUnder(pm *patternmatcher.PatternMatcher, host, rel string) bool {
	ents, err := os.ReadDir(host)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if ctxSent(pm, filepath.Join(host, e.Name()), rel+"/"+e.Name(), e.IsDir()) {
			return true
		}
	}
	return false
}

// hashTree writes a description of the tree at host (names, types, modes,
// owners, sizes, link targets and file contents; not times) to w: the
// content part of a COPY's cache key. hc, when not nil, remembers file sums
// across builds and each tree's description within the build, per local
// source id (whose ignore patterns pm are, relative to ctxRoot).
func hashTree(ctx context.Context, w io.Writer, hc *contentHashes, id, host, ctxRoot string, pm *patternmatcher.PatternMatcher) error {
	describe := func() ([]byte, error) {
		var b bytes.Buffer
		err := describeTree(ctx, &b, hc, host, ctxRoot, pm)
		return b.Bytes(), err
	}
	var desc []byte
	var err error
	if hc != nil {
		desc, err = hc.tree(id+"\x00"+host+"\x00"+ctxRoot, describe)
	} else {
		desc, err = describe()
	}
	if err != nil {
		return err
	}
	_, err = w.Write(desc)
	return err
}

func describeTree(ctx context.Context, w io.Writer, hc *contentHashes, host, ctxRoot string, pm *patternmatcher.PatternMatcher) error {
	return filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(host, p)
		if pm != nil && ctxRoot != "" {
			if r, err := filepath.Rel(ctxRoot, p); err == nil && !ctxSent(pm, p, filepath.ToSlash(r), d.IsDir()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		uid, gid := owner(fi)
		fmt.Fprintf(w, "%q %o %d %d %d", filepath.ToSlash(rel), fi.Mode(), uid, gid, fi.Size())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, " -> %q", t)
		case fi.Mode().IsRegular():
			sum, err := hc.sum(p, fi)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, " %s", sum)
		}
		fmt.Fprintln(w)
		return nil
	})
}
