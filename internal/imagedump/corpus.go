package imagedump

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// CorpusDir is the corpus, relative to the module root.
const CorpusDir = "testdata/dockerfile-corpus"

// BaseImage is the base image the corpus's Dockerfiles build FROM
// (hack/fixtures.sh makes it); dumps leave out what an image shares with it.
const BaseImage = "fixtures/busybox:1.35"

// DefaultPlatforms are the platforms a case is built for unless its
// case.yaml says otherwise.
var DefaultPlatforms = []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}

// Case is one corpus case: CorpusDir/NAME/{case.yaml, context/, expected/}.
// context/ is the build context (Dockerfile included); expected/ holds one
// dump per platform (PlatformFile), BuildKit's.
type Case struct {
	Name string `yaml:"-"`
	Dir  string `yaml:"-"`
	// BuildKit names the BuildKit v0.34.2 frontend test the case is
	// adapted from ("testCopyChmod") and Source its file
	// ("frontend/dockerfile/dockerfile_test.go").
	BuildKit string `yaml:"buildkit"`
	Source   string `yaml:"source"`
	// Issue is the item of issue #26 the case covers, 0 for none.
	Issue int `yaml:"issue"`
	// Covers lists the instructions and flags the case exercises.
	Covers []string `yaml:"covers"`
	// Platforms to build (default DefaultPlatforms).
	Platforms []string          `yaml:"platforms"`
	BuildArgs map[string]string `yaml:"build-args"`
	Target    string            `yaml:"target"`
	// Secrets maps a secret id to a file of the case directory (outside
	// the context).
	Secrets map[string]string `yaml:"secrets"`
	// Dirs are empty directories made in the context (git keeps none);
	// Modes are permission bits set on context paths (git keeps only the
	// executable bit). Context files are otherwise 0644 (0755 when
	// executable in the checkout) and directories 0755.
	Dirs  []string          `yaml:"dirs"`
	Modes map[string]string `yaml:"modes"`
	// Differences are the known differences between manyarch and BuildKit
	// that stay, each with its reason (docs/dockerfile-compatibility.md
	// lists them). Any other difference fails the corpus test.
	Differences []Allowed `yaml:"differences"`
}

// Allowed is one known difference of a case.
type Allowed struct {
	// Platform is where it shows ("linux/arm64"); empty means every
	// platform of the case.
	Platform string `yaml:"platform"`
	// Key is the dump key: "config Env" or an absolute path.
	Key string `yaml:"key"`
	// Manyarch is manyarch's value for the key, exactly as its dump has
	// it (Absent when manyarch has no such key): a difference is known
	// only while manyarch's value stays this one. BuildKit's value is in
	// the expected dump.
	Manyarch string `yaml:"manyarch"`
	// Reason says why the difference stays.
	Reason string `yaml:"reason"`
}

// Matches reports whether a difference of the case on platform p is this
// known one.
func (a Allowed) Matches(p string, d Difference) bool {
	return (a.Platform == "" || a.Platform == p) && a.Key == d.Key && a.Manyarch == d.Got
}

// LoadCorpus reads every case under dir (CorpusDir of the module root),
// sorted by name.
func LoadCorpus(dir string) ([]*Case, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the corpus: %w", err)
	}
	var out []*Case
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		c, err := LoadCase(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// LoadCase reads DIR/case.yaml and checks it.
func LoadCase(dir string) (*Case, error) {
	name := filepath.Join(dir, "case.yaml")
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading case: %w", err)
	}
	c := &Case{}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.Name, c.Dir = filepath.Base(dir), dir
	if len(c.Platforms) == 0 {
		c.Platforms = DefaultPlatforms
	}
	if c.BuildKit == "" || c.Source == "" {
		return nil, fmt.Errorf("%s: buildkit: and source: must name the BuildKit test the case comes from", name)
	}
	for k, m := range c.Modes {
		if _, err := strconv.ParseUint(m, 8, 32); err != nil {
			return nil, fmt.Errorf("%s: modes: %s: %q is not an octal mode", name, k, m)
		}
	}
	for i, d := range c.Differences {
		if d.Key == "" || d.Reason == "" || d.Manyarch == "" {
			return nil, fmt.Errorf("%s: differences[%d]: key:, manyarch: and reason: are required", name, i)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "context", "Dockerfile")); err != nil {
		return nil, fmt.Errorf("%s: no context/Dockerfile: %w", dir, err)
	}
	return c, nil
}

