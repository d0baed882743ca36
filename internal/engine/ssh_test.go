//go:build unix

package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/plan"
	"github.com/manyarch/manyarch/internal/progress"
	"github.com/manyarch/manyarch/internal/sshagent"
	"github.com/manyarch/manyarch/internal/testutil"
)

// agentClient is a static client of the SSH agent protocol, standard
// library only (the fixture images have no ssh-add): it lists the keys of
// the agent at $SSH_AUTH_SOCK as "SHA256:FINGERPRINT COMMENT" lines, then
// has the first key sign "manyarch" and prints the signature in base64.
const agentClient = `package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
)

func fail(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...); os.Exit(1) }

func lp(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }

func call(c net.Conn, req []byte) []byte {
	if _, err := c.Write(lp(req)); err != nil {
		fail("write: %v", err)
	}
	var n [4]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		fail("read: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(c, b); err != nil {
		fail("read: %v", err)
	}
	return b
}

func str(b []byte) ([]byte, []byte) {
	n := binary.BigEndian.Uint32(b)
	return b[4 : 4+n], b[4+n:]
}

func main() {
	c, err := net.Dial("unix", os.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		fail("%v", err)
	}
	rep := call(c, []byte{11})
	if rep[0] != 12 {
		fail("list: reply %d", rep[0])
	}
	n, rest := binary.BigEndian.Uint32(rep[1:]), rep[5:]
	var first []byte
	for i := 0; i < int(n); i++ {
		var blob, comment []byte
		blob, rest = str(rest)
		comment, rest = str(rest)
		sum := sha256.Sum256(blob)
		fmt.Printf("SHA256:%s %s\n", base64.RawStdEncoding.EncodeToString(sum[:]), comment)
		if first == nil {
			first = blob
		}
	}
	if first == nil {
		return
	}
	req := append(append(append([]byte{13}, lp(first)...), lp([]byte("manyarch"))...), 0, 0, 0, 0)
	rep = call(c, req)
	if rep[0] != 14 {
		fail("sign: reply %d", rep[0])
	}
	sig, _ := str(rep[1:])
	fmt.Printf("signature %s\n", base64.StdEncoding.EncodeToString(sig))
}
`

var (
	agentClientOnce sync.Map // GOARCH -> *agentClientBuild
)

type agentClientBuild struct {
	once sync.Once
	bin  []byte
	err  error
}

// buildAgentClient compiles agentClient for linux/goarch.
func buildAgentClient(t *testing.T, goarch string) []byte {
	t.Helper()
	v, _ := agentClientOnce.LoadOrStore(goarch, &agentClientBuild{})
	b := v.(*agentClientBuild)
	b.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			b.err = err
			return
		}
		dir, err := os.MkdirTemp("", "agentls-")
		if err != nil {
			b.err = err
			return
		}
		defer os.RemoveAll(dir)
		os.WriteFile(filepath.Join(dir, "main.go"), []byte(agentClient), 0o644)
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module agentls\n\ngo 1.22\n"), 0o644)
		cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", "agentls", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOFLAGS=-buildvcs=false", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = errors.New(string(out))
			return
		}
		b.bin, b.err = os.ReadFile(filepath.Join(dir, "agentls"))
	})
	if b.err != nil {
		t.Fatalf("building the agent client for %s: %v", goarch, b.err)
	}
	return b.bin
}

// sshTestKey writes an unencrypted ed25519 key to dir/name.
func sshTestKey(t *testing.T, dir, name string) (string, ed25519.PrivateKey, ssh.PublicKey) {
	return testutil.WriteSSHKey(t, dir, name)
}

// checkAgentOutput checks what agentClient printed: the key and a
// signature it verifies.
func checkAgentOutput(t *testing.T, file string, pub ssh.PublicKey, comment string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Errorf("the RUN step's agent client output: %v", err)
		return
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != ssh.FingerprintSHA256(pub)+" "+comment {
		t.Errorf("%s = %q, want the key %s %s and a signature", file, b, ssh.FingerprintSHA256(pub), comment)
		return
	}
	blob, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "signature "))
	var sig ssh.Signature
	if err == nil {
		err = ssh.Unmarshal(blob, &sig)
	}
	if err == nil {
		err = pub.Verify([]byte("manyarch"), &sig)
	}
	if err != nil {
		t.Errorf("%s: the signature made in the RUN step does not verify: %v", file, err)
	}
}

