package platform

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want specs.Platform
	}{
		{"linux/amd64", linux("amd64", "")},
		{"amd64", linux("amd64", "")},
		{"x86_64", linux("amd64", "")},
		{"linux/x86-64", linux("amd64", "")},
		{"linux/amd64/v1", linux("amd64", "")},
		{"linux/amd64/v3", linux("amd64", "v3")},
		{"x86_64/4", linux("amd64", "v4")},
		{"  Linux/AMD64  ", linux("amd64", "")},
		{"linux/arm64", linux("arm64", "")},
		{"arm64", linux("arm64", "")},
		{"aarch64", linux("arm64", "")},
		{"linux/arm64/v8", linux("arm64", "")},
		{"linux/arm64/8", linux("arm64", "")},
		{"LINUX/ARM64/V8", linux("arm64", "")},
		{"linux/aarch64", linux("arm64", "")},
		{"linux/arm", linux("arm", "v7")},
		{"arm", linux("arm", "v7")},
		{"linux/arm/v7", linux("arm", "v7")},
		{"linux/arm/7", linux("arm", "v7")},
		{"armhf", linux("arm", "v7")},
		{"armv7l", linux("arm", "v7")},
		{"linux/arm/v6", linux("arm", "v6")},
		{"arm/v6", linux("arm", "v6")},
		{"arm/v7", linux("arm", "v7")},
		{"arm64/v8", linux("arm64", "")},
		{"linux/arm/6", linux("arm", "v6")},
		{"armv6l", linux("arm", "v6")},
		{"linux/arm/v5", linux("arm", "v5")},
		{"armel", linux("arm", "v5")},
		{"linux/armel", linux("arm", "v5")},
		{"armv5tel", linux("arm", "v5")},
		{"linux/386", linux("386", "")},
		{"386", linux("386", "")},
		{"i386", linux("386", "")},
		{"i686", linux("386", "")},
		{"linux/riscv64", linux("riscv64", "")},
		{"linux/ppc64le", linux("ppc64le", "")},
		{"ppc64el", linux("ppc64le", "")},
		{"linux/s390x", linux("s390x", "")},
		{"linux/mips64le", linux("mips64le", "")},
		{"mips64el", linux("mips64le", "")},
		{"linux/loong64", linux("loong64", "")},
		{"loongarch64", linux("loong64", "")},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil || got.OS != tt.want.OS || got.Architecture != tt.want.Architecture ||
				got.Variant != tt.want.Variant || got.OSVersion != "" || got.OSFeatures != nil {
				t.Errorf("Parse(%q) = %+v, %v, want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	var syntax *SyntaxError
	var unknown *UnknownError
	tests := []struct {
		in      string
		as      any    // *SyntaxError, *UnknownError or nil for ErrEmpty
		wantMsg string // a substring of the message
	}{
		{"", nil, "empty platform"},
		{"   ", nil, "empty platform"},
		{"linux/arm64/v9", &unknown, `unknown platform "linux/arm64/v9": known platforms are linux/amd64, linux/arm64, linux/arm/v7,`},
		{"linux/arm/v8", &unknown, "known platforms are"},
		{"linux/arm/v4", &unknown, "known platforms are"},
		{"linux/amd64/v5", &unknown, "levels are v1 (plain linux/amd64), v2, v3 and v4"},
		{"linux/mips64", &unknown, "known platforms are"},
		{"mips64", &unknown, "known platforms are"},
		{"linux/sparc64", &unknown, "known platforms are"},
		{"pdp11", &unknown, "known platforms are"},
		{"foo/bar", &unknown, "known platforms are"},
		{"arm/v9", &unknown, "known platforms are"},
		{"windows/amd64", &unknown, "Linux images only"},
		{"darwin/arm64", &unknown, "Linux images only"},
		{"linux(5.10)/amd64", &unknown, "no OS version"},
		{"linux", &syntax, "no architecture"},
		{"windows", &syntax, "no architecture"},
		{"linux/", &syntax, "empty part"},
		{"/amd64", &syntax, "empty part"},
		{"linux//amd64", &syntax, "empty part"},
		{"linux/amd64/", &syntax, "empty part"},
		{"linux/arm/v7/extra", &syntax, "too many parts"},
		{"linux/am d64", &syntax, "letters, digits"},
		{"linux/amd64,linux/arm64", &syntax, "letters, digits"},
		{"linux/*", &syntax, "letters, digits"},
		{"linux/arm64/v8!", &syntax, "letters, digits"},
		{"linux/armhf/v6", &syntax, "already means linux/arm/v7"},
		{"linux/armel/v7", &syntax, "already means linux/arm/v5"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, nil, want an error", tt.in, got)
			}
			if tt.as == nil {
				if !errors.Is(err, ErrEmpty) {
					t.Errorf("Parse(%q) error = %v, want ErrEmpty", tt.in, err)
				}
			} else if !errors.As(err, tt.as) {
				t.Errorf("Parse(%q) error = %T %v, want %T", tt.in, err, err, tt.as)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Parse(%q) error = %q, want it to contain %q", tt.in, err, tt.wantMsg)
			}
		})
	}
}

