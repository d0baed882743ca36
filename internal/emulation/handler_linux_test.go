package emulation

import (
	"bufio"
	"bytes"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/platform"
)

func TestParseHandlerKernelFixtures(t *testing.T) {
	aarch64Magic := []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00")
	for _, tc := range []struct {
		file string
		want Handler
	}{
		{"debian-qemu-aarch64", Handler{Enabled: true, Interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", Flags: "PF", Magic: aarch64Magic}},
		{"tonistiigi-qemu-aarch64", Handler{Enabled: true, Interpreter: "/usr/bin/qemu-aarch64-static", Flags: "OCF", Magic: aarch64Magic}},
		{"disabled-qemu-riscv64", Handler{Enabled: false, Interpreter: "/usr/bin/qemu-riscv64-static", Flags: "F"}},
		{"python3-extension", Handler{Enabled: true, Interpreter: "/usr/bin/python3", Extension: "py"}},
		{"nomask-offset", Handler{Enabled: true, Interpreter: "/usr/bin/mono", Offset: 2, Magic: []byte("MZ")}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "kernel", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			h, err := ParseHandler(tc.file, data)
			if err != nil {
				t.Fatalf("ParseHandler(%q) = %v", tc.file, err)
			}
			if h.Name != tc.file || h.Enabled != tc.want.Enabled || h.Interpreter != tc.want.Interpreter ||
				h.Flags != tc.want.Flags || h.Offset != tc.want.Offset || h.Extension != tc.want.Extension {
				t.Errorf("ParseHandler(%q) = %+v, want %+v", tc.file, h, tc.want)
			}
			if tc.want.Magic != nil && !bytes.Equal(h.Magic, tc.want.Magic) {
				t.Errorf("ParseHandler(%q).Magic = %x, want %x", tc.file, h.Magic, tc.want.Magic)
			}
		})
	}
}

func TestParseHandlerErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"maybe\ninterpreter /x\noffset 0\nmagic 00\n",
		"enabled\noffset 0\nmagic 00\n",                                     // no interpreter
		"enabled\ninterpreter /x\nflags: Z\noffset 0\nmagic 00\n",           // bad flag
		"enabled\ninterpreter /x\nflags: \noffset -1\nmagic 00\n",           // negative offset
		"enabled\ninterpreter /x\nflags: \noffset 0\nmagic 0g\n",            // bad hex
		"enabled\ninterpreter /x\nflags: \noffset 0\nmagic 0000\nmask ff\n", // mask length
		"enabled\ninterpreter /x\nflags: \n",                                // no magic or extension
		"enabled\ninterpreter /x\nwhat ever\nmagic 00\n",                    // unknown line
	} {
		if h, err := ParseHandler("x", []byte(in)); err == nil {
			t.Errorf("ParseHandler(%q) = %+v, nil; want an error", in, h)
		}
	}
}

func FuzzParseHandler(f *testing.F) {
	ents, _ := os.ReadDir(filepath.Join("testdata", "kernel"))
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join("testdata", "kernel", e.Name()))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHandler("fuzz", data)
		if err != nil {
			return
		}
		if h.Mask != nil && len(h.Mask) != len(h.Magic) {
			t.Fatalf("ParseHandler accepted mask %x for magic %x", h.Mask, h.Magic)
		}
		// Matching must never panic, whatever the header.
		h.Matches(data)
		h.Matches(nil)
		if line, err := h.RegisterLine(); err == nil && strings.Count(line, ":") != 7 {
			t.Fatalf("RegisterLine() = %q: want 7 separators", line)
		}
	})
}