// TestBuildSSH: RUN --mount=type=ssh reaches the agent of --ssh on every
// platform (arm64 under emulation): key files loaded into an agent served
// by manyarch, and a forwarded agent socket; uid, gid and mode apply; an
// optional mount without --ssh runs without the socket; nothing of the
// key is in the store, the image or the progress output; other keys
// reuse the cache (the key is no input of a step).
func TestBuildSSH(t *testing.T) { // long: one build on two platforms, a rebuild, a scan of the store
	env := e2eEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	ctxDir := filepath.Join(dir, "ctx")
	os.MkdirAll(ctxDir, 0o755)
	for _, arch := range []string{"amd64", "arm64"} {
		if err := os.WriteFile(filepath.Join(ctxDir, "agentls-"+arch), buildAgentClient(t, arch), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	keyFile, priv, pub := sshTestKey(t, dir, "id_build")
	_, upPriv, _ := ed25519.GenerateKey(rand.Reader)
	upPub, _ := ssh.NewPublicKey(upPriv.Public())
	sock := testutil.StartSSHAgent(t, t.TempDir(), "from-agent", upPriv)

	df := `FROM fixtures/busybox:1.35
ARG TARGETARCH
COPY agentls-${TARGETARCH} /agentls
RUN --mount=type=ssh test -S /run/buildkit/ssh_agent.0 && echo "$SSH_AUTH_SOCK" > /sock && /agentls > /keys
RUN --mount=type=ssh,id=deploy,target=/tmp/deploy.sock,uid=1000,gid=1001,mode=0660 SSH_AUTH_SOCK=/tmp/deploy.sock /agentls > /deploy-keys && stat -c '%u:%g %a' /tmp/deploy.sock > /deploy-stat
RUN --mount=type=ssh,id=absent sh -c 'test ! -e "$SSH_AUTH_SOCK" && echo "runs without $SSH_AUTH_SOCK" > /absent'
`
	var events bytes.Buffer
	var mu sync.Mutex
	out := filepath.Join(dir, "out")
	req := &Request{Dockerfile: []byte(df), DockerfileName: "Dockerfile", ContextDir: ctxDir,
		Platforms: parsePlatforms(t, "linux/amd64", "linux/arm64"), Tags: []string{"ssh:1"},
		SSH:     []sshagent.Spec{{ID: "default", Paths: []string{keyFile}}, {ID: "deploy", Paths: []string{sock}}},
		Attest:  Attest{SBOM: true, Provenance: "max"},
		Outputs: []Output{{Type: "local", Dest: out, Attrs: map[string]string{}}},
		Progress: func(e progress.Event) {
			mu.Lock()
			defer mu.Unlock()
			events.WriteString(e.Name + " " + e.Message + "\n")
		}}
	res, err := NewNative(NativeOptions{Env: env}).Build(ctx, req)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	for _, p := range []string{"linux_amd64", "linux_arm64"} {
		root := filepath.Join(out, p)
		checkFile(t, root, "sock", "/run/buildkit/ssh_agent.0\n", 0o644, 0, 0)
		checkAgentOutput(t, filepath.Join(root, "keys"), pub, "id_build")
		checkAgentOutput(t, filepath.Join(root, "deploy-keys"), upPub, "from-agent")
		checkFile(t, root, "deploy-stat", "1000:1001 660\n", 0o644, 0, 0)
		checkFile(t, root, "absent", "runs without /run/buildkit/ssh_agent.0\n", 0o644, 0, 0)
		for _, gone := range []string{"run/buildkit", "tmp/deploy.sock"} {
			if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
				t.Errorf("%s: the mount point %s was left in the image", p, gone)
			}
		}
	}
	st, err := env.Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range res.Platforms {
		cfg, err := imageFor(t, st, res, pr).ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range cfg.Config.Env {
			if strings.HasPrefix(e, "SSH_AUTH_SOCK=") {
				t.Errorf("the image's config keeps %s; BuildKit sets it for the RUN step only", e)
			}
		}
	}

	// Nothing of the key anywhere: not in a layer, the cache, the
	// provenance or the SBOM (the store holds them all), nor the progress.
	pemBody, _ := os.ReadFile(keyFile)
	lines := strings.Split(string(pemBody), "\n")
	secrets := [][]byte{priv.Seed(), []byte(lines[2]), []byte(base64.StdEncoding.EncodeToString(priv.Seed()))}
	if err := filepath.WalkDir(env.StoreRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
			if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
				if u, err := io.ReadAll(zr); err == nil {
					b = u
				}
			}
		}
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("the private key is in %s", p)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(events.Bytes(), s) {
			t.Errorf("the private key is in the progress output")
		}
	}

	// Another key: every step is reused from the cache, as in BuildKit.
	other, _, _ := sshTestKey(t, dir, "id_other")
	req2 := *req
	req2.Outputs, req2.Progress = nil, nil
	req2.SSH = []sshagent.Spec{{ID: "default", Paths: []string{other}}, {ID: "deploy", Paths: []string{sock}}}
	res2, err := NewNative(NativeOptions{Env: env}).Build(ctx, &req2)
	if err != nil {
		t.Fatalf("rebuild with another key: %v", err)
	}
	for _, pr := range res2.Platforms {
		for i, s := range pr.Steps {
			// config steps are never "cached" and take no time
			if !s.Cached && s.Duration > 0 {
				t.Errorf("rebuild with another key: step %d of %s ran again, want it cached", i+1, pr.Platform.Architecture)
			}
		}
	}
}

