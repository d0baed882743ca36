// Command release-sbom writes the SPDX 2.3 JSON SBOM of a manyarch release:
// one document describing every binary given, their Go modules and Go
// version (package internal/sbom). hack/release.sh runs it.
//
//	go run ./hack/release-sbom -version v1.2.3 -o dist/v1.2.3/manyarch.spdx.json dist/v1.2.3/manyarch-*
//
// The creation time is SOURCE_DATE_EPOCH (required: the SBOM is part of a
// reproducible release).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/manyarch/manyarch/internal/sbom"
)

func main() {
	version := flag.String("version", "", "the release version (v1.2.3)")
	out := flag.String("o", "", "the file to write")
	flag.Parse()
	if err := run(*version, *out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "release-sbom:", err)
		os.Exit(1)
	}
}

func run(version, out string, files []string) error {
	if version == "" || out == "" || len(files) == 0 {
		return fmt.Errorf("usage: release-sbom -version V -o FILE BINARY...")
	}
	epoch, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil {
		return fmt.Errorf("SOURCE_DATE_EPOCH=%q: want the release commit's time in seconds (git log -1 --format=%%ct)", os.Getenv("SOURCE_DATE_EPOCH"))
	}
	var bins []sbom.Binary
	for _, f := range files {
		b, err := sbom.ReadBinary(f)
		if err != nil {
			return err
		}
		bins = append(bins, b)
	}
	var buf bytes.Buffer
	if err := sbom.WriteSPDX(&buf, "manyarch", version, time.Unix(epoch, 0), bins); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".sbom-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}
