package builders

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/platform"
)

// Local is the name of the built-in (native, daemonless) engine.
const Local = "local"

// EnvBuilder names the builder used when --builder is not given.
const EnvBuilder = "MANYARCH_BUILDER"

// FileName is the configuration file inside the config directory.
const FileName = "builders.json"

// maxConfigSize bounds builders.json.
const maxConfigSize = 1 << 20

// Config is the content of builders.json.
type Config struct {
	// Current is the default builder (builder use); "" is Local.
	Current  string    `json:"current,omitempty"`
	Builders []Builder `json:"builders"`
}

// Builder is a named set of BuildKit nodes.
type Builder struct {
	Name  string `json:"name"`
	Nodes []Node `json:"nodes"`
}

// Node is one BuildKit daemon.
type Node struct {
	// Name is NAME0, NAME1, ... in the order given (as buildx names them).
	Name string `json:"name"`
	// Addr is unix:///PATH or tcp://HOST:PORT.
	Addr string `json:"addr"`
	// Platforms are the platforms this node is meant to build natively,
	// in the form platform.Format gives; empty means those its workers
	// report.
	Platforms []string `json:"platforms,omitempty"`
	TLS       TLS      `json:"tls,omitzero"`
}

// TLS holds the files of a node's TLS client configuration (absolute paths).
type TLS struct {
	CA   string `json:"ca,omitempty"`
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
}

// IsZero reports whether no TLS file is set.
func (t TLS) IsZero() bool { return t == TLS{} }

// PlatformSpecs parses n.Platforms.
func (n Node) PlatformSpecs() ([]specs.Platform, error) {
	if len(n.Platforms) == 0 {
		return nil, nil
	}
	return platform.ParseList(n.Platforms...)
}

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`) })

// CheckName checks a builder name.
func CheckName(name string) error {
	if !nameRE().MatchString(name) {
		return fmt.Errorf("%w: builder name %q: use letters, digits, '_', '.', '-' (at most 63), starting with a letter or digit", ErrBadSpec, name)
	}
	return nil
}

// CheckAddr checks a node address: unix:///ABSOLUTE/PATH or tcp://HOST:PORT.
func CheckAddr(addr string) error {
	u, err := url.Parse(addr)
	if err != nil {
		return fmt.Errorf("%w: node address %q: %v", ErrBadSpec, addr, err)
	}
	switch u.Scheme {
	case "unix":
		if u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			return fmt.Errorf("%w: node address %q: write unix:///ABSOLUTE/PATH.sock", ErrBadSpec, addr)
		}
	case "tcp":
		if u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("%w: node address %q: write tcp://HOST:PORT", ErrBadSpec, addr)
		}
	default:
		return fmt.Errorf("%w: node address %q: want unix:///PATH.sock or tcp://HOST:PORT", ErrBadSpec, addr)
	}
	return nil
}

// ParseNode parses a --node value, PLATFORMS=ADDR or ADDR alone
// (PLATFORMS a comma list: linux/arm64,linux/arm/v7).
func ParseNode(s string) (Node, error) {
	s = strings.TrimSpace(s)
	var n Node
	addr := s
	if i := strings.Index(s, "="); i >= 0 && !strings.Contains(s[:i], "://") {
		ps, err := platform.ParseList(s[:i])
		if err != nil {
			return Node{}, fmt.Errorf("%w: --node %s: %v", ErrBadSpec, s, err)
		}
		for _, p := range ps {
			n.Platforms = append(n.Platforms, platform.Format(p))
		}
		addr = s[i+1:]
	}
	if err := CheckAddr(addr); err != nil {
		return Node{}, fmt.Errorf("--node %s: %w", s, err)
	}
	n.Addr = addr
	return n, nil
}

// New makes a builder from nodes, naming them NAME0, NAME1, ...; TLS file
// paths are made absolute and must exist.
func New(name string, nodes []Node) (Builder, error) {
	if err := CheckName(name); err != nil {
		return Builder{}, err
	}
	if name == Local {
		return Builder{}, fmt.Errorf("%w: %q is the built-in engine; choose another name", ErrBadSpec, Local)
	}
	if len(nodes) == 0 {
		return Builder{}, fmt.Errorf("%w: builder %s: give at least one --node PLATFORMS=ADDR", ErrBadSpec, name)
	}
	b := Builder{Name: name}
	for i, n := range nodes {
		n.Name = fmt.Sprintf("%s%d", name, i)
		if err := CheckAddr(n.Addr); err != nil {
			return Builder{}, err
		}
		if _, err := n.PlatformSpecs(); err != nil {
			return Builder{}, fmt.Errorf("%w: node %s: %v", ErrBadSpec, n.Name, err)
		}
		for _, f := range []*string{&n.TLS.CA, &n.TLS.Cert, &n.TLS.Key} {
			if *f == "" {
				continue
			}
			abs, err := filepath.Abs(*f)
			if err != nil {
				return Builder{}, fmt.Errorf("node %s: TLS file %s: %w", n.Name, *f, err)
			}
			if _, err := os.Stat(abs); err != nil {
				return Builder{}, fmt.Errorf("node %s: TLS file: %w", n.Name, err)
			}
			*f = abs
		}
		if (n.TLS.Cert == "") != (n.TLS.Key == "") {
			return Builder{}, fmt.Errorf("%w: node %s: --tls-cert and --tls-key go together", ErrBadSpec, n.Name)
		}
		b.Nodes = append(b.Nodes, n)
	}
	return b, nil
}

// Ephemeral is the one-node builder of `build --builder unix://...|tcp://...`.
func Ephemeral(addr string) (Builder, error) {
	if err := CheckAddr(addr); err != nil {
		return Builder{}, err
	}
	return Builder{Name: addr, Nodes: []Node{{Name: addr, Addr: addr}}}, nil
}

