package plan_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestPure keeps the planner pure: nothing it imports, directly or not, may
// be the executor or a package that reaches disks, registries or processes.
func TestPure(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command to list the planner's dependencies")
		}
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const module = "github.com/manyarch/manyarch/internal/"
	forbidden := []string{"build", "builder", "snapshot", "sandbox", "container", "emulation", "store", "ref", "remote", "cgroup"}
	for _, dep := range strings.Fields(string(out)) {
		pkg, ok := strings.CutPrefix(dep, module)
		if !ok {
			continue
		}
		for _, f := range forbidden {
			if pkg == f || strings.HasPrefix(pkg, f+"/") {
				t.Errorf("internal/plan depends on internal/%s: the planner must not import the executor, stores, registries or sandboxes", pkg)
			}
		}
	}
}
