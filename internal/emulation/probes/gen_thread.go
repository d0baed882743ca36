//go:build ignore

// gen_thread builds threadprobe for every GOARCH of the architecture table
// into thread/GOARCH.gz (static, stripped, reproducible: the same Go gives
// the same bytes). Run it with `go generate ./internal/emulation/probes`.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// goarches are the GOARCH values of internal/platform's table; arm is
// built for GOARM=5 (software floating point), which every ARM CPU runs.
var goarches = []struct{ goarch, goarm string }{
	{"amd64", ""}, {"arm64", ""}, {"arm", "5"}, {"386", ""}, {"ppc64le", ""},
	{"s390x", ""}, {"riscv64", ""}, {"mips64le", ""}, {"loong64", ""},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen_thread:", err)
		os.Exit(1)
	}
}

func run() error {
	tmp, err := os.MkdirTemp("", "threadprobe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, g := range goarches {
		bin := filepath.Join(tmp, g.goarch)
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", bin, "./threadprobe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+g.goarch, "GOARM="+g.goarm)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building threadprobe for %s: %w", g.goarch, err)
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return err
		}
		if _, err := zw.Write(b); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join("thread", g.goarch+".gz"), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
