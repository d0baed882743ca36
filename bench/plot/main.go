package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	in := flag.String("in", "bench/scale.json", "the results of bench/scale.sh")
	out := flag.String("out", "docs/bench-scale.svg", "the SVG to write")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "plot: unexpected argument %q (use -in and -out)\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := run(*in, *out); err != nil {
		fmt.Fprintf(os.Stderr, "plot: %v\n", err)
		os.Exit(1)
	}
}

// run reads the results in in and writes the SVG to out atomically: a
// temporary file in out's directory, renamed over out only when complete.
func run(in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	res, err := parse(in, data)
	if err != nil {
		return err
	}
	svg := render(res)
	tmp, err := os.CreateTemp(filepath.Dir(out), ".bench-scale-*.svg")
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(svg); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return nil
}
