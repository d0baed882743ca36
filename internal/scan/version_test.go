package scan

import (
	"math"
	"testing"
)

type cmpCase struct {
	a, b string
	want int
}

func testScheme(t *testing.T, s versionScheme, cases []cmpCase) {
	t.Helper()
	for _, tt := range cases {
		got, err := s.compare(tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("%s.compare(%q, %q) = %d, %v; want %d", s.name(), tt.a, tt.b, got, err, tt.want)
		}
		// The order is antisymmetric.
		if back, err := s.compare(tt.b, tt.a); err != nil || back != -tt.want {
			t.Errorf("%s.compare(%q, %q) = %d, %v; want %d", s.name(), tt.b, tt.a, back, err, -tt.want)
		}
	}
}

// Debian Policy 5.6.12's examples and dpkg's own test cases.
func TestDpkgCompare(t *testing.T) {
	testScheme(t, dpkgScheme{}, []cmpCase{
		{"1.0", "1.0", 0},
		{"1.0~rc1", "1.0", -1},
		{"1.0~~", "1.0~~a", -1}, // policy: ~~ < ~~a < ~ < (nothing) < a
		{"1.0~~a", "1.0~", -1},
		{"1.0~", "1.0", -1},
		{"1.0", "1.0a", -1},
		{"1.0a", "1.0+", -1}, // letters before non-letters
		{"1.0+dfsg", "1.0", 1},
		{"1.0.1", "1.0+x", 1}, // '.' sorts after '+'
		{"1.2.3", "1.10", -1}, // digits are numbers
		{"1.001", "1.1", 0},
		{"1:1.0", "2.0", 1}, // the epoch first
		{"0:1.0", "1.0", 0},
		{"2:0.1", "10:0.0", -1},
		{"1.0-1", "1.0-2", -1},
		{"1.0", "1.0-0", 0},
		{"1.0-1", "1.0", 1},
		{"2.36-9+deb12u4", "2.36-9+deb12u10", -1},
		{"2.36-9+deb12u4+b1", "2.36-9+deb12u4", 1}, // a binNMU of the fixed version
		{"1.2-3-4", "1.2-3-5", -1},                 // the revision is after the last '-'
		{"7.88.1-10+deb12u5", "7.88.1-10+deb12u8", -1},
		{"1.0-1~bpo12+1", "1.0-1", -1},
		{"3.0.11-1~deb12u2", "3.0.11-1", -1},
		{"99999999999999999999", "100000000000000000000", -1}, // longer than any integer
	})
	for _, bad := range []string{"", "a:1.0", ":1.0", "1.0-", "1 0", "99999999999:1"} {
		if _, err := (dpkgScheme{}).compare(bad, "1.0"); err == nil {
			t.Errorf("dpkg.compare(%q, 1.0) = nil error, want one", bad)
		}
	}
}

// apk-tools' test/version.data cases.
func TestAPKCompare(t *testing.T) {
	testScheme(t, apkScheme{}, []cmpCase{
		{"2.34", "0.1.0_alpha", 1},
		{"0.1.0_alpha", "0.1.0_alpha", 0},
		{"0.1.0_alpha", "0.1.3_alpha", -1},
		{"0.1.0_alpha2", "0.1.0_alpha", 1},
		{"0.1.0_alpha", "2.2.39-r1", -1},
		{"1.0_alpha", "1.0_beta", -1},
		{"1.0_beta", "1.0_pre", -1},
		{"1.0_pre", "1.0_rc", -1},
		{"1.0_rc1", "1.0", -1},
		{"1.0_rc1", "1.0_rc2", -1},
		{"1.0_rc1-r1", "1.0_rc1", 1},
		{"1.0", "1.0_p1", -1},
		{"1.0_p1", "1.0-r5", 1},
		{"1.2.3_git20230101", "1.2.3", 1},
		{"1.2.3_cvs", "1.2.3_svn", -1},
		{"1.0-r1", "1.0", 1},
		{"1.0-r1", "1.0-r10", -1},
		{"1.2a", "1.2", 1},
		{"1.2a", "1.2b", -1},
		{"1.2.1", "1.2a", 1},
		{"1.01", "1.1", -1},
		{"1.01", "1.001", 1},
		{"1.2", "1.2.0", -1},
		{"1.2.5-r0", "1.2.4_git20230717-r5", 1},
		{"3.1.4-r5", "3.1.4-r6", -1},
		{"1.0~abc", "1.0~abd", -1}, // a commit hash compares as a string
		{"1.0~abc-r1", "1.0~abc", 1},
		{"1.0~abc", "1.0", 1},
		{"1.0_git20240101~abc", "1.0_git20240101-r0", 1}, // the hash is a token before the revision
	})
	for _, bad := range []string{"", "1.0_foo", "1.0-x", "1.0--r1", "1.a.2", "1.2a3", "1.0-r1.2", "1.0~", "a1"} {
		if _, err := (apkScheme{}).compare(bad, "1.0"); err == nil {
			t.Errorf("apk.compare(%q, 1.0) = nil error, want one", bad)
		}
	}
}

// semver.org's precedence example and the shapes of the Go database.
func TestSemverCompare(t *testing.T) {
	testScheme(t, semverScheme{}, []cmpCase{
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0-alpha.beta", "1.0.0-beta", -1},
		{"1.0.0-beta", "1.0.0-beta.2", -1},
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"1.0.0-beta.11", "1.0.0-rc.1", -1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"v0.17.0", "0.17.0", 0}, // Go modules' "v", OSV's none
		{"1.22.0-0", "1.22.0", -1},
		{"1.21.11", "1.22.0-0", -1},
		{"1.26.8", "1.26.10", -1},
		{"v1.2.3+incompatible", "1.2.3", 0},
		{"v0.0.0-20210101000000-abcdef123456", "0.0.1", -1},
		{"v1.2", "1.2.0", 0},
	})
	for _, bad := range []string{"", "1.2.3.4", "x1", "1.2.3-", "1.2.3-a..b", "devel"} {
		if _, err := (semverScheme{}).compare(bad, "1.0.0"); err == nil {
			t.Errorf("semver.compare(%q, 1.0.0) = nil error, want one", bad)
		}
	}
}

func TestGoStdlibVersion(t *testing.T) {
	for in, want := range map[string]string{"1.26.8": "1.26.8", "1.21rc2": "1.21.0-rc.2", "1.20": "1.20.0", "1.18beta1": "1.18.0-beta.1"} {
		if got := goStdlibVersion(in); got != want {
			t.Errorf("goStdlibVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// Scores from the CVSS v3.1 and v2 calculators (FIRST, NVD).
func TestCVSSScore(t *testing.T) {
	for _, tt := range []struct {
		vector string
		score  float64
		rating Rating
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, Critical},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, Critical},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5, Medium},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", 3.1, Low},
		{"CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4, Medium},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5, High},
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, High},
		{"AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3, Medium},
	} {
		got, err := cvssScore(tt.vector)
		if err != nil || math.Abs(got-tt.score) > 1e-9 {
			t.Errorf("cvssScore(%q) = %v, %v; want %v", tt.vector, got, err, tt.score)
		}
		if r := ratingOfScore(got, tt.vector[0] == 'A'); r != tt.rating {
			t.Errorf("rating of %q = %s, want %s", tt.vector, r, tt.rating)
		}
	}
	for _, bad := range []string{"CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AV:N", "nonsense"} {
		if _, err := cvssScore(bad); err == nil {
			t.Errorf("cvssScore(%q) = nil error, want one", bad)
		}
	}
}
