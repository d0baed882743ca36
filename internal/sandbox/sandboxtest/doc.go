// Package sandboxtest is the table of isolation every container must have
// (Docker's and runc's defaults) and a probe that reads it from inside a
// container with busybox, shared by the tests of the sandbox, run, RUN
// steps and test commands.
package sandboxtest
