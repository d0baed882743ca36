package imagetest

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	layerio "github.com/manyarch/manyarch/internal/layer" // imagetest's tests name a helper layer
)

// maxFileRead bounds what a file content or license test reads into memory.
const maxFileRead = 64 << 20

// flatFS is the file system an image's layers make, read from the layer
// tars without unpacking anything: the topmost entry of each path, with
// whiteouts (.wh.NAME) and opaque directories (.wh..wh..opq) applied.
type flatFS struct {
	layers  []v1.Layer
	entries map[string]*fsEntry // by clean absolute path
	dirs    map[string][]string // directory -> child names (sorted on use)
}

type fsEntry struct {
	hdr   tar.Header // Name cleaned to an absolute path; no PAX records
	layer int        // index into layers, bottom first
	name  string     // the entry's name in the layer tar, as written
}

// errNotFound is a path missing from the image.
var errNotFound = errors.New("no such file or directory")

func cleanPath(p string) string {
	return path.Clean("/" + p)
}

// newFlatFS reads every layer's tar headers, topmost layer first.
func newFlatFS(ctx context.Context, img v1.Image) (*flatFS, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	f := &flatFS{layers: layers, entries: map[string]*fsEntry{}, dirs: map[string][]string{}}
	deleted := map[string]bool{} // whited out by an upper layer
	opaque := map[string]bool{}  // directories whose lower contents are hidden
	for i := len(layers) - 1; i >= 0; i-- {
		newDeleted, newOpaque := map[string]bool{}, map[string]bool{}
		seen := map[string]*tar.Header{} // this layer's entries, for its hard links
		err := f.walkLayer(ctx, i, func(hdr *tar.Header, _ io.Reader) (bool, error) {
			name := cleanPath(hdr.Name)
			dir, base := path.Split(name)
			dir = cleanPath(dir)
			// The layer's directory holds dir as a directory even when the
			// tar has no entry for it (unpacking creates it), and that hides
			// a lower non-directory there, as overlayfs does.
			f.implicitParents(dir, i, deleted, opaque)
			if base == ".wh..wh..opq" {
				newOpaque[dir] = true
				return true, nil
			}
			if strings.HasPrefix(base, ".wh.") {
				newDeleted[path.Join(dir, strings.TrimPrefix(base, ".wh."))] = true
				return true, nil
			}
			h := *hdr
			h.Name = name
			h.PAXRecords = nil
			if h.Typeflag == tar.TypeLink {
				// A hard link is its target's inode: mode, owner and
				// size are the target's, whatever the link's header says.
				if t, ok := seen[cleanPath(h.Linkname)]; ok {
					h.Mode, h.Uid, h.Gid, h.Size, h.ModTime = t.Mode, t.Uid, t.Gid, t.Size, t.ModTime
					if t.Typeflag == tar.TypeLink {
						h.Linkname = t.Linkname // the file that holds the data
					} else if t.Typeflag != tar.TypeReg && t.Typeflag != tar.TypeRegA {
						h.Typeflag, h.Linkname, h.Devmajor, h.Devminor = t.Typeflag, t.Linkname, t.Devmajor, t.Devminor
					}
				}
			}
			seen[name] = &h
			if f.hidden(name, i, deleted, opaque) {
				return true, nil
			}
			if e, ok := f.entries[name]; ok && e.layer > i {
				return true, nil
			}
			if _, ok := f.entries[name]; !ok {
				f.dirs[dir] = append(f.dirs[dir], path.Base(name))
			}
			f.entries[name] = &fsEntry{hdr: h, layer: i, name: hdr.Name}
			return true, nil
		})
		if err != nil {
			return nil, err
		}
		for p := range newDeleted {
			deleted[p] = true
		}
		for p := range newOpaque {
			opaque[p] = true
		}
	}
	// Directories that only appear as parents exist too.
	for name := range f.entries {
		for p := path.Dir(name); ; p = path.Dir(p) {
			if p == "/" {
				break
			}
			if _, ok := f.entries[p]; ok {
				break
			}
			f.entries[p] = &fsEntry{hdr: tar.Header{Name: p, Typeflag: tar.TypeDir, Mode: 0o755}, layer: -1}
			parent := path.Dir(p)
			f.dirs[parent] = append(f.dirs[parent], path.Base(p))
		}
	}
	if _, ok := f.entries["/"]; !ok {
		f.entries["/"] = &fsEntry{hdr: tar.Header{Name: "/", Typeflag: tar.TypeDir, Mode: 0o755}, layer: -1}
	}
	for d, names := range f.dirs {
		if d == "/" && len(names) > 0 {
			// "/" itself may be listed as a child of "/" ("./" entries).
			kept := names[:0]
			for _, n := range names {
				if n != "/" && n != "" {
					kept = append(kept, n)
				}
			}
			f.dirs[d] = kept
		}
	}
	return f, nil
}

