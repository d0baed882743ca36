//go:build linux

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/testutil"
)

func runBinfmt(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(append([]string{"binfmt"}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

type binfmtRow struct {
	Platform    string `json:"platform"`
	State       string `json:"state"`
	Emulator    string `json:"emulator"`
	QEMUVersion string `json:"qemuVersion"`
	Reason      string `json:"reason"`
	Handler     string `json:"handler"`
	Interpreter string `json:"interpreter"`
	Flags       string `json:"flags"`
	Static      *bool  `json:"static"`
	Probe       string `json:"probe"`
	Note        string `json:"note"`
}

func binfmtStatus(t *testing.T, args ...string) map[string]binfmtRow {
	t.Helper()
	out, err := runBinfmt(t, append([]string{"status", "--format", "json"}, args...)...)
	if err != nil {
		t.Fatalf("binfmt status: %v", err)
	}
	var rows []binfmtRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("binfmt status --format json: %v\n%s", err, out)
	}
	if len(rows) != len(platform.All()) {
		t.Errorf("binfmt status: %d rows, want one per platform (%d)", len(rows), len(platform.All()))
	}
	m := map[string]binfmtRow{}
	for _, r := range rows {
		m[r.Platform] = r
	}
	return m
}

func TestBinfmtStatus(t *testing.T) {
	rows := binfmtStatus(t, "--no-probe")
	host := platform.Format(platform.Host())
	if r := rows[host]; r.State != "native" || r.Probe != "" {
		t.Errorf("binfmt status --no-probe: host %s = %+v, want native, no probe", host, r)
	}
	rows = binfmtStatus(t)
	if r := rows[host]; r.State != "native" || r.Probe != "pass" {
		t.Errorf("binfmt status: host %s = %+v, want native, probe pass", host, r)
	}
	out, err := runBinfmt(t, "status")
	if err != nil || !strings.HasPrefix(out, "PLATFORM") || !strings.Contains(out, host) {
		t.Errorf("binfmt status = %q, %v; want a table naming %s", out, err, host)
	}
}

func TestBinfmtBadArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"install"}, "name the platforms"},
		{[]string{"install", "sparc64"}, "linux/amd64"}, // the known platforms are listed
		{[]string{"uninstall", "all", "arm64"}, "give it alone"},
		{[]string{"status", "extra"}, `binfmt status takes no arguments, got "extra"`},
		{[]string{"bogus"}, `unknown binfmt command "bogus": the binfmt commands are install, status, uninstall`},
	} {
		if _, err := runBinfmt(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("binfmt %s = %v, want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

func TestParseArchs(t *testing.T) {
	as, err := parseArchs([]string{"arm64", "linux/arm/v7,riscv64", "aarch64"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range as {
		got = append(got, a.Name)
	}
	if strings.Join(got, " ") != "arm64 arm/v7 riscv64" {
		t.Errorf("parseArchs = %v, want [arm64 arm/v7 riscv64]", got)
	}
	if as, err := parseArchs([]string{"all"}); err != nil || len(as) != len(platform.All()) {
		t.Errorf("parseArchs(all) = %d rows, %v", len(as), err)
	}
}

// TestBinfmtInstallUninstall installs two handlers through the CLI and
// removes them, checking the host ends as it began.
func TestBinfmtInstallUninstall(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "qemu-aarch64-static", "qemu-user-static")
	testutil.RequireCommand(t, "qemu-riscv64-static", "qemu-user-static")
	ctx := context.Background()
	listing := func() string {
		if _, err := os.Stat(emulation.HostMount + "/register"); err != nil {
			return "not mounted"
		}
		hs, err := emulation.ReadHandlers(ctx, emulation.HostMount)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, h := range hs {
			names = append(names, h.Name)
		}
		return "mounted: " + strings.Join(names, " ")
	}
	before := listing()
	if before != "not mounted" && before != "mounted: " {
		t.Skipf("the host has binfmt handlers (%s); this test wants none", before)
	}
	t.Cleanup(func() {
		if _, err := runBinfmt(t, "uninstall", "arm64", "riscv64"); err != nil {
			t.Errorf("binfmt uninstall: %v", err)
		}
		if after := listing(); after != before {
			t.Errorf("host binfmt_misc after install and uninstall = %q, want %q", after, before)
		}
	})
	out, err := runBinfmt(t, "install", "arm64", "linux/riscv64")
	if err != nil {
		t.Fatalf("binfmt install: %v\n%s", err, out)
	}
	if strings.Count(out, "installed") != 2 {
		t.Errorf("binfmt install output:\n%s\nwant two installed rows", out)
	}
	rows := binfmtStatus(t)
	for _, p := range []string{"linux/arm64", "linux/riscv64"} {
		if r := rows[p]; r.State != "emulated" || r.Probe != "pass" || r.Flags != "PF" || r.Static == nil || !*r.Static {
			t.Errorf("binfmt status %s = %+v, want emulated, PF, static, probe pass", p, r)
		}
	}
	// No host handler: the path run takes, private where the kernel
	// allows it.
	want := "unavailable"
	if emulation.PrivateSupported() == nil {
		want = "private"
	}
	if r := rows["linux/s390x"]; r.State != want {
		t.Errorf("binfmt status linux/s390x = %+v, want %s", r, want)
	}
}

// TestBinfmtUnknownCommandExits2: `manyarch binfmt bogus` is a usage
// error (exit 2) naming the command, not the help with exit 0.
func TestBinfmtUnknownCommandExits2(t *testing.T) {
	_, err := runBinfmt(t, "bogus")
	var stderr bytes.Buffer
	if code := ExitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), `"bogus"`) {
		t.Errorf("binfmt bogus: exit %d, %q; want exit 2 naming bogus", code, stderr.String())
	}
	if out, err := runBinfmt(t); err != nil || !strings.Contains(out, "Available Commands") {
		t.Errorf("binfmt = %q, %v; want the help", out, err)
	}
}

// TestBinfmtStatusTellsThePath: the JSON and the table agree, and every
// platform that run can run (emulation.Plan, auto) has the state of the
// path it takes, with its emulator and QEMU version: none is unavailable.
func TestBinfmtStatusTellsThePath(t *testing.T) {
	rows := binfmtStatus(t)
	table, err := runBinfmt(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string][]string{}
	for _, l := range strings.Split(table, "\n") {
		if f := strings.Fields(l); len(f) == 8 {
			lines[f[0]] = f
		}
	}
	kind := map[emulation.Kind]string{emulation.KindNative: "native", emulation.KindHost: "emulated", emulation.KindPrivate: "private"}
	for _, a := range platform.All() {
		r := rows[a.String()]
		f := lines[a.String()]
		if f == nil || f[1] != r.State || f[2] != dash(r.Emulator) || f[3] != dash(r.QEMUVersion) || f[7] != dash(r.Probe) {
			t.Errorf("binfmt status table row %v disagrees with the JSON %+v", f, r)
		}
		d, err := emulation.Plan(context.Background(), a.Platform, emulation.ModeAuto)
		if err != nil {
			if r.State != "unavailable" || r.Reason == "" {
				t.Errorf("binfmt status %s = %+v; Plan: %v; want unavailable with a reason", a, r, err)
			}
			continue
		}
		if r.State != kind[d.Kind] || r.Emulator != d.Emulator.Path || r.QEMUVersion != d.Emulator.Version.String() {
			t.Errorf("binfmt status %s = %+v; run would take %s", a, r, d)
		}
		if d.Kind != emulation.KindNative && r.QEMUVersion == "" {
			t.Errorf("binfmt status %s = %+v; want the emulator's version", a, r)
		}
	}
}
