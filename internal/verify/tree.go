package verify

import (
	"path"
	"sort"
	"strings"
)

// node is one path of a platform's final file system.
type node struct {
	kind     entryKind
	layer    int // index of the layer that wrote it last
	exec     bool
	link     string
	elf      *elfFile
	shebang  string
	children map[string]*node
}

// tree is the final file system of an image: its layers applied in order,
// whiteouts and opaque directories honoured. It keeps the small per-entry
// records only, never file contents.
type tree struct {
	root  *node
	files int // regular files
}

func newTree() *tree {
	return &tree{root: &node{kind: kindDir, layer: -1, children: map[string]*node{}}}
}

// lookup returns the node at p without following symlinks.
func (t *tree) lookup(p string) *node {
	n := t.root
	if p == "" {
		return n
	}
	for _, c := range strings.Split(p, "/") {
		if n.children == nil {
			return nil
		}
		if n = n.children[c]; n == nil {
			return nil
		}
	}
	return n
}

// parent returns the directory that holds p, creating missing directories
// (tar streams may omit them) with the given layer.
func (t *tree) parent(p string, layer int) (*node, string) {
	dir, base := path.Split(p)
	n, cur := t.root, ""
	if dir != "" {
		for _, c := range strings.Split(strings.TrimSuffix(dir, "/"), "/") {
			child := n.children[c]
			if child != nil && child.kind == kindSymlink {
				// Runtimes extract through a symlinked directory
				// (lib -> usr/lib) as the kernel would.
				if target, tp := t.resolve(path.Join(cur, c)); target != nil && target.kind == kindDir {
					n, cur = target, tp
					continue
				}
			}
			if child == nil || child.kind != kindDir {
				if child != nil && child.kind == kindFile {
					t.files--
				}
				child = &node{kind: kindDir, layer: layer, children: map[string]*node{}}
				n.children[c] = child
			}
			n, cur = child, path.Join(cur, c)
		}
	}
	return n, base
}

// apply applies one layer's entries.
func (t *tree) apply(layer int, entries []entry) {
	for i := range entries {
		e := &entries[i]
		switch e.kind {
		case kindWhiteout:
			dir, base := path.Split(e.path)
			if d := t.lookup(strings.TrimSuffix(dir, "/")); d != nil && d.children != nil {
				if c := d.children[base]; c != nil && c.layer < layer {
					t.remove(c)
					delete(d.children, base)
				}
			}
		case kindOpaque:
			if d := t.lookup(e.path); d != nil && d.kind == kindDir {
				t.hideLower(d, layer)
			}
		default:
			dir, base := t.parent(e.path, layer)
			old := dir.children[base]
			if old != nil {
				if e.kind == kindDir && old.kind == kindDir {
					old.layer, old.exec = layer, e.exec
					continue
				}
				t.remove(old)
			}
			n := &node{kind: e.kind, layer: layer, exec: e.exec, link: e.link, elf: e.elf, shebang: e.shebang}
			switch e.kind {
			case kindDir:
				n.children = map[string]*node{}
			case kindHardlink:
				// A hard link is the file it names, as that file is now.
				if target := t.lookup(e.link); target != nil && target.kind == kindFile {
					n.kind, n.exec, n.elf, n.shebang = kindFile, target.exec, target.elf, target.shebang
					n.layer = layer
				}
			}
			if n.kind == kindFile {
				t.files++
			}
			dir.children[base] = n
		}
	}
}

// remove accounts for a node and its subtree leaving the tree.
func (t *tree) remove(n *node) {
	if n.kind == kindFile {
		t.files--
	}
	for _, c := range n.children {
		t.remove(c)
	}
}

// hideLower removes what lower layers put inside d, keeping what layer
// itself wrote.
func (t *tree) hideLower(d *node, layer int) {
	for name, c := range d.children {
		if c.layer < layer {
			t.remove(c)
			delete(d.children, name)
		} else if c.kind == kindDir {
			t.hideLower(c, layer)
		}
	}
}

// maxLinks bounds symlink resolution, as the kernel's ELOOP does.
const maxLinks = 40

// resolve follows symlinks in p (absolute or relative to the root) inside
// the image, as the kernel would with the image as root: ".." stops at the
// root, absolute targets start at it. It returns the final node and its
// path, or nil when something is missing or loops.
func (t *tree) resolve(p string) (*node, string) {
	links := 0
	return t.walk(cleanPath(p), &links)
}

func (t *tree) walk(p string, links *int) (*node, string) {
	if p == "" {
		return t.root, ""
	}
	parts := strings.Split(p, "/")
	n, cur := t.root, ""
	for i, c := range parts {
		if n.kind != kindDir || n.children == nil {
			return nil, ""
		}
		child := n.children[c]
		if child == nil {
			return nil, ""
		}
		next := path.Join(cur, c)
		if child.kind == kindSymlink {
			*links++
			if *links > maxLinks {
				return nil, ""
			}
			target := child.link
			if !strings.HasPrefix(target, "/") {
				target = path.Join("/", cur, target)
			}
			rest := strings.Join(parts[i+1:], "/")
			return t.walk(cleanPath(path.Join(target, rest)), links)
		}
		n, cur = child, next
	}
	return n, cur
}

// walkFiles calls fn for each regular file, in path order.
func (t *tree) walkFiles(fn func(p string, n *node)) {
	var rec func(dir string, d *node)
	rec = func(dir string, d *node) {
		names := make([]string, 0, len(d.children))
		for name := range d.children {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			c := d.children[name]
			p := path.Join(dir, name)
			switch c.kind {
			case kindFile:
				fn(p, c)
			case kindDir:
				rec(p, c)
			}
		}
	}
	rec("", t.root)
}
