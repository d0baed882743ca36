package plan

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/util/system"
)

// This file holds the checks and conversions of instruction values that
// BuildKit's frontend does (paths, --chmod, --chown, EXPOSE ports,
// STOPSIGNAL), reimplemented where BuildKit's code lives in packages too
// heavy to import.

// destPath resolves a COPY destination against the working directory as
// BuildKit's pathRelativeToWorkingDir does, then cleans it: a destination
// that named a directory ("dir/", "dir/.", ".") keeps one trailing "/".
func destPath(workdir, p, os string) (string, error) {
	var err error
	if system.IsAbs(p, os) {
		p, err = system.NormalizePath("/", p, os, true)
	} else {
		if p == "." || p == "" {
			p = "./"
		}
		p, err = system.NormalizePath(workdir, p, os, true)
	}
	if err != nil {
		return "", err
	}
	dir := strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.")
	p = path.Clean(p)
	if dir && p != "/" {
		p += "/"
	}
	return p, nil
}

// IsURL reports whether an ADD source is fetched over http(s); the executor
// downloads exactly these.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// IsGitURL recognizes the git sources ADD accepts (git@host:repo, git://,
// ssh://, and http(s) URLs ending in .git or with a #ref).
func IsGitURL(s string) bool {
	switch {
	case strings.HasPrefix(s, "git@"), strings.HasPrefix(s, "git://"), strings.HasPrefix(s, "ssh://"):
		return true
	case IsURL(s):
		u, _, _ := strings.Cut(s, "#")
		u, _, _ = strings.Cut(u, "?")
		return strings.HasSuffix(u, ".git")
	}
	return false
}

// chownByName reports whether a --chown value names a user or group rather
// than numeric ids.
func chownByName(chown string) bool {
	user, group, _ := strings.Cut(chown, ":")
	isNum := func(s string) bool {
		_, err := strconv.ParseUint(s, 10, 32)
		return err == nil
	}
	return (user != "" && !isNum(user)) || (group != "" && !isNum(group))
}

// maxID is the largest uid or gid --chown takes as a number: BuildKit
// reads them as int32 (its parseUID).
const maxID = 1<<31 - 1

// CheckChown refuses a numeric --chown part that is no valid id. BuildKit
// looks a number beyond int32 up as a user name (4294967296 fails there),
// but takes -1 as uid 4294967295 (uint32 wrap); manyarch refuses both, and
// never lets 4294967296 wrap to root.
func CheckChown(s string) error {
	user, group, _ := strings.Cut(s, ":")
	for _, p := range []struct{ what, v string }{{"uid", user}, {"gid", group}} {
		if !numericID(p.v) {
			continue
		}
		if n, err := strconv.ParseInt(p.v, 10, 64); err != nil || n < 0 || n > maxID {
			return fmt.Errorf("--chown=%s: %s %s is out of range: want a number from 0 to %d, or a name from the image's /etc/passwd or /etc/group", s, p.what, p.v, maxID)
		}
	}
	return nil
}

