package imagetest

import (
	"archive/tar"
	"context"
	"io/fs"
	"path"
	"slices"
	"sort"
)

// fileView is an image's root file system as file, content and license
// tests read it. Paths are absolute inside the image; symbolic links
// resolve inside the image (an absolute target starts at its root, ".."
// stops there), never on the host. Two implementations:
//
//   - kernelFS (Linux, root): the kernel's view of the same root
//     file system `manyarch run` and command tests use, an overlay of the
//     snapshotter's layer directories, read with openat2 RESOLVE_IN_ROOT;
//   - flatFS: the layer tars flattened by this package, where the kernel
//     view cannot be had (no root, no openat2, not Linux, no executor).
//
// TestFileViewsMatchContainer holds both to what a command in the
// container sees, for hostile layer orderings.
type fileView interface {
	// stat describes p; the last component's symbolic link is followed
	// when follow is set (CST's file existence tests do not follow it).
	stat(p string, follow bool) (fileInfo, error)
	// readDir lists the names in directory p, sorted.
	readDir(p string) ([]string, error)
	// readFiles reads the regular files at paths (symbolic links
	// followed); a missing file or a non-file gets an error in errs.
	readFiles(ctx context.Context, paths []string) (data map[string][]byte, errs map[string]error, err error)
	// kind names the view for logs: "kernel overlay", "flattened layers".
	kind() string
	// close releases the view (unmounts the kernel's); idempotent.
	close() error
}

// fileInfo is what a test can check about one path.
type fileInfo struct {
	mode     fs.FileMode // as Go (and CST) shows it: "-rwxr-xr-x", "Lrwxrwxrwx"
	uid, gid int
	linkname string // a symbolic link's target, as stored
	size     int64
}

var _ fileView = (*flatFS)(nil)

func (f *flatFS) stat(p string, follow bool) (fileInfo, error) {
	e, err := f.lookup(p, follow)
	if err != nil {
		return fileInfo{}, err
	}
	fi := fileInfo{mode: e.mode(), uid: e.hdr.Uid, gid: e.hdr.Gid, size: e.hdr.Size}
	if e.hdr.Typeflag == tar.TypeSymlink {
		fi.linkname = e.hdr.Linkname
	}
	return fi, nil
}

func (f *flatFS) kind() string { return "flattened layers" }

func (f *flatFS) close() error { return nil }

// rootViewer is an Executor that can show file tests the root file system
// its containers run on. An error matching errNoKernelView means the view
// cannot be had here (the flattened layers are read instead); any other
// error fails the file tests of the platform.
type rootViewer interface {
	rootView(ctx context.Context, t Target) (fileView, error)
}

// initLayerFiles are the files docker's init layer puts over every
// container's image (moby daemon/initlayer): CST's docker driver reads file
// tests from a created, never started container, which has them as empty
// files of mode 0755, owned by root, whatever the image has there. Command
// tests get them from the sandbox, with their generated contents.
var initLayerFiles = map[string]bool{"/etc/hosts": true, "/etc/hostname": true, "/etc/resolv.conf": true}

// containerView is a fileView with docker's init layer files over it, so
// file tests see what CST sees in a container (issue #24 item 10).
type containerView struct{ fileView }

func initLayerPath(p string) (string, bool) {
	c := path.Clean("/" + p)
	return c, initLayerFiles[c]
}

func (v containerView) stat(p string, follow bool) (fileInfo, error) {
	if _, ok := initLayerPath(p); ok {
		return fileInfo{mode: 0o755}, nil
	}
	return v.fileView.stat(p, follow)
}

func (v containerView) readDir(p string) ([]string, error) {
	names, err := v.fileView.readDir(p)
	if err != nil || path.Clean("/"+p) != "/etc" {
		return names, err
	}
	for f := range initLayerFiles {
		if n := path.Base(f); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

func (v containerView) readFiles(ctx context.Context, paths []string) (map[string][]byte, map[string]error, error) {
	var rest []string
	for _, p := range paths {
		if _, ok := initLayerPath(p); !ok {
			rest = append(rest, p)
		}
	}
	data, errs, err := v.fileView.readFiles(ctx, rest)
	if err != nil {
		return nil, nil, err
	}
	if data == nil {
		data = map[string][]byte{}
	}
	for _, p := range paths {
		if _, ok := initLayerPath(p); ok {
			data[p] = []byte{}
		}
	}
	return data, errs, nil
}
