// Package main is the manyarch command: one daemonless binary that sets up
// QEMU emulation, builds Dockerfiles for many platforms, runs any platform's
// image, verifies and tests every platform, and publishes multi-platform
// images. See `manyarch --help` and the README.
//
// main is a few lines: it runs the re-execs of the binary as a sandbox init
// or an emulation helper, then the command tree of internal/cli with a
// context cancelled by SIGINT and SIGTERM, and maps the error to the exit
// status.
package main
