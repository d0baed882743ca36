//go:build unix

package sshagent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/manyarch/manyarch/internal/testutil"
)

// testKey writes an ed25519 private key in the OpenSSH format to
// dir/name (encrypted with passphrase when it is not empty) and returns
// its public key.
func testKey(t *testing.T, dir, name, passphrase string) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var blk *pem.Block
	if passphrase == "" {
		blk, err = ssh.MarshalPrivateKey(priv, "test key")
	} else {
		blk, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test key", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return p, sp
}

func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good, _ := testKey(t, dir, "id_good", "")
	enc, _ := testKey(t, dir, "id_enc", "secret passphrase")
	pub := filepath.Join(dir, "id_good.pub")
	_, spub := testKey(t, dir, "other", "")
	os.WriteFile(pub, ssh.MarshalAuthorizedKey(spub), 0o644)
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("not a key\n"), 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, maxKeySize+1), 0o600)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "unreadable")
	os.WriteFile(unreadable, []byte("x"), 0)
	if os.Geteuid() == 0 {
		// root reads a mode 0 file; /proc/self/mem is a regular file no
		// one can read from its start.
		unreadable = "/proc/self/mem"
	}
	// A socket whose agent is gone.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	// A socket that answers, but not as an agent.
	notAgent := filepath.Join(dir, "http.sock")
	nl, err := net.Listen("unix", notAgent)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	go func() {
		for {
			c, err := nl.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	live := testutil.StartSSHAgent(t, t.TempDir(), "upstream")

	for _, tc := range []struct {
		name  string
		specs []Spec
		env   string
		want  []string
	}{
		{"missing file", []Spec{{ID: "default", Paths: []string{filepath.Join(dir, "nope")}}}, "", []string{"--ssh default=" + dir + "/nope", "no such file"}},
		{"encrypted key", []Spec{{ID: "git", Paths: []string{enc}}}, "", []string{"--ssh git=" + enc, "encrypted with a passphrase", "ssh-add " + enc}},
		{"public key", []Spec{{ID: "git", Paths: []string{pub}}}, "", []string{pub + " is a public key", "without .pub"}},
		{"not a key", []Spec{{ID: "git", Paths: []string{junk}}}, "", []string{junk + " is neither an unencrypted PEM or OpenSSH private key nor an agent socket"}},
		{"too big", []Spec{{ID: "git", Paths: []string{big}}}, "", []string{"larger than 100 KiB"}},
		{"directory", []Spec{{ID: "git", Paths: []string{dir}}}, "", []string{dir + " is a directory"}},
		{"named pipe", []Spec{{ID: "git", Paths: []string{fifo}}}, "", []string{fifo + " is a named pipe"}},
		{"unreadable", []Spec{{ID: "git", Paths: []string{unreadable}}}, "", []string{"--ssh git=" + unreadable, "reading the key"}},
		{"stale socket", []Spec{{ID: "default", Paths: []string{stale}}}, "", []string{"no agent answers on " + stale, "ssh-agent"}},
		{"not an agent", []Spec{{ID: "default", Paths: []string{notAgent}}}, "", []string{"does not answer a request to list keys"}},
		{"no SSH_AUTH_SOCK", []Spec{{ID: "default"}}, "", []string{"--ssh default: SSH_AUTH_SOCK is not set", "--ssh default=$HOME/.ssh/id_ed25519"}},
		{"SSH_AUTH_SOCK gone", []Spec{{ID: "default"}}, filepath.Join(dir, "gone.sock"), []string{"--ssh default:", "gone.sock"}},
		{"socket and key", []Spec{{ID: "x", Paths: []string{live, good}}}, "", []string{"one agent socket or key files, not both"}},
		{"key and socket", []Spec{{ID: "x", Paths: []string{good, live}}}, "", []string{"one agent socket or key files, not both"}},
		{"twice", []Spec{{ID: "x", Paths: []string{good}}, {ID: "x", Paths: []string{live}}}, "", []string{"id x is given twice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SSH_AUTH_SOCK", tc.env)
			a, err := Load(ctx, tc.specs)
			if err == nil {
				t.Fatalf("Load(%v) = %v, want an error", tc.specs, a.IDs())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load(%v) = %q, want it to contain %q", tc.specs, err, w)
				}
			}
		})
	}
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	p1, pub1 := testKey(t, dir, "id_ed25519", "")
	// A PKCS#1 PEM RSA key, as older ssh-keygen writes.
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p2 := filepath.Join(dir, "id_rsa")
	os.WriteFile(p2, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), 0o600)
	pub2, _ := ssh.NewPublicKey(&rk.PublicKey)

	a, err := Load(context.Background(), []Spec{{ID: "deploy", Paths: []string{p1, p2}}})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Has("deploy") || a.Has("default") || strings.Join(a.IDs(), ",") != "deploy" {
		t.Errorf("Load: ids %v, Has(deploy) %t, Has(default) %t; want only deploy", a.IDs(), a.Has("deploy"), a.Has("default"))
	}
	keys, err := a.byID["deploy"].keys.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || string(keys[0].Blob) != string(pub1.Marshal()) || string(keys[1].Blob) != string(pub2.Marshal()) ||
		keys[0].Comment != "id_ed25519" || keys[1].Comment != "id_rsa" {
		t.Errorf("Load(two keys) lists %v, want the ed25519 and the RSA key named after their files", keys)
	}
	// RSA keys sign with rsa-sha2-256 when asked, as OpenSSH clients ask.
	s, err := a.Serve(context.Background(), "deploy", SocketOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("unix", s.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sig, err := agent.NewClient(c).SignWithFlags(pub2, []byte("data"), agent.SignatureFlagRsaSha256)
	if err != nil || sig.Format != ssh.KeyAlgoRSASHA256 || pub2.Verify([]byte("data"), sig) != nil {
		t.Errorf("SignWithFlags(RSA, rsa-sha2-256) = %v, %v; want a valid rsa-sha2-256 signature", sig, err)
	}
	var none *Agents
	if none.Has("default") || none.IDs() != nil {
		t.Error("nil Agents has ids")
	}
}
