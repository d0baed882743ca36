// Command bkdiff checks manyarch's build planner against BuildKit's own
// Dockerfile frontend (dockerfile2llb v0.34.2): for every
// testdata/dockerfile/*.Dockerfile (but error-*) and every platform in its
// "# plan:" lines it converts the Dockerfile with both, using the same fake
// base images, and compares
//
//   - the result image's config (Env, Cmd, Entrypoint, WorkingDir, User,
//     Labels, ExposedPorts, Volumes, StopSignal, Healthcheck, Shell, OnBuild,
//     ArgsEscaped) and author,
//   - the history entries (created_by, empty_layer),
//   - every RUN process (argv, env, cwd, user, network, security, mounts),
//   - which RUN steps are shared by all target platforms (BuildKit: equal LLB
//     digests; manyarch: Stage.Shared),
//   - the lint warnings (rule, line, message),
//
// and checks that BuildKit rejects every error-*.Dockerfile too (but
// error-duplicate-stage, a deliberate difference: BuildKit only warns).
//
// It is a separate module so that BuildKit's heavy LLB packages never enter
// manyarch's go.mod. Run it with:
//
//	cd testdata/dockerfile/bkdiff && go run .
//
// (When manyarch's go.mod gains dependencies, refresh this module's go.sum
// with `go mod tidy` here.) It exits 1 on any difference. Representation-only differences are
// normalized: LLB marks secret and ssh mounts read-write, names the default
// ssh socket "" and implements cache uid=/gid=/mode= with an internal mkdir
// state mounted at selector /cache.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/containerd/platforms"
	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/plan/plantest"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/solver/pb"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"sort"
)

// images are the plan tests' fake base images, for both planners.
var images = plantest.Images

func short(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/library/")
	return strings.TrimSuffix(ref, ":latest")
}

type resolver struct{}

func (resolver) ResolveImageConfig(ctx context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	c, ok := images[short(ref)]
	if !ok {
		return "", "", nil, fmt.Errorf("no image %s", ref)
	}
	p := *opt.ImageOpt.Platform
	img := dockerspec.DockerOCIImage{}
	img.OS, img.Architecture, img.Variant = p.OS, p.Architecture, p.Variant
	b, _ := json.Marshal(c)
	json.Unmarshal(b, &img.Config)
	img.RootFS.Type = "layers"
	img.RootFS.DiffIDs = []digest.Digest{digest.FromString(ref)}
	dt, _ := json.Marshal(img)
	return ref, digest.FromBytes(dt), dt, nil
}

var caps = pb.Caps.CapSet(pb.Caps.All())

// failed is set by every difference found.
var failed bool

func main() {
	defer func() {
		if failed {
			fmt.Println("FAIL: the plans differ from BuildKit's")
			os.Exit(1)
		}
		fmt.Println("ok: every plan matches BuildKit's")
	}()
	files, _ := filepath.Glob("../*.Dockerfile")
	for _, path := range files {
		name := filepath.Base(path)
		src, _ := os.ReadFile(path)
		opts, err := plantest.ParseHeader(string(src))
		if err != nil {
			fmt.Println(name, err)
			failed = true
			continue
		}
		if opts.BuildArgs == nil {
			opts.BuildArgs = map[string]string{}
		}
		opts.ResolveBase = (&plantest.Resolver{}).Resolve
		ctx := context.Background()
		df, err := dockerfile.Parse(ctx, name, strings.NewReader(string(src)))
		var pl *plan.Plan
		if err == nil {
			pl, err = plan.New(ctx, df, opts)
		}
		if strings.HasPrefix(name, "error-") {
			compareError(ctx, name, src, opts, err)
			continue
		}
		if err != nil {
			fmt.Println(name, "plan:", err)
			failed = true
			continue
		}
		theirWarnings := map[string]bool{}
		defer compareWarnings(name, pl, theirWarnings)
		digests := map[digest.Digest]int{}
		defer func(name string, pl *plan.Plan) {
			common := 0
			for _, n := range digests {
				if n == len(pl.Platforms) && n > 1 {
					common++
				}
			}
			ours := 0
			for _, st := range pl.Stages {
				if st.Shared() {
					for _, s := range st.Steps {
						if s.Run != nil {
							ours++
						}
					}
				}
			}
			if len(pl.Platforms) > 1 {
				fmt.Printf("%s: RUN ops shared by all platforms: buildkit %d, manyarch %d\n", name, common, ours)
				failed = failed || common != ours
			}
		}(name, pl)
		for _, pp := range pl.Platforms {
			tp := pp.Platform
			bp := opts.BuildPlatform
			res, err := dockerfile2llb.Dockerfile2LLB(ctx, src, dockerfile2llb.ConvertOpt{
				Config:         dockerui.Config{BuildArgs: opts.BuildArgs, Target: opts.Target, BuildPlatforms: []specs.Platform{bp}},
				TargetPlatform: &tp,
				LLBCaps:        &caps,
				MetaResolver:   resolver{},
				Warn: func(rule, _, _, msg string, loc []parser.Range) {
					line := 0
					if len(loc) > 0 {
						line = loc[0].Start.Line
					}
					theirWarnings[fmt.Sprintf("%d: %s (%s)", line, msg, rule)] = true
				},
			})
			if err != nil {
				fmt.Println(name, platforms.Format(tp), "buildkit:", err)
				failed = true
				continue
			}
			compare(name+" "+platforms.Format(tp), res.Image, pp.Result)
			def, err := res.State.Marshal(ctx, llb.Platform(tp))
			if err != nil {
				fmt.Println(name, "marshal:", err)
				continue
			}
			compareExecs(name+" "+platforms.Format(tp), def, pp)
			for _, dt := range def.Def {
				var op pb.Op
				op.UnmarshalVT(dt)
				if op.GetExec() != nil {
					digests[digest.FromBytes(dt)]++
				}
			}
		}
	}
}

