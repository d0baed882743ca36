//go:build unix

package sshagent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/manyarch/manyarch/internal/testutil"
)

// dialAgent connects to the agent on sock.
func dialAgent(t *testing.T, sock string) agent.ExtendedAgent {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return agent.NewClient(c)
}

func TestServeKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, pub := testKey(t, dir, "id_ed25519", "")
	a, err := Load(ctx, []Spec{{ID: "default", Paths: []string{p}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.Serve(ctx, "default", SocketOptions{Dir: dir, UID: 1234, GID: 5678, Mode: 0o660})
	if err != nil {
		t.Fatal(err)
	}
	sockDir := filepath.Dir(s.Socket)
	if fi, err := os.Stat(sockDir); err != nil || fi.Mode().Perm() != 0o700 || filepath.Dir(sockDir) != dir {
		t.Errorf("socket directory %s: %v, %v; want a 0700 directory in %s", sockDir, fi.Mode(), err, dir)
	}
	fi, err := os.Stat(s.Socket)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket %s: %v, %v; want a socket of mode 0660", s.Socket, fi.Mode(), err)
	}
	if st := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && (st.Uid != 1234 || st.Gid != 5678) {
		t.Errorf("socket owned by %d:%d, want 1234:5678", st.Uid, st.Gid)
	}

	c := dialAgent(t, s.Socket)
	keys, err := c.List()
	if err != nil || len(keys) != 1 || string(keys[0].Blob) != string(pub.Marshal()) {
		t.Fatalf("List() = %v, %v; want the key of %s", keys, err, p)
	}
	data := []byte("challenge")
	sig, err := c.Sign(pub, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Verify(data, sig); err != nil {
		t.Errorf("the served agent's signature does not verify: %v", err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	for name, err := range map[string]error{
		"Add":       c.Add(agent.AddedKey{PrivateKey: other}),
		"Remove":    c.Remove(pub),
		"RemoveAll": c.RemoveAll(),
		"Lock":      c.Lock([]byte("x")),
	} {
		if err == nil {
			t.Errorf("%s through the served agent succeeded, want it refused", name)
		}
	}
	if keys, err := c.List(); err != nil || len(keys) != 1 {
		t.Errorf("after refused changes List() = %v, %v; want the one key", keys, err)
	}

	// An extension request (here session-bind, which OpenSSH sends)
	// gets SSH_AGENT_FAILURE and the connection goes on.
	raw, err := net.Dial("unix", s.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, req := range [][]byte{{27, 0, 0, 0, 0}, {agentRequestIdentities}} {
		if err := writeMessage(raw, req); err != nil {
			t.Fatal(err)
		}
		rep, err := readMessage(raw)
		if want := byte(agentFailure); req[0] == agentRequestIdentities {
			want = agentIdentitiesAnswer
			if err != nil || rep[0] != want {
				t.Errorf("request %d: reply %v, %v; want type %d", req[0], rep, err, want)
			}
		} else if err != nil || len(rep) != 1 || rep[0] != want {
			t.Errorf("request %d: reply %v, %v; want SSH_AGENT_FAILURE", req[0], rep, err)
		}
	}

	// A second client at once.
	if keys, err := dialAgent(t, s.Socket).List(); err != nil || len(keys) != 1 {
		t.Errorf("second client: List() = %v, %v", keys, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sockDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close the socket's directory %s is still there (%v)", sockDir, err)
	}
	if _, err := c.List(); err == nil {
		t.Error("after Close a connected client still gets answers")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestServeForwards(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	up := testutil.StartSSHAgent(t, t.TempDir(), "upstream", priv)
	t.Setenv("SSH_AUTH_SOCK", up)
	a, err := Load(ctx, []Spec{{ID: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Serve(ctx, "github", SocketOptions{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no --ssh github") {
		t.Errorf("Serve(unknown id) = %v, want an error naming it", err)
	}
	// A parent too long for a socket path: the socket goes to TMPDIR.
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 120))
	if err := os.MkdirAll(long, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := a.Serve(ctx, "default", SocketOptions{Dir: long})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Socket) > maxSocketPath || strings.HasPrefix(s.Socket, long) {
		t.Errorf("Serve(long dir) socket %s, want one under %s", s.Socket, os.TempDir())
	}
	if fi, err := os.Stat(s.Socket); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, %v; want 0600 by default", fi.Mode(), err)
	}
	c := dialAgent(t, s.Socket)
	keys, err := c.List()
	if err != nil || len(keys) != 1 || keys[0].Comment != "upstream" {
		t.Fatalf("List() through the forward = %v, %v; want the upstream agent's key", keys, err)
	}
	if err := c.RemoveAll(); err == nil {
		t.Error("RemoveAll through the forward succeeded, want it refused")
	}
	pub, _ := ssh.NewPublicKey(priv.Public())
	if sig, err := c.Sign(pub, []byte("data")); err != nil || pub.Verify([]byte("data"), sig) != nil {
		t.Errorf("Sign through the forward = %v, %v; want a valid signature", sig, err)
	}
	if keys, _ := dialAgent(t, up).List(); len(keys) != 1 {
		t.Errorf("the upstream agent has %d keys after a refused RemoveAll, want 1", len(keys))
	}
	// The end of ctx stops the server and removes its directory.
	cancel()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, err := os.Stat(filepath.Dir(s.Socket))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5s after the context ended the socket's directory is still there (%v)", err)
		}
	}
}
