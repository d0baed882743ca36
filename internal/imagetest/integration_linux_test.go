package imagetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/testutil"
)

// requireSandbox skips t unless command tests can really run here: root
// (the sandbox maps IDs as root) and QEMU for the foreign platforms.
func requireSandbox(t *testing.T) *SandboxExecutor {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "qemu-aarch64-static", "qemu-user-static")
	x, err := NewSandboxExecutor(filepath.Join(t.TempDir(), "snapshots"), t.TempDir(), emulation.ModeAuto, nil)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// goHello cross-compiles examples/hello for goarch ("arm/7" for GOARM) and
// returns an image holding it as /hello.
func goHello(t *testing.T, p, goarch string) v1.Image {
	t.Helper()
	goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = testutil.RequireCommand(t, "go", "golang")
	}
	dir := t.TempDir()
	arch, arm, _ := strings.Cut(goarch, "/")
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "hello"), "../../examples/hello")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "GOARM="+arm, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building hello for %s: %v\n%s", goarch, err, out)
	}
	return image(t, p, v1.Config{Entrypoint: []string{"/hello"}}, dirLayer(t, dir))
}

// dirLayer makes a layer of a directory tree with snapshot.WriteTar.
func dirLayer(t *testing.T, dir string) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	if err := snapshot.WriteTar(context.Background(), &b, dir, snapshot.TarOptions{}); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSandboxHello is the acceptance check on real programs under
// QEMU: hello passes on every platform, and an index whose arm64 entry
// holds the amd64 program fails exactly the arm64 column.
func TestSandboxHello(t *testing.T) {
	testutil.Short(t, "cross-compiles hello three times and runs it under QEMU")
	x := requireSandbox(t)
	amd64, arm64, riscv := goHello(t, "linux/amd64", "amd64"), goHello(t, "linux/arm64", "arm64"), goHello(t, "linux/riscv64", "riscv64")
	c, err := Load("../../testdata/imagetest/hello_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, index(t, amd64, arm64, riscv), x, []*Config{c})
	if got, want := statuses(r), []string{"pass pass pass", "pass pass pass", "pass pass pass", "pass pass pass"}; !slices.Equal(got, want) {
		var b bytes.Buffer
		r.WriteText(&b)
		t.Fatalf("hello: statuses = %q, want %q\n%s", got, want, b.String())
	}
	if !strings.Contains(r.Platforms[1].Emulation, "qemu-aarch64") || r.Platforms[0].Emulation != "native" {
		t.Errorf("emulation = %q, %q", r.Platforms[0].Emulation, r.Platforms[1].Emulation)
	}

	// Plant the amd64 program in the arm64 entry (its config still says arm64).
	planted := image(t, "linux/arm64", v1.Config{Entrypoint: []string{"/hello"}}, mustLayers(t, amd64)...)
	r = run(t, index(t, amd64, planted, riscv), x, []*Config{c})
	if got, want := statuses(r), []string{"pass fail pass", "pass pass pass", "pass pass pass", "pass fail pass"}; !slices.Equal(got, want) {
		var b bytes.Buffer
		r.WriteText(&b)
		t.Fatalf("planted: statuses = %q, want %q\n%s", got, want, b.String())
	}
	if f := r.Results[0][1].Failures; len(f) == 0 || f[0].Actual != "Hello, amd64!\n" {
		t.Errorf("planted arm64 failure = %+v, want the amd64 greeting as actual output", f)
	}
}

func mustLayers(t *testing.T, img v1.Image) []v1.Layer {
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// busyboxImages makes busybox images for amd64 and arm64 from Debian's
// busybox-static, as hack/fixtures.sh does.
func busyboxIndex(t *testing.T) v1.ImageIndex {
	cfg := v1.Config{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, Cmd: []string{"sh"}}
	var imgs []v1.Image
	for _, a := range [][2]string{{"amd64", "linux/amd64"}, {"arm64", "linux/arm64"}} {
		root := testutil.BusyboxRootfs(t, a[0])
		// As hack/fixtures.sh makes it (testutil's os.Chmod(0o1777) drops
		// the sticky bit, which Go spells os.ModeSticky).
		if err := os.Chmod(filepath.Join(root, "tmp"), 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, image(t, a[1], cfg, dirLayer(t, root)))
	}
	return index(t, imgs...)
}

// TestSandboxBusybox runs the CST-equivalent files of testdata/imagetest
// against busybox for amd64 and arm64.
func TestSandboxBusybox(t *testing.T) {
	testutil.Short(t, "runs about 40 containers, half under QEMU")
	x := requireSandbox(t)
	idx := busyboxIndex(t)
	t.Setenv("FOO", "keepitsecret!")
	t.Setenv("BAR", "keepitsafe!")
	// containerRunOptions paths are relative to the working directory, as
	// in CST, and the file is written to run from the repository root.
	t.Chdir("../..")
	for _, f := range []string{"busybox_test.yaml", "busybox_test.json", "busybox_metadata_test.yaml", "busybox_containeropts_test.yaml", "busybox_failure_test.yaml"} {
		t.Run(f, func(t *testing.T) {
			c, err := Load(filepath.Join("testdata/imagetest", f))
			if err != nil {
				t.Fatal(err)
			}
			r := run(t, idx, x, []*Config{c})
			want := StatusPass
			if strings.Contains(f, "failure") {
				want = StatusFail // every test of that file must fail
			}
			for i, tt := range r.Tests {
				for j, p := range r.Platforms {
					if got := r.Results[i][j]; got.Status != want {
						t.Errorf("%s on %s: %s, want %s: %+v (stdout %q, stderr %q)", tt.Name, platform.Format(p.Platform), got.Status, want, got.Failures, got.Stdout, got.Stderr)
					}
				}
			}
		})
	}
}

// TestSandboxTimeout: a command that hangs is killed at its timeout and
// the next test runs.
func TestSandboxTimeout(t *testing.T) {
	x := requireSandbox(t)
	idx := busyboxIndex(t)
	c, err := Load("../../testdata/imagetest/bad/hang.yaml")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := run(t, idx, x, []*Config{c}, WithPlatforms(mustPlatform(t, "linux/amd64")))
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("run took %s, want the 2s timeout to end the hang", d)
	}
	if got, want := statuses(r), []string{"fail", "pass"}; !slices.Equal(got, want) {
		t.Fatalf("statuses = %q, want %q: %+v", got, want, r.Results)
	}
	if msg := r.Results[0][0].Failures[0].Message; !strings.Contains(msg, "timed out after 2s") {
		t.Errorf("timeout failure = %q", msg)
	}
}

// TestCSTOwnFiles runs container-structure-test's own v2 test files
// (testdata/imagetest/cst, copied unchanged from its repository's tests/)
// against busybox for amd64 and arm64, where CST runs them against
// ubuntu:22.04, and wants each test's verdict to be the one CST's semantics
// give on busybox (docs/cst-compatibility.md): what busybox lacks (apt-get,
// bash, capsh, /etc/apt, /etc/machine-id, Debian copyright files) fails,
// the rest passes, /etc/hosts included.
func TestCSTOwnFiles(t *testing.T) {
	testutil.Short(t, "runs about 20 containers, half under QEMU")
	x := requireSandbox(t)
	idx := busyboxIndex(t)
	// Dockerfile.metadata's ENV and LABEL, over busybox.
	meta := metadataIndex(t, idx)
	t.Setenv("FOO", "keepitsecret!") // as CST's tests/structure_test_tests.sh sets them
	t.Setenv("BAR", "keepitsafe!")
	t.Chdir("../../testdata/imagetest/cst") // envFile: tests/envfile is relative to it, as to CST's root
	const fail, pass = StatusFail, StatusPass
	for _, tc := range []struct {
		file  string
		image v1.ImageIndex
		want  map[string]Status
	}{
		{"amd64/ubuntu_22_04_test.yaml", idx, map[string]Status{
			"Command Test: apt-get": fail, "Command Test: apt-config": fail, "Command Test: path": pass,
			"File Content Test: Debian Sources": fail, "File Content Test: Passwd file": fail, // busybox's root has /bin/sh
			"File Existence Test: Root": pass, "File Existence Test: Date": pass, "File Existence Test: Hosts File": pass,
			"File Existence Test: Machine ID": fail, "File Existence Test: Dummy File": pass, "License Test": fail,
		}},
		{"arm64/ubuntu_22_04_test.yaml", idx, map[string]Status{
			"Command Test: apt-get": fail, "Command Test: apt-config": fail, "Command Test: path": pass,
			"File Content Test: Debian Sources": fail, "File Content Test: Passwd file": fail,
			"File Existence Test: Root": pass, "File Existence Test: Date": pass, "File Existence Test: Hosts File": pass,
			"File Existence Test: Machine ID": fail, "File Existence Test: Dummy File": pass, "License Test": fail,
		}},
		{"amd64/ubuntu_22_04_metadata_test.yaml", meta, map[string]Status{"Metadata Test": pass}},
		{"amd64/ubuntu_22_04_containeropts_test.yaml", idx, map[string]Status{
			"Command Test: Test Capabilities containerRunOptions": fail, // busybox has no capsh
			"Command Test: Test bindMounts containerRunOptions":   pass, // the host directory is created, as docker -v does
		}},
		// This busybox has no printenv applet: CST fails these on it too
		// (testdata/imagetest/busybox_containeropts_test.yaml runs them
		// with env).
		{"amd64/ubuntu_22_04_containeropts_env_test.yaml", idx, map[string]Status{"Command Test: Test envVars containerRunOptions": fail}},
		{"amd64/ubuntu_22_04_containeropts_envfile_test.yaml", idx, map[string]Status{"Command Test: Test envFile containerRunOptions": fail}},
		{"amd64/ubuntu_22_04_containeropts_user_test.yaml", idx, map[string]Status{"Command Test: apt-get": fail}}, // no bash
		// Schema 1.0.0 (command: [NAME, ARG...]), as CST v1.22.0 ran it on
		// this image side by side: only path passes.
		{"amd64/ubuntu_22_04_failure_test.yaml", idx, map[string]Status{
			"Command Test: bad apt-get-command": fail, "Command Test: apt-config": fail, "Command Test: path": pass,
			"File Content Test: Debian Sources": fail, "File Content Test: Wrong Retry Policy": fail,
			"File Existence Test: Fake Dir": fail, "File Existence Test: Wrong permissions": fail, "License Test": fail,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, err := Load(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.ContainerRunOptions.BindMounts) > 0 {
				// /tmp/test:/tmp/test, with the host side in this test's
				// temporary directory (and not there yet: it is created).
				host := filepath.Join(t.TempDir(), "tmp-test")
				c.ContainerRunOptions.BindMounts = []string{host + ":/tmp/test"}
			}
			r := run(t, tc.image, x, []*Config{c})
			if len(r.Tests) != len(tc.want) {
				t.Errorf("%d tests, want %d", len(r.Tests), len(tc.want))
			}
			for i, tt := range r.Tests {
				want, ok := tc.want[tt.Name]
				if !ok {
					t.Errorf("unexpected test %q", tt.Name)
					continue
				}
				for j, p := range r.Platforms {
					if got := r.Results[i][j]; got.Status != want {
						t.Errorf("%s on %s: %s, want %s as CST: %+v (stdout %q, stderr %q)", tt.Name, platform.Format(p.Platform), got.Status, want, got.Failures, got.Stdout, got.Stderr)
					}
				}
			}
		})
	}
}

// metadataIndex is idx with tests/Dockerfile.metadata of CST applied:
// its ENV and LABEL lines.
func metadataIndex(t *testing.T, idx v1.ImageIndex) v1.ImageIndex {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var imgs []v1.Image
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cfg := cf.Config
		cfg.Env = append(slices.Clone(cfg.Env), "SOME_KEY=SOME_VAL", "EMPTY_VAR=", `FOO_BAR=FOO\:BAR=BAZ`, "REGEX_VAR=test-2.1.8")
		cfg.Labels = map[string]string{
			"localnet.localdomain.commit_hash": "0123456789abcdef0123456789abcdef01234567",
			"localnet.my-domain.my-label":      "my test label",
			"label-with-empty-val":             "",
		}
		imgs = append(imgs, image(t, cf.OS+"/"+cf.Architecture, cfg, mustLayers(t, img)...))
	}
	return index(t, imgs...)
}

