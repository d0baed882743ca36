package rpmdb

import (
	"bytes"
	"encoding/binary"
	"os"
	"sort"
	"strings"
	"testing"
)

// listing writes packages as the fixture script has rpm list them:
// NAME|EPOCH|VERSION|RELEASE|ARCH|LICENSE|SOURCERPM|VENDOR, "(none)" for
// an empty field, sorted.
func listing(ps []Package) string {
	none := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	}
	var lines []string
	for _, p := range ps {
		lines = append(lines, strings.Join([]string{p.Name, none(p.Epoch), p.Version, p.Release, none(p.Arch),
			none(p.License), none(p.SourceRPM), none(p.Vendor)}, "|"))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRead: every format lists what rpm itself lists from the same
// database (testdata/packages.txt, written by hack/rpmdb-fixtures.sh
// with rpm -qa): epochs, tilde and caret versions, a header spanning
// several pages, and not the package installed and erased again.
func TestRead(t *testing.T) {
	want := string(read(t, "packages.txt"))
	for _, tc := range []struct{ file, format string }{
		{"rpmdb.sqlite", FormatSQLite},
		{"Packages", FormatBDB},
		{"Packages.be", FormatBDB},
		{"Packages.db", FormatNDB},
	} {
		data := read(t, tc.file)
		if f := Format(data); f != tc.format {
			t.Errorf("Format(%s) = %q, want %q", tc.file, f, tc.format)
		}
		ps, err := Read(data, nil)
		if err != nil {
			t.Errorf("Read(%s): %v", tc.file, err)
			continue
		}
		if got := listing(ps); got != want {
			t.Errorf("Read(%s) lists\n%s\nwant (rpm -qa)\n%s", tc.file, got, want)
		}
	}
}

// TestReadWAL: a -wal file's committed transaction (tzdata deleted) is
// what rpm reads, and so what Read reads; without it, the main file's
// older content.
func TestReadWAL(t *testing.T) {
	data, wal := read(t, "wal/rpmdb.sqlite"), read(t, "wal/rpmdb.sqlite-wal")
	ps, err := Read(data, wal)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := listing(ps), string(read(t, "packages-wal.txt")); got != want {
		t.Errorf("Read with the -wal file lists\n%s\nwant (rpm -qa)\n%s", got, want)
	}
	ps, err = Read(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := listing(ps), string(read(t, "packages.txt")); got != want {
		t.Errorf("Read without the -wal file lists\n%s\nwant\n%s", got, want)
	}
	// A frame whose checksum fails ends the log: what it and the frames
	// after it hold is not applied.
	bad := bytes.Clone(wal)
	bad[len(bad)-1] ^= 0xff
	ps, err = Read(data, bad)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := listing(ps), string(read(t, "packages.txt")); got != want {
		t.Errorf("Read with a torn -wal frame lists\n%s\nwant the main file's\n%s", got, want)
	}
}

// pageWith returns the number (0-based) of the first page of size ps
// that holds text.
func pageWith(t *testing.T, data []byte, ps int, text string) int {
	t.Helper()
	i := bytes.Index(data, []byte(text))
	if i < 0 {
		t.Fatalf("no %q in the fixture", text)
	}
	return i / ps
}

// TestDamaged: damaged and hostile databases are errors that say what is
// wrong, never a panic, a hang or a partial list.
func TestDamaged(t *testing.T) {
	sq, bdb, ndb := read(t, "rpmdb.sqlite"), read(t, "Packages"), read(t, "Packages.db")
	sqPS := int(binary.BigEndian.Uint16(sq[16:]))
	bdbPS := int(binary.LittleEndian.Uint32(bdb[20:]))
	mutate := func(data []byte, f func(b []byte)) []byte {
		b := bytes.Clone(data)
		f(b)
		return b
	}
	const line = "Line 300 of a long description"
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"not a database", []byte("hello, world, this is text"), "not an rpm database"},
		{"sqlite cut short", sq[:len(sq)/2], "outside the"},
		{"sqlite page size", mutate(sq, func(b []byte) { b[16], b[17] = 0x03, 0x00 }), "page size 768"},
		{"sqlite overflow loop", mutate(sq, func(b []byte) {
			n := pageWith(t, b, sqPS, line) // an overflow page of bash's header
			binary.BigEndian.PutUint32(b[n*sqPS:], uint32(n+1))
		}), "reached twice"},
		{"sqlite overflow chain cut", mutate(sq, func(b []byte) {
			n := pageWith(t, b, sqPS, line)
			binary.BigEndian.PutUint32(b[n*sqPS:], 0)
		}), "overflow chain ends"},
		{"sqlite no Packages table", mutate(sq, func(b []byte) {
			// every copy: sqlite may leave stale ones in free space
			for i := bytes.Index(b, []byte("tablePackagesPackages")); i >= 0; i = bytes.Index(b, []byte("tablePackagesPackages")) {
				copy(b[i:], "tableXackagesPackages")
			}
		}), "no table Packages"},
		{"bdb cut short", bdb[:len(bdb)-bdbPS], "the last page is"},
		{"bdb overflow loop", mutate(bdb, func(b []byte) {
			n := pageWith(t, b, bdbPS, line)
			binary.LittleEndian.PutUint32(b[n*bdbPS+16:], uint32(n))
		}), "reached twice"},
		{"bdb overflow page type", mutate(bdb, func(b []byte) {
			n := pageWith(t, b, bdbPS, line)
			next := binary.LittleEndian.Uint32(b[n*bdbPS+16:])
			b[int(next)*bdbPS+25] = 13
		}), "not an overflow page"},
		{"bdb encrypted", mutate(bdb, func(b []byte) { b[24] = 1 }), "encrypted"},
		{"ndb checksum", mutate(ndb, func(b []byte) {
			i := bytes.Index(b, []byte(line))
			b[i] = 'l'
		}), "adler32"},
		{"ndb cut short", ndb[:len(ndb)-64], "outside the blob area"},
		{"ndb slot magic", mutate(ndb, func(b []byte) { b[32] = 'X' }), "bad magic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := Read(tc.data, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read = %d packages, %v; want an error containing %q", len(ps), err, tc.want)
			}
		})
	}
}

