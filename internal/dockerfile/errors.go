package dockerfile

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Every error this package (and the planner in internal/engine)
// returns about a Dockerfile is an *Error carrying the location, wrapping one of
// these kinds (test with errors.Is) and, where BuildKit produced it, BuildKit's
// own error (test with errors.As, e.g. *instructions.UnknownInstructionError).
var (
	// ErrEmpty: the Dockerfile holds no instructions.
	ErrEmpty = errors.New("the Dockerfile has no instructions")
	// ErrSyntax: the text does not parse (bad continuation, unterminated
	// heredoc, bad JSON form, wrong argument count, bad directive, ...).
	ErrSyntax = errors.New("syntax error")
	// ErrUnknownInstruction: an instruction that is not a Dockerfile instruction.
	ErrUnknownInstruction = errors.New("unknown instruction")
	// ErrBadFlag: an unknown flag, a flag without its value, a repeated flag or a
	// value the flag does not accept (--network=bogus, --mount type=nfs, ...).
	ErrBadFlag = errors.New("bad flag")
	// ErrNoStage: an instruction other than ARG before the first FROM.
	ErrNoStage = errors.New("instruction before the first FROM")
	// ErrDuplicateStage: two stages with the same name.
	ErrDuplicateStage = errors.New("duplicate stage name")
	// ErrStageNotFound: --target, COPY --from or RUN --mount from= names a stage
	// index that does not exist, or a stage defined after its user.
	ErrStageNotFound = errors.New("stage not found")
	// ErrCycle: stages depend on each other through COPY --from or RUN --mount from=.
	ErrCycle = errors.New("circular dependency between stages")
	// ErrExpansion: a variable expansion failed (${VAR:?message}, bad syntax) or
	// produced an unusable value (empty base name, bad platform).
	ErrExpansion = errors.New("variable expansion")
	// ErrBaseImage: a base image (FROM, COPY --from, RUN --mount from=) could
	// not be resolved; the resolver's error is wrapped too.
	ErrBaseImage = errors.New("base image")
	// ErrLint: "# check=error=true" and a lint rule reported a warning.
	ErrLint = errors.New("lint violation")
	// ErrInvalidValue: an instruction argument is well formed but not valid
	// (STOPSIGNAL FOO, --chmod=999, --checksum on COPY, ...).
	ErrInvalidValue = errors.New("invalid value")
)

// Location is a place in a Dockerfile. Lines and columns count from 1; a zero
// Column means the whole line, a zero Line means the file as a whole.
type Location struct {
	File    string // the name given to Parse; "-" (stdin) prints as "<stdin>"
	Line    int
	EndLine int // last line of a multi-line instruction; equal to Line or 0 otherwise
	Column  int
}

// String formats the location as FILE:LINE or FILE:LINE:COL (FILE alone when
// Line is zero).
func (l Location) String() string {
	name := l.File
	switch name {
	case "":
		name = "Dockerfile"
	case "-":
		name = "<stdin>"
	}
	if l.Line <= 0 {
		return name
	}
	s := name + ":" + strconv.Itoa(l.Line)
	if l.Column > 0 {
		s += ":" + strconv.Itoa(l.Column)
	}
	return s
}

// Error is an error located in a Dockerfile, BuildKit style: the message starts
// with FILE:LINE(:COL) and the error unwraps to its cause.
type Error struct {
	Location Location
	Err      error
}

func (e *Error) Error() string { return e.Location.String() + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// kindError is the cause inside an *Error: a message of its own, a sentinel kind
// and optionally the underlying (BuildKit) error, all reachable by errors.Is/As.
type kindError struct {
	kind  error
	msg   string
	cause error
}

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// Errorf returns an *Error at loc of the given kind (one of the sentinel errors
// above) with a formatted message. %w verbs in format wrap as with fmt.Errorf.
// The planner uses it so that all Dockerfile errors share one type.
func Errorf(loc Location, kind error, format string, args ...any) error {
	cause := fmt.Errorf(format, args...)
	var inner error
	if u, ok := cause.(interface{ Unwrap() error }); ok {
		inner = u.Unwrap()
	} else if u, ok := cause.(interface{ Unwrap() []error }); ok {
		inner = errors.Join(u.Unwrap()...)
	}
	return &Error{Location: loc, Err: &kindError{kind: kind, msg: cause.Error(), cause: inner}}
}

// Wrap returns err located at loc, of the given kind, keeping err reachable.
// An err that already is an *Error is returned unchanged.
func Wrap(loc Location, kind error, err error) error {
	if err == nil {
		return nil
	}
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	return &Error{Location: loc, Err: &kindError{kind: kind, msg: err.Error(), cause: err}}
}
