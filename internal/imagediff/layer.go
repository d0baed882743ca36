package imagediff

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/manyarch/manyarch/internal/layer"
)

// entry is what a layer says about one path: metadata and the sha256 of a
// regular file's content, never the content itself.
type entry struct {
	typ          string
	mode         int64
	uid, gid     int
	size         int64
	mtime        time.Time
	link         string
	devmaj, devm int64
	sum          *[sha256.Size]byte
	xattrs       map[string]string
}

const xattrPAXPrefix = "SCHILY.xattr."

// Entry type names, as PathDiff.Type shows them.
func typeName(hdr *tar.Header) string {
	base := path.Base(hdr.Name)
	switch {
	case base == ".wh..wh..opq":
		return "opaque whiteout"
	case strings.HasPrefix(base, ".wh."):
		return "whiteout"
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		return "file"
	case tar.TypeDir:
		return "directory"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hardlink"
	case tar.TypeChar:
		return "char device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("tar type %q", hdr.Typeflag)
}

// cleanPath turns a tar entry name into an absolute clean path.
func cleanPath(name string) string { return path.Clean("/" + name) }

// readLayer streams the uncompressed tar of l and returns one entry per
// path (a later entry of a path replaces an earlier one, as when the layer
// is applied). A nil layer has no entries.
func readLayer(ctx context.Context, l v1.Layer) (entries map[string]*entry, err error) {
	entries = map[string]*entry{}
	if l == nil {
		return entries, nil
	}
	r, err := layer.Open(ctx, l)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := r.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	tr := tar.NewReader(r)
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading tar: %w", err)
		}
		e := &entry{
			typ:   typeName(hdr),
			mode:  hdr.Mode & 0o7777,
			uid:   hdr.Uid,
			gid:   hdr.Gid,
			mtime: hdr.ModTime,
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			h.Reset()
			n, err := io.CopyBuffer(h, tr, buf)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", hdr.Name, err)
			}
			e.size = n
			e.sum = (*[sha256.Size]byte)(h.Sum(nil))
		case tar.TypeSymlink, tar.TypeLink:
			e.link = hdr.Linkname
		case tar.TypeChar, tar.TypeBlock:
			e.devmaj, e.devm = hdr.Devmajor, hdr.Devminor
		}
		for k, v := range hdr.PAXRecords {
			if name, ok := strings.CutPrefix(k, xattrPAXPrefix); ok {
				if e.xattrs == nil {
					e.xattrs = map[string]string{}
				}
				e.xattrs[name] = v
			}
		}
		entries[cleanPath(hdr.Name)] = e
	}
	// Read to the end so that a verifying reader checks the digest.
	if _, err := io.CopyBuffer(io.Discard, r, buf); err != nil {
		return nil, fmt.Errorf("reading past the tar end: %w", err)
	}
	return entries, nil
}

// readPair reads two layers (either may be nil) at once.
func readPair(ctx context.Context, la, lb v1.Layer, names [2]string) (a, b map[string]*entry, err error) {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		if a, err = readLayer(gctx, la); err != nil {
			err = fmt.Errorf("reading %s: %w", names[0], blobError(gctx, la, err))
		}
		return err
	})
	g.Go(func() (err error) {
		if b, err = readLayer(gctx, lb); err != nil {
			err = fmt.Errorf("reading %s: %w", names[1], blobError(gctx, lb, err))
		}
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// comparePaths fills lr.Paths, PathsDiffering and PathsOmitted from the
// entries of two layers; maxPaths 0 lists every path.
func comparePaths(lr *LayerReport, a, b map[string]*entry, maxPaths int) {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		ea, eb := a[k], b[k]
		var pd PathDiff
		switch {
		case eb == nil:
			pd = PathDiff{Path: k, Status: PathOnlyInA, Type: ea.typ}
		case ea == nil:
			pd = PathDiff{Path: k, Status: PathOnlyInB, Type: eb.typ}
		default:
			changes := compareEntries(ea, eb)
			if len(changes) == 0 {
				continue
			}
			pd = PathDiff{Path: k, Status: PathChanged, Type: eb.typ, Changes: changes}
		}
		lr.PathsDiffering++
		if maxPaths == 0 || len(lr.Paths) < maxPaths {
			lr.Paths = append(lr.Paths, pd)
		} else {
			lr.PathsOmitted++
		}
	}
}

// compareEntries lists what differs between two entries of one path.
func compareEntries(a, b *entry) []Difference {
	var d diffs
	sameType := a.typ == b.typ
	d.addString("type", a.typ, b.typ)
	d.addString("mode", fmt.Sprintf("%04o", a.mode), fmt.Sprintf("%04o", b.mode))
	d.addString("owner", fmt.Sprintf("%d:%d", a.uid, a.gid), fmt.Sprintf("%d:%d", b.uid, b.gid))
	if sameType {
		if a.sum != nil || b.sum != nil {
			d.addString("size", strconv.FormatInt(a.size, 10), strconv.FormatInt(b.size, 10))
			d.add("content", sumString(a.sum), sumString(b.sum))
		}
		d.add("link", opt(a.link), opt(b.link))
		if a.typ == "char device" || a.typ == "block device" {
			d.addString("device", fmt.Sprintf("%d,%d", a.devmaj, a.devm), fmt.Sprintf("%d,%d", b.devmaj, b.devm))
		}
	}
	d.add("mtime", formatTime(a.mtime), formatTime(b.mtime))
	d.addMap("xattrs", quoteValues(a.xattrs), quoteValues(b.xattrs))
	return d
}

func sumString(s *[sha256.Size]byte) *string {
	if s == nil {
		return nil
	}
	return str("sha256:" + hex.EncodeToString(s[:]))
}

// quoteValues shows xattr values, which are often binary, as Go strings.
func quoteValues(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = strconv.Quote(v)
	}
	return out
}

// blobError explains err, from reading layer l's content: it reads the
// compressed blob to its end, so that a store's verifying reader can say the
// blob is damaged and which images use it (rather than only "invalid tar
// header"); when the blob is intact, the layer itself is malformed.
func blobError(ctx context.Context, l v1.Layer, err error) error {
	if l == nil || ctx.Err() != nil {
		return err
	}
	cerr := layer.CheckBlob(ctx, l)
	if cerr != nil && ctx.Err() == nil {
		return fmt.Errorf("%w (reading its content stopped at: %v)", cerr, err)
	}
	return fmt.Errorf("%w (the blob matches its digest: the layer itself is malformed)", err)
}
