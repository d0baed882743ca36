package builders

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestParseNode(t *testing.T) {
	for _, tt := range []struct {
		in        string
		addr      string
		platforms []string
		err       string
	}{
		{in: "linux/amd64=unix:///run/bk.sock", addr: "unix:///run/bk.sock", platforms: []string{"linux/amd64"}},
		{in: "arm64,armhf=tcp://10.0.0.7:1234", addr: "tcp://10.0.0.7:1234", platforms: []string{"linux/arm64", "linux/arm/v7"}},
		{in: "tcp://host:1234", addr: "tcp://host:1234"},
		{in: "linux/amd64=http://host:1234", err: "want unix:///PATH.sock or tcp://HOST:PORT"},
		{in: "linux/amd64=tcp://host", err: "write tcp://HOST:PORT"},
		{in: "linux/amd64=unix://relative.sock", err: "unix:///ABSOLUTE/PATH.sock"},
		{in: "linux/nonsense=tcp://h:1", err: "--node linux/nonsense=tcp://h:1"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			n, err := ParseNode(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrBadSpec) {
					t.Fatalf("ParseNode(%q) = %v, want an ErrBadSpec containing %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || n.Addr != tt.addr || !reflect.DeepEqual(n.Platforms, tt.platforms) {
				t.Fatalf("ParseNode(%q) = %+v, %v, want addr %s platforms %v", tt.in, n, err, tt.addr, tt.platforms)
			}
		})
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	n0, _ := ParseNode("linux/amd64=tcp://a:1")
	n1, _ := ParseNode("linux/arm64=tcp://b:1")
	n1.TLS.CA = ca
	b, err := New("farm", []Node{n0, n1})
	if err != nil {
		t.Fatal(err)
	}
	if b.Nodes[0].Name != "farm0" || b.Nodes[1].Name != "farm1" || b.Nodes[1].TLS.CA != ca {
		t.Fatalf("New = %+v, want nodes farm0, farm1 with the CA", b)
	}
	for _, tt := range []struct {
		name  string
		nodes []Node
		err   string
	}{
		{"local", []Node{n0}, "built-in engine"},
		{"../x", []Node{n0}, "builder name"},
		{"empty", nil, "at least one --node"},
		{"tls", []Node{{Addr: "tcp://a:1", TLS: TLS{CA: filepath.Join(dir, "missing.pem")}}}, "missing.pem"},
		{"half", []Node{{Addr: "tcp://a:1", TLS: TLS{Cert: ca}}}, "--tls-cert and --tls-key go together"},
	} {
		if _, err := New(tt.name, tt.nodes); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("New(%q) = %v, want an error containing %q", tt.name, err, tt.err)
		}
	}
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	s := Open(filepath.Join(t.TempDir(), "manyarch"))
	c, err := s.Load()
	if err != nil || len(c.Builders) != 0 {
		t.Fatalf("Load of a missing file = %+v, %v, want empty", c, err)
	}
	n, _ := ParseNode("linux/amd64=tcp://a:1")
	// Concurrent updates all land (the lock serializes them).
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b", "c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := New(name, []Node{n})
			if err == nil {
				err = s.Update(ctx, func(c *Config) error { return c.Add(b) })
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if c, err = s.Load(); err != nil || len(c.Builders) != 4 {
		t.Fatalf("after 4 concurrent adds: %+v, %v", c, err)
	}
	if err := s.Update(ctx, func(c *Config) error { return c.Add(Builder{Name: "a", Nodes: []Node{n}}) }); !errors.Is(err, ErrExists) {
		t.Fatalf("adding a twice = %v, want ErrExists", err)
	}
	if err := s.Update(ctx, func(c *Config) error { return c.Use("b") }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(c *Config) error { return c.Use("zz") }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("use zz = %v, want ErrNotFound", err)
	}
	c, _ = s.Load()
	b, local, err := c.Resolve("", "")
	if err != nil || local || b.Name != "b" {
		t.Fatalf("Resolve default = %v %v %v, want b", b.Name, local, err)
	}
	if b, local, _ = c.Resolve("", "c"); b.Name != "c" || local {
		t.Fatalf("Resolve from the environment = %v, want c", b.Name)
	}
	if _, local, _ = c.Resolve("local", "c"); !local {
		t.Fatal("Resolve(local) is not local")
	}
	if b, _, err = c.Resolve("unix:///x.sock", ""); err != nil || len(b.Nodes) != 1 || b.Nodes[0].Addr != "unix:///x.sock" {
		t.Fatalf("Resolve(unix:///x.sock) = %+v, %v", b, err)
	}
	if err := s.Update(ctx, func(c *Config) error { return c.Remove("b") }); err != nil {
		t.Fatal(err)
	}
	if c, _ = s.Load(); c.Current != "" {
		t.Fatalf("removing the default left Current = %q, want local", c.Current)
	}
	// A failing change writes nothing.
	before, _ := os.ReadFile(s.File())
	_ = s.Update(ctx, func(c *Config) error { c.Builders = nil; return errors.New("no") })
	if after, _ := os.ReadFile(s.File()); string(before) != string(after) {
		t.Fatal("a failed Update changed the file")
	}
}

func TestLoadRefuses(t *testing.T) {
	for _, tt := range []struct{ name, json, err string }{
		{"unknown field", `{"builders":[],"extra":1}`, "unknown field"},
		{"bad addr", `{"builders":[{"name":"x","nodes":[{"name":"x0","addr":"ftp://h"}]}]}`, "node x0"},
		{"no nodes", `{"builders":[{"name":"x","nodes":[]}]}`, "no nodes"},
		{"dangling current", `{"current":"y","builders":[]}`, "current builder y"},
		{"twice", `{"builders":[{"name":"x","nodes":[{"name":"x0","addr":"tcp://h:1"}]},{"name":"x","nodes":[{"name":"x0","addr":"tcp://h:1"}]}]}`, "twice"},
		{"not json", `{`, "unexpected EOF"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, FileName), []byte(tt.json), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir).Load()
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
				t.Fatalf("Load(%s) = %v, want a ConfigError naming the file and %q", tt.json, err, tt.err)
			}
		})
	}
}

func TestConfigDir(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/x/cfg")
	if d, err := ConfigDir(); err != nil || d != "/x/cfg/manyarch" {
		t.Fatalf("ConfigDir() = %q, %v, want /x/cfg/manyarch", d, err)
	}
}
