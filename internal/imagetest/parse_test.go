package imagetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/platform"
)

// everyField uses every field of the schema and of the extensions.
const everyField = `schemaVersion: "2.0.0"
globalEnvVars:
  - key: G
    value: global
commandTests:
  - name: cmd
    setup: [[touch, /a], [touch, /b]]
    teardown: [[rm, /a]]
    envVars:
      - {key: E, value: "e-{{.GOARCH}}"}
    command: sh
    args: [-c, "echo $E", 8080]
    exitCode: 2
    expectedOutput: ["out"]
    excludedOutput: ["bad.*out"]
    expectedError: ["err"]
    excludedError: ["bad.*err"]
    platforms: [linux/amd64, arm64]
    timeout: 90s
fileExistenceTests:
  - name: exists
    path: /etc/{{.Arch}}
    shouldExist: false
    permissions: "-rw-r--r--"
    uid: 0
    gid: 42
    isExecutableBy: group
    platforms: linux/arm/v7
fileContentTests:
  - name: content
    path: /etc/passwd
    expectedContents: ["root"]
    excludedContents: ["evil"]
    platforms: [riscv64]
metadataTest:
  envVars:
    - {key: PATH, value: "/bin", isRegex: false}
    - {key: R, value: "^x+$", isRegex: true}
  unboundEnvVars:
    - key: SECRET
  exposedPorts: [8080, "53/udp"]
  unexposedPorts: ["22"]
  entrypoint: []
  cmd: [sh]
  workdir: ""
  volumes: [/data]
  unmountedVolumes: [/root]
  labels:
    - {key: l, value: v}
    - {key: m, value: "^v", isRegex: true}
  user: nobody
  os: linux
  architecture: "{{.Arch}}"
  variant: "{{.Variant}}"
  platforms: [amd64]
licenseTests:
  - debian: true
    files: [/LICENSE]
    platforms: [amd64]
containerRunOptions:
  user: root
  privileged: false
  allocateTty: false
  envVars: [FOO]
  envFile: .env
  capabilities: []
  bindMounts: ["/a:/b:ro"]
  network: none
consistency:
  - name: same
    setup: [[true]]
    teardown: [[true]]
    envVars: [{key: K, value: v}]
    command: uname
    args: [-m]
    exitCode: 0
    stderr: true
    raw: false
    platforms: [amd64, arm64]
    timeout: 5
`

func p(s string) specs.Platform {
	pl, err := platform.Parse(s)
	if err != nil {
		panic(err)
	}
	return pl
}

func ptr[T any](v T) *T { return &v }