// implicitParents records dir and its ancestors as directories of layer i
// where no upper layer decides what they are.
func (f *flatFS) implicitParents(dir string, i int, deleted, opaque map[string]bool) {
	for p := dir; p != "/"; p = path.Dir(p) {
		if f.hidden(p, i, deleted, opaque) {
			return
		}
		if _, ok := f.entries[p]; ok {
			continue // an upper layer's, or this layer's own entry
		}
		f.entries[p] = &fsEntry{hdr: tar.Header{Name: p, Typeflag: tar.TypeDir, Mode: 0o755}, layer: i}
		parent := path.Dir(p)
		f.dirs[parent] = append(f.dirs[parent], path.Base(p))
	}
}

// hidden reports whether name, found in layer i, is hidden by an upper
// layer: whited out, below an opaque directory, or below a path that an
// upper layer made a non-directory.
func (f *flatFS) hidden(name string, i int, deleted, opaque map[string]bool) bool {
	if deleted[name] {
		return true
	}
	for p := path.Dir(name); ; p = path.Dir(p) {
		if deleted[p] || opaque[p] {
			return true
		}
		if e, ok := f.entries[p]; ok && e.layer > i && e.hdr.Typeflag != tar.TypeDir {
			return true
		}
		if p == "/" {
			return false
		}
	}
}

// walkLayer streams layer i's tar, calling fn for each entry until it
// returns false.
func (f *flatFS) walkLayer(ctx context.Context, i int, fn func(*tar.Header, io.Reader) (bool, error)) error {
	rc, err := layerio.Open(ctx, f.layers[i])
	if err != nil {
		return fmt.Errorf("reading layer %d: %w", i+1, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading layer %d: %w", i+1, err)
		}
		more, err := fn(hdr, tr)
		if err != nil || !more {
			return err
		}
	}
}

// lookup resolves p: symbolic links in the directories of p are followed
// (inside the image: absolute targets start at its root, ".." stops at
// it), and in the last component too when follow is set.
func (f *flatFS) lookup(p string, follow bool) (*fsEntry, error) {
	return f.resolve(cleanPath(p), follow, 0)
}

func (f *flatFS) resolve(p string, follow bool, depth int) (*fsEntry, error) {
	if depth > 40 {
		return nil, fmt.Errorf("%s: too many levels of symbolic links", p)
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i, part := range parts {
		if part == "" {
			continue
		}
		next := path.Join(cur, part)
		e, ok := f.entries[next]
		if !ok {
			return nil, errNotFound
		}
		last := i == len(parts)-1
		if e.hdr.Typeflag == tar.TypeSymlink && (!last || follow) {
			target := e.hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(cur, target)
			}
			rest := strings.Join(parts[i+1:], "/")
			resolved, err := f.resolve(cleanPath(path.Join(target, rest)), follow, depth+1)
			if err != nil {
				return nil, err
			}
			return resolved, nil
		}
		if !last && e.hdr.Typeflag != tar.TypeDir {
			return nil, fmt.Errorf("%s: not a directory", next)
		}
		cur = next
	}
	return f.entries[cur], nil
}

