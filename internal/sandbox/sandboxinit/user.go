package sandboxinit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
)

// execUser is the identity the process runs as.
type execUser struct {
	UID, GID uint32
	Groups   []uint32 // supplementary
	Home     string
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// resolveUser turns a Docker user spec ("", "user", "uid", "user:group",
// "uid:gid") plus extra groups into IDs, reading etc/passwd and etc/group
// of fsys (the container's root). Missing files are treated as empty, as
// Docker does, so numeric IDs work in scratch images.
func resolveUser(fsys fs.FS, spec string, extra []string) (execUser, error) {
	passwd, err := readPasswd(fsys)
	if err != nil {
		return execUser{}, err
	}
	groups, err := readGroup(fsys)
	if err != nil {
		return execUser{}, err
	}
	userPart, groupPart, hasGroup := cut(spec, ":")
	if userPart == "" {
		userPart = "0"
	}
	u := execUser{Home: "/"}
	var name string
	if id, err := parseID(userPart); err == nil {
		u.UID = id
		for _, p := range passwd {
			if p.uid == id {
				u.GID, u.Home, name = p.gid, p.home, p.name
				break
			}
		}
	} else {
		found := false
		for _, p := range passwd {
			if p.name == userPart {
				u.UID, u.GID, u.Home, name, found = p.uid, p.gid, p.home, p.name, true
				break
			}
		}
		if !found {
			return execUser{}, fmt.Errorf("user %q: no such user in /etc/passwd of the image (use a numeric uid, or add the user)", userPart)
		}
	}
	if hasGroup {
		gid, err := lookupGroup(groups, groupPart)
		if err != nil {
			return execUser{}, err
		}
		u.GID = gid
	} else if name != "" {
		// Supplementary groups from /etc/group membership, only when the
		// group is not given explicitly (Docker's rule).
		for _, g := range groups {
			for _, m := range g.members {
				if m == name && g.gid != u.GID {
					u.Groups = append(u.Groups, g.gid)
				}
			}
		}
	}
	for _, e := range extra {
		gid, err := lookupGroup(groups, e)
		if err != nil {
			return execUser{}, err
		}
		u.Groups = append(u.Groups, gid)
	}
	// The primary group is a supplementary group too, first, as runc,
	// docker and BuildKit (ensureAdditionalGids) set it: `id` shows
	// groups=0(root) for root.
	if !slices.Contains(u.Groups, u.GID) {
		u.Groups = append([]uint32{u.GID}, u.Groups...)
	}
	if u.Home == "" {
		u.Home = "/"
	}
	return u, nil
}

// otherIDs reports whether u needs an ID other than root's (0) for its
// uid, gid or any supplementary group.
func (u execUser) otherIDs() bool {
	if u.UID != 0 || u.GID != 0 {
		return true
	}
	for _, g := range u.Groups {
		if g != 0 {
			return true
		}
	}
	return false
}

func lookupGroup(groups []groupEntry, s string) (uint32, error) {
	if s == "" {
		return 0, errors.New(`empty group name (use "user:group" or "uid:gid")`)
	}
	if id, err := parseID(s); err == nil {
		return id, nil
	}
	for _, g := range groups {
		if g.name == s {
			return g.gid, nil
		}
	}
	return 0, fmt.Errorf("group %q: no such group in /etc/group of the image (use a numeric gid, or add the group)", s)
}

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, err
	}
	if n == 1<<32-1 {
		return 0, fmt.Errorf("id %d is reserved", n)
	}
	return uint32(n), nil
}

