package imagetest

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Issue #24 items 2-8: files CST's parser accepts are accepted, read as CST
// reads them.

func TestParseYAML11Booleans(t *testing.T) {
	c := mustParse(t, `schemaVersion: 2.0.0
fileExistenceTests:
- {name: a, path: /a, shouldExist: yes}
- {name: b, path: /b, shouldExist: no}
- {name: c, path: /c, shouldExist: on}
- {name: d, path: /d, shouldExist: off}
- {name: e, path: /e, shouldExist: N}
- {name: f, path: /f, shouldExist: TRUE}
licenseTests:
- {debian: Yes}
`)
	var got []bool
	for _, f := range c.FileExistenceTests {
		got = append(got, f.ShouldExist)
	}
	if want := []bool{true, false, true, false, false, true}; !reflect.DeepEqual(got, want) {
		t.Errorf("shouldExist = %v, want %v", got, want)
	}
	if !c.LicenseTests[0].Debian {
		t.Error("debian: Yes read as false")
	}
	// Quoted, it is a string, which yaml.v2 refuses for a bool too.
	if _, err := Parse("t.yaml", []byte("schemaVersion: 2.0.0\nfileExistenceTests:\n- {name: a, path: /a, shouldExist: 'yes'}\n")); err == nil {
		t.Error("shouldExist: 'yes' (quoted) accepted, want refused as yaml.v2 refuses it")
	}
}

func TestParseMergeKeys(t *testing.T) {
	c := mustParse(t, `schemaVersion: 2.0.0
commandTests:
- &base
  name: base
  command: echo
  args: [hi]
  exitCode: 0
  envVars: [{key: A, value: "1"}]
- <<: *base
  name: merged
  args: [there]
- <<: [*base, {exitCode: 3, command: other}]
  name: list merge
fileExistenceTests:
- &fe {name: one, path: /a, shouldExist: false}
- {<<: *fe, name: two}
`)
	ct := c.CommandTests
	if len(ct) != 3 || ct[1].Name != "merged" || ct[1].Command != "echo" || !reflect.DeepEqual(ct[1].Args, []string{"there"}) || len(ct[1].EnvVars) != 1 {
		t.Errorf("merged test = %+v", ct[1])
	}
	if ct[2].Command != "echo" || ct[2].ExitCode != 0 || ct[2].Name != "list merge" {
		t.Errorf("list merge = %+v, want the first mapping's values to win (command echo, exitCode 0)", ct[2])
	}
	if f := c.FileExistenceTests[1]; f.Name != "two" || f.Path != "/a" || f.ShouldExist {
		t.Errorf("flow merge = %+v", f)
	}
	// A merged key that is misspelt is still unknown, as in yaml.v2's
	// UnmarshalStrict.
	_, err := Parse("t.yaml", []byte("schemaVersion: 2.0.0\ncommandTests:\n- &b {name: a, command: b, exitcode: 1}\n- {<<: *b, name: c}\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown field "exitcode"`) {
		t.Errorf("misspelt merged key: %v, want unknown field", err)
	}
}

func TestParseJSONAsEncodingJSON(t *testing.T) {
	data := []byte(`{"SchemaVersion": "2.0.0",
 "CommandTests": [{"Name": "x", "COMMAND": "echo", "Args": ["a"], "expectedoutput": ["a"], "Bogus": 1}],
 "FileExistenceTests": [{"name": "f", "path": "/a", "Uid": 0, "shouldExist": true}],
 "containerRunOptions": {"TTY": false},
 "extra": {"anything": [1, 2]}
}`)
	c, err := Parse("t.json", data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	ct := c.CommandTests[0]
	if ct.Name != "x" || ct.Command != "echo" || len(ct.Args) != 1 || len(ct.ExpectedOutput) != 1 || c.FileExistenceTests[0].UID != 0 {
		t.Errorf("case-insensitive keys: %+v %+v", ct, c.FileExistenceTests[0])
	}
	w := strings.Join(c.Warnings, "\n")
	for _, want := range []string{`t.json:2: unknown field "Bogus" in commandTests[0]`, `t.json:5: unknown field "extra" in the test file`} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q, want %q", w, want)
		}
	}
	// --strict refuses the unknown fields and the case-folded keys.
	_, err = Parse("t.json", data, Strict())
	if err == nil || !strings.Contains(err.Error(), `unknown field "Bogus" in commandTests[0]`) || !strings.Contains(err.Error(), `field "SchemaVersion" in the test file is spelled "schemaVersion"`) {
		t.Errorf("Parse(Strict) = %v, want the unknown and case-folded fields refused", err)
	}
	// YAML is read strictly by CST (yaml.UnmarshalStrict): unknown there
	// stays an error, and keys are case-sensitive.
	if _, err := Parse("t.yaml", []byte("schemaVersion: 2.0.0\nCommandTests: []\n")); err == nil {
		t.Error("YAML CommandTests accepted, want refused as CST refuses it")
	}
	// JSON duplicates: the last wins, as in encoding/json, with a warning.
	c, err = Parse("t.json", []byte(`{"schemaVersion": "2.0.0", "commandTests": [{"name": "a", "name": "b", "command": "c"}]}`))
	if err != nil || c.CommandTests[0].Name != "b" || len(c.Warnings) != 1 {
		t.Errorf("JSON duplicate: %v %+v %q, want name b and a warning", err, c, c.Warnings)
	}
}