func TestParseEveryField(t *testing.T) {
	c, err := Parse("every.yaml", []byte(everyField))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	clearPos(c)
	want := &Config{
		File: "every.yaml", SchemaVersion: "2.0.0",
		GlobalEnvVars: []EnvVar{{Key: "G", Value: "global"}},
		CommandTests: []CommandTest{{
			Name: "cmd", Setup: [][]string{{"touch", "/a"}, {"touch", "/b"}}, Teardown: [][]string{{"rm", "/a"}},
			EnvVars: []EnvVar{{Key: "E", Value: "e-{{.GOARCH}}"}}, Command: "sh", Args: []string{"-c", "echo $E", "8080"}, ExitCode: 2,
			ExpectedOutput: []string{"out"}, ExcludedOutput: []string{"bad.*out"}, ExpectedError: []string{"err"}, ExcludedError: []string{"bad.*err"},
			Platforms: []specs.Platform{p("linux/amd64"), p("linux/arm64")}, Timeout: 90 * time.Second,
		}},
		FileExistenceTests: []FileExistenceTest{{Name: "exists", Path: "/etc/{{.Arch}}", ShouldExist: false, Permissions: "-rw-r--r--", UID: 0, GID: 42,
			IsExecutableBy: "group", Platforms: []specs.Platform{p("linux/arm/v7")}}},
		FileContentTests: []FileContentTest{{Name: "content", Path: "/etc/passwd", ExpectedContents: []string{"root"}, ExcludedContents: []string{"evil"},
			Platforms: []specs.Platform{p("linux/riscv64")}}},
		MetadataTest: &MetadataTest{
			EnvVars:        []EnvVar{{Key: "PATH", Value: "/bin"}, {Key: "R", Value: "^x+$", IsRegex: true}},
			UnboundEnvVars: []EnvVar{{Key: "SECRET"}},
			ExposedPorts:   []string{"8080", "53/udp"}, UnexposedPorts: []string{"22"},
			Entrypoint: ptr([]string{}), Cmd: ptr([]string{"sh"}), Workdir: ptr(""),
			Volumes: []string{"/data"}, UnmountedVolumes: []string{"/root"},
			Labels: []EnvVar{{Key: "l", Value: "v"}, {Key: "m", Value: "^v", IsRegex: true}},
			User:   ptr("nobody"), OS: ptr("linux"), Architecture: ptr("{{.Arch}}"), Variant: ptr("{{.Variant}}"),
			Platforms: []specs.Platform{p("linux/amd64")},
		},
		LicenseTests: []LicenseTest{{Debian: true, Files: []string{"/LICENSE"}, Platforms: []specs.Platform{p("linux/amd64")}}},
		ContainerRunOptions: RunOptions{User: ptr("root"), EnvVars: []string{"FOO"}, EnvFile: ".env", Capabilities: []string{},
			BindMounts: []string{"/a:/b:ro"}, Network: "none"},
		Consistency: []ConsistencyTest{{Name: "same", Setup: [][]string{{"true"}}, Teardown: [][]string{{"true"}}, EnvVars: []EnvVar{{Key: "K", Value: "v"}},
			Command: "uname", Args: []string{"-m"}, ExitCode: ptr(0), Stderr: true, Platforms: []specs.Platform{p("linux/amd64"), p("linux/arm64")},
			Timeout: 5 * time.Second}},
	}
	if !reflect.DeepEqual(c, want) {
		gj, _ := json.MarshalIndent(c, "", " ")
		wj, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("Parse(everyField) =\n%s\nwant\n%s", gj, wj)
	}
}

// clearPos zeroes the positions, which TestPositions checks.
func clearPos(c *Config) {
	clearEnv := func(es []EnvVar) {
		for i := range es {
			es[i].Pos = Pos{}
		}
	}
	clearEnv(c.GlobalEnvVars)
	for i := range c.CommandTests {
		c.CommandTests[i].Pos = Pos{}
		clearEnv(c.CommandTests[i].EnvVars)
	}
	for i := range c.FileExistenceTests {
		c.FileExistenceTests[i].Pos = Pos{}
	}
	for i := range c.FileContentTests {
		c.FileContentTests[i].Pos = Pos{}
	}
	for i := range c.LicenseTests {
		c.LicenseTests[i].Pos = Pos{}
	}
	for i := range c.Consistency {
		c.Consistency[i].Pos = Pos{}
		clearEnv(c.Consistency[i].EnvVars)
	}
	if m := c.MetadataTest; m != nil {
		m.Pos = Pos{}
		clearEnv(m.EnvVars)
		clearEnv(m.UnboundEnvVars)
		clearEnv(m.Labels)
	}
}

func TestPositions(t *testing.T) {
	c, err := Parse("every.yaml", []byte(everyField))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CommandTests[0].Pos; got != (Pos{File: "every.yaml", Line: 6, Column: 5}) {
		t.Errorf("commandTests[0] at %+v, want every.yaml:6:5", got)
	}
	if got := c.FileExistenceTests[0].Pos.Line; got != 21 {
		t.Errorf("fileExistenceTests[0] at line %d, want 23", got)
	}
}

