// Command manyarch builds, runs, verifies, tests and publishes
// multi-architecture container images with no daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/manyarch/manyarch/internal/cli"
)

func main() {
	if cli.IsReexec() {
		os.Exit(cli.Reexec())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.NewRootCmd().ExecuteContext(ctx)
	stop()
	os.Exit(cli.ExitCode(err, os.Stderr))
}
