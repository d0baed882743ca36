package plan

import (
	"path"
	"path/filepath"
	"slices"
)

// ContextPaths lists what the plan reads from the build context, as
// BuildKit's FollowPaths does: the COPY and ADD sources (not URLs or git
// refs) and the sources of RUN bind mounts of the context, relative and
// cleaned, sorted, without duplicates; patterns stay patterns ("*.txt").
// all is true when a step reads the whole context (COPY . or a bind mount of
// its root), and then paths is nil. The executor uses it to hash and send
// only the part of the context a build can see.
func (p *Plan) ContextPaths() (paths []string, all bool) {
	seen := map[string]bool{}
	add := func(src string) bool {
		q := path.Join("/", filepath.ToSlash(src))
		if q == "/" {
			return true
		}
		q = path.Join(".", q)
		if !seen[q] {
			seen[q] = true
			paths = append(paths, q)
		}
		return false
	}
	for _, s := range p.Stages {
		for _, st := range s.Steps {
			if c := st.Copy; c != nil && c.From.Kind == SourceContext {
				for _, src := range c.Sources {
					if IsURL(src) || IsGitURL(src) {
						continue
					}
					if add(src) {
						return nil, true
					}
				}
			}
			if r := st.Run; r != nil {
				for _, m := range r.Mounts {
					if m.Type == "bind" && m.From.Kind == SourceContext && add(m.Source) {
						return nil, true
					}
				}
			}
		}
	}
	slices.Sort(paths)
	return paths, false
}