func readColonFile(fsys fs.FS, name string, minFields int, each func([]string) error) error {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading /%s: %w", name, err)
	}
	defer f.Close()
	lr := &io.LimitedReader{R: f, N: maxColonFile + 1}
	n := 0 // lines read
	line := func(b []byte) error {
		n++
		if len(b) > maxColonLine {
			return fmt.Errorf("reading /%s of the image: line %d is longer than %d KiB (is it a link to a device such as /dev/zero, or not a %s file?)", name, n, maxColonLine>>10, path.Base(name))
		}
		l := trimSpace(string(b))
		if l == "" || hasPrefix(l, "#") {
			return nil
		}
		fields := split(l, ":")
		if len(fields) < minFields {
			return nil // malformed lines are skipped, as libc does
		}
		return each(fields)
	}
	var pending []byte // the line read so far
	chunk := make([]byte, 32<<10)
	for {
		m, rerr := lr.Read(chunk)
		data := chunk[:m]
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			pending = append(pending, data[:i]...)
			if err := line(pending); err != nil {
				return err
			}
			pending, data = pending[:0], data[i+1:]
		}
		pending = append(pending, data...)
		if len(pending) > maxColonLine {
			return line(pending)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("reading /%s of the image: %w", name, rerr)
		}
	}
	if lr.N <= 0 {
		return fmt.Errorf("reading /%s of the image: larger than %d MiB (is it a link to a device such as /dev/zero, or not a %s file?)", name, maxColonFile>>20, path.Base(name))
	}
	if len(pending) > 0 {
		return line(pending)
	}
	return nil
}

// Bounds of /etc/passwd and /etc/group: glibc's getpwent has no line
// limit, but a real line is far below this, and a link to /dev/zero or
// /dev/urandom must end in an error, not an endless read.
const (
	maxColonLine = 64 << 10
	maxColonFile = 16 << 20
)

func readPasswd(fsys fs.FS) ([]passwdEntry, error) {
	var out []passwdEntry
	err := readColonFile(fsys, "etc/passwd", 6, func(f []string) error {
		uid, err1 := parseID(f[2])
		gid, err2 := parseID(f[3])
		if err1 != nil || err2 != nil {
			return nil
		}
		out = append(out, passwdEntry{name: f[0], uid: uid, gid: gid, home: f[5]})
		return nil
	})
	return out, err
}

func readGroup(fsys fs.FS) ([]groupEntry, error) {
	var out []groupEntry
	err := readColonFile(fsys, "etc/group", 3, func(f []string) error {
		gid, err := parseID(f[2])
		if err != nil {
			return nil
		}
		g := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			g.members = split(f[3], ",")
		}
		out = append(out, g)
		return nil
	})
	return out, err
}

// lookPath finds file like exec.LookPath, but with the container's PATH and
// inside the container's root (the process root after pivot_root). It
// returns the path to execute and, on failure, the reason of an ExecError.
func lookPath(file, pathEnv string) (string, error) {
	if index(file, "/") >= 0 {
		if _, err := os.Stat(file); err != nil {
			return "", err
		}
		return file, nil
	}
	if pathEnv == "" {
		pathEnv = DefaultPath
	}
	for _, dir := range split(pathEnv, ":") {
		if dir == "" {
			dir = "."
		}
		p := path.Join(dir, file)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		return p, nil
	}
	return "", errNotFound
}

// errNotFound is the reason lookPath gives for a command name that is in
// no directory of PATH (sandbox.ErrNotFound on the parent's side).
var errNotFound = errors.New("executable file not found in $PATH")

// DefaultPath is the PATH of a command whose environment has none, as
// Docker sets it.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// UserName is the name /etc/passwd of fsys gives uid.
func UserName(fsys fs.FS, uid uint32) (string, error) {
	ps, err := readPasswd(fsys)
	if err != nil {
		return "", err
	}
	for _, p := range ps {
		if p.uid == uid {
			return p.name, nil
		}
	}
	return "", fs.ErrNotExist
}

// envGet returns the value of key in env ("KEY=value" entries), the last
// one winning.
func envGet(env []string, key string) (string, bool) {
	v, ok := "", false
	for _, kv := range env {
		if k, val, found := cut(kv, "="); found && k == key {
			v, ok = val, true
		}
	}
	return v, ok
}
