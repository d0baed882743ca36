package builders

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrNotFound: no builder of that name.
	ErrNotFound = errors.New("no such builder")
	// ErrExists: builder create with a name already taken.
	ErrExists = errors.New("builder already exists")
	// ErrBadSpec: a builder name, --node value or TLS flag is malformed.
	ErrBadSpec = errors.New("bad builder specification")
)

// ConfigError is a builders.json that cannot be read: it names the file.
type ConfigError struct {
	File string
	Err  error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("builder configuration %s: %v (fix or remove the file; `manyarch builder create` writes it)", e.File, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }
