package rpmdb

import (
	"os"
	"testing"
)

// FuzzRPMDB: any file (and -wal file) is read or refused, never a panic
// or a hang, and every package read has a name, version and release.
func FuzzRPMDB(f *testing.F) {
	for _, name := range []string{"rpmdb.sqlite", "Packages", "Packages.be", "Packages.db"} {
		if b, err := os.ReadFile("testdata/" + name); err == nil {
			f.Add(b, []byte(nil))
		}
	}
	if b, err := os.ReadFile("testdata/wal/rpmdb.sqlite"); err == nil {
		w, _ := os.ReadFile("testdata/wal/rpmdb.sqlite-wal")
		f.Add(b, w)
	}
	f.Add(header(map[uint32]string{tagName: "a", tagVersion: "1", tagRelease: "1"}, nil), []byte(nil))
	f.Fuzz(func(t *testing.T, data, wal []byte) {
		ps, err := Read(data, wal)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Name == "" || p.Version == "" || p.Release == "" {
				t.Errorf("Read accepted a package without name, version or release: %+v", p)
			}
		}
		ParseHeader(data)
	})
}
