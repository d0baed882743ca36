//go:build linux

package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/testutil"
)

// exampleSkips are the --help examples no test may run, each with why: they
// change the host, need the internet, a terminal or a placeholder filled in.
var exampleSkips = map[string]string{
	"sudo manyarch binfmt":                 "changes the host's binfmt_misc under every test running at once (TestBinfmtInstallUninstall covers install and uninstall)",
	"-t hello:1.0 examples/hello":          "pulls golang:1.26-alpine from Docker Hub (the test store has hello:1.0 as fixtures/hello:1.0)",
	"registry.example.com":                 "names a registry on the internet",
	"run -it ":                             "needs a terminal",
	"httpd -f -p 8080":                     "serves until stopped",
	"sha256:…":                             "a placeholder digest",
	"service:1.0 -c examples/service":      "needs the examples/service build, which pulls from Docker Hub",
	"rmi --no-prune fixtures/busybox:1.35": "run last, by hand below, as it removes the fixtures the others use",
	"cosign":                               "needs the cosign CLI (hack/install-cosign.sh) for the key pair; TestSignCosignInterop runs these commands",
}

// exampleOrder is the order commands' examples run in, so each finds what
// an earlier one made (a copy before an inspect of the copy, push before
// pull and index); commands not named run after these, in tree order.
var exampleOrder = []string{
	"manyarch version", "manyarch binfmt status", "manyarch binfmt", "manyarch images", "manyarch copy",
	"manyarch inspect", "manyarch digest", "manyarch manifest", "manyarch config", "manyarch ls", "manyarch catalog",
	"manyarch tag", "manyarch login", "manyarch logout", "manyarch push", "manyarch pull", "manyarch index create",
	"manyarch index append", "manyarch index annotate", "manyarch index remove", "manyarch export", "manyarch import",
	"manyarch diff", "manyarch verify", "manyarch build", "manyarch run", "manyarch test", "manyarch sbom",
	"manyarch delete", "manyarch check", "manyarch prune", "manyarch gc", "manyarch rmi",
}

