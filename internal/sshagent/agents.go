package sshagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// maxKeySize bounds a key file: BuildKit's provider reads at most 100 KiB.
const maxKeySize = 100 << 10

// dialTimeout bounds connecting to a forwarded agent.
const dialTimeout = 2 * time.Second

// Agents are the checked --ssh ids of one build.
type Agents struct {
	byID map[string]*source
}

// source is one id: a forwarded agent socket, or keys held here.
type source struct {
	spec   Spec
	socket string              // a forwarded agent, dialed per connection
	keys   agent.ExtendedAgent // or the keys of key files, held in memory
}

// Load checks specs and loads their key files. A socket must be a unix
// socket on which an agent answers; a key file must hold one unencrypted
// PEM or OpenSSH private key. Errors name the --ssh value and the path,
// never a key's content. No specs gives empty Agents.
func Load(ctx context.Context, specs []Spec) (*Agents, error) {
	a := &Agents{byID: map[string]*source{}}
	for _, sp := range specs {
		if sp.ID == "" {
			return nil, fmt.Errorf("--ssh %s: the id is empty", sp)
		}
		if _, dup := a.byID[sp.ID]; dup {
			return nil, fmt.Errorf("--ssh %s: id %s is given twice: give each id once (ID=SOCKET, or ID=KEY1,KEY2 for several keys)", sp, sp.ID)
		}
		src, err := load(ctx, sp)
		if err != nil {
			return nil, err
		}
		a.byID[sp.ID] = src
	}
	return a, nil
}

// Has reports whether id was given with --ssh.
func (a *Agents) Has(id string) bool {
	if a == nil {
		return false
	}
	_, ok := a.byID[id]
	return ok
}

// IDs are the ids given, sorted.
func (a *Agents) IDs() []string {
	if a == nil {
		return nil
	}
	ids := make([]string, 0, len(a.byID))
	for id := range a.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func load(ctx context.Context, sp Spec) (*source, error) {
	paths := sp.Paths
	if len(paths) == 0 || len(paths) == 1 && paths[0] == "" {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, fmt.Errorf("--ssh %s: SSH_AUTH_SOCK is not set, so there is no agent to forward: start one (eval $(ssh-agent); ssh-add), or name key files (--ssh %s=$HOME/.ssh/id_ed25519)", sp, sp.ID)
		}
		paths = []string{sock}
	}
	src := &source{spec: sp}
	var keyring agent.ExtendedAgent
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("--ssh %s: %w: want an agent socket or a private key file", sp, err)
		}
		switch {
		case fi.Mode()&os.ModeSocket != 0:
			if src.socket != "" || keyring != nil {
				return nil, fmt.Errorf("--ssh %s: give one agent socket or key files, not both nor two sockets (use another id for the other)", sp)
			}
			if err := checkSocket(ctx, p); err != nil {
				return nil, fmt.Errorf("--ssh %s: %w", sp, err)
			}
			src.socket = p
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("--ssh %s: %s is a %s: want an agent socket or a private key file", sp, p, kind(fi.Mode()))
		default:
			if src.socket != "" {
				return nil, fmt.Errorf("--ssh %s: give one agent socket or key files, not both", sp)
			}
			k, err := readKey(p)
			if err != nil {
				return nil, fmt.Errorf("--ssh %s: %w", sp, err)
			}
			if keyring == nil {
				if keyring, err = newKeyring(); err != nil {
					return nil, err
				}
			}
			if err := keyring.Add(agent.AddedKey{PrivateKey: k, Comment: filepath.Base(p)}); err != nil {
				return nil, fmt.Errorf("--ssh %s: adding %s to the agent: %w", sp, p, err)
			}
		}
	}
	src.keys = keyring
	return src, nil
}

// newKeyring is an in-memory agent that signs with flags (rsa-sha2-256
// and -512), which x/crypto's keyring does without NewKeyring saying so.
func newKeyring() (agent.ExtendedAgent, error) {
	if k, ok := agent.NewKeyring().(agent.ExtendedAgent); ok {
		return k, nil
	}
	return nil, errors.New("golang.org/x/crypto's keyring no longer signs with flags: manyarch needs an update to load key files")
}

// kind names a file type that is neither a socket nor a regular file.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// readKey reads one private key file.
func readKey(p string) (any, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("reading the key: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeySize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the key %s: %w", p, err)
	}
	if len(b) > maxKeySize {
		return nil, fmt.Errorf("%s is larger than %d KiB: not a private key file", p, maxKeySize>>10)
	}
	k, err := ssh.ParseRawPrivateKey(b)
	var pm *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return k, nil
	case errors.As(err, &pm):
		return nil, fmt.Errorf("the key %s is encrypted with a passphrase, which a build cannot ask for (buildx refuses it too): add it to your agent (ssh-add %s) and forward the agent instead (--ssh ID, or ID=$SSH_AUTH_SOCK)", p, p)
	}
	if _, _, _, _, perr := ssh.ParseAuthorizedKey(b); perr == nil {
		return nil, fmt.Errorf("%s is a public key: name the private key file (usually the same name without .pub)", p)
	}
	return nil, fmt.Errorf("%s is neither an unencrypted PEM or OpenSSH private key nor an agent socket (%v)", p, err)
}

// checkSocket checks that an agent answers on sock.
func checkSocket(ctx context.Context, sock string) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return fmt.Errorf("no agent answers on %s (%w): is ssh-agent running? (eval $(ssh-agent); ssh-add)", sock, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := agent.NewClient(c).List(); err != nil {
		return fmt.Errorf("the agent on %s does not answer a request to list keys (%w): is it an SSH agent's socket?", sock, err)
	}
	return nil
}