func compare(what string, bk *dockerspec.DockerOCIImage, st *plan.Stage) {
	// Our history holds only the stage chain's own entries; BuildKit's holds them all.
	var ours []specs.History
	var chain []*plan.Stage
	for s := st; s != nil; s = s.Base.Stage {
		chain = append([]*plan.Stage{s}, chain...)
	}
	for _, s := range chain {
		for _, h := range s.History {
			ours = append(ours, specs.History{CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer})
		}
	}
	var theirs []specs.History
	for _, h := range bk.History {
		theirs = append(theirs, specs.History{CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer})
	}
	ok := true
	if !reflect.DeepEqual(ours, theirs) {
		ok = false
		fmt.Printf("%s: history differs\n", what)
		for i := 0; i < max(len(ours), len(theirs)); i++ {
			var a, b specs.History
			if i < len(ours) {
				a = ours[i]
			}
			if i < len(theirs) {
				b = theirs[i]
			}
			if a != b {
				fmt.Printf("   [%d] ours   %q empty=%v\n   [%d] buildkit %q empty=%v\n", i, a.CreatedBy, a.EmptyLayer, i, b.CreatedBy, b.EmptyLayer)
			}
		}
	}
	var ourCfg, theirCfg map[string]any
	b, _ := json.Marshal(st.Config)
	json.Unmarshal(b, &ourCfg)
	bc := bk.Config
	if bc.Healthcheck != nil {
		// ggcr HealthConfig lacks StartInterval; compare it separately.
		if bc.Healthcheck.StartInterval != st.HealthcheckStartInterval {
			fmt.Printf("%s: start interval %v vs %v\n", what, st.HealthcheckStartInterval, bc.Healthcheck.StartInterval)
			failed = true
		}
		bc.Healthcheck.StartInterval = 0
	}
	b, _ = json.Marshal(bc)
	json.Unmarshal(b, &theirCfg)
	if !reflect.DeepEqual(ourCfg, theirCfg) {
		ok = false
		o, _ := json.Marshal(ourCfg)
		t, _ := json.Marshal(theirCfg)
		fmt.Printf("%s: config differs\n   ours     %s\n   buildkit %s\n", what, o, t)
	}
	if bk.Author != st.Author {
		fmt.Printf("%s: author %q vs %q\n", what, st.Author, bk.Author)
		failed = true
	}
	if ok {
		fmt.Printf("%s: same config and history (%d entries)\n", what, len(ours))
	} else {
		failed = true
	}
}

