package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/manyarch/manyarch/internal/plan"
)

// This file holds the values of COPY and ADD flags the executor applies:
// --chown resolved in the image's /etc/passwd and /etc/group, and --chmod.

// chown is an owner to give every copied entry, or nil to keep (or reset) it.
type chown struct{ uid, gid int }

// parseChown resolves --chown=USER[:GROUP] with the destination's
// /etc/passwd and /etc/group: a user alone takes its primary group, and a
// numeric uid alone is also the gid (as in BuildKit).
func parseChown(fsys copyFS, s string) (*chown, error) {
	if s == "" {
		return nil, nil
	}
	if err := plan.CheckChown(s); err != nil {
		return nil, err
	}
	u, g, hasGroup := strings.Cut(s, ":")
	c := &chown{}
	if n, err := strconv.Atoi(u); err == nil {
		c.uid, c.gid = n, n
	} else {
		uid, gid, ok, err := lookupID(fsys, "/etc/passwd", u)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("--chown=%s: no user %q in the image's /etc/passwd: use a numeric uid, or add the user in an earlier step", s, u)
		}
		c.uid, c.gid = uid, gid
	}
	if hasGroup && g != "" {
		if n, err := strconv.Atoi(g); err == nil {
			c.gid = n
		} else {
			gid, _, ok, err := lookupID(fsys, "/etc/group", g)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("--chown=%s: no group %q in the image's /etc/group: use a numeric gid, or add the group in an earlier step", s, g)
			}
			c.gid = gid
		}
	}
	return c, nil
}

// lookupID finds name in a passwd or group file of the root: its id (field
// 3) and, for passwd, primary gid (field 4).
func lookupID(fsys copyFS, file, name string) (int, int, bool, error) {
	p, err := securejoin.SecureJoinVFS(fsys.Root(), file, fsys)
	if err != nil {
		return 0, 0, false, err
	}
	f, err := fsys.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 || fields[0] != name {
			continue
		}
		id, err := strconv.Atoi(fields[2])
		if err != nil {
			continue
		}
		gid := id
		if len(fields) > 3 {
			if g, err := strconv.Atoi(fields[3]); err == nil && file == "/etc/passwd" {
				gid = g
			}
		}
		return id, gid, true, nil
	}
	return 0, 0, false, sc.Err()
}

// modeChange is a parsed --chmod: an octal mode or symbolic clauses.
type modeChange struct {
	octal   *fs.FileMode
	clauses []string
}

func parseChmod(s string) (*modeChange, error) {
	if s == "" {
		return nil, nil
	}
	if n, err := strconv.ParseUint(s, 8, 32); err == nil {
		if n > 0o7777 {
			return nil, fmt.Errorf("--chmod=%s: want an octal mode up to 7777", s)
		}
		m := fs.FileMode(n)
		return &modeChange{octal: &m}, nil
	}
	if err := plan.CheckChmod(s); err != nil {
		return nil, err
	}
	return &modeChange{clauses: strings.Split(s, ",")}, nil
}

// apply returns the new permission bits (with setuid/setgid/sticky as
// unix bits 07777) of an entry with unix mode old.
func (m *modeChange) apply(old uint32, isDir bool) uint32 {
	if m.octal != nil {
		return uint32(*m.octal)
	}
	cur := old & 0o7777
	for _, cl := range m.clauses {
		i := 0
		var who uint32
		for i < len(cl) && strings.IndexByte("ugoa", cl[i]) >= 0 {
			switch cl[i] {
			case 'u':
				who |= 0o4700
			case 'g':
				who |= 0o2070
			case 'o':
				who |= 0o1007
			case 'a':
				who |= 0o7777
			}
			i++
		}
		if who == 0 {
			who = 0o7777
		}
		for i < len(cl) {
			op := cl[i]
			i++
			var bits uint32
			for i < len(cl) && strings.IndexByte("rwxXst", cl[i]) >= 0 {
				switch cl[i] {
				case 'r':
					bits |= 0o444
				case 'w':
					bits |= 0o222
				case 'x':
					bits |= 0o111
				case 'X':
					if isDir || cur&0o111 != 0 {
						bits |= 0o111
					}
				case 's':
					bits |= 0o6000
				case 't':
					bits |= 0o1000
				}
				i++
			}
			bits &= who
			switch op {
			case '+':
				cur |= bits
			case '-':
				cur &^= bits
			case '=':
				cur = cur&^(who&0o777) | bits
			}
		}
	}
	return cur
}
