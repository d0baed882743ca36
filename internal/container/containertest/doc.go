// Package containertest holds helpers for the tests of package container
// and of its callers (build, run, test): OverlayRefusingDir, a directory
// where the kernel refuses a container's overlay, to make the copy
// fallback happen for real. Linux only. It must not be imported by
// anything but tests.
package containertest