func TestParseUnsetAndEmpty(t *testing.T) {
	c := mustParse(t, "schemaVersion: 2.0.0\nmetadataTest:\n  cmd: [a]\n")
	m := c.MetadataTest
	if m.Entrypoint != nil || m.Workdir != nil || m.User != nil || m.OS != nil {
		t.Errorf("unset fields = %v %v %v %v, want nil", m.Entrypoint, m.Workdir, m.User, m.OS)
	}
	c = mustParse(t, "schemaVersion: 2.0.0\nmetadataTest:\n  entrypoint: []\n  workdir: ''\n  user: ''\n")
	m = c.MetadataTest
	if m.Entrypoint == nil || len(*m.Entrypoint) != 0 || m.Workdir == nil || *m.Workdir != "" || m.User == nil {
		t.Errorf("empty fields = %v %v %v, want set and empty", m.Entrypoint, m.Workdir, m.User)
	}
	c = mustParse(t, "schemaVersion: 2.0.0\nmetadataTest:\n  entrypoint: ~\n")
	if c.MetadataTest != nil {
		t.Errorf("metadataTest with only entrypoint: ~ = %+v, want no test (nil), as CST reports none", c.MetadataTest)
	}
	c = mustParse(t, "schemaVersion: 2.0.0\n")
	if c.MetadataTest != nil {
		t.Error("no metadataTest section: MetadataTest != nil")
	}
}

func TestParseJSONMatchesYAML(t *testing.T) {
	y, err := Load("../../testdata/imagetest/busybox_test.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(y.CommandTests) != 2 || y.GlobalEnvVars[1].Value != "/env/bin:$PATH" || y.MetadataTest.Cmd == nil {
		t.Errorf("busybox_test.json parsed as %+v", y)
	}
	// Tabs, which JSON allows between tokens.
	c, err := Parse("x.json", []byte("{\n\t\"schemaVersion\":\t\"2.0.0\",\n\t\"commandTests\": [{\"name\": \"a\", \"command\": \"echo\", \"args\": [\"x\\ty\"]}]\n}\n"))
	if err != nil {
		t.Fatalf("Parse(tab-indented JSON): %v", err)
	}
	if got := c.CommandTests[0].Args[0]; got != "x\ty" {
		t.Errorf("escaped tab = %q, want x<TAB>y", got)
	}
	typo := []byte("{\n  \"schemaVersion\": \"2.0.0\",\n  \"comandTests\": []\n}\n")
	_, err = Parse("x.json", typo, Strict())
	if err == nil || !strings.Contains(err.Error(), "x.json:3:3: unknown field \"comandTests\"") {
		t.Errorf("Parse(JSON typo, Strict) = %v, want x.json:3:3: unknown field", err)
	}
	// CST reads JSON with encoding/json, which ignores it: a warning.
	c, err = Parse("x.json", typo)
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], `x.json:3: unknown field "comandTests" in the test file (did you mean "commandTests"?): ignored`) {
		t.Errorf("Parse(JSON typo) = %v, warnings %q, want a did-you-mean warning", err, c.Warnings)
	}
}

