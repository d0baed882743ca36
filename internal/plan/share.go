package plan

import "strconv"

// share replaces, platform by platform, every stage whose identity (file
// index and Key) was already planned for an earlier platform by that first
// stage, which then lists both targets. This is how a stage pinned to
// $BUILDPLATFORM that does not use TARGET* arguments is built once for all
// targets; BuildKit reaches the same result by deduplicating equal LLB.
func share(plan *Plan) {
	canon := map[string]*Stage{}
	for _, pp := range plan.Platforms {
		remap := map[*Stage]*Stage{}
		for i, s := range pp.Stages {
			rewriteRefs(s, remap)
			id := strconv.Itoa(s.Index) + "/" + s.Key
			c, ok := canon[id]
			if !ok {
				canon[id] = s
				plan.Stages = append(plan.Stages, s)
				continue
			}
			if c != s {
				c.Targets = append(c.Targets, pp.Platform)
				remap[s] = c
				pp.Stages[i] = c
			}
		}
		if c, ok := remap[pp.Result]; ok {
			pp.Result = c
		}
	}
}

// rewriteRefs points a stage's references to other stages at their shared
// replacements.
func rewriteRefs(s *Stage, remap map[*Stage]*Stage) {
	if len(remap) == 0 {
		return
	}
	fix := func(p **Stage) {
		if c, ok := remap[*p]; ok {
			*p = c
		}
	}
	fix(&s.Base.Stage)
	for _, st := range s.Steps {
		if st.Copy != nil {
			fix(&st.Copy.From.Stage)
		}
		if st.Run != nil {
			for i := range st.Run.Mounts {
				fix(&st.Run.Mounts[i].From.Stage)
			}
		}
	}
}