// ConfigDir is manyarch's config directory: $XDG_CONFIG_HOME/manyarch,
// else ~/.config/manyarch (os.UserConfigDir's choice on other systems).
func ConfigDir() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "manyarch"), nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the config directory: %w (set XDG_CONFIG_HOME)", err)
	}
	return filepath.Join(d, "manyarch"), nil
}

// Store reads and writes builders.json in one directory.
type Store struct{ dir string }

// Open returns the store of dir (created on the first write).
func Open(dir string) *Store { return &Store{dir: dir} }

// File is builders.json's path.
func (s *Store) File() string { return filepath.Join(s.dir, FileName) }

// Load reads the configuration; a missing file is an empty one.
func (s *Store) Load() (*Config, error) {
	f, err := os.Open(s.File())
	if errors.Is(err, os.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, &ConfigError{File: s.File(), Err: err}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, &ConfigError{File: s.File(), Err: err}
	}
	if len(b) > maxConfigSize {
		return nil, &ConfigError{File: s.File(), Err: fmt.Errorf("larger than %d bytes", maxConfigSize)}
	}
	c, err := parse(b)
	if err != nil {
		return nil, &ConfigError{File: s.File(), Err: err}
	}
	return c, nil
}

func parse(b []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, b := range c.Builders {
		if err := CheckName(b.Name); err != nil {
			return nil, err
		}
		if seen[b.Name] || b.Name == Local {
			return nil, fmt.Errorf("builder %s listed twice (or named %s)", b.Name, Local)
		}
		seen[b.Name] = true
		if len(b.Nodes) == 0 {
			return nil, fmt.Errorf("builder %s has no nodes", b.Name)
		}
		for _, n := range b.Nodes {
			if err := CheckAddr(n.Addr); err != nil {
				return nil, fmt.Errorf("builder %s node %s: %w", b.Name, n.Name, err)
			}
			if _, err := n.PlatformSpecs(); err != nil {
				return nil, fmt.Errorf("builder %s node %s: %w", b.Name, n.Name, err)
			}
		}
	}
	if c.Current != "" && c.Current != Local && !seen[c.Current] {
		return nil, fmt.Errorf("current builder %s is not defined", c.Current)
	}
	return &c, nil
}

// Update applies change to the configuration under an exclusive lock and
// writes it atomically; when change fails nothing is written.
func (s *Store) Update(ctx context.Context, change func(*Config) error) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", s.dir, err)
	}
	lock, err := fsutil.LockFile(ctx, filepath.Join(s.dir, ".builders.lock"), 0o600, true)
	if err != nil {
		return fmt.Errorf("locking %s: %w", s.File(), err)
	}
	defer lock.Unlock()
	c, err := s.Load()
	if err != nil {
		return err
	}
	if err := change(c); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileBytes(s.File(), 0o600, append(b, '\n')); err != nil {
		return fmt.Errorf("writing %s: %w", s.File(), err)
	}
	return nil
}

// Get returns the builder called name.
func (c *Config) Get(name string) (Builder, error) {
	for _, b := range c.Builders {
		if b.Name == name {
			return b, nil
		}
	}
	return Builder{}, fmt.Errorf("%w: %s (see `manyarch builder ls`)", ErrNotFound, name)
}

// Add adds b; the name must be free.
func (c *Config) Add(b Builder) error {
	if _, err := c.Get(b.Name); err == nil {
		return fmt.Errorf("%w: %s (remove it first with `manyarch builder rm %s`)", ErrExists, b.Name, b.Name)
	}
	c.Builders = append(c.Builders, b)
	return nil
}

// Remove removes the builder called name; the default goes back to Local
// when it was name.
func (c *Config) Remove(name string) error {
	if name == Local {
		return fmt.Errorf("%w: %s is built in and cannot be removed", ErrBadSpec, Local)
	}
	for i, b := range c.Builders {
		if b.Name == name {
			c.Builders = append(c.Builders[:i], c.Builders[i+1:]...)
			if c.Current == name {
				c.Current = ""
			}
			return nil
		}
	}
	return fmt.Errorf("%w: %s (see `manyarch builder ls`)", ErrNotFound, name)
}

// Use makes name the default builder.
func (c *Config) Use(name string) error {
	if name == Local {
		c.Current = ""
		return nil
	}
	if _, err := c.Get(name); err != nil {
		return err
	}
	c.Current = name
	return nil
}

// Resolve returns the builder a build uses: spec (a --builder value: a
// name, unix://... or tcp://...), else $MANYARCH_BUILDER, else the default.
// local reports the built-in engine (b is then the zero Builder).
func (c *Config) Resolve(spec, env string) (b Builder, local bool, err error) {
	if spec == "" {
		spec = env
	}
	if spec == "" {
		spec = c.Current
	}
	if spec == "" || spec == Local {
		return Builder{}, true, nil
	}
	if strings.Contains(spec, "://") {
		b, err := Ephemeral(spec)
		return b, false, err
	}
	b, err = c.Get(spec)
	return b, false, err
}
