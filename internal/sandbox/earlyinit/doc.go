// Package earlyinit runs the sandbox init (see sandbox.Init) from a package
// initializer, before the packages a program imports but the init does not
// need are initialized.
//
// A sandbox init is a re-exec of the program that imported package
// sandbox. Go runs every package's initializers before main, and in a
// program the size of manyarch (BuildKit's protobufs, gRPC, YAML, many
// compiled regular expressions) those cost more than the init's own work:
// about two thirds of its start-up CPU time. Go initializes packages in the
// lexical order of their import paths, each once its dependencies are, so
// a package that imports only package sandbox and its dependencies runs
// its initializer before most of those others; when the process is an init,
// this one never returns from it.
//
// Import it for its effect, first thing, in the main package of a program
// that runs sandboxes:
//
//	import _ "github.com/manyarch/manyarch/internal/sandbox/earlyinit"
//
// The init runs once its imports are initialized, that is package
// sandbox's whole import closure: in manyarch, whose closure holds
// golang.org/x/sys/unix, net, regexp and containerd/platforms, that is
// after about three quarters of the binary's packages (bench/README.md,
// "Run"), so it saves less there than in a small program.
//
// A program that does not import it still works: its main calls
// sandbox.Init when sandbox.IsInit reports true, only later.
package earlyinit
