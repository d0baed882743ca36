//go:build linux

// Package main is threadprobe, the thread probe of package probes: a Go program
// that exercises what real programs need from an emulator and what the
// hand-encoded probes do not: several OS threads, each with its own
// thread-local storage (the Go runtime keeps its g pointer there), and a
// signal delivered to a handler while they exist. QEMU 7.2's qemu-i386
// runs the tiny probes but crashes this one, as it crashes every Go
// program. It prints "manyarch thread probe GOARCH ok" and exits 0.
//
// `go generate ./internal/emulation/probes` builds it for every GOARCH of
// the architecture table into thread/GOARCH.gz, which the package embeds.
package main

import (
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
)

func main() {
	// Threads: each goroutine locks its own OS thread (a clone with a new
	// TLS area) and does some work there.
	const threads = 4
	var wg sync.WaitGroup
	sums := make([]int, threads)
	for i := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			for j := range 20000 {
				sums[i] += j
			}
			runtime.Gosched()
		}()
	}
	wg.Wait()
	for _, s := range sums {
		if s != 20000*19999/2 {
			os.Stderr.WriteString("threads computed a wrong sum\n")
			os.Exit(1)
		}
	}
	// Signals: one sent to the process reaches the runtime's handler and
	// is passed to the channel.
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		os.Stderr.WriteString("kill: " + err.Error() + "\n")
		os.Exit(1)
	}
	<-c
	os.Stdout.WriteString("manyarch thread probe " + runtime.GOARCH + " ok\n")
}
