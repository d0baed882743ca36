package dockerfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/command"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/util/suggest"
)

// MaxSize is the largest Dockerfile Parse accepts.
const MaxSize = 16 << 20

// BuildKitVersion is the BuildKit release whose Dockerfile frontend this
// package embeds (keep in step with go.mod).
const BuildKitVersion = "v0.34.2"

// isDockerfileSyntax reports whether a "# syntax=" names the standard
// Dockerfile frontend (docker/dockerfile[:TAG][@DIGEST]), which manyarch's
// built-in frontend stands in for.
func isDockerfileSyntax(s string) bool {
	name, _, _ := strings.Cut(s, "@")
	name, _, _ = strings.Cut(name, ":")
	for _, p := range []string{"docker.io/docker/dockerfile", "docker/dockerfile", "docker.io/docker/dockerfile-upstream", "docker/dockerfile-upstream"} {
		if name == p {
			return true
		}
	}
	return false
}

// File is a parsed Dockerfile: the global ARGs before the first FROM, the
// stages with their typed instructions, and the warnings found while parsing.
// A File is read-only once returned and safe for concurrent use; callers that
// expand instructions take a private copy with Instruction.Clone.
type File struct {
	Name        string // as given to Parse, for messages
	EscapeToken rune   // '\\' or '`' (# escape= directive)
	Syntax      string // the # syntax= directive, "" if none (recorded, not acted on)
	MetaArgs    []Instruction
	Stages      []*Stage
	Warnings    []Warning

	lines      []string // source lines, for columns
	lintConfig linter.Config
}

// Stage is one FROM and the instructions up to the next FROM.
type Stage struct {
	Index    int    // position in the file, from 0
	Name     string // the AS name, lower-cased as BuildKit does; "" when unnamed
	BaseName string // the FROM image or stage, unexpanded
	Platform string // the --platform value, unexpanded; "" when absent
	Source   string // the FROM instruction text
	Location Location
	Commands []Instruction
}

// DisplayName is the stage's name, or "stage-N" for an unnamed stage (BuildKit's
// naming, used in progress output and in --target suggestions).
func (s *Stage) DisplayName() string {
	if s.Name != "" {
		return s.Name
	}
	return fmt.Sprintf("stage-%d", s.Index)
}

// Instruction is one parsed instruction with its location.
type Instruction struct {
	// Command is BuildKit's typed instruction (*instructions.RunCommand, ...).
	// It is shared: do not Expand it; use Clone.
	Command  instructions.Command
	Location Location
	node     *parser.Node
	onBuild  bool
}

// Name is the instruction keyword in upper case ("RUN").
func (i Instruction) Name() string { return strings.ToUpper(i.Command.Name()) }

// String is the instruction's source text (continuations joined).
func (i Instruction) String() string {
	if s, ok := i.Command.(fmt.Stringer); ok {
		return s.String()
	}
	return i.Name()
}

// OnBuild reports whether the instruction is an ONBUILD trigger of a base
// image or stage (see ParseTriggers).
func (i Instruction) OnBuild() bool { return i.onBuild }

// Clone returns a fresh copy of the typed instruction, safe to Expand. It
// parses the instruction's syntax tree again, which cannot fail for an
// instruction that parsed once.
func (i Instruction) Clone() instructions.Command {
	if i.node == nil {
		return i.Command
	}
	v, err := instructions.ParseInstruction(i.node)
	if err != nil {
		return i.Command
	}
	if c, ok := v.(instructions.Command); ok {
		return c
	}
	return i.Command
}

// Parse reads and parses a Dockerfile with BuildKit's parser and instruction
// packages. name is used in messages ("-" for standard input). Errors are
// *Error values located in the file; warnings (BuildKit's lint rules that apply
// to the text alone) are in File.Warnings. A "# check=" directive configures
// the rules as in BuildKit.
func Parse(ctx context.Context, name string, r io.Reader) (*File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dt, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", Location{File: name}, err)
	}
	if len(dt) > MaxSize {
		return nil, Errorf(Location{File: name}, ErrSyntax, "larger than %d bytes: is this a Dockerfile?", MaxSize)
	}
	return parseBytes(name, dt)
}