// TestCommandTestsAreIndependent: as in container-structure-test, each
// command test runs in a container of its own. Every test looks for what
// an earlier one wrote (a file in the root, in /etc and in /tmp, and a
// file its own setup made), then writes them; a setup's file is seen by
// its test's command only. With a writable layer shared between tests,
// all but the first fail; run one at a time and two at a time, natively
// and under QEMU.
func TestCommandTestsAreIndependent(t *testing.T) {
	testutil.Short(t, "runs 24 containers, half under QEMU")
	x := requireSandbox(t)
	idx := busyboxIndex(t)
	var b strings.Builder
	b.WriteString("schemaVersion: 2.0.0\ncommandTests:\n")
	for i := range 6 {
		fmt.Fprintf(&b, `- name: test %d
  setup: [["touch", "/etc/setup-%d"]]
  command: sh
  args:
  - -c
  - |
    for f in /seen /etc/seen /tmp/seen /etc/setup-*; do [ "$f" = /etc/setup-%d ] || [ ! -e "$f" ] || echo "sees $f"; done
    [ -e /etc/setup-%d ] || echo "does not see its setup's file"
    touch /seen /etc/seen /tmp/seen && echo wrote
  expectedOutput: ['\Awrote\n\z']
`, i, i, i, i)
	}
	c := mustParse(t, b.String())
	for _, jobs := range []int{1, 2} {
		r := run(t, idx, x, []*Config{c}, WithJobs(jobs))
		for i, tt := range r.Tests {
			for j, p := range r.Platforms {
				if got := r.Results[i][j]; got.Status != StatusPass {
					t.Errorf("-j %d: %s on %s: %s: stdout %q, stderr %q, %+v", jobs, tt.Name, platform.Format(p.Platform), got.Status, got.Stdout, got.Stderr, got.Failures)
				}
			}
		}
	}
}
