package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/manyarch/manyarch/internal/engine"
	"github.com/manyarch/manyarch/internal/ref"
)

// buildSources holds the buildx flags that change where a build reads its
// bases and files from: --pull and --build-context (issue #22 item 3).
type buildSources struct {
	pull     bool
	contexts []string // --build-context NAME=VALUE
}

func (s *buildSources) addFlags(f *pflag.FlagSet) {
	f.StringArrayVar(&s.contexts, "build-context", nil, "a named context for FROM NAME, COPY --from=NAME and RUN --mount from=NAME (a stage of that name too): NAME=DIR (a directory, with its own .dockerignore), NAME=docker-image://REF (store or registry) or NAME=oci-layout://DIR[:TAG] (repeatable)")
	f.BoolVar(&s.pull, "pull", false, "read every base named with a registry host (HOST/NAME:TAG) from its registry, even when the store has it, and update the store's copy (as buildx --pull); store names (no host) are read from the store")
}

// apply sets the Request fields of the flags.
func (s *buildSources) apply(req *engine.Request) error {
	req.Pull = s.pull
	for _, c := range s.contexts {
		name, ref, dir, err := parseBuildContext(c)
		if err != nil {
			return err
		}
		_, dupImage := req.Contexts[name]
		_, dupDir := req.LocalContexts[name]
		if dupImage || dupDir {
			return fmt.Errorf("--build-context %s: %s is named twice: give each name once", c, name)
		}
		if dir != "" {
			if req.LocalContexts == nil {
				req.LocalContexts = map[string]string{}
			}
			req.LocalContexts[name] = dir
			continue
		}
		if req.Contexts == nil {
			req.Contexts = map[string]string{}
		}
		req.Contexts[name] = ref
	}
	return nil
}

// parseBuildContext reads buildx's --build-context NAME=VALUE: an image
// (docker-image://REF, oci-layout://DIR[:TAG]) as ref, a reference in
// manyarch's syntax, or a directory (any other value that is not a URL, as
// buildx takes it) as dir, its absolute path.
func parseBuildContext(s string) (name, ref, dir string, err error) {
	name, v, ok := strings.Cut(s, "=")
	if !ok || name == "" || v == "" {
		return "", "", "", fmt.Errorf("--build-context %s: want NAME=DIR, NAME=docker-image://REF or NAME=oci-layout://DIR[:TAG]", s)
	}
	switch {
	case strings.HasPrefix(v, "docker-image://"), strings.HasPrefix(v, "oci-layout://"):
		ref, err = contextImage(s, v)
		return name, ref, "", err
	case strings.HasPrefix(v, "target:"):
		return "", "", "", fmt.Errorf("--build-context %s: target: contexts are bake's; name the stage in the Dockerfile instead", s)
	case strings.HasPrefix(v, "git@") || strings.HasPrefix(v, "git://") || strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://"):
		return "", "", "", fmt.Errorf("--build-context %s: git and http(s) contexts are not supported by manyarch: clone or download into a directory and give NAME=DIR", s)
	case strings.Contains(v, "://"):
		return "", "", "", fmt.Errorf("--build-context %s: unknown form %s: want a directory, docker-image://REF or oci-layout://DIR[:TAG]", s, v)
	}
	dir, err = engine.LocalContextDir(name, v)
	return name, "", dir, err
}

// contextImage reads an image value of --build-context s:
// docker-image://REF or oci-layout://DIR[:TAG].
func contextImage(s, v string) (string, error) {
	if r, ok := strings.CutPrefix(v, "docker-image://"); ok {
		if _, err := ref.NewStore(r); err != nil {
			return "", fmt.Errorf("--build-context %s: %w", s, err)
		}
		return r, nil
	}
	dir := strings.TrimPrefix(v, "oci-layout://")
	if i := strings.LastIndex(dir, "@"); i >= 0 {
		return "", fmt.Errorf("--build-context %s: a layout is named by tag here (oci-layout://%s:TAG), not by digest", s, dir[:i])
	}
	path, tag, _ := strings.Cut(dir, ":")
	switch fi, err := os.Stat(filepath.Join(path, "index.json")); {
	case err != nil && (errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission)):
		// The value is well formed; what it names is missing: a runtime
		// error (exit 1), as for a missing -f FILE.
		cause := err
		if pe := (*os.PathError)(nil); errors.As(err, &pe) {
			cause = pe.Err // the path is in the message already
		}
		return "", fmt.Errorf("--build-context %s: %s is not an OCI image layout (no index.json in it): %w", s, path, cause)
	case err != nil || !fi.Mode().IsRegular():
		return "", fmt.Errorf("--build-context %s: %s is not an OCI image layout (no index.json in it)", s, path)
	}
	r, err := ref.NewOCILayout(path, tag)
	if err != nil {
		return "", fmt.Errorf("--build-context %s: %w", s, err)
	}
	return r.String(), nil
}

// printPulled says which bases --pull read from their registries.
func printPulled(w io.Writer, res *engine.Result) {
	for _, p := range res.Pulled {
		fmt.Fprintf(w, "pulled %s from its registry (%s), named in the local store\n", p.Ref, p.Digest)
	}
}