func TestParseErrors(t *testing.T) {
	// strict: CST reads the file and fails only that test when it runs it;
	// by default the test is kept, Invalid, and Strict refuses the file.
	cases := []struct {
		name, yaml, want string
		strict           bool
	}{
		{"typo", "schemaVersion: 2.0.0\ncommandTests:\n- name: a\n  command: echo\n  expectedOuput: [x]\n",
			`t.yaml:5:3: unknown field "expectedOuput" in commandTests[0] (did you mean "expectedOutput"?)`, false},
		{"top-level typo", "schemaVersion: 2.0.0\nfileExistanceTests: []\n", `t.yaml:2:1: unknown field "fileExistanceTests" in the test file (did you mean "fileExistenceTests"?)`, false},
		{"invalid regex", "schemaVersion: 2.0.0\ncommandTests:\n- name: a\n  command: echo\n  expectedOutput: [ok, \"hi(\"]\n",
			"t.yaml:5:24: commandTests[0].expectedOutput: invalid regular expression \"hi(\": missing closing ): `hi(`", true},
		{"invalid content regex", "schemaVersion: 2.0.0\nfileContentTests:\n- {name: a, path: /a, excludedContents: ['[z-a]']}\n",
			"t.yaml:3:42: fileContentTests[0].excludedContents: invalid regular expression", true},
		{"invalid env regex", "schemaVersion: 2.0.0\nmetadataTest:\n  env: [{key: A, value: '*', isRegex: true}]\n", "t.yaml:3:9: metadataTest.env[0].value: invalid regular expression", true},
		{"no schema", "commandTests: []\n", "t.yaml:1:1: schemaVersion is missing", false},
		{"unknown schema", "schemaVersion: 3.0.0\n", `unknown schemaVersion "3.0.0"`, false},
		{"command list", "schemaVersion: 2.0.0\ncommandTests:\n- name: a\n  command: [echo, hi]\n", "t.yaml:4:12: commandTests[0].command is a list, as in schema 1.0.0", false},
		{"no name", "schemaVersion: 2.0.0\ncommandTests:\n- command: echo\n", "t.yaml:3:3: commandTests[0] needs a name", true},
		{"no command", "schemaVersion: 2.0.0\ncommandTests:\n- name: a\n", "commandTests[0] (a) needs a command", true},
		{"no path", "schemaVersion: 2.0.0\nfileExistenceTests:\n- name: a\n", "fileExistenceTests[0] (a) needs a path", true},
		{"bad bool", "schemaVersion: 2.0.0\nfileExistenceTests:\n- {name: a, path: /a, shouldExist: yes please}\n", "shouldExist must be true or false (or yes, no, on, off), not the string \"yes please\"", false},
		{"bad int", "schemaVersion: 2.0.0\ncommandTests:\n- {name: a, command: b, exitCode: one}\n", "exitCode must be an integer", false},
		{"list not string", "schemaVersion: 2.0.0\ncommandTests:\n- {name: a, command: b, args: x}\n", "commandTests[0].args must be a list, not the string \"x\"", false},
		{"duplicate", "schemaVersion: 2.0.0\ncommandTests:\n- name: a\n  name: b\n  command: c\n", `t.yaml:4:3: field "name" appears twice`, false},
		{"unknown platform", "schemaVersion: 2.0.0\ncommandTests:\n- {name: a, command: b, platforms: [linux/arm65]}\n", "commandTests[0].platforms: ", false},
		{"empty platforms", "schemaVersion: 2.0.0\ncommandTests:\n- {name: a, command: b, platforms: []}\n", "platforms is empty", false},
		{"isExecutableBy", "schemaVersion: 2.0.0\nfileExistenceTests:\n- {name: a, path: /a, isExecutableBy: everyone}\n", `isExecutableBy is "everyone": want owner, group, other or any`, true},
		{"permissions", "schemaVersion: 2.0.0\nfileExistenceTests:\n- {name: a, path: /a, permissions: '0755'}\n", `permissions "0755" is not a permission string`, true},
		{"timeout", "schemaVersion: 2.0.0\ncommandTests:\n- {name: a, command: b, timeout: soon}\n", `"soon" is not a positive duration`, false},
		{"bind mount", "schemaVersion: 2.0.0\ncontainerRunOptions:\n  bindMounts: [/a]\n", `t.yaml:3:16: containerRunOptions.bindMounts[0]: "/a" is not HOST_PATH:CONTAINER_PATH`, false},
		{"network", "schemaVersion: 2.0.0\ncontainerRunOptions:\n  network: overlay\n", `network "overlay" is not supported`, false},
		{"empty setup", "schemaVersion: 2.0.0\ncommandTests:\n- {name: a, command: b, setup: [[]]}\n", "setup[0] is an empty command", false},
		{"env without value", "schemaVersion: 2.0.0\ncommandTests:\n- {name: a, command: b, envVars: [{key: A}]}\n", "commandTests[0].envVars[0] (A) needs a value", true},
		{"env and envVars", "schemaVersion: 2.0.0\nmetadataTest:\n  env: []\n  envVars: []\n", "has both envVars and its other spelling", false},
		{"empty port", "schemaVersion: 2.0.0\nmetadataTest:\n  exposedPorts: ['']\n", "metadataTest.exposedPorts[0] is empty", true},
		{"not a mapping", "schemaVersion: 2.0.0\nmetadataTest: [a]\n", "metadataTest must be a mapping of fields, not a list", false},
		{"yaml syntax", "schemaVersion: 2.0.0\ncommandTests:\n  - name: a\n - command: b\n", "t.yaml:3: did not find expected key", false},
		{"empty file", "", "empty test file", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var opts []ParseOption
			if c.strict {
				opts = append(opts, Strict())
			}
			_, err := Parse("t.yaml", []byte(c.yaml), opts...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse(%q) = %v, want an error containing %q", c.yaml, err, c.want)
			}
			if !c.strict {
				return
			}
			cfg, err := Parse("t.yaml", []byte(c.yaml))
			if err != nil {
				t.Fatalf("Parse(%q) without Strict = %v, want the test kept, invalid", c.yaml, err)
			}
			if got := strings.Join(invalidOf(cfg), "\n"); !strings.Contains(got, c.want) {
				t.Errorf("Parse(%q) without Strict: Invalid = %q, want %q", c.yaml, got, c.want)
			}
		})
	}
}

