package buildkit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/manyarch/manyarch/internal/builders"
	"github.com/manyarch/manyarch/internal/sshagent"
)

// TestSSH: --ssh reaches a node's RUN --mount=type=ssh through BuildKit's
// session ssh provider; a bad key is refused before any node is asked.
func TestSSH(t *testing.T) {
	n := startDaemon(t, "linux/amd64")
	b, err := builders.New("one", []builders.Node{{Addr: n.addr, Platforms: []string{"linux/amd64"}}})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, "FROM fixtures/busybox:1.35\n"+
		"RUN --mount=type=ssh,required=true test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /ssh\n")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eng := New(Options{Builder: b, Env: f.env})

	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, _ := ssh.MarshalPrivateKey(priv, "")
	key := filepath.Join(t.TempDir(), "id_ed25519")
	os.WriteFile(key, pem.EncodeToMemory(blk), 0o600)
	req := f.request(t, "bk/ssh:1", "linux/amd64")
	req.SSH = []sshagent.Spec{{ID: "default", Paths: []string{key}}}
	res, err := eng.Build(ctx, req)
	if err != nil {
		t.Fatalf("Build with --ssh default=KEY: %v", err)
	}
	files := topFiles(t, imageFor(t, f.st, "bk/ssh:1", res.Platforms[0].Platform))
	if files["ssh"] != "/run/buildkit/ssh_agent.0\n" {
		t.Errorf("/ssh = %q, want the agent socket's path", files["ssh"])
	}

	encBlk, _ := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pass"))
	enc := filepath.Join(t.TempDir(), "id_enc")
	os.WriteFile(enc, pem.EncodeToMemory(encBlk), 0o600)
	req = f.request(t, "bk/ssh:2", "linux/amd64")
	req.SSH = []sshagent.Spec{{ID: "default", Paths: []string{enc}}}
	if _, err := eng.Build(ctx, req); err == nil || !strings.Contains(err.Error(), "passphrase") || !strings.Contains(err.Error(), "--ssh default="+enc) {
		t.Errorf("Build with an encrypted key = %v, want the native engine's error", err)
	}
}