func parseBytes(name string, dt []byte) (*File, error) {
	f := &File{Name: name, lines: strings.Split(string(dt), "\n")}
	if len(bytes.TrimSpace(dt)) == 0 {
		return nil, Errorf(Location{File: name}, ErrEmpty, "the Dockerfile is empty: it needs at least a FROM instruction")
	}
	if v, _, _, ok := parser.ParseDirective("check", dt); ok {
		cfg, err := linter.ParseLintOptions(v)
		if err != nil {
			return nil, Errorf(Location{File: name, Line: 1}, ErrSyntax, "# check= directive: %w (want e.g. \"# check=skip=JSONArgsRecommended;error=true\")", err)
		}
		f.lintConfig = *cfg
	}
	var syntaxLoc []parser.Range
	if v, _, loc, ok := parser.DetectSyntax(dt); ok {
		f.Syntax, syntaxLoc = v, loc
	}

	res, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		return nil, f.locate(err, ErrSyntax)
	}
	f.EscapeToken = res.EscapeToken
	lint := f.Linter(func(w Warning) { f.Warnings = append(f.Warnings, w) })
	if f.Syntax != "" && !isDockerfileSyntax(f.Syntax) {
		loc := f.rangeLocation(syntaxLoc)
		if loc.Line == 0 {
			loc.Line = 1
		}
		f.Warnings = append(f.Warnings, Warning{
			Location: loc,
			Rule:     "UnsupportedSyntax",
			Message: fmt.Sprintf("# syntax=%s is ignored: manyarch parses Dockerfiles with its built-in BuildKit %s frontend; "+
				"build with --engine buildkit to use a custom frontend", f.Syntax, BuildKitVersion),
		})
	}
	for _, w := range res.Warnings {
		if w.URL == linter.RuleNoEmptyContinuation.URL && w.Location != nil {
			lint.Run(&linter.RuleNoEmptyContinuation, []parser.Range{*w.Location}, linter.RuleNoEmptyContinuation.Format())
		}
	}

	seen := map[string]*Stage{}
	for _, node := range res.AST.Children {
		loc := f.nodeLocation(node)
		v, err := instructions.ParseInstructionWithLinter(node, lint)
		if err != nil {
			return nil, f.instructionError(node, err)
		}
		switch c := v.(type) {
		case *instructions.Stage:
			st := &Stage{
				Index:    len(f.Stages),
				Name:     c.Name,
				BaseName: c.BaseName,
				Platform: c.Platform,
				Source:   c.SourceCode,
				Location: loc,
			}
			if c.Name != "" {
				if prev, ok := seen[c.Name]; ok {
					return nil, Errorf(loc, ErrDuplicateStage, "duplicate stage name %q, first defined at %s: give each stage its own name", c.Name, prev.Location)
				}
				seen[c.Name] = st
				if c.Name == "scratch" || c.Name == "context" {
					lint.Run(&linter.RuleReservedStageName, node.Location(), linter.RuleReservedStageName.Format(c.Name))
				}
			}
			f.Stages = append(f.Stages, st)
		case instructions.Command:
			in := Instruction{Command: c, Location: loc, node: node}
			if len(f.Stages) == 0 {
				if _, ok := c.(*instructions.ArgCommand); ok {
					f.MetaArgs = append(f.MetaArgs, in)
					continue
				}
				return nil, Errorf(loc, ErrNoStage, "%s before the first FROM: only ARG may come before FROM", in.Name())
			}
			st := f.Stages[len(f.Stages)-1]
			st.Commands = append(st.Commands, in)
		default:
			return nil, Errorf(loc, ErrSyntax, "%T is not an instruction", v)
		}
	}
	if len(f.Stages) == 0 {
		return nil, Errorf(Location{File: name}, ErrEmpty, "no FROM instruction: a Dockerfile needs at least one stage")
	}
	f.checkCasing(lint)
	return f, nil
}

// nodeLocation is the location of an AST node.
func (f *File) nodeLocation(n *parser.Node) Location {
	loc := Location{File: f.Name, Line: n.StartLine, EndLine: n.EndLine}
	if loc.Line > 0 && loc.Line <= len(f.lines) {
		line := f.lines[loc.Line-1]
		loc.Column = len(line) - len(strings.TrimLeft(line, " \t")) + 1
		if loc.Column == 1 {
			loc.Column = 0 // the whole line: no column worth printing
		}
	}
	return loc
}

// rangeLocation converts BuildKit's ranges to a Location.
func (f *File) rangeLocation(r []parser.Range) Location {
	loc := Location{File: f.Name}
	for i, x := range r {
		if i == 0 || x.Start.Line < loc.Line {
			loc.Line = x.Start.Line
		}
		if x.End.Line > loc.EndLine {
			loc.EndLine = x.End.Line
		}
	}
	if loc.Line > 0 && r[0].Start.Character > 0 {
		loc.Column = r[0].Start.Character + 1
	}
	return loc
}

