package imagetest

import (
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// SchemaVersion is the container-structure-test schema version that Load
// reads.
const SchemaVersion = "2.0.0"

// SchemaVersion1 is CST's first schema, also read: the same tests, but a
// command test's command is a list, [NAME, ARG...] (args did not exist).
const SchemaVersion1 = "1.0.0"

// Pos is a position in a configuration file.
type Pos struct {
	File   string
	Line   int
	Column int
}

// Config is one test file: container-structure-test's schema 2.0.0 plus the
// multi-platform extensions (Platforms on every test, template variables,
// metadataTest.os/architecture/variant, Consistency, Timeout).
type Config struct {
	File          string
	SchemaVersion string

	GlobalEnvVars       []EnvVar
	CommandTests        []CommandTest
	FileExistenceTests  []FileExistenceTest
	FileContentTests    []FileContentTest
	MetadataTest        *MetadataTest // nil: no metadataTest section
	LicenseTests        []LicenseTest
	ContainerRunOptions RunOptions
	Consistency         []ConsistencyTest
	// ServiceTests are the serviceTests section (service_types.go,
	// docs/service-tests.md).
	ServiceTests []ServiceTest

	// Warnings are things the file asks for that manyarch does not do
	// (privileged, capabilities, allocateTty), with their positions.
	Warnings []string
}

// EnvVar is a key and value; IsRegex makes Value a regular expression in
// metadataTest.envVars and labels.
type EnvVar struct {
	Key     string
	Value   string
	IsRegex bool
	Pos     Pos
}

// CommandTest runs a command in a fresh container and checks its exit code,
// standard output and standard error.
type CommandTest struct {
	// Invalid lists what CST finds wrong only when it runs the test (a
	// missing name, an invalid regular expression): the test fails with it
	// and the others run. Empty for a valid test; Strict refuses the file.
	Invalid   []string
	Pos       Pos
	Name      string
	Setup     [][]string
	Teardown  [][]string
	EnvVars   []EnvVar
	Command   string
	Args      []string
	ExitCode  int
	Platforms []specs.Platform // empty: every platform
	Timeout   time.Duration    // 0: the run's default

	ExpectedOutput []string
	ExcludedOutput []string
	ExpectedError  []string
	ExcludedError  []string
}

// FileExistenceTest checks that a path exists (or not) in the image's
// file system, with the given permissions and owner.
type FileExistenceTest struct {
	// Invalid lists what CST finds wrong only when it runs the test (a
	// missing name, an invalid regular expression): the test fails with it
	// and the others run. Empty for a valid test; Strict refuses the file.
	Invalid        []string
	Pos            Pos
	Name           string
	Path           string
	ShouldExist    bool   // default true
	Permissions    string // "-rwxr-xr-x"; "" not checked
	UID, GID       int    // -1: not checked
	IsExecutableBy string // owner, group, other, any; "" not checked
	Platforms      []specs.Platform
}

// FileContentTest checks a file's contents against regular expressions.
type FileContentTest struct {
	// Invalid lists what CST finds wrong only when it runs the test (a
	// missing name, an invalid regular expression): the test fails with it
	// and the others run. Empty for a valid test; Strict refuses the file.
	Invalid          []string
	Pos              Pos
	Name             string
	Path             string
	ExpectedContents []string
	ExcludedContents []string
	Platforms        []specs.Platform
}

// MetadataTest checks the image config. A nil pointer field was not given
// in the file and is not checked; a pointer to an empty value was given
// empty and is checked (entrypoint: [] requires no entrypoint).
type MetadataTest struct {
	// Invalid lists what CST finds wrong only when it runs the test (a
	// missing name, an invalid regular expression): the test fails with it
	// and the others run. Empty for a valid test; Strict refuses the file.
	Invalid          []string
	Pos              Pos
	EnvVars          []EnvVar
	UnboundEnvVars   []EnvVar
	ExposedPorts     []string
	UnexposedPorts   []string
	Entrypoint       *[]string
	Cmd              *[]string
	Workdir          *string
	Volumes          []string
	UnmountedVolumes []string
	Labels           []EnvVar
	User             *string
	// Extensions: the platform of the image config.
	OS           *string
	Architecture *string
	Variant      *string
	Platforms    []specs.Platform
}

// empty reports whether t checks nothing (CST reports no metadata test).
func (t *MetadataTest) empty() bool {
	return len(t.Invalid) == 0 && len(t.EnvVars) == 0 && len(t.UnboundEnvVars) == 0 && len(t.ExposedPorts) == 0 &&
		len(t.UnexposedPorts) == 0 && t.Entrypoint == nil && t.Cmd == nil && t.Workdir == nil && len(t.Volumes) == 0 &&
		len(t.UnmountedVolumes) == 0 && len(t.Labels) == 0 && t.User == nil && t.OS == nil && t.Architecture == nil && t.Variant == nil
}

// LicenseTest checks copyright files for licenses CST refuses (AGPL,
// WTFPL): with Debian, every /usr/share/doc/PACKAGE/copyright.
type LicenseTest struct {
	Pos       Pos
	Debian    bool
	Files     []string
	Platforms []specs.Platform
}

// RunOptions is containerRunOptions: how command tests' containers run.
type RunOptions struct {
	User         *string
	Privileged   bool
	AllocateTTY  bool
	EnvVars      []string // names read from the environment of manyarch
	EnvFile      string   // docker --env-file format, relative to the working directory
	Capabilities []string
	BindMounts   []string // "HOST:CONTAINER[:ro|rw]"
	Network      string   // "", "host", "none"
}

// ConsistencyTest runs a command on every platform and requires the same
// output everywhere, after each platform's values of the template
// variables are replaced by the variables' names (so "Hello, arm64!" and
// "Hello, amd64!" are both "Hello, {{.GOARCH}}!").
type ConsistencyTest struct {
	// Invalid lists what CST finds wrong only when it runs the test (a
	// missing name, an invalid regular expression): the test fails with it
	// and the others run. Empty for a valid test; Strict refuses the file.
	Invalid   []string
	Pos       Pos
	Name      string
	Setup     [][]string
	Teardown  [][]string
	EnvVars   []EnvVar
	Command   string
	Args      []string
	ExitCode  *int // nil: any, but the same everywhere
	Stderr    bool // compare standard error too
	Raw       bool // compare output as it is, without replacing platform values
	Platforms []specs.Platform
	Timeout   time.Duration
}
