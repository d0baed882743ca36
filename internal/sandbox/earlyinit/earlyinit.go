package earlyinit

import (
	"os"

	"github.com/manyarch/manyarch/internal/sandbox"
)

func init() {
	if sandbox.IsInit() {
		os.Exit(sandbox.Init())
	}
}
