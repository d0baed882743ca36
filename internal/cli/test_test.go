//go:build linux

package cli

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/testutil"
)

const cliTestFile = `schemaVersion: 2.0.0
commandTests:
- name: uname
  command: uname
  args: [-m]
  expectedOutput: ["^{{.UnameMachine}}\n$"]
fileExistenceTests:
- name: busybox
  path: /bin/busybox
  isExecutableBy: any
metadataTest:
  cmd: [/bin/sh]
  architecture: "{{.Arch}}"
`

func TestTestCommand(t *testing.T) {
	testutil.RequireCommand(t, "qemu-aarch64-static", "qemu-user-static")
	root := busyboxStore(t, "linux/amd64=amd64", "linux/arm64=arm64")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(cliTestFile), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(cliTestFile, `["^{{.UnameMachine}}\n$"]`, `["^x86_64\n$"]`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	test := func(args ...string) (string, string, int) {
		return runManyarch(t, "", append([]string{"--root", root, "test"}, args...)...)
	}

	t.Run("text", func(t *testing.T) {
		out, stderr, code := test("t/busybox:1", "-c", good)
		if code != 0 || !strings.Contains(out, "PASS: 6 passed, 0 failed") || !strings.Contains(out, "arm64") {
			t.Errorf("manyarch test = exit %d\n%s\n%s", code, out, stderr)
		}
		if !strings.Contains(stderr, "ok   linux/arm64") {
			t.Errorf("no progress lines on stderr: %q", stderr)
		}
	})
	t.Run("file tests read the container's root file system", func(t *testing.T) {
		// Without command tests manyarch test still unpacks the layers as
		// run does and reads them through the kernel (as root); the
		// flattened layers only where that cannot be had.
		testutil.RequireRoot(t)
		files := filepath.Join(t.TempDir(), "files.yaml")
		if err := os.WriteFile(files, []byte("schemaVersion: 2.0.0\nfileExistenceTests:\n- {name: sh, path: /bin/sh, shouldExist: true}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, stderr, code := runManyarch(t, "", "--root", root, "-vv", "test", "t/busybox:1", "-c", files)
		if code != 0 || !strings.Contains(out, "PASS: 2 passed") {
			t.Errorf("manyarch test (file tests only) = exit %d\n%s\n%s", code, out, stderr)
		}
		if n := strings.Count(stderr, "view=\"kernel overlay\""); n != 2 {
			t.Errorf("file tests read the kernel overlay on %d platforms, want 2:\n%s", n, stderr)
		}

		// Root without CAP_SYS_ADMIN (an unprivileged container) has no
		// kernel view: the flattened layers, and the tests still pass.
		setpriv := testutil.RequireCommand(t, "setpriv", "util-linux")
		bin := testutil.RequireFixtures(t).Binary
		cmd := exec.Command(setpriv, "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", bin, "--root", root, "-vv", "test", "t/busybox:1", "-c", files)
		var sout, serr strings.Builder
		cmd.Stdout, cmd.Stderr = &sout, &serr
		if err := cmd.Run(); err != nil || !strings.Contains(sout.String(), "PASS: 2 passed") {
			t.Errorf("manyarch test without CAP_SYS_ADMIN = %v\n%s\n%s", err, sout.String(), serr.String())
		}
		if n := strings.Count(serr.String(), "file tests read the flattened layers"); n != 2 {
			t.Errorf("without CAP_SYS_ADMIN file tests read the flattened layers on %d platforms, want 2:\n%s", n, serr.String())
		}
	})
	t.Run("a failing column exits 1", func(t *testing.T) {
		out, _, code := test("-q", "t/busybox:1", "-c", bad)
		if code != 1 || !strings.Contains(out, "--- FAIL: Command Test: uname on linux/arm64") || strings.Contains(out, "on linux/amd64") {
			t.Errorf("manyarch test (arm64 fails) = exit %d\n%s", code, out)
		}
	})
	t.Run("json and junit report file", func(t *testing.T) {
		report := filepath.Join(t.TempDir(), "report.xml")
		out, stderr, code := test("-q", "-o", "json", "--test-report", report, "t/busybox:1", "-c", good, "-c", bad)
		var j struct{ Pass, Fail, Total int }
		if err := json.Unmarshal([]byte(out), &j); err != nil || code != 1 || j.Pass != 11 || j.Fail != 1 || j.Total != 12 {
			t.Errorf("-o json = exit %d, %+v, %v\n%s\n%s", code, j, err, out, stderr)
		}
		data, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		var x struct {
			Suites []struct {
				Name     string `xml:"name,attr"`
				Failures int    `xml:"failures,attr"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal(data, &x); err != nil || len(x.Suites) != 2 || x.Suites[1].Name != "linux/arm64" || x.Suites[1].Failures != 1 || x.Suites[0].Failures != 0 {
			t.Errorf("--test-report report.xml = %+v, %v\n%s", x, err, data)
		}
	})
	t.Run("html", func(t *testing.T) {
		out, _, code := test("-q", "-o", "html", "--platform", "linux/arm64", "t/busybox:1", "-c", good)
		if code != 0 || !strings.HasPrefix(out, "<!DOCTYPE html>") || !strings.Contains(out, `data-platform="linux/arm64"`) || strings.Contains(out, `data-platform="linux/amd64"`) {
			t.Errorf("-o html --platform linux/arm64 = exit %d\n%s", code, out)
		}
	})

	t.Run("invalid regex fails that test", func(t *testing.T) {
		out, stderr, code := test("-q", "--platform", "linux/amd64", "t/busybox:1", "-c", "../../testdata/imagetest/bad/regex.yaml")
		if code != 1 || !strings.Contains(out, `invalid test: ../../testdata/imagetest/bad/regex.yaml:6:20: commandTests[0].expectedOutput: invalid regular expression "hi("`) {
			t.Errorf("manyarch test bad/regex.yaml = exit %d\n%s\n%s", code, out, stderr)
		}
	})
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"typo", []string{"t/busybox:1", "-c", "../../testdata/imagetest/bad/typo.yaml"}, `typo.yaml:6:3: unknown field "expectedOuput" in commandTests[0] (did you mean "expectedOutput"?)`},
		{"invalid regex, strict", []string{"--strict", "t/busybox:1", "-c", "../../testdata/imagetest/bad/regex.yaml"}, `regex.yaml:6:20: commandTests[0].expectedOutput: invalid regular expression "hi("`},
		{"missing platform", []string{"--platform", "linux/riscv64", "t/busybox:1", "-c", good}, "no image for platform linux/riscv64: the image has linux/amd64, linux/arm64"},
		{"no config", []string{"t/busybox:1"}, "no test file: give one or more with -c TESTS.yaml"},
		{"missing config file", []string{"t/busybox:1", "-c", "/nonexistent.yaml"}, "reading test file: open /nonexistent.yaml"},
		{"bad output", []string{"-o", "xml", "t/busybox:1", "-c", good}, `unknown -o "xml"`},
		{"missing image", []string{"t/nothing:1", "-c", good}, "t/nothing"},
		{"two images", []string{"a", "b", "-c", good}, "test takes one IMAGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := test(tc.args...)
			if code == 0 || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("manyarch test %q = exit %d, stderr %q; want an error containing %q", tc.args, code, stderr, tc.wantErr)
			}
		})
	}
}
