package seccomp

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Cache keeps compiled filters on disk, so that a new process does not
// compile the same profile again (Docker's default profile takes a few
// milliseconds of CPU, paid by every `manyarch run`).
//
// An entry is keyed by everything that changes the program: the profile's
// bytes, the capabilities, the host architecture, the running kernel's
// release (the profile's minKernel rules depend on it) and the build ID of
// the manyarch binary (the compiler and the syscall tables are in it). An
// entry is written atomically (a temporary file renamed into place) and
// checked whole when read: its key, its length, a SHA-256 of its content
// and the program itself (every instruction a valid classic BPF
// instruction, every jump inside the program, a return at the end). An
// entry that fails a check is ignored, compiled afresh and rewritten; no
// entry is loaded into the kernel unchecked. Entries and their directory
// must belong to the user and be writable by nobody else, or the cache is
// not used: a filter someone else could write is no filter.
//
// A Cache is safe for concurrent use, also by several processes.
type Cache struct {
	dir     string // "" = no disk cache
	buildID string
}

// cacheEntries is how many entries a cache directory keeps; the oldest
// go when a new one is written (each build of manyarch, kernel or
// capability set makes new ones).
const cacheEntries = 64

// NewCache returns a cache in dir, which is made (mode 0700) on first
// write. dir "" is no disk cache: Filter compiles every time.
func NewCache(dir string) *Cache {
	return &Cache{dir: dir, buildID: executableBuildID()}
}

// DefaultCache is the cache in the user's cache directory:
// $XDG_CACHE_HOME/manyarch/seccomp, else ~/.cache/manyarch/seccomp. It is
// no disk cache when there is no such directory (no HOME) or when the
// path is not the user's alone (see cacheDirIn): root run with another
// user's HOME must neither use nor make directories in it.
var DefaultCache = sync.OnceValue(func() *Cache {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return NewCache(cacheDirIn(x, "manyarch", "seccomp"))
	}
	if h := os.Getenv("HOME"); h != "" {
		return NewCache(cacheDirIn(h, ".cache", "manyarch", "seccomp"))
	}
	return NewCache("")
})

// cacheDirIn is the cache directory below base (the user's home or
// $XDG_CACHE_HOME) at the path rel, with the symbolic links in base
// resolved; "" when it is not the user's alone. base must be an absolute
// path to a directory of the user's that no one else can write (it may be
// reached through symbolic links: /home may be one), and every existing
// component of rel below it must be a real directory (not a symbolic
// link) of the user's that no one else can write. A missing component is
// fine: write makes it, mode 0700, and opens the directory without
// following symbolic links each time.
func cacheDirIn(base string, rel ...string) string {
	if !filepath.IsAbs(base) {
		return ""
	}
	real, err := filepath.EvalSymlinks(base)
	if err != nil {
		return ""
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.IsDir() || ownedPrivately(fi) != nil {
		return ""
	}
	d := real
	for i, c := range rel {
		d = filepath.Join(d, c)
		fi, err := os.Lstat(d)
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.Join(append([]string{d}, rel[i+1:]...)...)
		}
		if err != nil || !fi.IsDir() || ownedPrivately(fi) != nil {
			return ""
		}
	}
	return d
}

// Dir returns the cache's directory ("" for none).
func (c *Cache) Dir() string { return c.dir }

// Filter resolves profileJSON for a container with caps and compiles it
// (Resolve, then Compile), or returns the program a valid cache entry
// holds for the same inputs. Errors are those of Resolve and Compile; a
// compile error of a JSON profile names it. The cache's own failures (an
// unreadable or unwritable directory, a damaged entry) are not errors:
// the filter is compiled.
func (c *Cache) Filter(profileJSON, name string, caps []string) ([]unix.SockFilter, error) {
	key := c.key(profileJSON, caps)
	entry := ""
	if key != nil && c.dir != "" {
		entry = fmt.Sprintf("%x.bpf", sha256.Sum256(key))
		if f, err := c.read(entry, key); err == nil {
			return f, nil
		}
	}
	p, err := Resolve(profileJSON, name, caps)
	if err != nil {
		return nil, err
	}
	f, err := Compile(p)
	if err != nil {
		if profileJSON != "" {
			return nil, fmt.Errorf("seccomp profile %s: %w", name, err)
		}
		return nil, err
	}
	if entry != "" {
		c.write(entry, key, f) // best effort: the next process compiles again
	}
	return f, nil
}

// key is the cache key of a filter, nil when there is none (the build ID
// or the kernel release cannot be read: no caching).
func (c *Cache) key(profileJSON string, caps []string) []byte {
	var uts unix.Utsname
	if c.buildID == "" || unix.Uname(&uts) != nil {
		return nil
	}
	ph := sha256.Sum256([]byte(profileJSON))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nbuild %s\ngoarch %s\nkernel %s\ncaps %s\nprofile %x\n",
		entryMagic, c.buildID, runtime.GOARCH, unix.ByteSliceToString(uts.Release[:]),
		strings.Join(caps, ","), ph)
	return b.Bytes()
}

