package probes

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
)

//go:generate go run gen_thread.go

//go:embed thread/*.gz
var threadFS embed.FS

// Thread returns the thread probe for goarch (a Go GOARCH: "arm64", "386";
// one "arm" build, for GOARM=5, serves every ARM variant): a static Go
// program that starts several threads, each with its own thread-local
// storage, and handles a signal, then prints ThreadMessage(goarch) and
// exits 0. It exercises what real programs need from an emulator; see
// threadprobe/main.go. About 1.4 MB, kept compressed until asked for.
func Thread(goarch string) ([]byte, error) {
	z, err := threadFS.ReadFile("thread/" + goarch + ".gz")
	if err != nil {
		return nil, fmt.Errorf("thread probe for %s: %w", goarch, ErrUnsupported)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("thread probe for %s: %w", goarch, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("thread probe for %s: %w", goarch, err)
	}
	return b, nil
}

// ThreadDigest identifies the thread probe for goarch without
// decompressing it: the SHA-256 of its compressed form, which the probe
// binary determines (hex). Caches of probe results key on it.
func ThreadDigest(goarch string) (string, error) {
	z, err := threadFS.ReadFile("thread/" + goarch + ".gz")
	if err != nil {
		return "", fmt.Errorf("thread probe for %s: %w", goarch, ErrUnsupported)
	}
	sum := sha256.Sum256(z)
	return hex.EncodeToString(sum[:]), nil
}

// ThreadMessage is what the thread probe for goarch prints.
func ThreadMessage(goarch string) string {
	return "manyarch thread probe " + goarch + " ok\n"
}
