package dockerfile

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

func parse(t *testing.T, src string) *File {
	t.Helper()
	f, err := Parse(context.Background(), "Dockerfile", strings.NewReader(src))
	if err != nil {
		t.Fatalf("Parse(%q) = %v, want no error", src, err)
	}
	return f
}

func TestParse(t *testing.T) {
	src := `# syntax=docker/dockerfile:1
ARG GO=1.26
ARG BASE
FROM --platform=$BUILDPLATFORM golang:${GO} AS Build
RUN go build
FROM ${BASE}
COPY --from=build /out /out
`
	f := parse(t, src)
	if f.Syntax != "docker/dockerfile:1" {
		t.Errorf("Syntax = %q, want docker/dockerfile:1", f.Syntax)
	}
	if len(f.MetaArgs) != 2 {
		t.Fatalf("MetaArgs = %d, want 2", len(f.MetaArgs))
	}
	if len(f.Stages) != 2 {
		t.Fatalf("Stages = %d, want 2", len(f.Stages))
	}
	b := f.Stages[0]
	if b.Name != "build" || b.BaseName != "golang:${GO}" || b.Platform != "$BUILDPLATFORM" || b.Location.Line != 4 {
		t.Errorf("stage 0 = name %q base %q platform %q line %d, want build golang:${GO} $BUILDPLATFORM 4", b.Name, b.BaseName, b.Platform, b.Location.Line)
	}
	if f.Stage("BUILD") != b {
		t.Errorf("Stage(BUILD) did not find the stage case-insensitively")
	}
	if got := f.Stages[1].DisplayName(); got != "stage-1" {
		t.Errorf("DisplayName() = %q, want stage-1", got)
	}
	if n := len(b.Commands); n != 1 || b.Commands[0].Name() != "RUN" || b.Commands[0].Location.Line != 5 {
		t.Errorf("stage 0 commands = %d, want one RUN at line 5", n)
	}
	// Clone gives independent copies.
	c1 := f.Stages[1].Commands[0].Clone().(*instructions.CopyCommand)
	c1.DestPath = "/changed"
	if c2 := f.Stages[1].Commands[0].Clone().(*instructions.CopyCommand); c2.DestPath != "/out" {
		t.Errorf("Clone shares state: DestPath = %q after changing another clone", c2.DestPath)
	}
}

func TestParseEscapeAndHeredoc(t *testing.T) {
	f := parse(t, "# escape=`\nFROM busybox\nRUN echo a `\n  b\nCOPY <<EOF /x\nhello\nEOF\n")
	if f.EscapeToken != '`' {
		t.Errorf("EscapeToken = %q, want backtick", f.EscapeToken)
	}
	run := f.Stages[0].Commands[0]
	if run.Location.Line != 3 || run.Location.EndLine != 4 {
		t.Errorf("RUN location = %+v, want lines 3-4", run.Location)
	}
	cp := f.Stages[0].Commands[1].Command.(*instructions.CopyCommand)
	if len(cp.SourceContents) != 1 || cp.SourceContents[0].Data != "hello\n" {
		t.Errorf("COPY heredoc = %+v, want one source holding \"hello\\n\"", cp.SourceContents)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		kind      error
		want      string
	}{
		{"unknown", "FROM busybox\nRUNN echo\n", ErrUnknownInstruction, `Dockerfile:2: unknown instruction: "RUNN" (did you mean RUN?)`},
		{"unknown indented", "FROM busybox\n   COPPY a b\n", ErrUnknownInstruction, `Dockerfile:2:4: unknown instruction: "COPPY" (did you mean COPY?)`},
		{"unknown no suggestion", "FROM busybox\nFROBNICATE\n", ErrUnknownInstruction, `Dockerfile:2: unknown instruction: "FROBNICATE"`},
		{"bad flag", "FROM busybox\nRUN --mont=type=cache,target=/x true\n", ErrBadFlag, "Dockerfile:2:5: RUN unknown flag: --mont (did you mean mount?)"},
		{"flag value", "FROM busybox\nCOPY --chown a b\n", ErrBadFlag, "Dockerfile:2:6: COPY missing a value on flag: --chown"},
		{"stage name", "FROM busybox AS 1st\n", ErrSyntax, `Dockerfile:1: invalid name for build stage: "1st"`},
		{"from args", "FROM a b\n", ErrSyntax, "FROM requires either one or three arguments"},
		{"shell json", "FROM busybox\nSHELL /bin/bash -c\n", ErrSyntax, "Dockerfile:2: SHELL requires the arguments to be in JSON form"},
		{"heredoc", "FROM busybox\nRUN <<EOF\necho\n", ErrSyntax, "Dockerfile:2: unterminated heredoc"},
		{"onbuild chain", "FROM busybox\nONBUILD ONBUILD RUN x\n", ErrSyntax, "Chaining ONBUILD"},
		{"duplicate", "FROM a AS x\nFROM b AS x\n", ErrDuplicateStage, `Dockerfile:2: duplicate stage name "x", first defined at Dockerfile:1`},
		{"before from", "ENV A=1\nFROM busybox\n", ErrNoStage, "Dockerfile:1: ENV before the first FROM"},
		{"empty", "\n\n", ErrEmpty, "Dockerfile: the Dockerfile is empty"},
		{"comments only", "# hello\n", ErrEmpty, "no instructions"},
		{"args only", "ARG A=1\n", ErrEmpty, "no FROM instruction"},
		{"check directive", "# check=bogus\nFROM busybox\n", ErrSyntax, "Dockerfile:1: # check= directive"},
		{"healthcheck", "FROM busybox\nHEALTHCHECK --retries=-1 CMD true\n", ErrSyntax, "--retries cannot be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(context.Background(), "Dockerfile", strings.NewReader(tt.src))
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want %q", tt.src, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) = %q, want it to contain %q", tt.src, err, tt.want)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("Parse(%q) = %q, want errors.Is %v", tt.src, err, tt.kind)
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Errorf("Parse(%q) error is %T, want *Error", tt.src, err)
			}
		})
	}
}

