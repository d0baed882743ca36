package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/remote"
)

// dockerHubKey is the key docker writes Docker Hub's credentials under.
const dockerHubKey = "https://index.docker.io/v1/"

// maxDockerConfig bounds the config.json login and logout read and rewrite.
const maxDockerConfig = 4 << 20

func newLoginCmd(g *globalOptions) *cobra.Command {
	var (
		rf       remoteFlags
		user     string
		password string
		stdin    bool
	)
	cmd := &cobra.Command{
		Use:   "login [HOST] -u USER --password-stdin",
		Short: "Store credentials for a registry in the docker config (docker login)",
		Long: `Check USER and the password against registry HOST (Docker Hub when HOST is
left out) and store them in $DOCKER_CONFIG/config.json (~/.docker/config.json) as
docker login does: under "auths", base64 of USER:PASSWORD, the file written
atomically with mode 0600 and every other setting in it kept. push, pull and
every registry command then use them, as docker, crane and skopeo do.

The password is read from stdin with --password-stdin; --password works but,
as docker warns, leaves it in the shell history and the process list. A
config.json that sends credentials to a credential helper (credsStore,
credHelpers) is not written: use docker login for it.`,
		Example: `  echo "$PASSWORD" | manyarch login -u alice --password-stdin localhost:5000
  manyarch logout localhost:5000`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if user == "" {
				return newUsageError(cmd, errors.New("give the user name with -u USER"))
			}
			switch {
			case stdin && password != "":
				return newUsageError(cmd, errors.New("--password and --password-stdin exclude each other"))
			case stdin:
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10+1))
				if err != nil {
					return fmt.Errorf("reading the password from stdin: %w", err)
				}
				if len(b) > 64<<10 {
					return errors.New("--password-stdin: the password is longer than 64 KiB")
				}
				password = strings.TrimRight(string(b), "\r\n")
			case password != "":
				fmt.Fprintln(cmd.ErrOrStderr(), "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
			default:
				return newUsageError(cmd, errors.New("give the password on stdin with --password-stdin"))
			}
			if password == "" {
				return errors.New("the password is empty")
			}
			host, key := loginHost(args)
			env := g.newEnv(cmd.ErrOrStderr(), &rf)
			defer env.Close()
			if err := remote.CheckLogin(cmd.Context(), host, user, password, env.Remote...); err != nil {
				return err
			}
			file, err := editDockerConfig(cmd.Context(), func(auths map[string]json.RawMessage) (bool, error) {
				b, err := json.Marshal(map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))})
				auths[key] = b
				return true, err
			}, key)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Login Succeeded: %s, credentials stored in %s\n", host, file)
			return nil
		},
	}
	cmd.Flags().StringVarP(&user, "username", "u", "", "user name")
	cmd.Flags().StringVarP(&password, "password", "p", "", "password (insecure: use --password-stdin)")
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from stdin")
	cmd.Flags().BoolVar(&rf.insecure, "insecure", false, "allow plain HTTP and unverified TLS for the registry")
	rf.jobs = 1
	return cmd
}

func newLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [HOST]",
		Short: "Remove a registry's credentials from the docker config (docker logout)",
		Long: `Remove the credentials of registry HOST (Docker Hub when left out) from
$DOCKER_CONFIG/config.json (~/.docker/config.json), keeping everything else in
it; the file is rewritten atomically with mode 0600.`,
		Example: `  manyarch logout localhost:5000`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host, key := loginHost(args)
			if host == "" {
				return newUsageError(cmd, fmt.Errorf("logout %q: give a registry HOST[:PORT], or nothing for Docker Hub", args[0]))
			}
			removed := false
			file, err := editDockerConfig(cmd.Context(), func(auths map[string]json.RawMessage) (bool, error) {
				_, removed = auths[key]
				delete(auths, key)
				return removed, nil
			}, key)
			if err != nil {
				return err
			}
			if !removed {
				fmt.Fprintf(cmd.OutOrStdout(), "Not logged in to %s (no credentials in %s)\n", host, file)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed the credentials of %s from %s\n", host, file)
			return nil
		},
	}
}

// loginHost is the registry login and logout name, and its config key.
func loginHost(args []string) (host, key string) {
	if len(args) == 0 {
		return "docker.io", dockerHubKey
	}
	host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(args[0], "https://"), "http://"), "/")
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return host, dockerHubKey
	}
	return host, host
}

// dockerConfigFile is where docker keeps config.json.
func dockerConfigFile() (string, error) {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the docker config: %w (set DOCKER_CONFIG)", err)
	}
	return filepath.Join(home, ".docker", "config.json"), nil
}

// editDockerConfig applies edit to the "auths" of the docker config and,
// when it reports a change, writes the file back atomically with mode 0600,
// every other key as it was. It refuses a config that hands key's
// credentials to a credential helper. The config's directory is locked from
// the read to the write, so logins to two registries at once both land.
func editDockerConfig(ctx context.Context, edit func(auths map[string]json.RawMessage) (bool, error), key string) (string, error) {
	file, err := dockerConfigFile()
	if err != nil {
		return "", err
	}
	unlock, err := lockDockerConfig(ctx, filepath.Dir(file))
	if err != nil {
		return file, err
	}
	defer unlock()
	cfg := map[string]json.RawMessage{}
	b, err := readBounded(file, maxDockerConfig)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return file, err
	case len(bytes.TrimSpace(b)) > 0:
		if err := json.Unmarshal(b, &cfg); err != nil {
			return file, fmt.Errorf("%s is not a docker config (JSON object): %v; fix or move it", file, err)
		}
	}
	var helper string
	if raw, ok := cfg["credsStore"]; ok {
		_ = json.Unmarshal(raw, &helper)
	}
	if raw, ok := cfg["credHelpers"]; ok {
		var hs map[string]string
		if json.Unmarshal(raw, &hs) == nil && hs[key] != "" {
			helper = hs[key]
		}
	}
	if helper != "" {
		return file, fmt.Errorf("%s sends credentials to the credential helper docker-credential-%s; use `docker login` or `docker logout`, which talk to it", file, helper)
	}
	auths := map[string]json.RawMessage{}
	if raw, ok := cfg["auths"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &auths); err != nil {
			return file, fmt.Errorf("%s: \"auths\" is not an object: %v; fix or move the file", file, err)
		}
	}
	changed, err := edit(auths)
	if err != nil || !changed {
		return file, err
	}
	if cfg["auths"], err = json.Marshal(auths); err != nil {
		return file, err
	}
	out, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return file, err
	}
	if err := fsutil.WriteFileBytes(file, 0o600, append(out, '\n')); err != nil {
		return file, fmt.Errorf("writing %s: %w", file, err)
	}
	return file, nil
}

// lockDockerConfig makes the docker config's directory dir (as docker login
// does) and holds an exclusive lock on the directory itself, not on a file
// of its own beside config.json. docker itself takes no lock: this keeps
// manyarch's logins and logouts from losing each other's edits. Windows
// cannot lock a directory: there it locks nothing.
func lockDockerConfig(ctx context.Context, dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	if runtime.GOOS == "windows" {
		return func() {}, nil
	}
	l, err := fsutil.LockDir(ctx, dir, true)
	if errors.Is(err, fsutil.ErrNotSupported) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("locking the docker config directory: %w", err)
	}
	return func() { l.Unlock() }, nil
}
