package platform

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestAMD64Levels(t *testing.T) {
	a, ok := Lookup(linux("amd64", "v3"))
	if !ok || a.Name != "amd64/v3" || a.GOAMD64 != "v3" || Format(a.Platform) != "linux/amd64/v3" || a.QEMU != "x86_64" {
		t.Errorf("Lookup(linux/amd64/v3) = %+v, %v; want the amd64 row as amd64/v3 with GOAMD64=v3", a, ok)
	}
	if env := strings.Join(a.GoEnv(), " "); env != "GOOS=linux GOARCH=amd64 GOAMD64=v3" {
		t.Errorf("GoEnv() = %q", env)
	}
	if a, _ := Lookup(linux("amd64", "v1")); a.Name != "amd64" || a.GOAMD64 != "" {
		t.Errorf("Lookup(linux/amd64/v1) = %+v; want plain amd64", a)
	}
	ps, err := ParseList("linux/amd64,linux/amd64/v1,linux/amd64/v3,linux/amd64/3")
	if err != nil || FormatList(ps) != "linux/amd64, linux/amd64/v3" {
		t.Errorf("ParseList = %v, %v; want linux/amd64, linux/amd64/v3", FormatList(ps), err)
	}
	for _, c := range []struct {
		p    specs.Platform
		want int
	}{
		{linux("amd64", ""), 1}, {linux("amd64", "v1"), 1}, {linux("x86_64", "v2"), 2},
		{linux("amd64", "v4"), 4}, {linux("amd64", "v5"), 0}, {linux("arm64", ""), 0},
	} {
		if got := AMD64Level(c.p); got != c.want {
			t.Errorf("AMD64Level(%v) = %d, want %d", c.p, got, c.want)
		}
	}
}

// TestAMD64Compat: an amd64/v3 host prefers v3, then v2, then v1 (and
// runs 386), as containerd's platform vector; a plain amd64 host does not
// take a v2 image for its own.
func TestAMD64Compat(t *testing.T) {
	have := []specs.Platform{linux("amd64", ""), linux("arm64", ""), linux("amd64", "v2"), linux("amd64", "v4"), linux("amd64", "v3")}
	for _, c := range []struct {
		host specs.Platform
		want int
	}{
		{linux("amd64", "v3"), 4}, {linux("amd64", "v2"), 2}, {linux("amd64", ""), 0}, {linux("amd64", "v4"), 3},
	} {
		if got := Select(have, []specs.Platform{c.host}, Compat).Best[0]; got != c.want {
			t.Errorf("Select(%s) picks %d (%s), want %d (%s)", Format(c.host), got, Format(have[got]), c.want, Format(have[c.want]))
		}
	}
	if MatchCompat(linux("amd64", "v3"), linux("amd64", "v2")) {
		t.Error("an amd64/v2 host is said to run amd64/v3")
	}
	if !MatchCompat(linux("386", ""), linux("amd64", "v3")) {
		t.Error("an amd64/v3 host is said not to run 386")
	}
}

func TestAMD64LevelOf(t *testing.T) {
	set := func(levels ...int) map[string]bool {
		m := map[string]bool{"fpu": true}
		for _, v := range levels {
			for _, f := range amd64LevelFlags[v] {
				m[f] = true
			}
		}
		return m
	}
	noAVX2 := set(2, 3)
	delete(noAVX2, "avx2")
	for _, c := range []struct {
		name    string
		flags   map[string]bool
		want    int
		missing []string
	}{
		{"baseline", set(), 1, amd64LevelFlags[2]},
		{"v2", set(2), 2, amd64LevelFlags[3]},
		{"v3 without avx2", noAVX2, 2, []string{"avx2"}},
		{"v3", set(2, 3), 3, amd64LevelFlags[4]},
		{"v4", set(2, 3, 4), 4, nil},
		{"v4 flags without v2", set(3, 4), 1, amd64LevelFlags[2]},
	} {
		got, missing := amd64LevelOf(c.flags)
		if got != c.want || !reflect.DeepEqual(missing, c.missing) {
			t.Errorf("%s: amd64LevelOf = %d, %v; want %d, %v", c.name, got, missing, c.want, c.missing)
		}
	}
	err := (&AMD64LevelError{Platform: linux("amd64", "v4"), Need: 4, Have: 3, Missing: []string{"avx512f"}}).Error()
	for _, want := range []string{"linux/amd64/v4 needs an x86-64-v4 CPU", "x86-64-v3 (it lacks avx512f)", "use linux/amd64/v3 or linux/amd64 here"} {
		if !strings.Contains(err, want) {
			t.Errorf("AMD64LevelError = %q; want %q in it", err, want)
		}
	}
}

// TestHostAMD64Level: on an amd64 host the level read from /proc/cpuinfo
// agrees with CheckAMD64Level and HostNative.
func TestHostAMD64Level(t *testing.T) {
	level := HostAMD64Level()
	if level == 0 {
		t.Skipf("not an amd64 host with /proc/cpuinfo flags (%s)", Format(Host()))
	}
	for v := 2; v <= 4; v++ {
		err := CheckAMD64Level(linux("amd64", amd64Variant(v)))
		if (err == nil) != (v <= level) {
			t.Errorf("host level %d: CheckAMD64Level(amd64/v%d) = %v", level, v, err)
		}
	}
	if got := AMD64Level(HostNative()); got != level {
		t.Errorf("HostNative() = %s, want level %d", Format(HostNative()), level)
	}
}
