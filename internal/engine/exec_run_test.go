package engine

import (
	"slices"
	"testing"
)

// TestRunEnv: a later variable replaces an earlier one of the same name,
// where the earlier stood, so the RUN process sees one entry per name with
// BuildKit's winning value (testBuiltinArgs: the proxy build argument over
// ARG HTTP_PROXY; testSecretAsEnviron: a secret's env= over ENV).
func TestRunEnv(t *testing.T) {
	tests := []struct {
		name  string
		lists [][]string
		want  []string
	}{
		{"proxy over ARG",
			[][]string{{"PATH=/bin", "HTTP_PROXY=hpvalue2", "FOO=foocontents"}, {"HTTP_PROXY=hpvalue", "http_proxy=hpvalue"}},
			[]string{"PATH=/bin", "HTTP_PROXY=hpvalue", "FOO=foocontents", "http_proxy=hpvalue"}},
		{"secret over ENV",
			[][]string{{"PATH=/bin", "SECRET_ENV=foo"}, nil, {"QEMU_CPU=max"}, {"SECRET_ENV=pw"}},
			[]string{"PATH=/bin", "SECRET_ENV=pw", "QEMU_CPU=max"}},
		{"names are case-sensitive",
			[][]string{{"A=1"}, {"a=2"}},
			[]string{"A=1", "a=2"}},
		{"a value holding =",
			[][]string{{"K=a=b"}, {"K=c=d"}},
			[]string{"K=c=d"}},
		{"repeated within one list", [][]string{{"A=1", "A=2"}}, []string{"A=2"}},
		{"nothing", nil, nil},
	}
	for _, tt := range tests {
		if got := runEnv(tt.lists...); !slices.Equal(got, tt.want) {
			t.Errorf("%s: runEnv(%q) = %q, want %q", tt.name, tt.lists, got, tt.want)
		}
	}
}
