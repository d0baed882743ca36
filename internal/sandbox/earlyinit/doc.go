// Package earlyinit runs the sandbox init (see sandbox.Init) from a package
// initializer, before the packages a program imports but the init does not
// need are initialized.
//
// A sandbox init is a re-exec of the program that imported package
// sandbox. Go runs every package's initializers before main, and in a
// program the size of manyarch (BuildKit's protobufs, gRPC, YAML, many
// compiled regular expressions) those cost more than the init's own work.
// Go initializes packages in dependency order, choosing the lexically
// first ready package at each step, so a package that imports only the
// init (package sandboxinit, whose closure is small standard packages)
// runs its initializer before most of those others; when the process is an init, this one never returns from it.
//
// Import it for its effect, first thing, in the main package of a program
// that runs sandboxes:
//
//	import _ "github.com/manyarch/manyarch/internal/sandbox/earlyinit"
//
// The init runs once its imports are initialized: in manyarch that is
// after about 30 of the binary's ~290 packages with initializers
// (bench/README.md, "Run"), not after package sandbox's whole closure
// (net, regexp, containerd/platforms, go-seccomp-bpf).
//
// A program that does not import it still works: its main calls
// sandbox.Init when sandbox.IsInit reports true, only later.
package earlyinit
