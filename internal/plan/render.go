package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/containerd/platforms"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// String renders the plan as text for people and golden tests: the stages
// once each (shared ones say so) with every step expanded, then what each
// target platform builds, then the warnings.
func (p *Plan) String() string {
	var b strings.Builder
	p.Format(&b)
	return b.String()
}

// Format writes the String form of the plan to w.
func (p *Plan) Format(w io.Writer) {
	pf := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	pf("build platform: %s\n", platforms.FormatAll(p.BuildPlatform))
	pf("target: %s\n", p.Target)
	for _, s := range p.Stages {
		pf("\nstage %s (#%d, %s) for %s", s.Name, s.Index, s.Location, platforms.FormatAll(s.Platform))
		if s.FromPlatform != "" {
			pf(" (--platform=%s)", s.FromPlatform)
		}
		if s.Shared() {
			pf(", shared by %s", formatPlatforms(s.Targets))
		} else {
			pf(", target %s", formatPlatforms(s.Targets))
		}
		pf(" key=%s\n", ShortKey(s.Key))
		switch s.Base.Kind {
		case BaseScratch:
			pf("  from scratch\n")
		case BaseStage:
			pf("  from stage %s key=%s\n", s.Base.Stage.Name, ShortKey(s.Base.Stage.Key))
		case BaseImage:
			pf("  from image %q for %s\n", s.Base.Ref, platforms.FormatAll(s.Base.Platform))
		case BaseContext:
			pf("  from context %q\n", s.Base.Context)
		}
		for i, st := range s.Steps {
			formatStep(w, i+1, st)
		}
		cfg, _ := json.Marshal(s.Config)
		pf("  config: %s\n", cfg)
		if s.Author != "" {
			pf("  author: %s\n", s.Author)
		}
		if s.HealthcheckStartInterval != 0 {
			pf("  healthcheck start interval: %s\n", s.HealthcheckStartInterval)
		}
	}
	pf("\n")
	for _, pp := range p.Platforms {
		var names []string
		for _, s := range pp.Stages {
			names = append(names, fmt.Sprintf("%s=%s", s.Name, ShortKey(s.Key)))
		}
		pf("platform %s builds %s; result %s\n", platforms.FormatAll(pp.Platform), strings.Join(names, " "), pp.Result.Name)
	}
	for _, name := range append([]string{""}, p.LocalContexts()...) {
		label := "context"
		if name != "" {
			label = fmt.Sprintf("context %q", name)
		}
		if paths, all := p.LocalPaths(name); all {
			pf("%s: all of it\n", label)
		} else {
			pf("%s: %s\n", label, quoteList(paths))
		}
	}
	if hints := p.CrossCompileHints(); len(hints) > 0 {
		pf("\nhints:\n")
		for _, h := range hints {
			pf("  %s: %s\n", h.Location, h.Message)
		}
	}
	if len(p.Warnings) > 0 {
		pf("\nwarnings:\n")
		for _, wn := range p.Warnings {
			pf("  %s\n", wn)
		}
	}
}

func formatStep(w io.Writer, n int, s *Step) {
	pf := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	on := ""
	if s.OnBuild {
		on = " (ONBUILD trigger)"
	}
	pf("  %d. %s %s%s [%s] key=%s\n", n, s.Location, firstLine(s.Source), on, s.Kind, ShortKey(s.Key))
	if s.History.CreatedBy != "" {
		layer := "no layer"
		if !s.History.EmptyLayer {
			layer = "layer"
		}
		pf("     history (%s): %s\n", layer, s.History.CreatedBy)
	}
	switch s.Kind {
	case StepRun:
		r := s.Run
		pf("     argv: %s\n", quoteList(r.Args))
		pf("     env: %s\n", quoteList(s.Env))
		pf("     workdir: %q user: %q network: %s security: %s\n", s.WorkDir, s.User, r.Network, r.Security)
		for _, f := range r.Inline {
			pf("     inline %s mode %04o: %q\n", f.Path, f.Mode, f.Data)
		}
		for _, m := range r.Mounts {
			pf("     mount type=%s target=%s from=%s source=%s ro=%t", m.Type, m.Target, formatSource(m.From), m.Source, m.ReadOnly)
			if m.Type == "cache" || m.Type == "secret" || m.Type == "ssh" {
				pf(" id=%s", m.CacheID)
			}
			if m.Sharing != "" {
				pf(" sharing=%s", m.Sharing)
			}
			if m.Mode != nil {
				pf(" mode=%o", *m.Mode)
			}
			if m.UID != nil {
				pf(" uid=%d", *m.UID)
			}
			if m.GID != nil {
				pf(" gid=%d", *m.GID)
			}
			if m.SizeLimit != 0 {
				pf(" size=%d", m.SizeLimit)
			}
			if m.Required {
				pf(" required")
			}
			if m.Env != "" {
				pf(" env=%s", m.Env)
			}
			pf("\n")
		}
		if len(r.ProxyEnv) > 0 {
			pf("     proxy env: %s\n", quoteList(r.ProxyEnv))
		}
	case StepCopy:
		c := s.Copy
		pf("     from=%s sources=%s dest=%s", formatSource(c.From), quoteList(c.Sources), c.Dest)
		if c.Chown != "" {
			pf(" chown=%s", c.Chown)
		}
		if c.Chmod != "" {
			pf(" chmod=%s", c.Chmod)
		}
		if c.Link {
			pf(" link")
		}
		if c.Parents {
			pf(" parents")
		}
		if len(c.Excludes) > 0 {
			pf(" exclude=%s", quoteList(c.Excludes))
		}
		if c.Checksum != "" {
			pf(" checksum=%s", c.Checksum)
		}
		if c.KeepGitDir != nil {
			pf(" keep-git-dir=%t", *c.KeepGitDir)
		}
		if c.Unpack != nil {
			pf(" unpack=%t", *c.Unpack)
		}
		pf("\n")
		for _, f := range c.Inline {
			pf("     inline %s mode %04o: %q\n", f.Name, f.Mode, f.Data)
		}
		pf("     workdir: %q\n", s.WorkDir)
	case StepWorkdir:
		pf("     path: %s mkdir: %t user: %q\n", s.Workdir.Path, s.Workdir.Mkdir, s.User)
	}
	if s.Kind != StepRun && len(s.Args) > 0 {
		pf("     args: %s\n", quoteList(s.Args))
	}
}

func formatSource(s Source) string {
	switch s.Kind {
	case SourceStage:
		return "stage:" + s.Stage.Name + "@" + ShortKey(s.Stage.Key)
	case SourceImage:
		return "image:" + s.Image + "@" + platforms.FormatAll(s.Platform)
	case SourceContext:
		if s.Context != "" {
			return "context:" + s.Context
		}
	}
	return s.Kind.String()
}

func formatPlatforms(ps []specs.Platform) string {
	var out []string
	for _, p := range ps {
		out = append(out, platforms.FormatAll(p))
	}
	return strings.Join(out, ", ")
}

func quoteList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// ShortKey is the first 12 characters of a key, as plans and progress show it.
func ShortKey(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
