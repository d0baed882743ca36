package emulation

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/platform"
)

func candidateKinds(ds []Decision) string {
	var ks []string
	for _, d := range ds {
		ks = append(ks, string(d.Kind))
	}
	return strings.Join(ks, ",")
}

// TestCandidates: Candidates lists what Plan may choose, in Plan's order,
// with the emulated ones' environment (QEMU_CPU for arm/v5).
func TestCandidates(t *testing.T) {
	host := platform.Host()
	var foreign platform.Arch
	for _, a := range emulatedArchs() {
		if a.QEMUCPU == "" {
			foreign = a
			break
		}
	}
	v5 := arch(t, "arm/v5")
	type test struct {
		a    platform.Arch
		mode Mode
		want string // the kinds, in order
	}
	tests := []test{
		{arch(t, platform.Format(host)), ModeAuto, "native"},
		{arch(t, platform.Format(host)), ModePrivate, "native"},
		{arch(t, platform.Format(host)), ModeNone, "native"},
		{foreign, ModeAuto, "host,private"},
		{foreign, ModeHost, "host"},
		{foreign, ModePrivate, "private"},
		{foreign, ModeNone, ""},
	}
	if host.Architecture == "amd64" {
		i386 := arch(t, "386")
		tests = append(tests, test{i386, ModeAuto, "host,native,private"}, test{i386, ModeHost, "host"},
			test{i386, ModePrivate, "private"}, test{i386, ModeNone, "native"})
	}
	for _, tc := range tests {
		ds, err := Candidates(tc.a.Platform, tc.mode)
		if err != nil || candidateKinds(ds) != tc.want {
			t.Errorf("Candidates(%s, %s) = %q, %v; want %q", tc.a, tc.mode, candidateKinds(ds), err, tc.want)
		}
		for _, d := range ds {
			if d.Arch.Name != tc.a.Name || d.Handler != nil || d.Handlers != nil || d.Emulator != (Interpreter{}) {
				t.Errorf("Candidates(%s, %s) has %+v; want only Kind, Arch and Env", tc.a, tc.mode, d)
			}
		}
	}
	if !platform.MatchCompat(v5.Platform, host) {
		ds, _ := Candidates(v5.Platform, ModePrivate)
		if len(ds) != 1 || !reflect.DeepEqual(ds[0].Env, []string{"QEMU_CPU=arm926"}) {
			t.Errorf("Candidates(arm/v5, private) = %+v; want one with QEMU_CPU=arm926", ds)
		}
	}
	if _, err := Candidates(specsPlatform("linux", "sparc64"), ModeAuto); err == nil || !strings.Contains(err.Error(), "known platforms") {
		t.Errorf("Candidates(linux/sparc64) = %v; want an error listing known platforms", err)
	}
	if _, err := Candidates(host, Mode("maybe")); err == nil {
		t.Errorf("Candidates(host, maybe) = nil error; want the unknown mode")
	}
}

// TestCandidatesHoldPlan: whatever this host has, each decision Plan makes
// is among Candidates with the same kind, QEMU target and environment (what
// a build's cache key holds), so a cache lookup by the candidates finds
// what a step run under Plan's decision recorded.
func TestCandidatesHoldPlan(t *testing.T) {
	ctx := context.Background()
	planned := 0
	for _, s := range []string{platform.Format(platform.Host()), "386", "arm64", "arm/v5"} {
		a := arch(t, s)
		for _, mode := range Modes {
			d, err := Plan(ctx, a.Platform, mode)
			if err != nil {
				continue
			}
			planned++
			ds, err := Candidates(a.Platform, mode)
			if err != nil {
				t.Fatalf("Candidates(%s, %s): %v", a, mode, err)
			}
			found := false
			for _, c := range ds {
				found = found || (c.Kind == d.Kind && c.Arch.QEMU == d.Arch.QEMU && reflect.DeepEqual(c.Env, d.Env))
			}
			if !found {
				t.Errorf("Plan(%s, %s) = %s %v, not among Candidates %q", a, mode, d.Kind, d.Env, candidateKinds(ds))
			}
		}
	}
	if planned == 0 {
		t.Fatal("Plan gave no decision at all, not even for the host's platform")
	}
}
