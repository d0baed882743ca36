// Package sysx is the part of golang.org/x/sys/unix (and syscall.Stat_t)
// that package build's COPY file system uses. On unix it is those very
// names (aliases); elsewhere it has the same names, and its calls fail with
// ErrNotSupported, so that package build, and with it the read-only
// commands, builds on Windows.
package sysx
