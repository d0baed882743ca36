package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// applyChange applies one Dockerfile-style config instruction, as
// `docker import --change` and `docker commit --change` accept them:
// CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR.
func applyChange(c *v1.Config, change string) error {
	instr, rest, _ := strings.Cut(strings.TrimSpace(change), " ")
	rest = strings.TrimSpace(rest)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("--change %q: %s", change, fmt.Sprintf(format, args...))
	}
	if rest == "" {
		return bad("%s needs a value", strings.ToUpper(instr))
	}
	switch strings.ToUpper(instr) {
	case "CMD":
		c.Cmd = commandForm(rest)
	case "ENTRYPOINT":
		c.Entrypoint = commandForm(rest)
	case "ENV":
		kvs, err := changeKeyValues(rest, true)
		if err != nil {
			return bad("%v", err)
		}
		for _, kv := range kvs {
			c.Env = setEnv(c.Env, kv[0], kv[1])
		}
	case "LABEL":
		kvs, err := changeKeyValues(rest, false)
		if err != nil {
			return bad("%v", err)
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for _, kv := range kvs {
			c.Labels[kv[0]] = kv[1]
		}
	case "EXPOSE":
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range strings.Fields(rest) {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			c.ExposedPorts[p] = struct{}{}
		}
	case "VOLUME":
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		var vols []string
		if err := json.Unmarshal([]byte(rest), &vols); err != nil {
			vols = strings.Fields(rest)
		}
		for _, v := range vols {
			c.Volumes[v] = struct{}{}
		}
	case "USER":
		c.User = rest
	case "WORKDIR":
		if !strings.HasPrefix(rest, "/") {
			return bad("WORKDIR must be an absolute path")
		}
		c.WorkingDir = rest
	case "STOPSIGNAL":
		c.StopSignal = rest
	default:
		return bad("unknown or unsupported instruction %q: use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR", instr)
	}
	return nil
}

// commandForm parses the JSON (exec) form, or else wraps the shell form in
// /bin/sh -c as Dockerfiles do.
func commandForm(s string) []string {
	var args []string
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &args) == nil {
		return args
	}
	return []string{"/bin/sh", "-c", s}
}

// changeKeyValues parses "k=v k2='v 2'" (or, when legacy is allowed, "K V").
func changeKeyValues(s string, legacy bool) ([][2]string, error) {
	if legacy && !strings.Contains(strings.Fields(s)[0], "=") {
		k, v, _ := strings.Cut(s, " ")
		return [][2]string{{k, strings.TrimSpace(v)}}, nil
	}
	var out [][2]string
	for _, w := range splitWords(s) {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not KEY=VALUE", w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// splitWords splits on spaces outside quotes, removing the quotes.
func splitWords(s string) []string {
	var (
		words []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '"' || r == '\''):
			quote, in = r, true
		case quote == 0 && r == ' ':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// setEnv sets key in an environment list, replacing an earlier value.
func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}
