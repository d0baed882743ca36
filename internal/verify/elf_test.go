package verify

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"slices"
	"testing"

	"github.com/manyarch/manyarch/internal/platform"
)

// readAll runs readELF over a whole file, as scanLayer does.
func readAll(t testing.TB, b []byte) *elfFile {
	t.Helper()
	n := min(len(b), headSize)
	f, err := readELF(bytes.NewReader(b[n:]), bytes.Clone(b[:n]), int64(len(b)))
	if err != nil {
		t.Fatalf("readELF: %v", err)
	}
	return f
}

func TestReadELFAgainstDebugELF(t *testing.T) {
	type want struct {
		interp   string
		needed   []string
		goarch   string
		goarm    string
		cpuArch  string
		floatABI platform.FloatABI
	}
	cases := []struct {
		name string
		b    func(t *testing.T) []byte
		want want
	}{
		{"gcc glibc program", func(t *testing.T) []byte { return gccProgram(t) }, want{interp: "/lib64/ld-linux-x86-64.so.2", needed: []string{"libc.so.6"}}},
		{"go arm GOARM=5", func(t *testing.T) []byte { return goHello(t, "arm", "5") }, want{goarch: "arm", goarm: "5"}},
		{"go arm64", func(t *testing.T) []byte { return goHello(t, "arm64", "") }, want{goarch: "arm64"}},
		{"busybox armhf", func(t *testing.T) []byte { return busybox(t, "armhf") }, want{cpuArch: "ARMv7", floatABI: platform.FloatABIHard}},
		{"busybox armel", func(t *testing.T) []byte { return busybox(t, "armel") }, want{cpuArch: "ARMv5TE", floatABI: platform.FloatABISoft}},
		{"hello armel", func(t *testing.T) []byte { return debFile(t, "hello", "armel", "usr/bin/hello") },
			want{interp: "/lib/ld-linux.so.3", needed: []string{"libc.so.6", "ld-linux.so.3"}, cpuArch: "ARMv5TE", floatABI: platform.FloatABISoft}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.b(t)
			ref, err := elf.NewFile(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			f := readAll(t, b)
			if f.Bad != "" {
				t.Fatalf("Bad = %s", f.Bad)
			}
			if f.Class != ref.Class || f.Data != ref.Data || f.Machine != ref.Machine || f.Type != ref.Type {
				t.Errorf("header = %v %v %v %v, debug/elf says %v %v %v %v", f.Class, f.Data, f.Machine, f.Type, ref.Class, ref.Data, ref.Machine, ref.Type)
			}
			if f.Interp != c.want.interp {
				t.Errorf("Interp = %q, want %q", f.Interp, c.want.interp)
			}
			if refNeeded, _ := ref.ImportedLibraries(); !slices.Equal(f.Needed, refNeeded) || !slices.Equal(f.Needed, c.want.needed) {
				t.Errorf("Needed = %q, want %q (debug/elf: %q)", f.Needed, c.want.needed, refNeeded)
			}
			if f.Dynamic && !f.NeededKnown {
				t.Errorf("NeededKnown = false for a dynamic file")
			}
			goarch, goarm := "", ""
			if f.Go != nil {
				goarch, goarm = f.Go.GOARCH, f.Go.GOARM
			}
			if goarch != c.want.goarch || goarm != c.want.goarm {
				t.Errorf("Go GOARCH, GOARM = %q, %q, want %q, %q", goarch, goarm, c.want.goarch, c.want.goarm)
			}
			if got := armArchName(f); got != c.want.cpuArch {
				t.Errorf("ARM arch = %q, want %q", got, c.want.cpuArch)
			}
			if got := floatABI(f); f.Machine == elf.EM_ARM && got != c.want.floatABI {
				t.Errorf("float ABI = %v, want %v", got, c.want.floatABI)
			}
		})
	}
}

func TestReadELFTruncatedStream(t *testing.T) {
	b := goHello(t, "amd64", "")
	// The file claims its full size but the stream ends early.
	_, err := readELF(bytes.NewReader(b[headSize:headSize+100]), bytes.Clone(b[:headSize]), int64(len(b)))
	if err == nil {
		t.Errorf("readELF of a cut stream = nil error, want unexpected EOF")
	}
}

