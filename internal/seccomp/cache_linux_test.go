package seccomp

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// compiled is the default profile compiled for caps without a cache.
func compiled(t testing.TB, caps []string) []unix.SockFilter {
	t.Helper()
	f, err := NewCache("").Filter("", "", caps)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// onlyEntry returns the path of the one entry in dir.
func onlyEntry(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.bpf"))
	if len(m) != 1 {
		t.Fatalf("cache %s holds %d entries, want 1: %v", dir, len(m), m)
	}
	return m[0]
}

// reseal recomputes the checksum of an entry changed in place.
func reseal(b []byte) []byte {
	body := b[:len(b)-sha256.Size]
	sum := sha256.Sum256(body)
	return append(body, sum[:]...)
}

// programStart is the offset of the first instruction of an entry.
func programStart(b []byte) int {
	return 4 + int(binary.LittleEndian.Uint32(b)) + 4
}

func TestCacheReadsWhatItWrote(t *testing.T) {
	if executableBuildID() == "" {
		t.Fatal("no Go build ID in the test binary's ELF notes")
	}
	dir := t.TempDir()
	want := compiled(t, dockerDefaultCaps)
	got, err := NewCache(dir).Filter("", "", dockerDefaultCaps)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Filter = %d instructions, %v; want the %d compiled", len(got), err, len(want))
	}
	file := onlyEntry(t, dir)
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("entry %s: %v, mode %v, want 0600", file, err, fi.Mode())
	}

	// A valid entry is what a new process gets, without compiling: change
	// the program's first return (kill → allow for foreign ABIs) and seal
	// it again; the next Cache must return the changed program.
	b, _ := os.ReadFile(file)
	changed := slices.Clone(want)
	i := slices.IndexFunc(changed, func(in unix.SockFilter) bool { return in.Code == 0x06 })
	changed[i].K = RetAllow
	off := programStart(b) + 8*i + 4
	binary.LittleEndian.PutUint32(b[off:], RetAllow)
	if err := os.WriteFile(file, reseal(b), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = NewCache(dir).Filter("", "", dockerDefaultCaps)
	if err != nil || !slices.Equal(got, changed) {
		t.Fatalf("a new Cache compiled again instead of reading the entry (err %v)", err)
	}
}

func TestCacheKeys(t *testing.T) {
	dir := t.TempDir()
	c := NewCache(dir)
	fewer := dockerDefaultCaps[1:]
	withAdmin := append(slices.Clone(dockerDefaultCaps), "CAP_SYS_ADMIN")
	profile := `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"}]}`
	for _, in := range []struct {
		profile string
		caps    []string
	}{{"", dockerDefaultCaps}, {"", fewer}, {"", withAdmin}, {profile, dockerDefaultCaps}} {
		if _, err := c.Filter(in.profile, "test.json", in.caps); err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.bpf")); len(m) != 4 {
		t.Fatalf("%d entries for 4 different profile and capability sets, want 4", len(m))
	}
	// The admin set's filter allows what the default one refuses: the
	// right entry comes back for each.
	a, _ := NewCache(dir).Filter("", "", withAdmin)
	d, _ := NewCache(dir).Filter("", "", dockerDefaultCaps)
	if !slices.Equal(a, compiled(t, withAdmin)) || !slices.Equal(d, compiled(t, dockerDefaultCaps)) || slices.Equal(a, d) {
		t.Fatal("cache entries mixed up between capability sets")
	}

	// Another build of manyarch does not use this build's entries.
	other := NewCache(dir)
	other.buildID = "another-build"
	if _, err := other.Filter("", "", dockerDefaultCaps); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.bpf")); len(m) != 5 {
		t.Fatalf("%d entries after a different build, want 5", len(m))
	}
}

