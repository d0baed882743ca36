package earlyinit

import (
	"os"

	"github.com/manyarch/manyarch/internal/sandbox/sandboxinit"
)

func init() {
	if sandboxinit.IsInit() {
		os.Exit(sandboxinit.Main())
	}
}