// header builds a header blob of string entries (tag → value) and an
// optional epoch.
func header(strs map[uint32]string, epoch *uint32) []byte {
	var index, data []byte
	tags := make([]int, 0, len(strs))
	for tag := range strs {
		tags = append(tags, int(tag))
	}
	sort.Ints(tags)
	entry := func(tag, typ, off, cnt uint32) {
		index = binary.BigEndian.AppendUint32(index, tag)
		index = binary.BigEndian.AppendUint32(index, typ)
		index = binary.BigEndian.AppendUint32(index, off)
		index = binary.BigEndian.AppendUint32(index, cnt)
	}
	if epoch != nil {
		entry(tagEpoch, typeInt32, 0, 1)
		data = binary.BigEndian.AppendUint32(data, *epoch)
	}
	for _, tag := range tags {
		entry(uint32(tag), typeString, uint32(len(data)), 1)
		data = append(append(data, strs[uint32(tag)]...), 0)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(len(index)/16))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(append(b, index...), data...)
}

func TestParseHeader(t *testing.T) {
	zero := uint32(0)
	nvr := map[uint32]string{tagName: "glibc", tagVersion: "2.34", tagRelease: "100.el9", tagArch: "aarch64",
		tagSourceRPM: "glibc-2.34-100.el9.src.rpm", tagModularityLabel: "m:1:2:3"}
	p, err := ParseHeader(header(nvr, &zero))
	if err != nil {
		t.Fatal(err)
	}
	if p.EVR() != "0:2.34-100.el9" || p.SourceName() != "glibc" || p.Arch != "aarch64" || p.ModularityLabel != "m:1:2:3" {
		t.Errorf("ParseHeader = %+v (EVR %s, source %s)", p, p.EVR(), p.SourceName())
	}
	good := header(nvr, nil)
	for _, tc := range []struct {
		name string
		blob []byte
		want string
	}{
		{"empty", nil, "shorter than its 8-byte preamble"},
		{"huge index", []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0}, "index entries"},
		{"data past the end", append([]byte{0, 0, 0, 1, 0, 0, 1, 0}, make([]byte, 16)...), "more than its"},
		{"no NAME", header(map[uint32]string{tagVersion: "1", tagRelease: "1"}, nil), "no NAME"},
		{"no NUL", good[:len(good)-1], "more than its"},
		{"string without NUL", func() []byte {
			b := bytes.Clone(good)
			for i := 8 + 16*6; i < len(b); i++ {
				if b[i] == 0 {
					b[i] = 'x'
				}
			}
			return b
		}(), "no terminating NUL"},
		{"offset past the data", func() []byte {
			b := bytes.Clone(good)
			binary.BigEndian.PutUint32(b[8+8:], 1<<20)
			return b
		}(), "past the"},
		{"epoch not an integer", func() []byte {
			b := bytes.Clone(header(nvr, &zero))
			binary.BigEndian.PutUint32(b[8+4:], typeString)
			return b
		}(), "not a 32-bit integer"},
	} {
		if _, err := ParseHeader(tc.blob); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseHeader(%s) = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestSourceName(t *testing.T) {
	for _, tc := range []struct{ srpm, name, want string }{
		{"openssl-3.0.7-24.el9.src.rpm", "openssl-libs", "openssl"},
		{"python3.11-3.11.5-1.el9.src.rpm", "python3.11-libs", "python3.11"},
		{"kernel-5.14.0-1.el9.nosrc.rpm", "kernel-core", "kernel"},
		{"", "gpg-pubkey", "gpg-pubkey"},
		{"weird.src.rpm", "weird-bin", "weird-bin"},
	} {
		if got := (Package{Name: tc.name, SourceRPM: tc.srpm}).SourceName(); got != tc.want {
			t.Errorf("SourceName(%q) = %q, want %q", tc.srpm, got, tc.want)
		}
	}
}
