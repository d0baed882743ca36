package dockerfile

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// ParseTriggers parses ONBUILD triggers (an image config's OnBuild list, or
// the Expression of a base stage's ONBUILD instructions) into instructions to
// run first in a stage built on that base, as BuildKit does. at is the
// location of the stage's FROM: the triggers have no lines of their own, so
// they and their errors are reported there.
func (f *File) ParseTriggers(at Location, triggers []string) ([]Instruction, error) {
	out := make([]Instruction, 0, len(triggers))
	for _, trigger := range triggers {
		res, err := parser.Parse(strings.NewReader(trigger))
		if err != nil {
			var le *parser.LocationError
			if errors.As(err, &le) {
				err = le.Unwrap()
			}
			return nil, Errorf(at, ErrSyntax, "ONBUILD trigger %q of the base image: %w", trigger, err)
		}
		if len(res.AST.Children) != 1 {
			return nil, Errorf(at, ErrSyntax, "ONBUILD trigger %q of the base image: a trigger must be a single instruction", trigger)
		}
		node := res.AST.Children[0]
		node.StartLine, node.EndLine = at.Line, at.EndLine
		if node.EndLine < node.StartLine {
			node.EndLine = node.StartLine
		}
		v, err := instructions.ParseInstruction(node)
		if err != nil {
			e := f.instructionError(node, err).(*Error)
			e.Location = at
			e.Err = &kindError{kind: kindOf(e.Err), msg: fmt.Sprintf("ONBUILD trigger of the base image: %s", e.Err), cause: e.Err}
			return nil, e
		}
		c, ok := v.(instructions.Command)
		if !ok {
			return nil, Errorf(at, ErrSyntax, "ONBUILD trigger %q of the base image: FROM is not allowed as a trigger", trigger)
		}
		switch c.(type) {
		case *instructions.OnbuildCommand:
			return nil, Errorf(at, ErrSyntax, "ONBUILD trigger %q of the base image: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", trigger)
		case *instructions.MaintainerCommand:
			return nil, Errorf(at, ErrSyntax, "ONBUILD trigger %q of the base image: MAINTAINER isn't allowed as an ONBUILD trigger", trigger)
		}
		out = append(out, Instruction{Command: c, Location: at, node: node, onBuild: true})
	}
	return out, nil
}

func kindOf(err error) error {
	var k *kindError
	if errors.As(err, &k) {
		return k.kind
	}
	return ErrSyntax
}