// locate turns an error from BuildKit's parser into an *Error.
func (f *File) locate(err error, kind error) error {
	loc := Location{File: f.Name}
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 {
		loc = f.rangeLocation(le.Locations[0])
		if loc.Line <= 0 {
			loc.Line = 1
		}
		err = le.Unwrap()
	}
	if strings.Contains(err.Error(), "file with no instructions") {
		return Errorf(Location{File: f.Name}, ErrEmpty, "the Dockerfile has no instructions: it needs at least a FROM instruction")
	}
	return Wrap(loc, kind, err)
}

// instructionError classifies and locates an error from BuildKit's
// instruction parser.
func (f *File) instructionError(node *parser.Node, err error) error {
	loc := f.nodeLocation(node)
	var le *parser.LocationError
	if errors.As(err, &le) {
		err = le.Unwrap()
	}
	var ue *instructions.UnknownInstructionError
	if errors.As(err, &ue) {
		msg := fmt.Sprintf("unknown instruction: %q", ue.Instruction)
		if m, ok := suggest.Search(ue.Instruction, instructionNames(), false); ok {
			msg += fmt.Sprintf(" (did you mean %s?)", m)
		}
		return &Error{Location: loc, Err: &kindError{kind: ErrUnknownInstruction, msg: msg, cause: err}}
	}
	if isFlagError(err) {
		for _, fl := range node.Flags {
			name, _, _ := strings.Cut(fl, "=")
			if strings.Contains(err.Error(), name) || strings.Contains(err.Error(), strings.TrimPrefix(fl, "--")) {
				if node.StartLine == node.EndLine && loc.Line > 0 && loc.Line <= len(f.lines) {
					if i := strings.Index(f.lines[loc.Line-1], fl); i >= 0 {
						loc.Column = i + 1
					}
				}
				break
			}
		}
		return &Error{Location: loc, Err: &kindError{kind: ErrBadFlag, msg: strings.ToUpper(node.Value) + " " + err.Error(), cause: err}}
	}
	return &Error{Location: loc, Err: &kindError{kind: ErrSyntax, msg: err.Error(), cause: err}}
}

// isFlagError recognizes the errors BuildKit's flag parsing produces (its
// errors are untyped).
func isFlagError(err error) bool {
	msg := err.Error()
	for _, s := range []string{
		"unknown flag", "missing a value on flag", "duplicate flag", "expecting boolean value",
		"arg should start with --", "network mode", "security mode", "mount type",
		"unexpected key", "invalid field", "sharing value", "cache sharing",
		"csv mounts", "secret mount", "not allowed for", "doesn't support variable expansion",
		"invalid value for", "invalid value ", "device",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func instructionNames() []string {
	out := make([]string, 0, len(command.Commands))
	for n := range command.Commands {
		out = append(out, strings.ToUpper(n))
	}
	sort.Strings(out)
	return out
}

// checkCasing is BuildKit's ConsistentInstructionCasing rule.
func (f *File) checkCasing(lint *linter.Linter) {
	var lower, upper int
	count := func(s string) {
		switch s {
		case strings.ToLower(s):
			lower++
		case strings.ToUpper(s):
			upper++
		}
	}
	type named struct {
		name string
		loc  []parser.Range
	}
	var all []named
	for _, st := range f.Stages {
		from := strings.Fields(st.Source)
		if len(from) > 0 {
			all = append(all, named{from[0], toRanges(st.Location)})
		}
		for _, c := range st.Commands {
			all = append(all, named{c.Command.Name(), c.Command.Location()})
		}
	}
	for _, n := range all {
		count(n.name)
	}
	majorityLower := lower > upper
	for _, n := range all {
		want := ""
		if majorityLower && strings.ToLower(n.name) != n.name {
			want = "lowercase"
		} else if !majorityLower && strings.ToUpper(n.name) != n.name {
			want = "uppercase"
		}
		if want != "" {
			lint.Run(&linter.RuleConsistentInstructionCasing, n.loc, linter.RuleConsistentInstructionCasing.Format(n.name, want))
		}
	}
}

func toRanges(l Location) []parser.Range {
	end := l.EndLine
	if end < l.Line {
		end = l.Line
	}
	var r []parser.Range
	for i := l.Line; i <= end; i++ {
		r = append(r, parser.Range{Start: parser.Position{Line: i}, End: parser.Position{Line: i}})
	}
	return r
}

// Stage returns the stage named name (case-insensitive, as BuildKit), or nil.
func (f *File) Stage(name string) *Stage {
	for _, s := range f.Stages {
		if s.Name != "" && strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

// StageNames lists the stage names, for suggestions.
func (f *File) StageNames() []string {
	var out []string
	for _, s := range f.Stages {
		if s.Name != "" {
			out = append(out, s.Name)
		}
	}
	return out
}
