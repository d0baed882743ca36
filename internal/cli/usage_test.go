//go:build linux

package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestUsageErrors: a command line manyarch cannot read prints the error,
// the usage line and where to read more, and exits 2 (125 for run, as
// docker's); other errors keep their codes.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"build"}, 2, []string{"manyarch: accepts 1 arg(s), received 0", "Usage: manyarch build [flags] CONTEXT", "See 'manyarch build --help'."}},
		{[]string{"images", "--no-such-flag"}, 2, []string{"unknown flag: --no-such-flag", "Usage: manyarch images", "See 'manyarch images --help'."}},
		{[]string{"index", "create"}, 2, []string{"Usage: manyarch index create TARGET SOURCE...", "See 'manyarch index create --help'."}},
		{[]string{"buidl"}, 2, []string{`unknown command "buidl" for "manyarch"`, "build"}},
		{[]string{"run"}, 125, []string{"Usage: manyarch run", "See 'manyarch run --help'."}},
		{[]string{"build", "--jobs", "x", "."}, 2, []string{`invalid argument "x" for "-j, --jobs"`, "See 'manyarch build --help'."}},
	} {
		cmd := NewRootCmd()
		var out, errb bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&errb)
		cmd.SetArgs(append([]string{"--root", t.TempDir()}, tc.args...))
		err := cmd.Execute()
		var w bytes.Buffer
		code := ExitCode(err, &w)
		if code != tc.code {
			t.Errorf("manyarch %q: exit %d (%v), want %d", tc.args, code, err, tc.code)
		}
		for _, s := range tc.want {
			if !strings.Contains(w.String(), s) {
				t.Errorf("manyarch %q printed %q, want it to contain %q", tc.args, w.String(), s)
			}
		}
	}
	// Not a usage error: exit 1, no usage line.
	var w bytes.Buffer
	cmd := NewRootCmd()
	cmd.SetArgs([]string{"--root", t.TempDir(), "inspect", "oci:" + t.TempDir() + "/no-such-layout"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if code := ExitCode(cmd.Execute(), &w); code != 1 || strings.Contains(w.String(), "Usage:") {
		t.Errorf("inspect of a missing layout: exit %d, %q; want 1 without a usage line", code, w.String())
	}
}
