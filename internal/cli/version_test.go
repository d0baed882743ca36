//go:build linux

package cli

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	root := t.TempDir()
	line, _, err := runCLI(t, root, "version")
	if err != nil || !strings.HasPrefix(line, "manyarch ") || !strings.Contains(line, " "+runtime.GOOS+"/"+runtime.GOARCH+" "+runtime.Version()) {
		t.Fatalf("version = %q (%v)", line, err)
	}
	flag, _, err := runCLI(t, root, "--version")
	if err != nil || flag != line {
		t.Errorf("--version = %q (%v), want what version prints: %q", flag, err, line)
	}
	out, _, err := runCLI(t, root, "version", "--format", "json")
	var v map[string]any
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v["version"] == nil || v["goVersion"] != runtime.Version() || v["platform"] != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version --format json = %s (%v)", out, err)
	}
	out, _, err = runCLI(t, root, "version", "--format", "{{.version}} {{.GoVersion}}")
	if want := v["version"].(string) + " " + runtime.Version() + "\n"; err != nil || out != want {
		t.Errorf("version --format template = %q (%v), want %q", out, err, want)
	}
}
