package sbom

import (
	"context"
	"testing"
)

// FuzzParsers: the package database parsers never panic, and what they
// accept has a name and a version.
func FuzzParsers(f *testing.F) {
	f.Add([]byte(dpkgText))
	f.Add([]byte(apkText))
	f.Add([]byte("Package: a\n continuation\nVersion: 1\n\n\nPackage: b\n"))
	f.Add([]byte("P:\nV:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for name, parse := range map[string]func([]byte) ([]Package, error){"dpkg": parseDpkg, "apk": parseAPK} {
			ps, err := parse(data)
			if err != nil {
				continue
			}
			for _, p := range ps {
				if p.Name == "" || p.Version == "" {
					t.Errorf("%s accepted a package without name or version: %+v", name, p)
				}
			}
		}
		parseOSRelease(data)
	})
}

// FuzzCatalogLayer: any layer tar is cataloged or refused, never a panic.
func FuzzCatalogLayer(f *testing.F) {
	f.Add("var/lib/dpkg/status", dpkgText, "lib/apk/db/installed", apkText)
	f.Add("var/lib/dpkg/.wh.status", "", "lib/apk/db/.wh..wh..opq", "")
	f.Add("../../etc/os-release", "ID=x", "bin/app", "\x7fELF\x02\x01\x01")
	f.Fuzz(func(t *testing.T, n1, b1, n2, b2 string) {
		l1, err1 := tryLayer(tfile{name: n1, mode: 0o755, body: b1})
		l2, err2 := tryLayer(tfile{name: n2, mode: 0o755, body: b2})
		if err1 != nil || err2 != nil {
			t.Skip("archive/tar cannot write these names")
		}
		img := imageOf(t, l1, l2)
		_, _ = Catalog(context.Background(), img)
	})
}