// PlatformFile is the expected dump's file name for a platform:
// linux/arm/v7 -> linux_arm_v7.dump.
func PlatformFile(p string) string {
	return strings.ReplaceAll(p, "/", "_") + ".dump"
}

// ExpectedPath is where the case's expected dump for p is.
func (c *Case) ExpectedPath(p string) string {
	return filepath.Join(c.Dir, "expected", PlatformFile(p))
}

// Prepare copies the case's context into dst (which must not exist) with
// the modes fixed as the case says, so that both engines read the same
// bytes and modes whatever the checkout's umask.
func (c *Case) Prepare(dst string) error {
	src := filepath.Join(c.Dir, "context")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, to)
		case d.IsDir():
			if err := os.Mkdir(to, 0o755); err != nil {
				return err
			}
			return os.Chmod(to, 0o755)
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if fi.Mode()&0o100 != 0 {
				mode = 0o755
			}
			if err := os.WriteFile(to, b, mode); err != nil {
				return err
			}
			return os.Chmod(to, mode)
		default:
			return fmt.Errorf("%s: only files, directories and symlinks can be in a corpus context", p)
		}
	})
	if err != nil {
		return fmt.Errorf("preparing the context of case %s: %w", c.Name, err)
	}
	for _, d := range c.Dirs {
		if err := os.MkdirAll(filepath.Join(dst, d), 0o755); err != nil {
			return fmt.Errorf("case %s: dirs: %w", c.Name, err)
		}
	}
	keys := make([]string, 0, len(c.Modes))
	for k := range c.Modes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m, _ := strconv.ParseUint(c.Modes[k], 8, 32)
		if err := os.Chmod(filepath.Join(dst, k), os.FileMode(m&0o777)|modeBits(m)); err != nil {
			return fmt.Errorf("case %s: modes: %w", c.Name, err)
		}
	}
	return nil
}

func modeBits(m uint64) os.FileMode {
	var out os.FileMode
	if m&0o4000 != 0 {
		out |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= os.ModeSticky
	}
	return out
}

// SecretPath is the file a secret id reads from.
func (c *Case) SecretPath(id string) string {
	return filepath.Join(c.Dir, c.Secrets[id])
}

// DifferencesMarkdown is the table of every known difference of the
// cases, for docs/dockerfile-compatibility.md: case, platform, key,
// manyarch's value, BuildKit's (read from the case's expected dump) and
// the reason. The corpus test fails when the docs disagree, and rewrites
// them with -update.
func DifferencesMarkdown(cases []*Case) (string, error) {
	var b strings.Builder
	b.WriteString("| Case (BuildKit test) | Platform | Path or config field | manyarch | BuildKit | Why it stays |\n|---|---|---|---|---|---|\n")
	cell := func(s string) string {
		return "`" + strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "`", "'") + "`"
	}
	n := 0
	for _, c := range cases {
		for _, d := range c.Differences {
			p, shown := d.Platform, d.Platform
			if p == "" {
				p, shown = c.Platforms[0], "all"
			}
			want, err := c.ExpectedValue(p, d.Key)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "| %s (%s) | %s | %s | %s | %s | %s |\n", c.Name, c.BuildKit, shown, cell(d.Key),
				cell(d.Manyarch), cell(want), strings.Join(strings.Fields(d.Reason), " "))
			n++
		}
	}
	if n == 0 {
		b.WriteString("| (none) | | | | | |\n")
	}
	return b.String(), nil
}

// ExpectedValue is BuildKit's value of key in the case's expected dump
// for platform p, Absent when the dump has no such key.
func (c *Case) ExpectedValue(p, key string) (string, error) {
	b, err := os.ReadFile(c.ExpectedPath(p))
	if err != nil {
		return "", fmt.Errorf("case %s: %w", c.Name, err)
	}
	lines, err := Parse(string(b))
	if err != nil {
		return "", fmt.Errorf("%s: %w", c.ExpectedPath(p), err)
	}
	for _, l := range lines {
		if l.Key == key {
			return l.Value, nil
		}
	}
	return Absent, nil
}
