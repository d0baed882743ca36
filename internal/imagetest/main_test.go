package imagetest

import (
	"os"
	"testing"

	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/sandbox"
)

// TestMain lets the test binary act as the sandbox init and the emulation
// helper when it is re-executed as one, as cmd/manyarch does.
func TestMain(m *testing.M) {
	if sandbox.IsInit() {
		os.Exit(sandbox.Init())
	}
	emulation.Init()
	os.Exit(m.Run())
}