// TestCacheRejectsDamagedEntries damages an entry in each way a crash,
// a bad disk or a mistake could, and checks that the filter returned is
// the compiled one and that the entry is rewritten whole.
func TestCacheRejectsDamagedEntries(t *testing.T) {
	want := compiled(t, dockerDefaultCaps)
	dir := t.TempDir()
	if _, err := NewCache(dir).Filter("", "", dockerDefaultCaps); err != nil {
		t.Fatal(err)
	}
	file := onlyEntry(t, dir)
	good, _ := os.ReadFile(file)
	otherDir := t.TempDir()
	if _, err := NewCache(otherDir).Filter("", "", dockerDefaultCaps[1:]); err != nil {
		t.Fatal(err)
	}
	otherKey, _ := os.ReadFile(onlyEntry(t, otherDir))
	p := programStart(good)
	at := func(i int, f func(b []byte)) []byte { // instruction i changed, resealed
		b := slices.Clone(good)
		f(b[p+8*i:])
		return reseal(b)
	}
	n := len(want)

	for _, c := range []struct {
		name  string
		entry []byte
		mode  os.FileMode
	}{
		{"empty", nil, 0o600},
		{"truncated", good[:len(good)/2], 0o600},
		{"one byte short", good[:len(good)-1], 0o600},
		{"one byte more", append(slices.Clone(good), 0), 0o600},
		{"a bit flipped", func() []byte { b := slices.Clone(good); b[p+13] ^= 4; return b }(), 0o600},
		{"another key's entry", otherKey, 0o600},
		{"not BPF", at(3, func(b []byte) { binary.LittleEndian.PutUint16(b, 0xffff) }), 0o600},
		{"jump past the end", at(n-3, func(b []byte) { binary.LittleEndian.PutUint16(b, 0x05); binary.LittleEndian.PutUint32(b[4:], 10) }), 0o600},
		{"no return at the end", at(n-1, func(b []byte) { binary.LittleEndian.PutUint16(b, 0x20) }), 0o600},
		{"no instructions", func() []byte {
			b := slices.Clone(good[:p])
			binary.LittleEndian.PutUint32(b[p-4:], 0)
			return reseal(append(b, make([]byte, sha256.Size)...))
		}(), 0o600},
		{"writable by others", good, 0o666},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(file, c.entry, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(file, c.mode); err != nil {
				t.Fatal(err)
			}
			if c.name != "writable by others" {
				d, err := openCacheDir(dir, false)
				if err != nil {
					t.Fatal(err)
				}
				_, err = readEntry(d, filepath.Base(file), NewCache(dir).key("", dockerDefaultCaps))
				d.Close()
				if err == nil {
					t.Fatal("readEntry accepted the damaged entry")
				}
			}
			got, err := NewCache(dir).Filter("", "", dockerDefaultCaps)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("Filter = %d instructions, %v; want the compiled %d", len(got), err, n)
			}
			b, _ := os.ReadFile(file)
			fi, _ := os.Stat(file)
			if !slices.Equal(b, good) || fi.Mode().Perm() != 0o600 {
				t.Errorf("entry not rewritten: %d bytes, mode %v", len(b), fi.Mode().Perm())
			}
		})
	}
}

func TestCacheNeedsAPrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	if _, err := NewCache(dir).Filter("", "", dockerDefaultCaps); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Fatalf("wrote %v into a directory others can write", m)
	}
}

func TestCachePrunes(t *testing.T) {
	dir := t.TempDir()
	for i := range cacheEntries + 5 {
		c := NewCache(dir)
		c.buildID = "build-" + string(rune('A'+i))
		if _, err := c.Filter("", "", dockerDefaultCaps); err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.bpf")); len(m) != cacheEntries {
		t.Fatalf("%d entries, want at most %d", len(m), cacheEntries)
	}
}

