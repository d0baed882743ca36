package sshagent

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  Spec
		error string
	}{
		{in: "default", want: Spec{ID: "default"}},
		{in: "github", want: Spec{ID: "github"}},
		{in: "default=/tmp/agent.sock", want: Spec{ID: "default", Paths: []string{"/tmp/agent.sock"}}},
		{in: "default=", want: Spec{ID: "default", Paths: []string{""}}},
		{in: "deploy=/k/a,/k/b", want: Spec{ID: "deploy", Paths: []string{"/k/a", "/k/b"}}},
		{in: `"deploy=/k/a,b",/k/c`, want: Spec{ID: "deploy", Paths: []string{"/k/a,b", "/k/c"}}},
		{in: "", error: "want default, ID"},
		{in: "=/tmp/sock", error: "the id before = is empty"},
		{in: "/home/me/.ssh/id_ed25519", error: "has a space or a slash"},
		{in: "default,/k/a", error: "paths follow ID=: want default=/k/a"},
		{in: "deploy=/k/a,,/k/b", error: "path 2 is empty"},
		{in: `deploy="/k/a`, error: "want default, ID"},
	} {
		got, err := ParseSpec(tc.in)
		if tc.error != "" {
			if err == nil || !strings.Contains(err.Error(), tc.error) || !strings.Contains(err.Error(), "--ssh") {
				t.Errorf("ParseSpec(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.error)
			}
			continue
		}
		if err != nil || got.ID != tc.want.ID || !slices.Equal(got.Paths, tc.want.Paths) {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"default", "a=/b,/c", `a="b,c"`, "=", ","} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpec(s)
		if err != nil {
			return
		}
		if sp.ID == "" || strings.ContainsAny(sp.ID, "=/ \t") {
			t.Errorf("ParseSpec(%q) = id %q", s, sp.ID)
		}
	})
}
