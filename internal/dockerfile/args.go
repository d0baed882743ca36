package dockerfile

import (
	"slices"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// Env is an ordered set of KEY=VALUE pairs with the semantics of BuildKit's
// llb.EnvList, which holds the variables a Dockerfile expands and a RUN sees:
// keys are case-sensitive; setting a key again moves it to the end. It
// implements shell.EnvGetter. The zero value is an empty Env.
type Env struct {
	keys []string
	vals map[string]string
}

var _ shell.EnvGetter = (*Env)(nil)

// NewEnv returns an Env holding kv ("KEY=VALUE" strings; a missing "=" means
// an empty value), set in order.
func NewEnv(kv ...string) *Env {
	e := &Env{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		e.Set(k, v)
	}
	return e
}

// Get returns the value of key.
func (e *Env) Get(key string) (string, bool) {
	if e == nil {
		return "", false
	}
	v, ok := e.vals[key]
	return v, ok
}

// Keys returns the keys in order.
func (e *Env) Keys() []string {
	if e == nil {
		return nil
	}
	return slices.Clone(e.keys)
}

// Set adds key or replaces it, moving it to the end (llb.EnvList.AddOrReplace).
func (e *Env) Set(key, value string) {
	if e.vals == nil {
		e.vals = map[string]string{}
	}
	if _, ok := e.vals[key]; ok {
		e.keys = slices.DeleteFunc(e.keys, func(k string) bool { return k == key })
	}
	e.keys = append(e.keys, key)
	e.vals[key] = value
}

// Delete removes key.
func (e *Env) Delete(key string) {
	if _, ok := e.vals[key]; !ok {
		return
	}
	delete(e.vals, key)
	e.keys = slices.DeleteFunc(e.keys, func(k string) bool { return k == key })
}

// Clone returns an independent copy.
func (e *Env) Clone() *Env {
	c := &Env{keys: e.Keys(), vals: make(map[string]string, len(e.keys))}
	for _, k := range c.keys {
		c.vals[k] = e.vals[k]
	}
	return c
}

// Len is the number of keys.
func (e *Env) Len() int {
	if e == nil {
		return 0
	}
	return len(e.keys)
}

// Slice returns the pairs as "KEY=VALUE" strings, in order.
func (e *Env) Slice() []string {
	if e == nil {
		return nil
	}
	out := make([]string, 0, len(e.keys))
	for _, k := range e.keys {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}

// The automatic platform arguments BuildKit defines
// (https://docs.docker.com/build/building/variables/#pre-defined-build-arguments).
// They are in scope for FROM lines without declaration; inside a stage an
// "ARG NAME" without a value brings one into scope.
var PlatformArgNames = []string{
	"BUILDPLATFORM", "BUILDOS", "BUILDOSVERSION", "BUILDARCH", "BUILDVARIANT",
	"TARGETPLATFORM", "TARGETOS", "TARGETOSVERSION", "TARGETARCH", "TARGETVARIANT",
	"TARGETSTAGE",
}

// IsTargetArg reports whether name is one of the TARGET* automatic arguments,
// whose value differs between target platforms.
func IsTargetArg(name string) bool {
	switch name {
	case "TARGETPLATFORM", "TARGETOS", "TARGETOSVERSION", "TARGETARCH", "TARGETVARIANT":
		return true
	}
	return false
}

// PlatformArgs returns the automatic arguments exactly as BuildKit's
// Dockerfile frontend defines them for a build on build for target: both
// platforms normalized by platform.Normalize (arm64 has no variant, arm
// defaults to v7, armel is arm/v5 as everywhere in manyarch),
// BUILDPLATFORM formatted without and TARGETPLATFORM with the OS version,
// TARGETSTAGE the target stage name ("default" when empty). A --build-arg of
// the same name overrides each value, as in BuildKit.
func PlatformArgs(build, target specs.Platform, targetStage string, buildArgs map[string]string) *Env {
	bp := platform.Normalize(build)
	tp := platform.Normalize(target)
	if targetStage == "" {
		targetStage = "default"
	}
	vals := [...][2]string{
		{"BUILDPLATFORM", platforms.Format(bp)},
		{"BUILDOS", bp.OS},
		{"BUILDOSVERSION", bp.OSVersion},
		{"BUILDARCH", bp.Architecture},
		{"BUILDVARIANT", bp.Variant},
		{"TARGETPLATFORM", platforms.FormatAll(tp)},
		{"TARGETOS", tp.OS},
		{"TARGETOSVERSION", tp.OSVersion},
		{"TARGETARCH", tp.Architecture},
		{"TARGETVARIANT", tp.Variant},
		{"TARGETSTAGE", targetStage},
	}
	env := &Env{}
	for _, kv := range vals {
		v := kv[1]
		if ov, ok := buildArgs[kv[0]]; ok {
			v = ov
		}
		env.Set(kv[0], v)
	}
	return env
}

// GlobalArgs evaluates the ARGs before the first FROM as BuildKit does: a
// --build-arg value wins, else the default expanded with the arguments so far
// (the automatic platform arguments in auto, then earlier global ARGs); an ARG
// with neither stays undefined. It returns the arguments in scope for FROM
// lines (auto included) and the names the global ARGs declare.
func (f *File) GlobalArgs(auto *Env, buildArgs map[string]string) (*Env, map[string]bool, error) {
	args := auto.Clone()
	declared := map[string]bool{}
	lex := f.Lexer()
	for _, in := range f.MetaArgs {
		c := in.Command.(*instructions.ArgCommand)
		for _, kv := range c.Args {
			declared[kv.Key] = true
			if v, ok := buildArgs[kv.Key]; ok {
				args.Set(kv.Key, v)
				continue
			}
			if kv.Value == nil {
				continue
			}
			res, err := lex.ProcessWordWithMatches(*kv.Value, args)
			if err != nil {
				return nil, nil, Errorf(in.Location, ErrExpansion, "ARG %s: %w", kv.Key, err)
			}
			args.Set(kv.Key, res.Result)
		}
	}
	return args, declared, nil
}

// Lexer returns a new shell lexer with the file's escape token: BuildKit's
// word splitting and variable expansion (${VAR:-x}, ${VAR:+x}, ${VAR:?msg},
// ${VAR#pat}, ${VAR%pat}, ${VAR/a/b}, quotes and escapes). A Lex is not safe
// for concurrent use; take one per goroutine.
func (f *File) Lexer() *shell.Lex {
	esc := f.EscapeToken
	if esc == 0 {
		esc = '\\'
	}
	return shell.NewLex(esc)
}
