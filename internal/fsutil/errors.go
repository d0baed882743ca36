package fsutil

import "errors"

// ErrLocked is what TryLockFile returns while another lock holder
// conflicts with the lock asked for.
var ErrLocked = errors.New("locked by another process")

// ErrNotSupported is returned on systems with neither flock nor LockFileEx.
var ErrNotSupported = errors.New("file locks are not supported on this OS")