func TestUnknownInstructionUnwrapsToBuildKit(t *testing.T) {
	_, err := Parse(context.Background(), "-", strings.NewReader("FROM busybox\nRUNN x\n"))
	var ue *instructions.UnknownInstructionError
	if !errors.As(err, &ue) || ue.Instruction != "RUNN" {
		t.Errorf("error %v does not unwrap to BuildKit's UnknownInstructionError for RUNN", err)
	}
	if !strings.HasPrefix(err.Error(), "<stdin>:2:") {
		t.Errorf("error %q does not name <stdin>:2", err)
	}
}

func TestWarnings(t *testing.T) {
	src := "FROM busybox AS Base\nmaintainer me\nRUN a \\\n\n  b\nFROM busybox AS scratch\n"
	f := parse(t, src)
	rules := map[string]int{}
	for _, w := range f.Warnings {
		rules[w.Rule] = w.Location.Line
	}
	want := map[string]int{
		"StageNameCasing":             1,
		"MaintainerDeprecated":        2,
		"ConsistentInstructionCasing": 2,
		"NoEmptyContinuation":         5,
		"ReservedStageName":           6,
	}
	for rule, line := range want {
		if got, ok := rules[rule]; !ok || got != line {
			t.Errorf("warning %s at line %d (present %v), want line %d; all: %v", rule, got, ok, line, f.Warnings)
		}
	}
	// "# check=skip=..." turns rules off, as in BuildKit.
	f = parse(t, "# check=skip=MaintainerDeprecated,StageNameCasing\n"+src)
	for _, w := range f.Warnings {
		if w.Rule == "MaintainerDeprecated" || w.Rule == "StageNameCasing" {
			t.Errorf("warning %s reported although skipped", w)
		}
	}
}

func TestPlatformArgs(t *testing.T) {
	build := specs.Platform{OS: "linux", Architecture: "amd64"}
	tests := []struct {
		target specs.Platform
		args   map[string]string
		want   map[string]string
	}{
		{specs.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, nil, map[string]string{
			"BUILDPLATFORM": "linux/amd64", "BUILDARCH": "amd64", "BUILDVARIANT": "", "BUILDOS": "linux",
			"TARGETPLATFORM": "linux/arm64", "TARGETARCH": "arm64", "TARGETVARIANT": "", "TARGETOS": "linux", "TARGETSTAGE": "default",
		}},
		{specs.Platform{OS: "linux", Architecture: "arm"}, nil, map[string]string{"TARGETPLATFORM": "linux/arm/v7", "TARGETVARIANT": "v7"}},
		{specs.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, nil, map[string]string{"TARGETPLATFORM": "linux/arm/v6", "TARGETVARIANT": "v6"}},
		{specs.Platform{OS: "linux", Architecture: "riscv64"}, map[string]string{"TARGETARCH": "custom"}, map[string]string{"TARGETARCH": "custom", "TARGETPLATFORM": "linux/riscv64"}},
	}
	for _, tt := range tests {
		env := PlatformArgs(build, tt.target, "", tt.args)
		for k, want := range tt.want {
			if got, ok := env.Get(k); !ok || got != want {
				t.Errorf("PlatformArgs(%v)[%s] = %q (set %v), want %q", tt.target, k, got, ok, want)
			}
		}
	}
}

func TestGlobalArgs(t *testing.T) {
	f := parse(t, "ARG A=1\nARG B=${A}-$TARGETARCH\nARG C\nARG D=${C:-dflt}\nARG A=2\nFROM busybox\n")
	auto := PlatformArgs(specs.Platform{OS: "linux", Architecture: "amd64"}, specs.Platform{OS: "linux", Architecture: "arm64"}, "", nil)
	tests := []struct {
		buildArgs map[string]string
		want      map[string]string
		unset     []string
	}{
		{nil, map[string]string{"A": "2", "B": "1-arm64", "D": "dflt"}, []string{"C"}},
		{map[string]string{"A": "x", "C": "c"}, map[string]string{"A": "x", "B": "x-arm64", "C": "c", "D": "c"}, nil},
	}
	for _, tt := range tests {
		got, declared, err := f.GlobalArgs(auto, tt.buildArgs)
		if err != nil {
			t.Fatalf("GlobalArgs(%v) = %v", tt.buildArgs, err)
		}
		for k, want := range tt.want {
			if v, _ := got.Get(k); v != want {
				t.Errorf("GlobalArgs(%v)[%s] = %q, want %q", tt.buildArgs, k, v, want)
			}
		}
		for _, k := range tt.unset {
			if v, ok := got.Get(k); ok {
				t.Errorf("GlobalArgs(%v)[%s] = %q, want unset", tt.buildArgs, k, v)
			}
		}
		if !declared["C"] || declared["TARGETARCH"] {
			t.Errorf("declared = %v, want C and not TARGETARCH", declared)
		}
	}
	f = parse(t, "ARG A=${B:?B must be set}\nFROM busybox\n")
	if _, _, err := f.GlobalArgs(auto, nil); err == nil || !errors.Is(err, ErrExpansion) || !strings.Contains(err.Error(), "Dockerfile:1:") {
		t.Errorf("GlobalArgs with ${B:?} = %v, want a located ErrExpansion", err)
	}
}

func TestEnvOrder(t *testing.T) {
	e := NewEnv("A=1", "B=2", "C")
	e.Set("A", "3")
	if got := strings.Join(e.Slice(), ","); got != "B=2,C=,A=3" {
		t.Errorf("Env after Set(A) = %s, want B=2,C=,A=3 (llb.EnvList moves replaced keys last)", got)
	}
	c := e.Clone()
	c.Delete("B")
	if _, ok := e.Get("B"); !ok || c.Len() != 2 {
		t.Errorf("Clone is not independent: original has B=%v, clone len %d", ok, c.Len())
	}
	if _, ok := e.Get("a"); ok {
		t.Errorf("Env.Get is case-insensitive, want case-sensitive like llb.EnvList")
	}
}

func TestParseTriggers(t *testing.T) {
	f := parse(t, "FROM busybox\n")
	at := f.Stages[0].Location
	ins, err := f.ParseTriggers(at, []string{"RUN echo hi", "COPY --from=x /a /b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 2 || !ins[0].OnBuild() || ins[1].Name() != "COPY" || ins[0].Location != at {
		t.Errorf("ParseTriggers = %+v, want RUN and COPY at the FROM, marked OnBuild", ins)
	}
	for _, bad := range []string{"RUNN x", "ONBUILD RUN x", "FROM x", "MAINTAINER me", "RUN a\nRUN b", "COPY --bogus a b"} {
		_, err := f.ParseTriggers(at, []string{bad})
		var de *Error
		if err == nil || !errors.As(err, &de) || de.Location.Line != 1 {
			t.Errorf("ParseTriggers(%q) = %v, want an error located at line 1", bad, err)
		}
	}
}

func TestLocationString(t *testing.T) {
	tests := []struct {
		loc  Location
		want string
	}{
		{Location{File: "Dockerfile", Line: 3}, "Dockerfile:3"},
		{Location{File: "a/Dockerfile", Line: 3, Column: 5}, "a/Dockerfile:3:5"},
		{Location{File: "-", Line: 1}, "<stdin>:1"},
		{Location{File: "x"}, "x"},
	}
	for _, tt := range tests {
		if got := tt.loc.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.loc, got, tt.want)
		}
	}
}

func TestSyntaxDirective(t *testing.T) {
	tests := []struct {
		syntax string
		warn   bool
	}{
		{"docker/dockerfile:1", false},
		{"docker.io/docker/dockerfile:1.7-labs@sha256:0000", false},
		{"docker/dockerfile-upstream:master", false},
		{"tonistiigi/dockerfile:runmount", true},
		{"docker/dockerfile-fork:1", true},
	}
	for _, tt := range tests {
		f := parse(t, "# syntax="+tt.syntax+"\nFROM busybox\n")
		warned := false
		for _, w := range f.Warnings {
			warned = warned || (w.Rule == "UnsupportedSyntax" && w.Location.Line == 1)
		}
		if f.Syntax != tt.syntax || warned != tt.warn {
			t.Errorf("Parse(# syntax=%s): Syntax %q, UnsupportedSyntax warning %v, want %v", tt.syntax, f.Syntax, warned, tt.warn)
		}
	}
}
