package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/manyarch/manyarch/internal/cli"
	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/sandbox"
	// Maps in the heap the initializers are about to fill (first: its
	// import path sorts before the others').
	_ "github.com/manyarch/manyarch/internal/prefault"
	// The sandbox init, before the initializers it does not need.
	_ "github.com/manyarch/manyarch/internal/sandbox/earlyinit"
)

func main() {
	// A re-exec of this binary as a container's init (manyarch run).
	if sandbox.IsInit() {
		os.Exit(sandbox.Init())
	}
	// A re-exec as the emulation helper (private probes); returns otherwise.
	emulation.Init()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.NewRootCmdFor(os.Args[1:]).ExecuteContext(ctx)
	stop()
	os.Exit(cli.ExitCode(err, os.Stderr))
}