func TestUnknownErrorListsEveryPlatform(t *testing.T) {
	_, err := Parse("linux/arm64/v9")
	if err == nil {
		t.Fatal(`Parse("linux/arm64/v9") = nil error`)
	}
	for _, a := range All() {
		if !strings.Contains(err.Error(), a.String()) {
			t.Errorf("Parse error %q does not list %s", err, a)
		}
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{nil, nil},
		{[]string{"linux/amd64"}, []string{"linux/amd64"}},
		{[]string{"linux/amd64,linux/arm64,linux/arm/v7"}, []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}},
		{[]string{"linux/amd64, linux/arm64 ", " linux/s390x"}, []string{"linux/amd64", "linux/arm64", "linux/s390x"}},
		{[]string{"linux/arm64", "linux/amd64", "linux/arm64/v8", "aarch64"}, []string{"linux/arm64", "linux/amd64"}},
		{[]string{"linux/arm,linux/arm/v7,armhf", "linux/arm/v6"}, []string{"linux/arm/v7", "linux/arm/v6"}},
		{[]string{"riscv64,386", "amd64"}, []string{"linux/riscv64", "linux/386", "linux/amd64"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.in, "|"), func(t *testing.T) {
			got, err := ParseList(tt.in...)
			if err != nil {
				t.Fatalf("ParseList(%q) error = %v", tt.in, err)
			}
			var gotS []string
			for _, p := range got {
				gotS = append(gotS, Format(p))
			}
			if strings.Join(gotS, " ") != strings.Join(tt.want, " ") || len(got) != len(tt.want) {
				t.Errorf("ParseList(%q) = %q, want %q", tt.in, gotS, tt.want)
			}
		})
	}
}