func TestParseMetadataValuesAndEmpties(t *testing.T) {
	c := mustParse(t, `schemaVersion: 2.0.0
globalEnvVars: [{key: EMPTY}]
metadataTest:
  labels: [{key: maintainer}]
  envVars: [{key: A, value: }, {key: B}]
  exposedPorts: [8080, 53/udp]
  cmd: [sleep, 10, 1.5, true]
commandTests:
- name: numbers
  command: 7z
  args: [1, 2.5, yes, ~]
  exitCode: "3"
  setup: []
  teardown: ~
  expectedOutput: []
  excludedError: ~
  envVars: []
fileExistenceTests: ~
fileContentTests: []
licenseTests: ~
`)
	m := c.MetadataTest
	if m != nil && len(m.Invalid) > 0 {
		t.Errorf("metadataTest invalid: %q, want labels and env without value compared with \"\"", m.Invalid)
	}
	if m == nil || m.Labels[0].Value != "" || m.EnvVars[0].Value != "" || m.EnvVars[1].Value != "" || !reflect.DeepEqual(m.ExposedPorts, []string{"8080", "53/udp"}) {
		t.Fatalf("metadataTest = %+v, want labels and env with value \"\"", m)
	}
	if !reflect.DeepEqual(*m.Cmd, []string{"sleep", "10", "1.5", "true"}) {
		t.Errorf("cmd = %q", *m.Cmd)
	}
	ct := c.CommandTests[0]
	if ct.Command != "7z" || !reflect.DeepEqual(ct.Args, []string{"1", "2.5", "yes", ""}) || ct.ExitCode != 3 {
		t.Errorf("scalars as strings: %+v", ct)
	}
	if c.GlobalEnvVars[0].Key != "EMPTY" || c.GlobalEnvVars[0].Value != "" {
		t.Errorf("global without value = %+v", c.GlobalEnvVars)
	}
	for _, src := range []string{"metadataTest: {}", "metadataTest:", "metadataTest: {envVars: [], labels: ~, exposedPorts: []}"} {
		c := mustParse(t, "schemaVersion: 2.0.0\n"+src+"\n")
		if c.MetadataTest != nil {
			t.Errorf("%s: MetadataTest = %+v, want none (CST reports no test)", src, c.MetadataTest)
		}
	}
	// An empty metadataTest is no test in the report either.
	r := run(t, image(t, "linux/amd64", v1.Config{}, layer(t, file("a", "", 0o644))), nil, []*Config{mustParse(t, "schemaVersion: 2.0.0\nmetadataTest: {}\n")})
	if len(r.Tests) != 0 {
		t.Errorf("empty metadataTest ran %d tests, want 0", len(r.Tests))
	}
}