func TestParseELFHeaderErrors(t *testing.T) {
	valid := goHello(t, "amd64", "")[:64]
	mod := func(off int, v ...byte) []byte {
		b := bytes.Clone(valid)
		copy(b[off:], v)
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"short", []byte("\x7fELF\x02"), "truncated ELF identification"},
		{"class", mod(elf.EI_CLASS, 9), "invalid ELF class 9"},
		{"data", mod(elf.EI_DATA, 7), "invalid ELF byte order 7"},
		{"version", mod(elf.EI_VERSION, 3), "invalid ELF version 3"},
		{"truncated", valid[:40], "truncated ELF header (40 of 64 bytes)"},
		{"no machine", mod(18, 0, 0), "no machine"},
		{"phentsize", mod(54, 12, 0), "invalid program header size 12"},
		{"phoff", mod(32, 0, 0, 0, 0, 0, 0, 1, 0), "outside the"},
	}
	for _, c := range cases {
		_, err := parseELFHeader(c.b, 1<<20)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("parseELFHeader(%s) = %v, want error containing %q", c.name, err, c.want)
		}
	}
	if h, err := parseELFHeader(valid, 1<<20); err != nil || h.Machine != elf.EM_X86_64 {
		t.Errorf("parseELFHeader(valid) = %+v, %v", h, err)
	}
}

func TestTreeWhiteoutsAndLinks(t *testing.T) {
	bad := &elfFile{Machine: elf.EM_X86_64}
	tr := newTree()
	tr.apply(0, []entry{
		{path: "a/b/c", kind: kindFile, elf: bad},
		{path: "a/b/d", kind: kindFile},
		{path: "keep", kind: kindFile},
		{path: "usr/lib", kind: kindDir},
		{path: "lib", kind: kindSymlink, link: "usr/lib"},
		{path: "usr/lib/ld.so", kind: kindFile, elf: bad},
		{path: "loop", kind: kindSymlink, link: "/loop"},
		{path: "up", kind: kindSymlink, link: "../../../usr/lib/ld.so"},
	})
	tr.apply(1, []entry{
		{path: "a/b", kind: kindOpaque},
		{path: "a/b/e", kind: kindFile},
		{path: "keep", kind: kindWhiteout},
		{path: "hard", kind: kindHardlink, link: "usr/lib/ld.so"},
		{path: "lib/extra.so", kind: kindFile}, // through the lib -> usr/lib symlink
	})
	tr.apply(2, []entry{{path: "a/b/e", kind: kindWhiteout}})
	var files []string
	tr.walkFiles(func(p string, n *node) { files = append(files, p) })
	if want := []string{"hard", "usr/lib/extra.so", "usr/lib/ld.so"}; !slices.Equal(files, want) {
		t.Errorf("files = %v, want %v", files, want)
	}
	if tr.files != 3 {
		t.Errorf("file count = %d, want 3", tr.files)
	}
	if n := tr.lookup("lib"); n == nil || n.kind != kindSymlink {
		t.Errorf("lib is no longer a symlink after writing through it")
	}
	for p, want := range map[string]string{"/lib/ld.so": "usr/lib/ld.so", "lib/../lib/ld.so": "usr/lib/ld.so", "/up": "usr/lib/ld.so", "/loop": "", "/a/b/c": ""} {
		n, got := tr.resolve(p)
		if (n == nil) != (want == "") || got != want {
			t.Errorf("resolve(%q) = %q, want %q", p, got, want)
		}
	}
	if n := tr.lookup("hard"); n == nil || n.elf != bad {
		t.Errorf("hard link does not carry its target's ELF record")
	}
}

// elf64 builds a minimal 64-bit little-endian ELF header with no program
// headers, for fuzz seeds.
func elf64(machine elf.Machine) []byte {
	b := make([]byte, 64)
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS], b[elf.EI_DATA], b[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	binary.LittleEndian.PutUint16(b[16:], uint16(elf.ET_EXEC))
	binary.LittleEndian.PutUint16(b[18:], uint16(machine))
	return b
}

func FuzzELFHeader(f *testing.F) {
	f.Add(elf64(elf.EM_X86_64))
	f.Add(elf64(elf.EM_AARCH64)[:40])
	f.Add([]byte("\x7fELF"))
	for _, p := range []string{"/bin/true", "/usr/lib/x86_64-linux-gnu/libc.so.6"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b[:min(len(b), 8192)])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseELFHeader(b, int64(len(b)))
		if err == nil {
			if h.Class != elf.ELFCLASS32 && h.Class != elf.ELFCLASS64 {
				t.Fatalf("accepted class %v", h.Class)
			}
			_ = h.parseProgs(b, 0)
		}
		n := min(len(b), 512)
		ef, err := readELF(bytes.NewReader(b[n:]), bytes.Clone(b[:n]), int64(len(b)))
		if err != nil {
			t.Fatalf("readELF of a complete stream: %v", err)
		}
		if ef.Bad == "" && len(ef.Needed) > 256 {
			t.Fatalf("%d needed libraries kept", len(ef.Needed))
		}
		_ = elfPlatform(ef)
	})
}