func TestParseListErrors(t *testing.T) {
	tests := []struct {
		in      []string
		wantMsg string
	}{
		{[]string{"linux/amd64,linux/arm64/v9"}, `unknown platform "linux/arm64/v9"`},
		{[]string{"linux/amd64", "linux/foo"}, `unknown platform "linux/foo"`},
		{[]string{"linux/amd64,,linux/arm64"}, `"linux/amd64,,linux/arm64": empty element`},
		{[]string{"linux/amd64,"}, "empty element"},
		{[]string{""}, "empty element"},
		{[]string{"linux/amd64", "linux"}, `invalid platform "linux"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.in, "|"), func(t *testing.T) {
			got, err := ParseList(tt.in...)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("ParseList(%q) = %v, %v, want error containing %q", tt.in, got, err, tt.wantMsg)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		in   specs.Platform
		want string
	}{
		{linux("amd64", ""), "linux/amd64"},
		{linux("arm64", "v8"), "linux/arm64"},
		{linux("aarch64", ""), "linux/arm64"},
		{linux("arm", ""), "linux/arm/v7"},
		{linux("arm", "7"), "linux/arm/v7"},
		{linux("arm", "v6"), "linux/arm/v6"},
		{linux("armel", ""), "linux/arm/v5"},
		{linux("x86_64", ""), "linux/amd64"},
		{specs.Platform{OS: "Linux", Architecture: "ARM64"}, "linux/arm64"},
		{linux("sparc64", ""), "linux/sparc64"},
		{specs.Platform{}, "unknown"},
		{specs.Platform{Architecture: "arm64"}, "unknown"},
	}
	for _, tt := range tests {
		if got := Format(tt.in); got != tt.want {
			t.Errorf("Format(%+v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		want, have specs.Platform
		match      bool
		compat     bool
	}{
		{linux("arm64", ""), linux("arm64", "v8"), true, true},
		{linux("arm64", "v8"), linux("aarch64", ""), true, true},
		{linux("arm", ""), linux("arm", "v7"), true, true},
		{linux("arm", "v7"), linux("arm", "7"), true, true},
		{linux("amd64", ""), linux("x86_64", ""), true, true},
		{linux("386", ""), linux("amd64", ""), false, true},
		{linux("amd64", ""), linux("386", ""), false, false},
		{linux("arm", "v5"), linux("arm", "v7"), false, true},
		{linux("arm", "v6"), linux("arm", "v7"), false, true},
		{linux("arm", "v5"), linux("arm", "v6"), false, true},
		{linux("arm", "v7"), linux("arm", "v6"), false, false},
		{linux("arm", "v7"), linux("arm", "v5"), false, false},
		{linux("arm", "v7"), linux("arm64", ""), false, false},
		{linux("arm64", ""), linux("amd64", ""), false, false},
		{linux("s390x", ""), linux("ppc64le", ""), false, false},
		{specs.Platform{OS: "windows", Architecture: "amd64"}, linux("amd64", ""), false, false},
		{specs.Platform{OS: "linux", Architecture: "386"}, specs.Platform{OS: "windows", Architecture: "amd64"}, false, false},
	}
	for _, tt := range tests {
		if got := Match(tt.want, tt.have); got != tt.match {
			t.Errorf("Match(%+v, %+v) = %v, want %v", tt.want, tt.have, got, tt.match)
		}
		if got := MatchCompat(tt.want, tt.have); got != tt.compat {
			t.Errorf("MatchCompat(%+v, %+v) = %v, want %v", tt.want, tt.have, got, tt.compat)
		}
	}
}

func TestHost(t *testing.T) {
	h := Host()
	if runtime.GOOS != "linux" {
		t.Skipf("manyarch hosts are Linux; this is %s", runtime.GOOS)
	}
	a, ok := Lookup(h)
	if !ok {
		t.Fatalf("Host() = %+v, not in the table", h)
	}
	if a.GOARCH != runtime.GOARCH {
		t.Errorf("Host() = %s, whose GOARCH is %s, want %s", Format(h), a.GOARCH, runtime.GOARCH)
	}
	if p, err := Parse(Format(h)); err != nil || !Match(p, h) {
		t.Errorf("Parse(Format(Host())) = %+v, %v, want %+v", p, err, h)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"linux/amd64", "arm64", "linux/arm64/v8", "linux/arm", "armhf", "armel", "x86_64",
		"linux/arm/v5", "", "linux", "linux//", "windows/amd64", "linux(1)/amd64", "a/b/c/d",
		"linux/arm64/v9", "LINUX/ARM/7", "i686", " mips64el ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("Parse(%q) returned an empty error message", s)
			}
			return
		}
		if _, ok := Lookup(p); !ok {
			t.Fatalf("Parse(%q) = %+v, which Lookup does not find", s, p)
		}
		f := Format(p)
		q, err := Parse(f)
		if err != nil || q.OS != p.OS || q.Architecture != p.Architecture || q.Variant != p.Variant {
			t.Fatalf("Parse(Format(Parse(%q))) = Parse(%q) = %+v, %v, want %+v", s, f, q, err, p)
		}
		if !Match(p, q) {
			t.Fatalf("Match(%+v, %+v) = false after a round trip of %q", p, q, s)
		}
		l, err := ParseList(s)
		if err != nil || len(l) != 1 || !Match(l[0], p) {
			t.Fatalf("ParseList(%q) = %+v, %v, want [%+v]", s, l, err, p)
		}
	})
}
