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
		{[]string{"status", "extra"}, "unknown command"},
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
	if r := rows["linux/s390x"]; r.State != "unavailable" {
		t.Errorf("binfmt status linux/s390x = %+v, want unavailable", r)
	}
}
