package scan

import "testing"

// FuzzParseRecord: any bytes are an OSV record or an error, never a
// panic; what is accepted can be matched against any version without a
// panic, and what it says holds: every event sets one field.
func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(goRecord), "1.22.3")
	f.Add([]byte(debianRecord), "2.36-9+deb12u4")
	f.Add([]byte(alpineRecord), "1.36.1-r29")
	f.Add([]byte(`{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"x"},"versions":["1"],"ranges":[{"type":"GIT","events":[{"limit":"*"}]}]}]}`), "1")
	f.Fuzz(func(t *testing.T, data []byte, v string) {
		r, err := ParseRecord(data)
		if err != nil {
			return
		}
		if r.ID == "" {
			t.Errorf("accepted a record without an id")
		}
		for i := range r.Affected {
			for _, rg := range r.Affected[i].Ranges {
				for _, e := range rg.Events {
					n := 0
					for _, s := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
						if s != "" {
							n++
						}
					}
					if n != 1 {
						t.Errorf("accepted an event setting %d fields: %+v", n, e)
					}
				}
			}
			for _, s := range []versionScheme{dpkgScheme{}, apkScheme{}, semverScheme{}, rpmScheme{}} {
				_, _, _ = affects(&r.Affected[i], s, v)
			}
		}
	})
}

// FuzzVersionCompare: the orders never panic and are antisymmetric.
func FuzzVersionCompare(f *testing.F) {
	f.Add("1:2.36-9+deb12u4", "2.36-9~bpo")
	f.Add("1.0_rc1-r1", "1.0~abc")
	f.Add("1.22.0-0", "v1.22.0+x")
	f.Add("1:1.0~rc1^git2-3.fc40", "0:1.0^-3")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, s := range []versionScheme{dpkgScheme{}, apkScheme{}, semverScheme{}, rpmScheme{}} {
			x, errX := s.compare(a, b)
			y, errY := s.compare(b, a)
			if (errX == nil) != (errY == nil) || errX == nil && x != -y {
				t.Errorf("%s: compare(%q, %q) = %d, %v but compare(%q, %q) = %d, %v", s.name(), a, b, x, errX, b, a, y, errY)
			}
		}
	})
}
