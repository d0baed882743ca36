package container_test

import (
	"os"
	"testing"

	"github.com/manyarch/manyarch/internal/sandbox"
)

// TestMain makes the re-exec of the test binary the sandbox init, as
// cmd/manyarch/main.go does for the manyarch binary.
func TestMain(m *testing.M) {
	if sandbox.IsInit() {
		os.Exit(sandbox.Init())
	}
	os.Exit(m.Run())
}