// BenchmarkFilterCacheHit is what a new process pays for Docker's default
// profile with the disk cache (compare BenchmarkCompileDefault).
func BenchmarkFilterCacheHit(b *testing.B) {
	dir := b.TempDir()
	if _, err := NewCache(dir).Filter("", "", dockerDefaultCaps); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := NewCache(dir).Filter("", "", dockerDefaultCaps); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFilterNoCache is the same without a cache: resolve and compile.
func BenchmarkFilterNoCache(b *testing.B) {
	for b.Loop() {
		if _, err := NewCache("").Filter("", "", dockerDefaultCaps); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCacheDirIn(t *testing.T) {
	mine := t.TempDir()
	if err := os.MkdirAll(filepath.Join(mine, "made", ".cache"), 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "home")
	if err := os.Symlink(mine, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		base, want string
	}{
		{mine, filepath.Join(mine, ".cache", "manyarch", "seccomp")},
		{filepath.Join(mine, "made"), filepath.Join(mine, "made", ".cache", "manyarch", "seccomp")},
		// The home directory itself may be reached through a link
		// (/home → /var/home); the cache directory is its real path.
		{link, filepath.Join(mine, ".cache", "manyarch", "seccomp")},
		{filepath.Join(mine, "not", "yet"), ""},
		{"relative", ""},
	} {
		if got := cacheDirIn(c.base, ".cache", "manyarch", "seccomp"); got != c.want {
			t.Errorf("cacheDirIn(%q) = %q, want %q", c.base, got, c.want)
		}
	}
}

// allowAll is the program an attacker would like a container to get.
var allowAll = []unix.SockFilter{{Code: 0x06, K: RetAllow}}

// plant writes a valid entry holding allowAll for the default profile
// into dir, as the user.
func plant(t *testing.T, dir string) {
	t.Helper()
	key := NewCache(dir).key("", dockerDefaultCaps)
	name := filepath.Join(dir, fmt.Sprintf("%x.bpf", sha256.Sum256(key)))
	if err := os.WriteFile(name, encodeEntry(key, allowAll), 0o600); err != nil {
		t.Fatal(err)
	}
}

// bothWalks runs f with openat2 and with the component-by-component
// walk of kernels without it.
func bothWalks(t *testing.T, f func(t *testing.T)) {
	for _, no := range []bool{false, true} {
		t.Run(map[bool]string{false: "openat2", true: "walk"}[no], func(t *testing.T) {
			noOpenat2 = no
			defer func() { noOpenat2 = false }()
			f(t)
		})
	}
}

// refuses checks that a Cache in dir returns the compiled default filter,
// not the planted one.
func refuses(t *testing.T, dir string) {
	t.Helper()
	got, err := NewCache(dir).Filter("", "", dockerDefaultCaps)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(got, allowAll) {
		t.Fatalf("Filter returned the planted allow-all entry from %s", dir)
	}
	if !slices.Equal(got, compiled(t, dockerDefaultCaps)) {
		t.Fatalf("Filter returned %d instructions, not the compiled filter", len(got))
	}
}

// TestCacheRefusesDirectoriesOthersControl is the review's attack and its
// relatives: a valid entry (made with encodeEntry) in a directory that is
// not the user's alone, or reached through a symbolic link, is not used.
func TestCacheRefusesDirectoriesOthersControl(t *testing.T) {
	bothWalks(t, func(t *testing.T) {
		t.Run("symlinked cache directory in a world-writable parent", func(t *testing.T) {
			target := t.TempDir()
			plant(t, target)
			open := filepath.Join(t.TempDir(), "open")
			if err := os.Mkdir(open, 0o777); err != nil {
				t.Fatal(err)
			}
			os.Chmod(open, 0o1777)
			if err := os.Symlink(target, filepath.Join(open, "cache")); err != nil {
				t.Fatal(err)
			}
			refuses(t, filepath.Join(open, "cache"))
		})
		t.Run("symlinked intermediate directory", func(t *testing.T) {
			// ~/.cache → /tmp/x: the entries are in x/manyarch/seccomp.
			x := t.TempDir()
			if err := os.MkdirAll(filepath.Join(x, "manyarch", "seccomp"), 0o700); err != nil {
				t.Fatal(err)
			}
			plant(t, filepath.Join(x, "manyarch", "seccomp"))
			home := t.TempDir()
			if err := os.Symlink(x, filepath.Join(home, ".cache")); err != nil {
				t.Fatal(err)
			}
			if got := cacheDirIn(home, ".cache", "manyarch", "seccomp"); got != "" {
				t.Errorf("cacheDirIn with ~/.cache a link to %s = %q, want no cache", x, got)
			}
			refuses(t, filepath.Join(home, ".cache", "manyarch", "seccomp"))
		})
		t.Run("world-writable cache directory", func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "open")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			plant(t, dir)
			os.Chmod(dir, 0o777)
			refuses(t, dir)
			home := t.TempDir()
			if err := os.MkdirAll(filepath.Join(home, ".cache", "manyarch"), 0o700); err != nil {
				t.Fatal(err)
			}
			os.Chmod(filepath.Join(home, ".cache"), 0o777)
			if got := cacheDirIn(home, ".cache", "manyarch", "seccomp"); got != "" {
				t.Errorf("cacheDirIn with a world-writable ~/.cache = %q, want no cache", got)
			}
		})
		t.Run("cache directory of another user", func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("another user's directory needs root to make")
			}
			dir := filepath.Join(t.TempDir(), "other")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			plant(t, dir)
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			refuses(t, dir)
			// Root run with another user's HOME (sudo -E).
			home := filepath.Join(t.TempDir(), "home")
			if err := os.MkdirAll(filepath.Join(home, ".cache"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{home, filepath.Join(home, ".cache")} {
				os.Chown(d, 65534, 65534)
				if got := cacheDirIn(home, ".cache", "manyarch", "seccomp"); got != "" {
					t.Errorf("cacheDirIn with %s of uid 65534 = %q, want no cache", d, got)
				}
			}
		})
	})
}

// TestCacheMakesItsDirectory checks that write makes the missing
// directories (mode 0700) through both walks, and that the entry is read
// back from them.
func TestCacheMakesItsDirectory(t *testing.T) {
	bothWalks(t, func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), ".cache", "manyarch", "seccomp")
		if _, err := NewCache(dir).Filter("", "", dockerDefaultCaps); err != nil {
			t.Fatal(err)
		}
		for d := dir; filepath.Base(d) != ".cache"; d = filepath.Dir(d) {
			if fi, err := os.Lstat(d); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
				t.Fatalf("%s: %v, %v; want a directory, mode 0700", d, fi, err)
			}
		}
		plant(t, dir)
		if got, err := NewCache(dir).Filter("", "", dockerDefaultCaps); err != nil || !slices.Equal(got, allowAll) {
			t.Fatalf("a private directory's entry was not read (%v)", err)
		}
	})
}