// debianHandler reads a Debian binfmt-support description
// (/usr/share/binfmts/NAME) into a Handler.
func debianHandler(t *testing.T, path string) Handler {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := Handler{Name: filepath.Base(path), Enabled: true}
	unescape := func(s string) []byte {
		var b []byte
		for len(s) > 0 {
			if strings.HasPrefix(s, `\x`) && len(s) >= 4 {
				v, err := strconv.ParseUint(s[2:4], 16, 8)
				if err != nil {
					t.Fatalf("%s: bad escape %q", path, s[:4])
				}
				b, s = append(b, byte(v)), s[4:]
				continue
			}
			b, s = append(b, s[0]), s[1:]
		}
		return b
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		switch k {
		case "interpreter":
			h.Interpreter = v
		case "magic":
			h.Magic = unescape(v)
		case "mask":
			h.Mask = unescape(v)
		case "offset":
			h.Offset, _ = strconv.Atoi(v)
		case "fix_binary":
			if v == "yes" {
				h.Flags += "F"
			}
		case "preserve":
			if v == "yes" {
				h.Flags = "P" + h.Flags
			}
		}
	}
	return h
}

// TestServesDebianHandlers checks that Debian's qemu-user-static
// registrations are recognized as serving exactly the table rows of their
// QEMU target, whatever their names.
func TestServesDebianHandlers(t *testing.T) {
	ents, err := os.ReadDir(filepath.Join("testdata", "debian"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		h := debianHandler(t, filepath.Join("testdata", "debian", e.Name()))
		target := strings.TrimPrefix(e.Name(), "qemu-")
		for _, a := range platform.All() {
			want := a.QEMU == target
			if got := h.Serves(a); got != want {
				t.Errorf("Debian %s.Serves(%s) = %v, want %v", e.Name(), a, got, want)
			}
		}
	}
}

// TestServesTableHandlers checks each row's own handler against every row:
// it must catch its own probe and no other row's (the arm rows share one).
func TestServesTableHandlers(t *testing.T) {
	for _, a := range platform.All() {
		h := NewHandler(a, "/usr/bin/qemu-"+a.QEMU+"-static")
		for _, b := range platform.All() {
			want := a.QEMU == b.QEMU
			if got := h.Serves(b); got != want {
				t.Errorf("NewHandler(%s).Serves(%s) = %v, want %v", a, b, got, want)
			}
		}
	}
}

func TestRegisterLine(t *testing.T) {
	a, _ := platform.Lookup(mustParse(t, "linux/arm64"))
	line, err := NewHandler(a, "/usr/bin/qemu-aarch64-static").RegisterLine()
	if err != nil {
		t.Fatal(err)
	}
	want := `:manyarch-qemu-aarch64:M:0:\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:` +
		`\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:PF`
	if line != want {
		t.Errorf("RegisterLine() = %q, want %q", line, want)
	}
	for _, h := range []Handler{
		{Name: "register", Interpreter: "/x", Magic: []byte{1}},
		{Name: "a/b", Interpreter: "/x", Magic: []byte{1}},
		{Name: "x", Interpreter: "relative", Magic: []byte{1}},
		{Name: "x", Interpreter: "/a:b", Magic: []byte{1}},
		{Name: "x", Interpreter: "/x", Magic: []byte{1}, Mask: []byte{1, 2}},
		{Name: "x", Interpreter: "/x", Magic: []byte{1}, Flags: "X"},
		{Name: "x", Interpreter: "/x", Magic: []byte{1}, Offset: 128},
		{Name: "x", Interpreter: "/x", Extension: "py"},
	} {
		if l, err := h.RegisterLine(); err == nil {
			t.Errorf("%+v.RegisterLine() = %q, nil; want an error", h, l)
		}
	}
}

func TestKernelAtLeast(t *testing.T) {
	for _, tc := range []struct {
		rel  string
		want bool
	}{
		{"6.18.44-fc-v595", true}, {"6.7.0", true}, {"6.7-rc1", true}, {"6.6.30", false},
		{"5.15.0-91-generic", false}, {"7.0", true}, {"garbage", false},
	} {
		if got := kernelAtLeast(tc.rel, 6, 7); got != tc.want {
			t.Errorf("kernelAtLeast(%q, 6, 7) = %v, want %v", tc.rel, got, tc.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"auto", "host", "private", "none"} {
		if m, err := ParseMode(s); err != nil || string(m) != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	if _, err := ParseMode("qemu"); err == nil {
		t.Errorf("ParseMode(%q) = nil error, want one", "qemu")
	}
}

func mustParse(t *testing.T, s string) specs.Platform {
	t.Helper()
	p, err := platform.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
