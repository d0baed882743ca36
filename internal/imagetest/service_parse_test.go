package imagetest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseServiceExample(t *testing.T) {
	c, err := Load("../../examples/service/tests.yaml", Strict())
	if err != nil {
		t.Fatalf("Load(examples/service/tests.yaml) = %v", err)
	}
	if len(c.Warnings) > 0 {
		t.Errorf("warnings: %q", c.Warnings)
	}
	if len(c.ServiceTests) != 1 {
		t.Fatalf("ServiceTests = %d, want 1", len(c.ServiceTests))
	}
	s := c.ServiceTests[0]
	if s.Port != 8080 || s.HostPort != 0 || s.Readiness.HTTPPath != "/healthz" || s.Readiness.HTTPStatus != 200 || s.Readiness.TCP {
		t.Errorf("service = port %d hostPort %d readiness %+v", s.Port, s.HostPort, s.Readiness)
	}
	if len(s.Checks) != 3 || len(s.Consistency) != 2 || s.Load == nil {
		t.Fatalf("checks %d consistency %d load %v", len(s.Checks), len(s.Consistency), s.Load)
	}
	if got := s.Checks[1]; got.Request.Method != "POST" || got.Request.Headers[0].Key != "X-Request-Id" || got.Status != 200 {
		t.Errorf("checks[1] = %+v", got)
	}
	if got := s.Checks[0].JSON[4]; !got.Absent || got.Path != "arch" {
		t.Errorf("checks[0].json[4] = %+v", got)
	}
	l := s.Load
	if l.Requests != 300 || l.Concurrency != 4 || l.Warmup != 10 || l.MinSuccessRate == nil || *l.MinSuccessRate != 0.99 || l.MaxP95 != 2*time.Second {
		t.Errorf("load = %+v", l)
	}
}

func TestParseServiceErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       string // in the error, or in Invalid when invalid
		invalid    bool
	}{
		{"unknown field", "- {name: a, port: 80, chekcs: []}", `unknown field "chekcs" in serviceTests[0] (did you mean "checks"?)`, false},
		{"no port", "- {name: a}", "needs port", true},
		{"port range", "- {name: a, port: 70000}", "serviceTests[0].port is 70000: want a TCP port", false},
		{"two probes", "- {name: a, port: 80, readiness: {tcp: true, http: /x}}", "more than one of tcp, http and command", false},
		{"relative path", "- {name: a, port: 80, checks: [{name: c, path: status}]}", `path "status": want a path starting with /`, false},
		{"bad rate", "- {name: a, port: 80, load: {minSuccessRate: 99}}", `write a number from 0 to 1 (0.99) or a percentage ("99%")`, false},
		{"too many requests", "- {name: a, port: 80, load: {requests: 2000000}}", "want 1 to 1000000", false},
		{"bad json type", "- {name: a, port: 80, checks: [{name: c, path: /, json: [{path: a, type: str}]}]}", `type "str": want one of`, false},
		{"bad json path", "- {name: a, port: 80, checks: [{name: c, path: /, json: [{path: 'a[x'}]}]}", "[ without ]", false},
		{"bad regex", "- {name: a, port: 80, checks: [{name: c, path: /, expectedBody: ['(']}]}", "invalid regular expression", true},
		{"fault kind", "- {name: a, port: 80, faults: [{name: f, kind: latncy, duration: 1s}]}", `(did you mean "latency"?)`, false},
		{"fault no delay", "- {name: a, port: 80, faults: [{name: f, kind: latency, duration: 1s}]}", "needs a delay", true},
		{"fault ifUnsupported", "- {name: a, port: 80, faults: [{name: f, kind: kill, ifUnsupported: ignore}]}", `ifUnsupported "ignore": want fail`, false},
		{"header twice", "- {name: a, port: 80, checks: [{name: c, path: /, headers: {a: 1, A: 2}}]}", `header "A" appears twice`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte("schemaVersion: 2.0.0\nserviceTests:\n"+tc.yaml+"\n"))
			if tc.invalid {
				if err != nil {
					t.Fatalf("Parse = %v, want the test kept with Invalid", err)
				}
				s := c.ServiceTests[0]
				all := strings.Join(s.Invalid, "\n")
				for _, ch := range s.Checks {
					all += strings.Join(ch.Invalid, "\n")
				}
				for _, f := range s.Faults {
					all += strings.Join(f.Invalid, "\n")
				}
				if !strings.Contains(all, tc.want) {
					t.Errorf("Invalid = %q, want %q", all, tc.want)
				}
				if _, err := Parse("t.yaml", []byte("schemaVersion: 2.0.0\nserviceTests:\n"+tc.yaml+"\n"), Strict()); err == nil {
					t.Errorf("Parse(Strict) = nil error, want one")
				}
				return
			}
			var ce ConfigErrors
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want a ConfigError with %q", err, tc.want)
			}
		})
	}
}
