//go:build linux

package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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
		{[]string{"build", "--jobs", "x", "."}, 2, []string{`invalid argument "x" for "-j, --jobs": want a whole number`, "See 'manyarch build --help'."}},
		{[]string{"import", "adir", "x:1"}, 2, []string{`manyarch import takes no arguments, got "adir"`, "Usage: manyarch import", "See 'manyarch import --help'."}},
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

// TestBuildFlagValueErrors: issue #22 items 3 and 10. A build flag value
// manyarch cannot read is a usage error (exit 2, the usage line, "See
// 'manyarch build --help'") caught before anything is built; a value that
// reads well but names a file that is not there fails when it is used
// (exit 1, no usage line).
func TestBuildFlagValueErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY x /x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no-such-file")
	for _, tc := range []struct {
		flags []string
		code  int
		want  string
	}{
		{[]string{"--ssh", "=x"}, 2, `--ssh "=x": the id before = is empty`},
		{[]string{"--ssh", "a b=x"}, 2, `has a space or a slash`},
		{[]string{"--ssh", "default=" + missing}, 1, "--ssh default=" + missing},
		{[]string{"--build-context", "x"}, 2, "--build-context x: want NAME="},
		{[]string{"--build-context", "x=foo://bar"}, 2, "--build-context x=foo://bar"},
		{[]string{"--build-context", "x=docker-image://UPPER"}, 2, "must be lower case"},
		{[]string{"--build-context", "x=target:base"}, 2, "target: contexts are bake's"},
		{[]string{"--platform", "linux/nope"}, 2, `unknown platform "linux/nope"`},
		{[]string{"--platform", "local,linux/amd64/v9"}, 2, "--platform"},
		{[]string{"--ulimit", "nofile"}, 2, "--ulimit: ulimit \"nofile\": want NAME=SOFT[:HARD]"},
		{[]string{"--ulimit", "bogus=1"}, 2, `unknown resource "bogus"`},
		{[]string{"--add-host", "foo"}, 2, "--add-host: host \"foo\": want NAME:IP"},
		{[]string{"--shm-size", "xx"}, 2, "--shm-size"},
		{[]string{"--shm-size", "1k"}, 2, "below one page"},
		{[]string{"--allow", "device"}, 2, "--allow device: unknown entitlement"},
		{[]string{"--network", "bogus"}, 2, `--network "bogus": want default, host or none`},
		{[]string{"--memory-limit", "x"}, 2, "--memory-limit"},
		{[]string{"--add-max-size", "x"}, 2, "--add-max-size x"},
		{[]string{"--add-timeout", "0s"}, 2, "--add-timeout 0s"},
		{[]string{"--progress", "foo"}, 2, `unknown progress mode "foo"`},
		{[]string{"--emulation", "x"}, 2, `unknown emulation mode "x"`},
		{[]string{"-j", "-1"}, 2, "--jobs must be at least 1"},
		{[]string{"--secret", "x"}, 2, "--secret x: want id=ID"},
		{[]string{"--cache-from", "x"}, 2, "--cache-from x: want type=local"},
		{[]string{"-o", "type=nope"}, 2, `unknown type "nope"`},
		{[]string{"--build-arg", "=x"}, 2, `--build-arg "=x": want KEY=VALUE`},
		{[]string{"--label", "x"}, 2, `--label "x": want KEY=VALUE`},
		{[]string{"--attest", "foo"}, 2, "--attest foo: want type=sbom or type=provenance"},
		{[]string{"--provenance=mode=x"}, 2, "mode=x"},
		{[]string{"--target", "nope"}, 1, `target stage "nope" could not be found`},
		{[]string{"-f", missing}, 1, "reading the Dockerfile"},
		{[]string{"--build-context", "x=oci-layout://" + missing}, 1, "is not an OCI image layout (no index.json in it): no such file"},
		{[]string{"--build-context", "x=" + missing}, 1, "no such directory"},
	} {
		cmd := NewRootCmd()
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs(append(append([]string{"--root", t.TempDir(), "build", "--progress", "plain"}, tc.flags...), dir))
		var w bytes.Buffer
		code := ExitCode(cmd.Execute(), &w)
		if code != tc.code {
			t.Errorf("build %q: exit %d, want %d\n%s", tc.flags, code, tc.code, w.String())
		}
		if !strings.Contains(w.String(), tc.want) {
			t.Errorf("build %q printed %q, want it to contain %q", tc.flags, w.String(), tc.want)
		}
		if usage := strings.Contains(w.String(), "See 'manyarch build --help'."); usage != (tc.code == 2) {
			t.Errorf("build %q printed %q: usage line shown %v, want %v", tc.flags, w.String(), usage, tc.code == 2)
		}
	}
}

// An empty HOST is a usage error that quotes it, not a message with a hole
// ("Not logged in to  (...)", "manyarch: : catalog takes ...").
func TestEmptyHostIsUsageError(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	for _, args := range [][]string{{"logout", ""}, {"catalog", ""}, {"catalog", "a/b"}} {
		cmd := NewRootCmd()
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs(append([]string{"--root", t.TempDir()}, args...))
		var w bytes.Buffer
		if code := ExitCode(cmd.Execute(), &w); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, w.String())
		}
		if want := fmt.Sprintf("%s %q: give a registry HOST[:PORT]", args[0], args[1]); !strings.Contains(w.String(), want) {
			t.Errorf("%q printed %q, want %q", args, w.String(), want)
		}
	}
}