// TestBuildSSHErrors: a required mount without its --ssh id, and a bad
// key, fail before anything runs, and name what to do.
func TestBuildSSHErrors(t *testing.T) {
	env := e2eEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	enc := filepath.Join(dir, "id_enc")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, _ := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pass"))
	os.WriteFile(enc, pem.EncodeToMemory(blk), 0o600)
	good, _, _ := sshTestKey(t, dir, "id_good")
	for _, tc := range []struct {
		name string
		df   string
		ssh  []sshagent.Spec
		want []string
	}{
		{"required default", "FROM fixtures/busybox:1.35\nRUN --mount=type=ssh,required=true true\n", nil,
			[]string{"Dockerfile:2", "id default", "no --ssh was given", "--ssh default"}},
		{"required id", "FROM fixtures/busybox:1.35\nRUN echo hi > /x\nRUN --mount=type=ssh,id=github,required=true true\n", []sshagent.Spec{{ID: "default", Paths: []string{good}}},
			[]string{"Dockerfile:3", "id=github,required=true", "--ssh gave default", "--ssh github="}},
		{"encrypted key", "FROM fixtures/busybox:1.35\nRUN --mount=type=ssh true\n", []sshagent.Spec{{ID: "default", Paths: []string{enc}}},
			[]string{"--ssh default=" + enc, "passphrase"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran bool
			_, err := NewNative(NativeOptions{Env: env}).Build(ctx, &Request{Dockerfile: []byte(tc.df), DockerfileName: "Dockerfile",
				ContextDir: dir, Platforms: parsePlatforms(t, "linux/amd64"), Tags: []string{"bad:1"}, SSH: tc.ssh,
				Progress: func(e progress.Event) { ran = ran || e.Status == progress.StatusRunning }})
			if err == nil {
				t.Fatal("Build succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Build = %q, want it to contain %q", err, w)
				}
			}
			if ran {
				t.Error("a step ran before the error")
			}
		})
	}
}

// TestCheckSSH: only a required mount whose id has no --ssh fails, at its
// line.
func TestCheckSSH(t *testing.T) {
	dir := t.TempDir()
	key, _, _ := sshTestKey(t, dir, "id")
	agents, err := sshagent.Load(context.Background(), []sshagent.Spec{{ID: "deploy", Paths: []string{key}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		df   string
		want string // "" for no error
	}{
		{"FROM scratch\nRUN --mount=type=ssh true\n", ""},
		{"FROM scratch\nRUN --mount=type=ssh,id=deploy,required=true true\n", ""},
		{"FROM scratch\nRUN --mount=type=ssh,id=deploy,required true\nRUN --mount=type=ssh,required=true true\n", "Dockerfile:3"},
	} {
		err := checkSSH(mustPlan(t, tc.df, plan.Options{}), agents)
		var de *dockerfile.Error
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("checkSSH(%q) = %v, want nil", tc.df, err)
		case tc.want != "" && (!errors.As(err, &de) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("checkSSH(%q) = %v, want a located error at %s", tc.df, err, tc.want)
		}
	}
}
