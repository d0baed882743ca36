package sandbox

import (
	"syscall"

	"github.com/manyarch/manyarch/internal/sandbox/sandboxinit"
)

// msgError is an error that crossed the pipe from the init: its text, and
// its errno so that errors.Is(err, fs.ErrPermission) and the like still
// work.
type msgError struct {
	msg   string
	errno syscall.Errno
}

func (e *msgError) Error() string { return e.msg }

func (e *msgError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

func newMsgError(m sandboxinit.Message) error {
	return &msgError{msg: m.Message, errno: syscall.Errno(m.Errno)}
}