// numericID reports whether s is a number, signed or not (so "-1" and
// "4294967296" are checked as ids, not looked up as names).
func numericID(s string) bool {
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// CheckChmod accepts what BuildKit accepts: an octal mode up to 07777 or a
// symbolic mode (u+x, go-w, a=rX, ...).
func CheckChmod(s string) error {
	if p, err := strconv.ParseUint(s, 8, 32); err == nil {
		if p > 0o7777 {
			return fmt.Errorf("invalid chmod parameter: '%v'. it should be octal string and between 0 and 07777", s)
		}
		return nil
	}
	if s[0] >= '0' && s[0] <= '9' {
		return fmt.Errorf("invalid chmod parameter: '%v'. it should be octal string and between 0 and 07777", s)
	}
	for _, clause := range strings.Split(s, ",") {
		i := 0
		for i < len(clause) && strings.IndexByte("ugoa", clause[i]) >= 0 {
			i++
		}
		if i == len(clause) {
			return fmt.Errorf("invalid chmod parameter %q: want an octal mode (0755) or a symbolic one (u+x,go-w)", s)
		}
		for i < len(clause) {
			if strings.IndexByte("+-=", clause[i]) < 0 {
				return fmt.Errorf("invalid chmod parameter %q: want an octal mode (0755) or a symbolic one (u+x,go-w)", s)
			}
			i++
			for i < len(clause) && strings.IndexByte("rwxXstugo", clause[i]) >= 0 {
				i++
			}
		}
	}
	return nil
}

// expose parses EXPOSE ports into "PORT/proto" (BuildKit's dispatchExpose).
func (d *dispatcher) expose(c *instructions.ExposeCommand, lint *linter.Linter) ([]string, error) {
	var out []string
	lex := d.g.p.f.Lexer()
	for _, raw := range c.Ports {
		words, err := lex.ProcessWords(raw, d.n.env)
		if err != nil {
			return nil, err
		}
		for _, w := range words {
			ps, err := parsePort(w, func(rule *linter.LinterRule[func(string) string]) {
				lint.Run(rule, c.Location(), rule.Format(w))
			})
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		}
	}
	return out, nil
}

// parsePort parses [ip:][hostport:]port[-end][/proto].
func parsePort(raw string, lint func(*linter.LinterRule[func(string) string])) ([]string, error) {
	parts := strings.Split(raw, ":")
	var ip, hostPort string
	cport := parts[len(parts)-1]
	if len(parts) >= 2 {
		hostPort = parts[len(parts)-2]
	}
	if len(parts) >= 3 {
		ip = strings.Join(parts[:len(parts)-2], ":")
	}
	port, proto, _ := strings.Cut(cport, "/")
	if port == "" {
		return nil, fmt.Errorf("invalid port %q: no port specified", raw)
	}
	switch strings.ToLower(proto) {
	case "":
		proto = "tcp"
	case "tcp", "udp", "sctp":
	default:
		return nil, fmt.Errorf("invalid port %q: invalid proto: %s", raw, proto)
	}
	if proto != strings.ToLower(proto) {
		lint(&linter.RuleExposeProtoCasing)
	}
	if ip != "" || hostPort != "" {
		lint(&linter.RuleExposeInvalidFormat)
	}
	start, end, err := portRange(port)
	if err != nil {
		return nil, fmt.Errorf("invalid containerPort: %s", port)
	}
	if hostPort != "" {
		hs, he, err := portRange(hostPort)
		if err != nil {
			return nil, fmt.Errorf("invalid hostPort: %s", hostPort)
		}
		if end-start != he-hs && end != start {
			return nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", port, hostPort)
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, strconv.Itoa(p)+"/"+strings.ToLower(proto))
	}
	return out, nil
}

func portRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	start, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	if !ok || a == b {
		return int(start), int(start), nil
	}
	end, err := strconv.ParseUint(b, 10, 16)
	if err != nil || end < start {
		return 0, 0, fmt.Errorf("invalid port range %s", s)
	}
	return int(start), int(end), nil
}

// linuxSignals are the names STOPSIGNAL accepts (moby/sys/signal on Linux).
var linuxSignals = map[string]bool{
	"ABRT": true, "ALRM": true, "BUS": true, "CHLD": true, "CLD": true, "CONT": true, "FPE": true,
	"HUP": true, "ILL": true, "INT": true, "IO": true, "IOT": true, "KILL": true, "PIPE": true,
	"POLL": true, "PROF": true, "PWR": true, "QUIT": true, "SEGV": true, "STKFLT": true, "STOP": true,
	"SYS": true, "TERM": true, "TRAP": true, "TSTP": true, "TTIN": true, "TTOU": true, "URG": true,
	"USR1": true, "USR2": true, "VTALRM": true, "WINCH": true, "XCPU": true, "XFSZ": true,
	"RTMIN": true, "RTMAX": true, "UNUSED": true,
}

func checkSignal(s string) error {
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		if n == 0 || n > 64 {
			return fmt.Errorf("invalid signal number %d: want 1 to 64", n)
		}
		return nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if base, off, ok := strings.Cut(name, "+"); ok && base == "RTMIN" {
		if n, err := strconv.Atoi(off); err == nil && n >= 0 && n <= 30 {
			return nil
		}
	}
	if base, off, ok := strings.Cut(name, "-"); ok && base == "RTMAX" {
		if n, err := strconv.Atoi(off); err == nil && n >= 0 && n <= 30 {
			return nil
		}
	}
	if !linuxSignals[name] {
		return fmt.Errorf("invalid signal: %s (want a name such as SIGTERM or a number)", s)
	}
	return nil
}
