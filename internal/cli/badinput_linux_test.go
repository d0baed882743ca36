package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goLeaks are what a user must never read in manyarch's messages: Go type
// names, maps, stack traces, fmt's verb errors, package paths.
var goLeaks = []string{"map[", "[]", "goroutine", "panic", "struct {", "struct field", "%!", "github.com/", "strconv.", "reflect.", "*cli.", "*v1.", "interface {", "<nil>", "runtime error"}

// TestBadInputNeverLeaksGo: issue #22, "bad input in any command: never a
// Go type name, stack trace or internal map in what a user reads". Many
// bad command lines and files (no network needed) each fail with a message
// free of Go's internals.
func TestBadInputNeverLeaksGo(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A layout whose index.json has a number where a digest belongs, and
	// a store root with the same damage.
	write("badoci/oci-layout", `{"imageLayoutVersion":"1.0.0"}`)
	write("badoci/index.json", `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":5,"size":1}]}`)
	write("badstore/oci-layout", `{"imageLayoutVersion":"1.0.0"}`)
	write("badstore/index.json", `{"schemaVersion":2,"manifests":{"a":1}}`)
	badOCI := "oci:" + filepath.Join(dir, "badoci")
	badJSON := write("bad.json", `{"schemaVersion": "2.0.0", "commandTests": [ {"name": 5`)
	badYAML := write("bad.yaml", "schemaVersion: 2.0.0\ncommandTests:\n  - name: [\n")
	wrongYAML := write("wrong.yaml", "schemaVersion: 2.0.0\nfileExistenceTests:\n  - name: x\n    path: 5\n    shouldExist: maybe\n")
	wrongJSON := write("wrong.json", `{"schemaVersion":"2.0.0","commandTests":{"a":1}}`)
	notTar := write("notar.tar", "not a tar\n")
	write("ctx/Dockerfile", "FROM scratch\nCOPY x /x\n")
	ctxDir := filepath.Join(dir, "ctx")
	t.Setenv("DOCKER_CONFIG", filepath.Join(dir, "docker"))

	for _, args := range [][]string{
		{"inspect", badOCI}, {"config", badOCI}, {"manifest", badOCI}, {"digest", badOCI}, {"ls", badOCI},
		{"catalog", badOCI}, {"copy", badOCI, "oci:" + filepath.Join(dir, "out")}, {"verify", badOCI},
		{"sbom", badOCI}, {"export", badOCI, "-o", filepath.Join(dir, "x.tar")}, {"diff", badOCI, badOCI},
		{"--root", filepath.Join(dir, "badstore"), "images"}, {"--root", filepath.Join(dir, "badstore"), "check"},
		{"--root", badJSON, "images"},
		{"copy", "oci-archive:" + notTar, "x:1"}, {"copy", "docker-archive:" + notTar, "x:1"},
		{"test", "-c", badJSON, "x"}, {"test", "-c", badYAML, "x"}, {"test", "-c", wrongYAML, "x"}, {"test", "-c", wrongJSON, "x"},
		{"test", "-c", dir, "x"}, {"test", "-c", "", "x"},
		{"build", "-j", "x", ctxDir}, {"build", "--add-timeout", "x", ctxDir}, {"build", "--no-cache=maybe", ctxDir},
		{"build", "-f", badJSON, ctxDir}, {"build", "-f", dir, ctxDir}, {"build", "", ""}, {"build", "--ulimit", "x", ctxDir},
		{"run", "--pids-limit", "x", "x"}, {"run", "--timeout", "x", "x"}, {"run", "--ulimit", "x", "x"},
		{"run", "--security-opt", "seccomp=" + dir, "x"}, {"run", "--env-file", dir, "x"}, {"run", "-v", ":", "x"},
		{"images", "--format", "{{"}, {"version", "--format", "{{.Nope}}"},
		{"binfmt", "status", "--format", "{{.Nope.Deeper}}"}, {"inspect", "--format", "{{json .Manifest}", badOCI},
		{"builder", "create", "x", "--node", "="}, {"builder", "create", "x", "--node", "linux/amd64=nope"},
		{"prune", "--keep-storage", "x"}, {"index", "annotate", "x:1", "--annotation", "="},
		{"sign", "--key", badJSON, "x"}, {"scan", "--db", "", "x"}, {"scan", "--fail-on", "x", "--db", dir, "x"},
		{"inspect", "x@sha256:abc"}, {"inspect", "UPPER:1"}, {"inspect", ""}, {"tag", "", ""},
		{"login", "-u", "x", "--password-stdin", ""},
	} {
		cmd := NewRootCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetIn(strings.NewReader(""))
		root := []string{"--root", filepath.Join(dir, "store")}
		if args[0] == "--root" {
			root = nil
		}
		cmd.SetArgs(append(root, args...))
		err := cmd.Execute()
		var w bytes.Buffer
		code := ExitCode(err, &w)
		text := out.String() + w.String()
		if code == 0 {
			t.Errorf("manyarch %q succeeded, want an error:\n%s", args, text)
		}
		for _, l := range goLeaks {
			if strings.Contains(text, l) {
				t.Errorf("manyarch %q printed %q, which shows Go's internals (%q)", args, text, l)
			}
		}
	}
}
