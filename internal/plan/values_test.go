//go:build unix

package plan

import (
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

func TestDestPath(t *testing.T) {
	tests := []struct{ workdir, dest, want string }{
		{"", "/app", "/app"},
		{"", "app/", "/app/"},
		{"/src", ".", "/src/"},
		{"/src", "", "/src/"},
		{"/src", "bin", "/src/bin"},
		{"/src", "../etc/", "/etc/"},
		{"/src/", "/x/./y/.", "/x/y/"},
		{"/src", "/", "/"},
		{"/src", "..", "/"},
		{"/", "a//b/", "/a/b/"},
	}
	for _, tt := range tests {
		got, err := destPath(tt.workdir, tt.dest, "linux")
		if err != nil || got != tt.want {
			t.Errorf("destPath(%q, %q) = %q, %v, want %q", tt.workdir, tt.dest, got, err, tt.want)
		}
	}
}

func TestCheckChmod(t *testing.T) {
	for _, ok := range []string{"0644", "755", "7777", "u+x", "go-w", "a=rX", "u+x,go-w", "+x", "u=g"} {
		if err := CheckChmod(ok); err != nil {
			t.Errorf("CheckChmod(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"8888", "17777", "0999", "u", "u+q", "x+u", "u+x,", "1a"} {
		if err := CheckChmod(bad); err == nil {
			t.Errorf("CheckChmod(%q) = nil, want an error", bad)
		}
	}
}

func TestCheckSignal(t *testing.T) {
	for _, ok := range []string{"SIGTERM", "TERM", "sigint", "9", "64", "SIGRTMIN+3", "RTMAX-1", "SIGWINCH"} {
		if err := checkSignal(ok); err != nil {
			t.Errorf("checkSignal(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"SIGFOO", "0", "65", "", "RTMIN+31", "-1"} {
		if err := checkSignal(bad); err == nil {
			t.Errorf("checkSignal(%q) = nil, want an error", bad)
		}
	}
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		in   string
		want string
		lint string
	}{
		{"80", "80/tcp", ""},
		{"53/udp", "53/udp", ""},
		{"53/UDP", "53/udp", "ExposeProtoCasing"},
		{"8000-8002", "8000/tcp 8001/tcp 8002/tcp", ""},
		{"9000-9000/sctp", "9000/sctp", ""},
		{"8080:80", "80/tcp", "ExposeInvalidFormat"},
		{"127.0.0.1:8080:80/tcp", "80/tcp", "ExposeInvalidFormat"},
	}
	for _, tt := range tests {
		var lints []string
		got, err := parsePort(tt.in, func(r *linter.LinterRule[func(string) string]) { lints = append(lints, r.Name) })
		if err != nil || strings.Join(got, " ") != tt.want || strings.Join(lints, ",") != tt.lint {
			t.Errorf("parsePort(%q) = %q, %v, lint %v; want %q, lint %q", tt.in, got, err, lints, tt.want, tt.lint)
		}
	}
	for _, bad := range []string{"", "/tcp", "80/http", "70000", "90-80", "a-b", "1-2:3-5"} {
		if got, err := parsePort(bad, func(*linter.LinterRule[func(string) string]) {}); err == nil {
			t.Errorf("parsePort(%q) = %q, want an error", bad, got)
		}
	}
}

func TestSourceKinds(t *testing.T) {
	tests := []struct {
		s         string
		url, git  bool
		chownName bool
	}{
		{"https://example.com/a.tar.gz", true, false, false},
		{"https://github.com/moby/buildkit.git#v0.34.2", true, true, false},
		{"git@github.com:moby/buildkit.git", false, true, false},
		{"ssh://git@host/repo", false, true, false},
		{"src/app.go", false, false, false},
	}
	for _, tt := range tests {
		if IsURL(tt.s) != tt.url || IsGitURL(tt.s) != tt.git {
			t.Errorf("IsURL(%q) = %v, IsGitURL = %v; want %v, %v", tt.s, IsURL(tt.s), IsGitURL(tt.s), tt.url, tt.git)
		}
	}
	for chown, byName := range map[string]bool{"1000": false, "1000:1000": false, ":50": false, "app": true, "1000:staff": true, "app:1": true} {
		if got := chownByName(chown); got != byName {
			t.Errorf("chownByName(%q) = %v, want %v", chown, got, byName)
		}
	}
}