func TestExpandOnlyManyarchVariables(t *testing.T) {
	v := VarsFor(mustPlatform(t, "linux/arm64"))
	for in, want := range map[string]string{
		"{{.Config.Env}}":                     "{{.Config.Env}}",
		"{{json .}}":                          "{{json .}}",
		"{{.Arch}}-{{ .UnameMachine }}":       "arm64-aarch64",
		`{{"{{"}}.Arch}} is {{.Arch}}`:        "{{.Arch}} is arm64",
		"{{.Arch":                             "{{.Arch",
		"a{2,3}{{":                            "a{2,3}{{",
		"$$ and {{.GOARCH}}":                  "$$ and arm64",
		"{{.Platform}} {{.OS}} {{.Variant}}/": "linux/arm64 linux /",
	} {
		got, err := expand(in, v)
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	// A template given to a tool in the image reaches it as written.
	c := mustParse(t, "schemaVersion: 2.0.0\ncommandTests:\n- {name: tpl, command: echo, args: ['{{.Config.Env}}', '{{range .}}x{{end}}'], expectedOutput: ['^\\{\\{\\.Config\\.Env\\}\\} \\{\\{range']}\n")
	if len(c.Warnings) != 0 {
		t.Errorf("warnings %q, want none for {{.Config.Env}}", c.Warnings)
	}
	x := &fakeExec{}
	r := run(t, image(t, "linux/amd64", v1.Config{}, layer(t, file("a", "", 0o644))), x, []*Config{c})
	if r.Failed() || x.runs[0].Args[1] != "{{.Config.Env}}" {
		t.Errorf("args = %q, results %+v", x.runs[0].Args, r.Results)
	}
}

// Item 7: a test CST fails when it runs fails alone, with the reason; the
// rest of the file runs.
func TestInvalidTestFailsAlone(t *testing.T) {
	c := mustParse(t, `schemaVersion: 2.0.0
commandTests:
- {name: bad regex, command: echo, args: [hi], expectedOutput: ["hi("]}
- {name: good, command: echo, args: [hi], expectedOutput: [hi]}
- {command: echo}
- {name: empty env, command: echo, envVars: [{key: A}]}
fileExistenceTests:
- {name: bad exec, path: /a, isExecutableBy: everyone}
- {name: fine, path: /a}
fileContentTests:
- {name: bad content regex, path: /a, expectedContents: ["[z-a]"]}
metadataTest:
  envVars: [{key: A, value: "*", isRegex: true}]
`)
	x := &fakeExec{}
	r := run(t, image(t, "linux/amd64", v1.Config{Env: []string{"A=1"}}, layer(t, file("a", "", 0o755))), x, []*Config{c})
	want := map[string]string{
		"Command Test: bad regex":              `tests.yaml:3:65: commandTests[0].expectedOutput: invalid regular expression "hi(": missing closing )`,
		"Command Test: good":                   "",
		"Command Test: ":                       "tests.yaml:5:3: commandTests[2] needs a name",
		"Command Test: empty env":              "commandTests[3].envVars[0] (A) needs a value: CST refuses an empty one",
		"File Existence Test: bad exec":        `fileExistenceTests[0].isExecutableBy is "everyone": want owner, group, other or any`,
		"File Existence Test: fine":            "",
		"File Content Test: bad content regex": `invalid regular expression "[z-a]"`,
		"Metadata Test":                        `metadataTest.envVars[0].value: invalid regular expression "*"`,
	}
	if len(r.Tests) != len(want) {
		t.Fatalf("%d tests, want %d", len(r.Tests), len(want))
	}
	for i, tt := range r.Tests {
		res := r.Results[i][0]
		w, ok := want[tt.Name]
		switch {
		case !ok:
			t.Errorf("unexpected test %q", tt.Name)
		case w == "" && res.Status != StatusPass:
			t.Errorf("%s: %s %+v, want pass", tt.Name, res.Status, res.Failures)
		case w != "" && (res.Status != StatusFail || len(res.Failures) == 0 || !strings.Contains(res.Failures[0].Message, w) || !strings.HasPrefix(res.Failures[0].Message, "invalid test: ")):
			t.Errorf("%s: %s %+v, want failed with %q", tt.Name, res.Status, res.Failures, w)
		}
	}
	if len(x.runs) != 1 {
		t.Errorf("%d commands ran, want 1 (only the valid test)", len(x.runs))
	}
}

// Item 9: $VAR in args, paths and values expands against the image's env,
// then globalEnvVars, then the test's envVars, as CST does.
func TestEnvExpansionInCSTOrder(t *testing.T) {
	c := mustParse(t, `schemaVersion: 2.0.0
globalEnvVars:
- {key: VIRTUAL_ENV, value: /env}
- {key: PATH, value: "$VIRTUAL_ENV/bin:$PATH"}
- {key: ETCDIR, value: /etc}
- {key: WHO, value: global}
commandTests:
- name: venv
  command: echo
  args: [$VIRTUAL_ENV, "${PATH}", "$WHO", "$IMG", "$UNSET"]
  expectedOutput: ['^/env /env/bin:/bin global image \$\{UNSET\}\n']
- name: override
  command: echo
  args: [$WHO]
  envVars: [{key: WHO, value: "test-$WHO"}]
  expectedOutput: ['^test-global\n']
fileExistenceTests:
- {name: global path, path: $ETCDIR/passwd}
- {name: image path, path: "${IMGDIR}/passwd"}
fileContentTests:
- {name: global content path, path: $ETCDIR/passwd, expectedContents: [root]}
`)
	img := image(t, "linux/amd64", v1.Config{Env: []string{"PATH=/bin", "IMG=image", "IMGDIR=/etc"}}, layer(t, dir("etc", 0o755), file("etc/passwd", "root:x:0:0\n", 0o644)))
	x := &fakeExec{}
	r := run(t, img, x, []*Config{c})
	for i, tt := range r.Tests {
		if res := r.Results[i][0]; res.Status != StatusPass {
			t.Errorf("%s: %s %+v", tt.Name, res.Status, res.Failures)
		}
	}
}

// Item 11: a bindMounts host path that does not exist is created, as
// docker run -v creates it, and logged at -v 1 (Info).
func TestBindMountSourceCreated(t *testing.T) {
	host := filepath.Join(t.TempDir(), "not", "there")
	c := mustParse(t, "schemaVersion: 2.0.0\ncommandTests:\n- {name: a, command: echo, args: [x]}\ncontainerRunOptions:\n  bindMounts: [\""+host+":/mnt\"]\n")
	var log bytes.Buffer
	x := &fakeExec{}
	r := run(t, image(t, "linux/amd64", v1.Config{}, layer(t, file("a", "", 0o644))), x, []*Config{c},
		WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	if r.Failed() {
		t.Fatalf("failed: %+v", r.Results)
	}
	if fi, err := os.Stat(host); err != nil || !fi.IsDir() {
		t.Errorf("host path %s: %v, want a created directory", host, err)
	}
	if !strings.Contains(log.String(), "created the host directory of a bind mount") || !strings.Contains(log.String(), host) {
		t.Errorf("log %q, want the creation named at Info", log.String())
	}
	if m := x.runs[0].Mounts; len(m) != 1 || m[0].Source != host {
		t.Errorf("mounts = %+v", m)
	}
	// A path that cannot be created fails the test with the reason.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c = mustParse(t, "schemaVersion: 2.0.0\ncommandTests:\n- {name: a, command: echo, args: [x]}\ncontainerRunOptions:\n  bindMounts: [\""+blocker+"/sub:/mnt\"]\n")
	r = run(t, image(t, "linux/amd64", v1.Config{}, layer(t, file("a", "", 0o644))), &fakeExec{}, []*Config{c})
	if res := r.Results[0][0]; res.Status != StatusFail || !strings.Contains(res.Failures[0].Message, "does not exist and cannot be created") {
		t.Errorf("uncreatable source: %+v", res)
	}
}

// TestCSTFilesParse reads CST's own test files and its README's examples
// (testdata/imagetest/cst) as CST's parser does: every schema 2.0.0 file is
// accepted, with no test invalid and only the warnings of what manyarch
// does not do; schema 1.0.0 is refused (docs/cst-compatibility.md).
func TestCSTFilesParse(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/imagetest/cst/*/*.yaml")
	more, _ := filepath.Glob("../../testdata/imagetest/cst/*.yaml")
	files = append(files, more...)
	if len(files) < 9 {
		t.Fatalf("%d files in testdata/imagetest/cst, want 9", len(files))
	}
	for _, f := range files {
		c, err := Load(f)
		if strings.HasSuffix(f, "failure_test.yaml") {
			// Schema 1.0.0: command: [NAME, ARG...] is command and args.
			if err != nil {
				t.Errorf("Load(%s): %v, want schema 1.0.0 read", f, err)
			} else if ct := c.CommandTests[0]; ct.Command != "apt-get" || !slices.Equal(ct.Args, []string{"dslkfjasl"}) {
				t.Errorf("Load(%s): command %q args %q, want apt-get [dslkfjasl]", f, ct.Command, ct.Args)
			}
			continue
		}
		if err != nil {
			t.Errorf("Load(%s): %v", f, err)
			continue
		}
		if inv := invalidOf(c); len(inv) > 0 {
			t.Errorf("%s: invalid tests %q", f, inv)
		}
		for _, w := range c.Warnings {
			if !strings.Contains(w, "privileged is not supported") && !strings.Contains(w, "capabilities") && !strings.Contains(w, "allocateTty") {
				t.Errorf("%s: warning %q", f, w)
			}
		}
	}
}

// Item 10: file tests see /etc/hosts, /etc/hostname and /etc/resolv.conf
// as CST sees them in a docker container (the init layer's empty files,
// over whatever the image has), on the flattened layers too.
func TestInitLayerFiles(t *testing.T) {
	c := mustParse(t, `schemaVersion: 2.0.0
fileExistenceTests:
- {name: hosts, path: /etc/hosts, permissions: -rwxr-xr-x, uid: 0, gid: 0}
- {name: hostname, path: /etc/../etc/hostname}
- {name: resolv.conf, path: /etc/resolv.conf}
fileContentTests:
- {name: own hosts shadowed, path: /etc/hosts, excludedContents: [image]}
- {name: passwd still read, path: /etc/passwd, expectedContents: [root]}
`)
	img := image(t, "linux/amd64", v1.Config{}, layer(t, dir("etc", 0o755), file("etc/passwd", "root:x:0:0\n", 0o644), file("etc/hosts", "image's own\n", 0o600)))
	r := run(t, img, nil, []*Config{c})
	for i, tt := range r.Tests {
		if res := r.Results[i][0]; res.Status != StatusPass {
			t.Errorf("%s: %s %+v", tt.Name, res.Status, res.Failures)
		}
	}
	v := containerView{fileView: mustFlat(t, img)}
	names, err := v.readDir("/etc")
	if err != nil || !reflect.DeepEqual(names, []string{"hostname", "hosts", "passwd", "resolv.conf"}) {
		t.Errorf("readDir(/etc) = %q, %v", names, err)
	}
}

func mustFlat(t *testing.T, img v1.Image) fileView {
	t.Helper()
	f, err := newFlatFS(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Merge keys that multiply (each level merges the one below ten times) are
// cut at maxMerged fields, not expanded 10^12 times.
func TestParseMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("schemaVersion: 2.0.0\ncommandTests:\n- &l0 {name: a, command: b}\n")
	for i := 1; i <= 12; i++ {
		b.WriteString("- &l" + strconv.Itoa(i) + " {<<: [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*l" + strconv.Itoa(i-1))
		}
		b.WriteString("], name: n}\n")
	}
	done := make(chan error, 1)
	go func() { _, err := Parse("t.yaml", []byte(b.String())); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "expand to more than 100000 fields") {
			t.Errorf("Parse(merge bomb) = %v, want the merge bound", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Parse(merge bomb) still running after 10s")
	}
}