// exampleLines returns a command's examples, one shell command each:
// backslash continuations joined, leading spaces dropped.
func exampleLines(c *cobra.Command) []string {
	var out []string
	cur := ""
	for _, l := range strings.Split(c.Example, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			cur += strings.TrimSuffix(l, `\`) + " "
			continue
		}
		out = append(out, cur+l)
		cur = ""
	}
	return out
}

// TestHelpExamples: issue #22 items 7 and 4. Every --help example of every
// command runs, as a user pastes it into a shell, against a store holding
// the fixtures and a registry on loopback (its address replaces
// localhost:5000; a temporary directory replaces /tmp), and succeeds.
func TestHelpExamples(t *testing.T) { // long: sets up the fixtures store and registry every example needs, then runs them
	if testing.Short() {
		t.Skip("runs every --help example (minutes)")
	}
	f := testutil.RequireFixtures(t)
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	modRoot, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	work := filepath.Join(tmp, "work")
	bin := filepath.Join(tmp, "bin")
	for _, d := range []string{work, bin, filepath.Join(tmp, "tmp"), filepath.Join(tmp, "docker"), filepath.Join(work, "examples")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// This checkout's manyarch (f.Binary is rebuilt only when the fixtures' inputs change).
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "manyarch"), "./cmd/manyarch")
	build.Dir = modRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/manyarch: %v\n%s", err, out)
	}
	for _, e := range []string{"hello", "service"} {
		if err := os.Symlink(filepath.Join(modRoot, "examples", e), filepath.Join(work, "examples", e)); err != nil {
			t.Fatal(err)
		}
	}
	// build --ssh's examples: an agent at $SSH_AUTH_SOCK and a key in
	// $HOME/.ssh, both made here (no key is committed).
	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, agentKey, _ := testutil.WriteSSHKey(t, filepath.Join(home, ".ssh"), "id_ed25519")
	agentSock := testutil.StartSSHAgent(t, t.TempDir(), "examples", agentKey)
	env := append(os.Environ(),
		"HOME="+home,
		"SSH_AUTH_SOCK="+agentSock,
		"MANYARCH_ROOT="+filepath.Join(tmp, "store"),
		"DOCKER_CONFIG="+filepath.Join(tmp, "docker"),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PASSWORD=s3cret",
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "config")) // builder examples write builders.json: not the real one
	sh := func(line string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, "sh", "-c", line)
		c.Dir, c.Env = work, env
		out, err := c.CombinedOutput()
		return string(out), err
	}
	// The store and files the examples name, as a user following them has.
	for _, setup := range []string{
		"manyarch copy oci-archive:" + f.Busybox + " fixtures/busybox:1.35",
		"manyarch copy oci-archive:" + f.Hello + " fixtures/hello:1.0",
		"manyarch tag fixtures/hello:1.0 hello:1.0",
		"manyarch tag fixtures/busybox:1.35 toolbox:1.0",
		"manyarch copy hello:1.0 oci-archive:hello.tar",
		"manyarch copy hello:1.0 oci:./out",
		"manyarch export --platform linux/arm64 -o rootfs-arm64.tar fixtures/busybox:1.35",
		"mkdir -p rootfs-amd64/bin hello-rootfs && echo amd64 > rootfs-amd64/arch && cp " + f.Binary + " hello-rootfs/hello",
		// fixtures/hello has every platform of the table (busybox lacks riscv64).
		`printf 'ARG BASE=fixtures/hello:1.0\nFROM $BASE\nCOPY Dockerfile /Dockerfile\n' > Dockerfile`,
		`echo '{"defaultAction":"SCMP_ACT_ALLOW"}' > profile.json`,
		`mkdir -p osv && echo '{"id":"GO-2099-0001","affected":[{"package":{"ecosystem":"Go","name":"stdlib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.21.11"}]}]}]}' > osv/GO-2099-0001.json`,
	} {
		if out, err := sh(setup); err != nil {
			t.Fatalf("setup %s: %v\n%s", setup, err, out)
		}
	}

	cmds := map[string]*cobra.Command{}
	var tree []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		cmds[c.CommandPath()] = c
		tree = append(tree, c.CommandPath())
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(NewRootCmd())
	order := append([]string(nil), exampleOrder...)
	listed := map[string]bool{}
	for _, p := range order {
		listed[p] = true
	}
	for _, p := range tree {
		if !listed[p] {
			order = append(order, p)
		}
	}
	ran := 0
	for _, p := range order {
		c := cmds[p]
		if c == nil {
			t.Errorf("exampleOrder names %q, which is no command", p)
			continue
		}
		for _, ex := range exampleLines(c) {
			skip := ""
			for k, why := range exampleSkips {
				if strings.Contains(ex, k) {
					skip = why
				}
			}
			if skip != "" {
				t.Logf("%s: skipped %q: %s", p, ex, skip)
				continue
			}
			line := strings.ReplaceAll(ex, "localhost:5000", reg.Host())
			line = strings.ReplaceAll(line, "/tmp/", filepath.Join(tmp, "tmp")+"/")
			out, err := sh(line)
			// diff exits 1 when the images differ, as diff(1).
			if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 && strings.HasPrefix(ex, "manyarch diff") {
				err = nil
			}
			if err != nil {
				t.Errorf("%s --help example failed: %s\n(run as %s): %v\n%s", p, ex, line, err, out)
			}
			ran++
		}
	}
	if out, err := sh("manyarch rmi --no-prune fixtures/busybox:1.35 hello:1.0"); err != nil {
		t.Errorf("rmi example: %v\n%s", err, out)
	}
	t.Logf("ran %d examples", ran)
	if ran < 100 {
		t.Errorf("ran %d examples, want every one (over 100)", ran)
	}

}