// mode is the entry's file mode as Go (and CST) shows it: "-rwxr-xr-x".
func (e *fsEntry) mode() fs.FileMode {
	if e.hdr.Typeflag == tar.TypeLink {
		// A hard link has its target's mode; the tar header repeats it.
		return fs.FileMode(e.hdr.Mode).Perm() | modeBits(e.hdr.Mode)
	}
	return e.hdr.FileInfo().Mode()
}

func modeBits(m int64) fs.FileMode {
	var out fs.FileMode
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}

// readDir lists the names in directory p, sorted.
func (f *flatFS) readDir(p string) ([]string, error) {
	e, err := f.lookup(p, true)
	if err != nil {
		return nil, err
	}
	if e.hdr.Typeflag != tar.TypeDir {
		return nil, fmt.Errorf("%s: not a directory", p)
	}
	names := append([]string(nil), f.dirs[e.hdr.Name]...)
	sort.Strings(names)
	return names, nil
}

// readFiles reads the contents of the regular files at paths (symbolic
// links followed), streaming each layer that holds one of them once.
// Missing files and non-files get an error in errs.
func (f *flatFS) readFiles(ctx context.Context, paths []string) (data map[string][]byte, errs map[string]error, err error) {
	data, errs = map[string][]byte{}, map[string]error{}
	want := map[int]map[string][]string{} // layer -> tar name -> requested paths
	for _, p := range paths {
		e, lerr := f.lookup(p, true)
		if lerr != nil {
			errs[p] = lerr
			continue
		}
		if e.hdr.Typeflag == tar.TypeLink {
			// The data is in the link's target, earlier in the same layer.
			target := cleanPath(e.hdr.Linkname)
			if want[e.layer] == nil {
				want[e.layer] = map[string][]string{}
			}
			want[e.layer][target] = append(want[e.layer][target], p)
			continue
		}
		switch e.hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
		case tar.TypeDir:
			errs[p] = fmt.Errorf("%s is a directory", p)
			continue
		default:
			errs[p] = fmt.Errorf("%s is not a regular file", p)
			continue
		}
		if e.hdr.Size > maxFileRead {
			errs[p] = fmt.Errorf("%s is %d bytes, more than the %d a content test reads", p, e.hdr.Size, maxFileRead)
			continue
		}
		if want[e.layer] == nil {
			want[e.layer] = map[string][]string{}
		}
		want[e.layer][e.hdr.Name] = append(want[e.layer][e.hdr.Name], p)
	}
	layers := make([]int, 0, len(want))
	for l := range want {
		layers = append(layers, l)
	}
	sort.Ints(layers)
	for _, l := range layers {
		names := want[l]
		err := f.walkLayer(ctx, l, func(hdr *tar.Header, r io.Reader) (bool, error) {
			ps, ok := names[cleanPath(hdr.Name)]
			if !ok || (hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA) {
				return true, nil
			}
			if hdr.Size > maxFileRead {
				for _, p := range ps {
					errs[p] = fmt.Errorf("%s is %d bytes, more than the %d a content test reads", p, hdr.Size, maxFileRead)
				}
				return true, nil
			}
			b, err := io.ReadAll(r)
			if err != nil {
				return false, fmt.Errorf("reading %s from layer %d: %w", hdr.Name, l+1, err)
			}
			for _, p := range ps {
				data[p] = b // the last entry of a name wins, as when extracting
			}
			return true, nil
		})
		if err != nil {
			return nil, nil, err
		}
		for _, ps := range names {
			for _, p := range ps {
				if _, ok := data[p]; !ok && errs[p] == nil {
					errs[p] = fmt.Errorf("%s: the layer's tar has no data for it (a hard link to a missing file?)", p)
				}
			}
		}
	}
	return data, errs, nil
}
