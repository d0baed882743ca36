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
// Its import closure is the standard library's small packages and
// golang.org/x/sys/unix, on purpose (TestImportClosure keeps it so): Go
// initializes packages in dependency order, the lexically first ready one
// first, so package earlyinit, which imports only this one, runs the init
// from its initializer after about a hundred of manyarch's ~290
// initializers rather than after package sandbox's whole closure (net,
// regexp, containerd/platforms, go-seccomp-bpf): bench/README.md, "Run".
// For the same reason the protocol is a small hand-written framing
// (protocol.go), not encoding/json.
//
// A program runs it with
//
//	if sandboxinit.IsInit() {
//		os.Exit(sandboxinit.Main())
//	}
//
// first thing (sandbox.Init does the same), or by importing earlyinit.
package sandboxinit
