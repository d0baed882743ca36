//go:build unix

package plan_test

import (
	"slices"
	"testing"

	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/plan/plantest"
)

// TestLocalContexts: named contexts that are directories
// (Options.LocalContexts) are read by COPY --from, RUN --mount from= (bind
// and cache) and FROM, by name and never as images; a stage of that name is
// replaced and, when only copied from, not built; FROM NAME starts from the
// empty config BuildKit gives a local context (PATH, WorkingDir /).
func TestLocalContexts(t *testing.T) {
	src := "FROM busybox AS tools\nRUN echo never\n" +
		"FROM src AS files\nENV X=1\n" +
		"FROM tools AS based\n" +
		"FROM busybox\n" +
		"COPY --from=src a /a\n" +
		"COPY --from=tools b /b\n" +
		"COPY --from=based / /based/\n" +
		"RUN --mount=from=src,source=d,target=/s --mount=type=cache,from=src,source=c,target=/c true\n" +
		"COPY --from=files / /files/\n"
	p := plantest.Plan(t, src, plan.Options{LocalContexts: []string{"src", "tools"}})
	stages := map[string]*plan.Stage{}
	for _, s := range p.Stages {
		stages[s.Name] = s
	}
	if _, ok := stages["tools"]; !ok {
		t.Fatalf("stages %v: want tools (the base of based)", p.Stages)
	}
	for name, want := range map[string]string{"tools": "tools", "files": "src"} {
		s := stages[name]
		if s.Base.Kind != plan.BaseContext || s.Base.Context != want || len(s.Steps) > 0 && name == "tools" {
			t.Errorf("stage %s: base %v %q, %d steps; want from context %q", name, s.Base.Kind, s.Base.Context, len(s.Steps), want)
		}
	}
	if f := stages["files"]; f.Config.WorkingDir != "/" || !slices.Contains(f.Config.Env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") || !slices.Contains(f.Config.Env, "X=1") {
		t.Errorf("FROM src: config %+v; want WorkingDir / and PATH, then X=1", f.Config)
	}
	if b := stages["based"]; b.Base.Kind != plan.BaseStage || b.Base.Stage != stages["tools"] {
		t.Errorf("FROM tools (replaced): base %v; want the stage tools", b.Base.Kind)
	}
	last := p.Platforms[0].Result
	var froms []string
	for _, st := range last.Steps {
		if st.Copy != nil {
			froms = append(froms, st.Copy.From.Kind.String()+":"+st.Copy.From.Context)
		}
		if st.Run != nil {
			for _, m := range st.Run.Mounts {
				froms = append(froms, m.Type+"="+m.From.Kind.String()+":"+m.From.Context)
			}
		}
	}
	want := []string{"context:src", "context:tools", "stage:", "bind=context:src", "cache=context:src", "stage:"}
	if !slices.Equal(froms, want) {
		t.Errorf("sources of the last stage = %q, want %q", froms, want)
	}
	if paths, all := p.LocalPaths("tools"); !all {
		t.Errorf("LocalPaths(tools) = %q, %t; want all (FROM tools via based)", paths, all)
	}
	if paths, all := p.ContextPaths(); all || len(paths) != 0 {
		t.Errorf("ContextPaths() = %q, %t; want nothing read from the build context", paths, all)
	}
	if got := p.LocalContexts(); !slices.Equal(got, []string{"src", "tools"}) {
		t.Errorf("LocalContexts() = %q", got)
	}

	// Only copied from: the replaced stage is not built, and the paths
	// read are listed.
	p = plantest.Plan(t, "FROM busybox AS tools\nRUN echo never\nFROM busybox\nCOPY --from=tools b c/ /x/\n", plan.Options{LocalContexts: []string{"tools"}})
	if len(p.Stages) != 1 {
		t.Errorf("COPY --from a replaced stage: %d stages planned, want 1", len(p.Stages))
	}
	if paths, all := p.LocalPaths("tools"); all || !slices.Equal(paths, []string{"b", "c"}) {
		t.Errorf("LocalPaths(tools) = %q, %t; want [b c]", paths, all)
	}
	// The name is part of the keys: another directory's name is another step.
	p2 := plantest.Plan(t, "FROM busybox AS tools\nRUN echo never\nFROM busybox\nCOPY --from=tools b c/ /x/\n", plan.Options{LocalContexts: []string{"Tools"}})
	if p.Platforms[0].Result.Key == p2.Platforms[0].Result.Key {
		t.Errorf("contexts tools and Tools give the same stage key")
	}
}
