// Package main is fakeqemu, which stands in for a QEMU user-mode emulator in tests: it
// prints the version it was built with (-X main.version=7.2.22) for
// --version, and otherwise does what main.mode says: "crash" prints the
// start of a Go runtime crash and exits 2, as QEMU 7.2's qemu-i386 does
// with every Go program.
package main

import (
	"fmt"
	"os"
)

var (
	name    = "qemu-i386"
	version = "10.0.2"
	mode    = "crash"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		fmt.Printf("%s version %s (fake)\nCopyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n", name, version)
		return
	}
	switch mode {
	case "crash":
		fmt.Fprintln(os.Stderr, "SIGSEGV: segmentation violation\nPC=0x806521c m=1 sigcode=1 addr=0x0")
		os.Exit(2)
	}
	os.Exit(0)
}
