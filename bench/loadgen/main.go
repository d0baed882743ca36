// Command loadgen is the driver of bench/loadgen.sh: it serves a trivial
// HTTP endpoint, or sends a load to one with internal/loadgen and prints
// the requests per second, so the script can compare manyarch's load
// generator with ab (apache2-utils) at the same concurrency.
//
//	loadgen serve 127.0.0.1:PORT          # GET / answers "ok\n"
//	loadgen load 127.0.0.1:PORT N C       # prints rps=... p50=... p99=... errors=...
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strconv"

	"github.com/manyarch/manyarch/internal/loadgen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 2 && args[0] == "serve" {
		return http.ListenAndServe(args[1], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok\n")
		}))
	}
	if len(args) != 4 || args[0] != "load" {
		return fmt.Errorf("usage: loadgen serve ADDR | loadgen load ADDR REQUESTS CONCURRENCY")
	}
	target, err := netip.ParseAddrPort(args[1])
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	c, err := strconv.Atoi(args[3])
	if err != nil {
		return err
	}
	res, err := loadgen.Run(context.Background(), loadgen.Options{Target: target, Path: "/", Requests: n, Concurrency: c})
	if err != nil {
		return err
	}
	st := res.Stats()
	fmt.Printf("rps=%.1f p50=%s p99=%s errors=%d requests=%d\n", res.RPS(), st.P50, st.P99, res.Errors, res.Requests)
	return nil
}