func TestParseWarnings(t *testing.T) {
	c := mustParse(t, "schemaVersion: 2.0.0\ncontainerRunOptions:\n  privileged: true\n  capabilities: [sys_admin]\n  allocateTty: true\n  network: bridge\n")
	want := []string{"tests.yaml:3: containerRunOptions.privileged is not supported", "tests.yaml:4: containerRunOptions.capabilities (sys_admin) is not supported",
		"tests.yaml:5: containerRunOptions.allocateTty is not supported", "tests.yaml:6: containerRunOptions.network bridge is run as host"}
	if len(c.Warnings) != len(want) {
		t.Fatalf("warnings = %q, want %d", c.Warnings, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(c.Warnings[i], w) {
			t.Errorf("warning %d = %q, want prefix %q", i, c.Warnings[i], w)
		}
	}
}

// TestTestdataConfigs parses the CST-equivalent files of testdata/imagetest,
// and refuses each of testdata/imagetest/bad that must be refused.
func TestTestdataConfigs(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/imagetest/*.*")
	n := 0
	for _, f := range files {
		if ext := filepath.Ext(f); ext != ".yaml" && ext != ".json" {
			continue
		}
		n++
		if _, err := Load(f); err != nil {
			t.Errorf("Load(%s): %v", f, err)
		}
	}
	if n < 6 {
		t.Errorf("found %d test files in testdata/imagetest, want at least 6", n)
	}
	for file, want := range map[string]string{
		"typo.yaml":  `typo.yaml:6:3: unknown field "expectedOuput" in commandTests[0] (did you mean "expectedOutput"?)`,
		"regex.yaml": `regex.yaml:6:20: commandTests[0].expectedOutput: invalid regular expression "hi("`,
	} {
		_, err := Load("../../testdata/imagetest/bad/"+file, Strict())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(bad/%s, Strict) = %v, want %q", file, err, want)
		}
	}
	// A misspelt variable is left as written, with a warning.
	c, err := Load("../../testdata/imagetest/bad/variable.yaml")
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "variable.yaml:5: {{.Architecture}} is left as it is") || !strings.Contains(c.Warnings[0], "did you mean {{.Arch}}?") {
		t.Errorf("Load(bad/variable.yaml) = %v, warnings %q, want a did-you-mean warning", err, c.Warnings)
	}
	if _, err := Load("no-such-file.yaml"); err == nil || !os.IsNotExist(errorsUnwrapAll(err)) {
		t.Errorf("Load(missing) = %v, want a not-exist error", err)
	}
}

// invalidOf lists the Invalid messages of every test of c.
func invalidOf(c *Config) []string {
	var out []string
	for _, t := range c.CommandTests {
		out = append(out, t.Invalid...)
	}
	for _, t := range c.FileExistenceTests {
		out = append(out, t.Invalid...)
	}
	for _, t := range c.FileContentTests {
		out = append(out, t.Invalid...)
	}
	if c.MetadataTest != nil {
		out = append(out, c.MetadataTest.Invalid...)
	}
	for _, t := range c.Consistency {
		out = append(out, t.Invalid...)
	}
	return out
}

func errorsUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(everyField))
	f.Add([]byte(helloTests))
	f.Add([]byte(`{"schemaVersion": "2.0.0", "commandTests": [{"name": "a", "command": "b"}]}`))
	f.Add([]byte("schemaVersion: 2.0.0\nmetadataTest: &a {cmd: *a}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err == nil && c == nil {
			t.Fatal("Parse returned neither a config nor an error")
		}
	})
}
