package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// complete runs manyarch's shell-completion entry point (what the scripts
// of `manyarch completion SHELL` call) and returns the offered values.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	var out bytes.Buffer
	cmd := NewRootCmd()
	cmd.SetArgs(append([]string{"__complete"}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("__complete %q: %v", args, err)
	}
	var vals []string
	for _, l := range strings.Split(out.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, ":") {
			vals = append(vals, l)
		}
	}
	return vals
}

func TestCompletion(t *testing.T) {
	got := complete(t, "build", "--platform", "linux/amd64,linux/a")
	if !contains(got, "linux/amd64,linux/arm64") || !contains(got, "linux/amd64,linux/arm/v7") || !contains(got, "linux/amd64,local") {
		t.Errorf("build --platform linux/amd64,linux/a<TAB> offers %q; want the platforms after the typed list", got)
	}
	if got := complete(t, "run", "--network", ""); strings.Join(got, " ") != "host private none" {
		t.Errorf("run --network <TAB> offers %q", got)
	}
	if got := complete(t, "build", "--progress", ""); !contains(got, "plain") || !contains(got, "json") {
		t.Errorf("build --progress <TAB> offers %q", got)
	}
	// A store that does not exist gives no names and is not created.
	missing := filepath.Join(t.TempDir(), "nostore")
	if got := complete(t, "--root", missing, "inspect", ""); len(got) != 0 {
		t.Errorf("inspect <TAB> without a store offers %q", got)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("completion created the store %s", missing)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
