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
func (p *Plan) ContextPaths() (paths []string, all bool) { return p.LocalPaths("") }

// LocalPaths is ContextPaths for the local context name: "" is the build
// context, else a named local context (Options.LocalContexts). A stage
// FROM the named context reads all of it.
func (p *Plan) LocalPaths(name string) (paths []string, all bool) {
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
	reads := func(s Source) bool { return s.Kind == SourceContext && s.Context == name }
	for _, s := range p.Stages {
		if name != "" && s.Base.Kind == BaseContext && s.Base.Context == name {
			return nil, true
		}
		for _, st := range s.Steps {
			if c := st.Copy; c != nil && reads(c.From) {
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
					if (m.Type == "bind" || m.Type == "cache") && reads(m.From) && add(m.Source) {
						return nil, true
					}
				}
			}
		}
	}
	slices.Sort(paths)
	return paths, false
}

// LocalContexts lists, sorted, the named local contexts the plan reads
// (COPY --from, RUN --mount from= or FROM a name in
// Options.LocalContexts); the build context itself is not among them.
func (p *Plan) LocalContexts() []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, s := range p.Stages {
		if s.Base.Kind == BaseContext {
			add(s.Base.Context)
		}
		for _, st := range s.Steps {
			if c := st.Copy; c != nil && c.From.Kind == SourceContext {
				add(c.From.Context)
			}
			if r := st.Run; r != nil {
				for _, m := range r.Mounts {
					if m.From.Kind == SourceContext {
						add(m.From.Context)
					}
				}
			}
		}
	}
	slices.Sort(names)
	return names
}
