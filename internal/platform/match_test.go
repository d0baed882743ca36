package platform

import (
	"fmt"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestComparers(t *testing.T) {
	tests := []struct {
		name string
		m    MatchComparer
		in   []specs.Platform // platforms to order; those matched come first
		want string           // the matched ones, best first
	}{
		{"Only arm64", Only(linux("arm64", "v8")), []specs.Platform{linux("amd64", ""), linux("arm64", ""), linux("arm", "v7")}, "linux/arm64"},
		{"Only arm", Only(linux("arm", "")), []specs.Platform{linux("arm", "v6"), linux("arm", "v7"), linux("arm", "v5")}, "linux/arm/v7"},
		{"Only amd64 not 386", Only(linux("amd64", "")), []specs.Platform{linux("386", ""), linux("x86_64", "")}, "linux/amd64"},
		{"Only armel is v5", Only(linux("armel", "")), []specs.Platform{linux("arm", "v6"), linux("arm", "v5")}, "linux/arm/v5"},
		{"Ordered", Ordered(linux("riscv64", ""), linux("amd64", "")), []specs.Platform{linux("amd64", ""), linux("s390x", ""), linux("riscv64", "")}, "linux/riscv64 linux/amd64"},
		{"Compat arm/v7", Compat(linux("arm", "v7")), []specs.Platform{linux("arm", "v5"), linux("arm64", ""), linux("arm", "v7"), linux("arm", "v6")}, "linux/arm/v7 linux/arm/v6 linux/arm/v5"},
		{"Compat amd64", Compat(linux("amd64", "")), []specs.Platform{linux("386", ""), linux("arm64", ""), linux("amd64", "")}, "linux/amd64 linux/386"},
		{"Compat arm64 runs no arm", Compat(linux("arm64", "")), []specs.Platform{linux("arm", "v7"), linux("arm64", "v8")}, "linux/arm64"},
		{"Compat arm/v5", Compat(linux("arm", "v5")), []specs.Platform{linux("arm", "v6"), linux("arm", "v5")}, "linux/arm/v5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var matched []specs.Platform
			for _, p := range tt.in {
				if tt.m.Match(p) {
					matched = append(matched, p)
				}
			}
			// Insertion sort with Less alone, so the test holds Less to a strict order.
			for i := 1; i < len(matched); i++ {
				for j := i; j > 0 && tt.m.Less(matched[j], matched[j-1]); j-- {
					matched[j], matched[j-1] = matched[j-1], matched[j]
				}
			}
			got := ""
			for i, p := range matched {
				if i > 0 {
					got += " "
				}
				got += Format(p)
			}
			if got != tt.want {
				t.Errorf("%s: matched and ordered %s, want %s", tt.name, got, tt.want)
			}
			for _, p := range tt.in {
				if tt.m.Less(p, p) {
					t.Errorf("%s: Less(%s, %s) = true, want false", tt.name, Format(p), Format(p))
				}
			}
		})
	}
}

func TestSelect(t *testing.T) {
	have := []specs.Platform{linux("amd64", ""), linux("arm", "v6"), linux("arm64", "v8"), linux("arm", "v7"), linux("arm64", "")}
	tests := []struct {
		name    string
		want    []specs.Platform
		m       func(specs.Platform) MatchComparer
		best    string
		all     string
		missing string
	}{
		{"only", []specs.Platform{linux("arm64", ""), linux("arm", "")}, Only, "[2 3]", "[2 3 4]", ""},
		{"only missing", []specs.Platform{linux("s390x", ""), linux("amd64", "")}, Only, "[-1 0]", "[0]", "linux/s390x"},
		{"compat prefers exact", []specs.Platform{linux("arm", "v7")}, Compat, "[3]", "[1 3]", ""},
		{"compat older variant", []specs.Platform{linux("arm", "v6")}, Compat, "[1]", "[1]", ""},
		{"none", nil, Only, "[]", "[]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Select(have, tt.want, tt.m)
			if got := fmt.Sprint(s.Best); got != tt.best {
				t.Errorf("Select(%s).Best = %s, want %s", FormatList(tt.want), got, tt.best)
			}
			if got := fmt.Sprint(s.All); got != tt.all && !(got == "[]" && tt.all == "[]") {
				t.Errorf("Select(%s).All = %s, want %s", FormatList(tt.want), got, tt.all)
			}
			if got := FormatList(s.Missing); got != tt.missing {
				t.Errorf("Select(%s).Missing = %s, want %s", FormatList(tt.want), got, tt.missing)
			}
		})
	}
}

func TestParseAny(t *testing.T) {
	tests := []struct {
		in, want string
		osVer    string
	}{
		{"linux/amd64", "linux/amd64", ""},
		{"windows/amd64", "windows/amd64", ""},
		{"windows(10.0.17763)/amd64", "windows/amd64", "10.0.17763"},
		{"linux/armel", "linux/arm/v5", ""},
		{"armel", "linux/arm/v5", ""},
		{"linux/armhf", "linux/arm/v7", ""},
		{"linux/arm", "linux/arm/v7", ""},
		{"linux/arm64/v8", "linux/arm64", ""},
		{"linux/arm64/v9", "linux/arm64/v9", ""},
		{"linux/mips64", "linux/mips64", ""},
		{"freebsd/aarch64", "freebsd/arm64", ""},
		{"arm/v6", "linux/arm/v6", ""},
		{"i686", "linux/386", ""},
		{"Linux/X86_64", "linux/amd64", ""},
	}
	for _, tt := range tests {
		p, err := ParseAny(tt.in)
		if err != nil || Format(p) != tt.want || p.OSVersion != tt.osVer {
			t.Errorf("ParseAny(%q) = %s (os version %q), %v, want %s (%q)", tt.in, Format(p), p.OSVersion, err, tt.want, tt.osVer)
		}
	}
	for _, in := range []string{"", "linux", "linux/", "a/b/c/d", "linux/armel/v7", "linux/*"} {
		if p, err := ParseAny(in); err == nil {
			t.Errorf("ParseAny(%q) = %+v, nil, want an error", in, p)
		}
	}
}
