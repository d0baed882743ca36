package sandboxinit_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// allowedImports is the import closure of package sandboxinit (as built
// for Linux), besides the runtime's own packages (runtime/..., internal/...,
// unsafe). A package added here runs its initializer, and those of its
// whole closure, before every container starts: measure it first
// (bench/README.md, "Run"). Not here on purpose: strings (and so bufio and
// golang.org/x/sys/unix, which import it): Go initializes a package that
// waits for strings only after most of manyarch's other packages, ~100
// rather than ~30; encoding/json, net, regexp and text/template cost more.
var allowedImports = []string{
	"bytes", "cmp", "context", "encoding/binary", "errors", "fmt", "io", "io/fs", "iter",
	"math", "math/bits", "os", "os/signal", "path", "reflect", "slices", "strconv",
	"sync", "sync/atomic", "syscall", "time", "unicode", "unicode/utf8",
	"github.com/manyarch/manyarch/internal/sandbox/sandboxinit",
}

// TestImportClosure fails when package sandboxinit, and so every sandbox
// init, comes to depend on a package outside allowedImports: the init runs
// once its whole closure is initialized (package earlyinit).
func TestImportClosure(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command to list the package's imports")
	}
	for _, pkg := range []string{".", "../earlyinit"} {
		cmd := exec.Command(gocmd, "list", "-deps", "-f", "{{.ImportPath}}", pkg)
		cmd.Env = append(cmd.Environ(), "GOOS=linux")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, p := range strings.Fields(string(out)) {
			if strings.HasPrefix(p, "internal/") || strings.HasPrefix(p, "runtime") || p == "unsafe" ||
				p == "github.com/manyarch/manyarch/internal/sandbox/earlyinit" {
				continue
			}
			if !slices.Contains(allowedImports, p) {
				t.Errorf("package %s depends on %s, which is not in allowedImports: every sandbox init would initialize it (and its imports) before starting a container", pkg, p)
			}
		}
	}
}
