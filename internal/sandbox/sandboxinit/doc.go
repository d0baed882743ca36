// Package sandboxinit is the sandbox's init: the process, a re-exec of the
// program that called sandbox.Run, that builds the container inside the
// new namespaces and starts the command. Package sandbox is the parent's
// side: it resolves everything that needs the host or the big tables
// (paths, capabilities, the compiled seccomp filter, the binfmt_misc
// register lines, the ELF identification of the expected platform) and
// sends a Config; Main reads it, then mounts the root file system and the
// private binfmt_misc instance, builds /dev, /proc and /sys, pivots, masks
// the /proc and /sys paths of MaskedPaths and ReadonlyPaths, resolves the
// user in the image, sets the resource limits, drops capabilities, closes
// inherited descriptors, installs the seccomp filter, starts the command,
// reaps zombies, forwards signals and reports Messages back.
//
// Its import closure is small standard packages and nothing else, on
// purpose (TestImportClosure keeps it so): Go initializes packages in
// dependency order, the lexically first ready one first, so package
// earlyinit, which imports only this one, runs the init from its
// initializer after about 30 of manyarch's ~290 initializers rather than
// after package sandbox's whole closure (218: net, regexp,
// containerd/platforms, go-seccomp-bpf). Package strings alone would make
// that ~85 (a package waiting for strings, whose path sorts late, comes
// after most others), which is why the mount API and prctl calls are
// raw system calls here (sys_linux.go) rather than golang.org/x/sys/unix,
// and strs.go has the few string helpers the init needs. The config and
// the reports are a small hand-written framing (protocol.go), not
// encoding/json. bench/README.md, "Run", has the measurements.
//
// A program runs it with
//
//	if sandboxinit.IsInit() {
//		os.Exit(sandboxinit.Main())
//	}
//
// first thing (sandbox.Init does the same), or by importing earlyinit.
package sandboxinit
