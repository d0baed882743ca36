package sandbox

import (
	"strings"
	"testing"
)

func TestParseUlimit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Ulimit
		err  string
	}{
		{"nofile=1024:4096", Ulimit{"nofile", 1024, 4096}, ""},
		{"nproc=100", Ulimit{"nproc", 100, 100}, ""},
		{"core=-1", Ulimit{"core", Unlimited, Unlimited}, ""},
		{"core=0:unlimited", Ulimit{"core", 0, Unlimited}, ""},
		{"nofile=4096:1024", Ulimit{}, "soft limit is above the hard"},
		{"nofle=1", Ulimit{}, `unknown resource "nofle" (known: as, core`},
		{"nofile", Ulimit{}, "want NAME=SOFT[:HARD]"},
		{"nofile=x", Ulimit{}, `"x" is not a number`},
	} {
		got, err := ParseUlimit(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseUlimit(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseUlimit(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if s := (Ulimit{"core", 0, Unlimited}).String(); s != "core=0:unlimited" {
		t.Errorf("String = %q", s)
	}
}

func TestParseHost(t *testing.T) {
	for in, want := range map[string]string{
		"reg.local:10.0.0.5":  "10.0.0.5\treg.local",
		"reg.local=10.0.0.5":  "10.0.0.5\treg.local",
		"v6.local:[fd00::1]":  "fd00::1\tv6.local",
		"v6.local:fd00::1":    "fd00::1\tv6.local",
		"reg.local":           "",
		"reg.local:not-an-ip": "",
		":10.0.0.5":           "",
		"a b:10.0.0.5":        "",
	} {
		got, err := ParseHost(in)
		if want == "" {
			if err == nil {
				t.Errorf("ParseHost(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