// entryMagic starts a cache entry's key; a new entry format changes it.
const entryMagic = "manyarch seccomp filter cache 1"

// An entry is:
//
//	uint32 length of the key, the key
//	uint32 number of instructions n, n × (uint16 code, uint8 jt, uint8 jf, uint32 k)
//	SHA-256 of everything before it
//
// little-endian.
func encodeEntry(key []byte, f []unix.SockFilter) []byte {
	b := make([]byte, 0, 4+len(key)+4+8*len(f)+sha256.Size)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(key)))
	b = append(b, key...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
	for _, in := range f {
		b = binary.LittleEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// errBadEntry says a cache entry failed a check.
var errBadEntry = errors.New("damaged seccomp cache entry")

// decodeEntry checks b whole and returns its program.
func decodeEntry(b, key []byte) ([]unix.SockFilter, error) {
	if len(b) < 4+sha256.Size {
		return nil, errBadEntry
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if want := sha256.Sum256(body); !bytes.Equal(sum, want[:]) {
		return nil, fmt.Errorf("%w: checksum", errBadEntry)
	}
	kl := binary.LittleEndian.Uint32(body)
	body = body[4:]
	if uint64(kl) > uint64(len(body)) || !bytes.Equal(body[:kl], key) {
		return nil, fmt.Errorf("%w: key", errBadEntry)
	}
	body = body[kl:]
	if len(body) < 4 {
		return nil, errBadEntry
	}
	n := binary.LittleEndian.Uint32(body)
	body = body[4:]
	if n == 0 || n > maxInstructions || uint64(len(body)) != 8*uint64(n) {
		return nil, fmt.Errorf("%w: length", errBadEntry)
	}
	f := make([]unix.SockFilter, n)
	for i := range f {
		r := body[8*i:]
		f[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(r), Jt: r[2], Jf: r[3], K: binary.LittleEndian.Uint32(r[4:])}
	}
	if err := checkProgram(f); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadEntry, err)
	}
	return f, nil
}

// maxInstructions is the kernel's limit on a filter's length (BPF_MAXINSNS).
const maxInstructions = 4096

// checkProgram checks what the kernel's seccomp_check_filter checks that a
// damaged program could get wrong: each instruction is one classic BPF
// knows, each jump lands inside the program, and the last instruction
// returns.
func checkProgram(f []unix.SockFilter) error {
	raw := make([]bpf.RawInstruction, len(f))
	for i, in := range f {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		return errors.New("an instruction is not classic BPF")
	}
	last := len(ins) - 1
	for i, in := range ins {
		var skips []uint32
		switch j := in.(type) {
		case bpf.Jump:
			skips = []uint32{j.Skip}
		case bpf.JumpIf:
			skips = []uint32{uint32(j.SkipTrue), uint32(j.SkipFalse)}
		case bpf.JumpIfX:
			skips = []uint32{uint32(j.SkipTrue), uint32(j.SkipFalse)}
		}
		for _, s := range skips {
			if uint64(i)+1+uint64(s) > uint64(last) {
				return fmt.Errorf("instruction %d jumps past the end", i)
			}
		}
	}
	switch ins[last].(type) {
	case bpf.RetConstant, bpf.RetA:
		return nil
	}
	return errors.New("the program does not end with a return")
}

// read opens the cache directory and reads the entry named entry for key
// from it.
func (c *Cache) read(entry string, key []byte) ([]unix.SockFilter, error) {
	d, err := openCacheDir(c.dir, false)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return readEntry(d, entry, key)
}

// openCacheDir opens dir without following a symbolic link anywhere in
// its path and checks that the directory it opened is the user's and
// writable by nobody else: the check holds for the directory the entries
// are then opened in (relative to it), whatever is renamed meanwhile.
// With create, missing directories are made (mode 0700).
func openCacheDir(dir string, create bool) (*os.File, error) {
	fd, err := -1, error(unix.ENOSYS)
	if !noOpenat2 {
		fd, err = unix.Openat2(unix.AT_FDCWD, dir, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
	}
	// Kernels before 5.6 have no openat2; seccomp filters of some
	// container runtimes answer EPERM. Walk the path one component at a
	// time instead, each opened with O_NOFOLLOW.
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || (create && errors.Is(err, unix.ENOENT)) {
		fd, err = walkNoFollow(dir, create)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	d := os.NewFile(uintptr(fd), dir)
	fi, err := d.Stat()
	if err == nil && !fi.IsDir() {
		err = errors.New("not a directory")
	}
	if err == nil {
		err = ownedPrivately(fi)
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("seccomp cache %s: %w", dir, err)
	}
	return d, nil
}

// noOpenat2 makes openCacheDir walk the path as on a kernel without
// openat2 (for tests).
var noOpenat2 = false

// walkNoFollow opens directory dir one component at a time, each with
// O_NOFOLLOW relative to the one before, making missing ones (mode 0700)
// with create.
func walkNoFollow(dir string, create bool) (int, error) {
	start := "."
	if filepath.IsAbs(dir) {
		start = "/"
	}
	fd, err := unix.Open(start, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for _, c := range strings.Split(filepath.Clean(dir), "/") {
		if c == "" || c == "." {
			continue
		}
		next, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && create {
			if err = unix.Mkdirat(fd, c, 0o700); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	// An O_PATH descriptor cannot be read: reopen the directory itself.
	rd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	unix.Close(fd)
	return rd, err
}

// readEntry reads and checks the entry named entry for key in directory
// d. The entry must be a regular file of this user's, writable by nobody
// else.
func readEntry(d *os.File, entry string, key []byte) ([]unix.SockFilter, error) {
	fd, err := unix.Openat(int(d.Fd()), entry, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: filepath.Join(d.Name(), entry), Err: err}
	}
	fh := os.NewFile(uintptr(fd), filepath.Join(d.Name(), entry))
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if err := ownedPrivately(fi); err != nil {
		return nil, fmt.Errorf("%s: %w", fh.Name(), err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", fh.Name())
	}
	if fi.Size() > int64(4+len(key)+4+8*maxInstructions+sha256.Size) {
		return nil, fmt.Errorf("%w: length", errBadEntry)
	}
	b := make([]byte, fi.Size())
	if _, err := fh.ReadAt(b, 0); err != nil {
		return nil, err
	}
	return decodeEntry(b, key)
}

// ownedPrivately checks that fi is a regular file or directory of this
// user's that no one else can write.
func ownedPrivately(fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (!fi.Mode().IsRegular() && !fi.IsDir()) {
		return errors.New("not a regular file or directory")
	}
	if int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("owned by uid %d with mode %v: the cache must be the user's (uid %d) and writable only by them", st.Uid, fi.Mode().Perm(), os.Geteuid())
	}
	return nil
}

// tempPrefix starts the name of an entry being written.
const tempPrefix = "tmp-"

// write stores f as the entry named entry (a temporary file renamed into
// place, both relative to the checked directory) and keeps the directory
// to cacheEntries entries. Errors are dropped: the cache is an
// optimization.
func (c *Cache) write(entry string, key []byte, f []unix.SockFilter) {
	d, err := openCacheDir(c.dir, true)
	if err != nil {
		return
	}
	defer d.Close()
	dfd := int(d.Fd())
	tmp := fmt.Sprintf("%s%d-%x", tempPrefix, os.Getpid(), sha256.Sum256(key))[:len(tempPrefix)+30]
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return
	}
	// No fsync: a power loss may leave an empty or partial file, which
	// the next read rejects and rewrites.
	fh := os.NewFile(uintptr(fd), tmp)
	_, err = fh.Write(encodeEntry(key, f))
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, entry)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return
	}
	prune(d)
}

// prune removes the oldest entries of directory d beyond cacheEntries,
// and temporary files a killed writer left more than a minute ago.
func prune(d *os.File) {
	ents, err := d.ReadDir(-1)
	if err != nil {
		return
	}
	type entry struct {
		name string
		mod  time.Time
	}
	var es []entry
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(e.Name(), tempPrefix) && time.Since(fi.ModTime()) > time.Minute:
			unix.Unlinkat(int(d.Fd()), e.Name(), 0)
		case strings.HasSuffix(e.Name(), ".bpf"):
			es = append(es, entry{e.Name(), fi.ModTime()})
		}
	}
	if len(es) <= cacheEntries {
		return
	}
	slices.SortFunc(es, func(a, b entry) int { return b.mod.Compare(a.mod) }) // newest first
	for _, e := range es[cacheEntries:] {
		unix.Unlinkat(int(d.Fd()), e.name, 0)
	}
}

// executableBuildID returns the Go build ID of the running program (the
// ELF note the linker writes, a hash of everything it was built from), ""
// when it cannot be read.
func executableBuildID() string {
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := f.Section(".note.go.buildid")
	if s == nil {
		return ""
	}
	b, err := s.Data()
	if err != nil || len(b) < 16 {
		return ""
	}
	// An ELF note: namesz, descsz, type, "Go\x00\x00", the ID.
	namesz, descsz := f.ByteOrder.Uint32(b), f.ByteOrder.Uint32(b[4:])
	if namesz != 4 || string(b[12:16]) != "Go\x00\x00" || uint64(descsz) > uint64(len(b)-16) {
		return ""
	}
	return string(b[16 : 16+descsz])
}