func compareExecs(what string, def *llb.Definition, pp *plan.PlatformPlan) {
	theirs := map[string]bool{}
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			fmt.Println(what, "unmarshal:", err)
			return
		}
		ex := op.GetExec()
		if ex == nil {
			continue
		}
		var ms []string
		for _, m := range ex.Mounts {
			if m.Dest == "/" {
				continue
			}
			ro, sel := m.Readonly, m.Selector
			switch {
			case m.SecretOpt != nil, m.SSHOpt != nil:
				ro = true // LLB marks them rw; they are read-only files and sockets
			case m.CacheOpt != nil && sel == "/cache":
				sel = "" // uid=/gid=/mode= of a cache mount: BuildKit's internal mkdir state
			}
			x := fmt.Sprintf("%s:%s:ro=%v:sel=%s", m.MountType, m.Dest, ro, sel)
			if m.CacheOpt != nil {
				x += fmt.Sprintf(":id=%s:%s", m.CacheOpt.ID, m.CacheOpt.Sharing)
			}
			if m.SecretOpt != nil {
				x += ":id=" + m.SecretOpt.ID
			}
			if m.SSHOpt != nil {
				id := m.SSHOpt.ID
				if id == "" {
					id = "default"
				}
				x += ":id=" + id
			}
			if m.TmpfsOpt != nil {
				x += fmt.Sprintf(":size=%d", m.TmpfsOpt.Size)
			}
			ms = append(ms, x)
		}
		for _, se := range ex.Secretenv {
			ms = append(ms, fmt.Sprintf("SECRETENV:%s=%s", se.Name, se.ID))
		}
		sort.Strings(ms)
		theirs[fmt.Sprintf("args=%q env=%q cwd=%s user=%s net=%s sec=%s mounts=%v", ex.Meta.Args, ex.Meta.Env, ex.Meta.Cwd, ex.Meta.User, ex.Network, ex.Security, ms)] = true
	}
	ours := map[string]bool{}
	for _, st := range pp.Stages {
		for _, s := range st.Steps {
			if s.Run == nil {
				continue
			}
			r := s.Run
			var ms []string
			for _, f := range r.Inline {
				ms = append(ms, fmt.Sprintf("BIND:%s:ro=true:sel=/", filepath.Dir(f.Path)+"/"))
			}
			for _, m := range r.Mounts {
				var x string
				switch m.Type {
				case "bind":
					x = fmt.Sprintf("BIND:%s:ro=%v:sel=%s", m.Target, m.ReadOnly, m.Source)
				case "cache":
					x = fmt.Sprintf("CACHE:%s:ro=%v:sel=%s:id=/%s:%s", m.Target, m.ReadOnly, m.Source, m.CacheID, strings.ToUpper(m.Sharing))
				case "tmpfs":
					x = fmt.Sprintf("TMPFS:%s:ro=%v:sel=%s:size=%d", m.Target, m.ReadOnly, m.Source, m.SizeLimit)
				case "secret":
					if m.Env != "" {
						x = fmt.Sprintf("SECRETENV:%s=%s", m.Env, m.CacheID)
						if m.Target == "" {
							ms = append(ms, x)
							continue
						}
						ms = append(ms, x)
					}
					x = fmt.Sprintf("SECRET:%s:ro=true:sel=:id=%s", m.Target, m.CacheID)
				case "ssh":
					x = fmt.Sprintf("SSH:%s:ro=true:sel=:id=%s", m.Target, m.CacheID)
				}
				ms = append(ms, x)
			}
			sort.Strings(ms)
			cwd := s.WorkDir
			if cwd == "" {
				cwd = "/"
			}
			net := map[string]string{"default": "UNSET", "none": "NONE", "host": "HOST"}[r.Network]
			sec := map[string]string{"sandbox": "SANDBOX", "insecure": "INSECURE"}[r.Security]
			ours[fmt.Sprintf("args=%q env=%q cwd=%s user=%s net=%s sec=%s mounts=%v", r.Args, s.Env, cwd, s.User, net, sec, ms)] = true
		}
	}
	same := true
	for k := range ours {
		if !theirs[k] {
			same = false
			fmt.Printf("%s: exec only in manyarch:\n   %s\n", what, k)
		}
	}
	for k := range theirs {
		if !ours[k] {
			same = false
			fmt.Printf("%s: exec only in buildkit:\n   %s\n", what, k)
		}
	}
	if same {
		fmt.Printf("%s: same %d RUN processes\n", what, len(ours))
	} else {
		failed = true
	}
}

// compareWarnings checks that manyarch reports BuildKit's lint warnings (its
// own UnusedBuildArg and UnsupportedSyntax aside).
func compareWarnings(name string, pl *plan.Plan, theirs map[string]bool) {
	ours := map[string]bool{}
	for _, w := range pl.Warnings {
		if w.URL == "" {
			continue // manyarch's own checks
		}
		ours[fmt.Sprintf("%d: %s (%s)", w.Location.Line, w.Message, w.Rule)] = true
	}
	same := true
	for w := range ours {
		if !theirs[w] {
			fmt.Printf("%s: warning only in manyarch: %s\n", name, w)
			same = false
		}
	}
	for w := range theirs {
		if !ours[w] {
			fmt.Printf("%s: warning only in buildkit: %s\n", name, w)
			same = false
		}
	}
	if same {
		fmt.Printf("%s: same %d warnings\n", name, len(ours))
	} else {
		failed = true
	}
}

// compareError checks that BuildKit also rejects an error-*.Dockerfile, for
// the first target platform, except where manyarch deliberately differs.
func compareError(ctx context.Context, name string, src []byte, opts plan.Options, ours error) {
	if ours == nil {
		fmt.Printf("%s: manyarch accepts it\n", name)
		failed = true
		return
	}
	tp := specs.Platform{OS: "linux", Architecture: "amd64"}
	if len(opts.Platforms) > 0 {
		tp = opts.Platforms[0]
	}
	_, err := dockerfile2llb.Dockerfile2LLB(ctx, src, dockerfile2llb.ConvertOpt{
		Config:         dockerui.Config{BuildArgs: opts.BuildArgs, Target: opts.Target, BuildPlatforms: []specs.Platform{opts.BuildPlatform}},
		TargetPlatform: &tp,
		LLBCaps:        &caps,
		MetaResolver:   resolver{},
	})
	deliberate := name == "error-duplicate-stage.Dockerfile" // BuildKit: DuplicateStageName warning only
	switch {
	case err == nil && deliberate:
		fmt.Printf("%s: rejected by manyarch only, deliberately: %v\n", name, ours)
	case err == nil:
		fmt.Printf("%s: BuildKit accepts it, manyarch says: %v\n", name, ours)
		failed = true
	default:
		fmt.Printf("%s: both reject it\n   manyarch: %v\n   buildkit: %v\n", name, ours, err)
	}
}
