package snapshot

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Normalize reads a user's root filesystem tarball from r (plain, gzip,
// bzip2 or zstd, detected by magic) and writes it to w as a deterministic
// layer: entries sorted like WriteTar's, headers normalized like WriteTar's
// (see TarOptions), missing parent directories added (mode 0755, owner 0,
// the clamped epoch as time), the root entry ("./") dropped, and of entries
// with the same name the last one kept, as tar extraction would.
//
// Hardlinks are renumbered so that the first of a group in the output order
// carries the content and the others link to it, which extractors need.
//
// Input that cannot be one container's root is refused with an *EntryError
// naming the entry: a name or hardlink target that climbs out of the root
// (wrapping ErrEscape), a NUL in a name, an entry below a symlink or below a
// non-directory, a hardlink to a directory or to a name not in the archive,
// and entry types other than files, directories, links, devices and fifos.
// Symlink targets are kept as they are: they are interpreted inside the
// container's root when resolved, never followed by Extract.
//
// File contents are spooled to an unlinked temporary file in opts.TempDir
// while the entries are sorted, so memory use does not grow with file sizes.
func Normalize(ctx context.Context, r io.Reader, w io.Writer, opts TarOptions) error {
	src := opts.Name
	if src == "" {
		src = "tarball"
	}
	dr, err := Decompress(r)
	if err != nil {
		return fmt.Errorf("normalizing %s: %w", src, err)
	}
	defer dr.Close()

	spool, err := os.CreateTemp(opts.TempDir, "manyarch-normalize-*")
	if err != nil {
		return fmt.Errorf("normalizing %s: creating spool file: %w (set a writable temporary directory)", src, err)
	}
	defer spool.Close()
	// The spool lives only as long as its descriptor.
	_ = os.Remove(spool.Name())

	entries, err := readNormEntries(ctx, tar.NewReader(dr), spool, src)
	if err != nil {
		return err
	}
	if err := addParents(entries, src, &opts); err != nil {
		return err
	}
	order, leader, linkOf, err := linkGroups(entries, src)
	if err != nil {
		return err
	}
	return writeNormalized(ctx, w, spool, entries, order, leader, linkOf, src, &opts)
}

// normEntry is one entry of the tarball Normalize reads.
type normEntry struct {
	hdr      *tar.Header
	off      int64 // content's offset in the spool file
	synth    bool
	original string // name as written in the archive, for errors
}

// readNormEntries reads the tarball's entries, checking each one, keeping
// the last of each name and spooling file contents; names are cleaned.
func readNormEntries(ctx context.Context, tr *tar.Reader, spool io.Writer, src string) (map[string]*normEntry, error) {
	entries := make(map[string]*normEntry)
	var spoolOff int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries, nil
		}
		if err != nil {
			return nil, fmt.Errorf("normalizing %s: reading tar: %w", src, err)
		}
		orig := hdr.Name
		name, skip, err := checkNormHeader(hdr, src)
		if err != nil {
			return nil, err
		}
		if skip {
			continue
		}
		e := &normEntry{hdr: hdr, original: orig}
		if hdr.Typeflag == tar.TypeReg {
			n, err := copyAll(spool, tr)
			if err != nil {
				return nil, &EntryError{Source: src, Entry: orig, Err: fmt.Errorf("reading content: %w", err)}
			}
			e.off = spoolOff
			spoolOff += n
			hdr.Size = n
		}
		hdr.Name = name
		entries[name] = e
	}
}

// checkNormHeader refuses an entry that cannot be part of a root (see
// Normalize), cleans its hardlink target and returns its clean name; skip
// is set for entries left out (global headers, the root directory).
func checkNormHeader(hdr *tar.Header, src string) (name string, skip bool, err error) {
	orig := hdr.Name
	if strings.IndexByte(hdr.Name, 0) >= 0 || strings.IndexByte(hdr.Linkname, 0) >= 0 {
		return "", false, entryErr(src, orig, "name contains a NUL byte")
	}
	name, _, escapes := cleanName(hdr.Name)
	if escapes {
		return "", false, &EntryError{Source: src, Entry: orig, Err: fmt.Errorf("%w: import refuses archives with \"..\" names; re-create the tarball from inside the root (tar -C ROOTFS -cf FILE.tar .)", ErrEscape)}
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return "", true, nil
	case tar.TypeReg, tar.TypeGNUSparse:
		hdr.Typeflag = tar.TypeReg
	case tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return "", false, entryErr(src, orig, "unsupported entry type %q: only files, directories, symlinks, hardlinks, devices and fifos can be imported", hdr.Typeflag)
	}
	if name == "" {
		if hdr.Typeflag != tar.TypeDir {
			return "", false, entryErr(src, orig, "a non-directory entry would replace the root directory")
		}
		return "", true, nil
	}
	if hdr.Typeflag == tar.TypeLink {
		target, _, esc := cleanName(hdr.Linkname)
		if esc {
			return "", false, &EntryError{Source: src, Entry: orig, Err: fmt.Errorf("hardlink target %q %w", hdr.Linkname, ErrEscape)}
		}
		if target == "" {
			return "", false, entryErr(src, orig, "hardlink to the root directory")
		}
		hdr.Linkname = target
	}
	if err := checkSparse(hdr); err != nil {
		return "", false, &EntryError{Source: src, Entry: orig, Err: err}
	}
	return name, false, nil
}

// addParents checks that every ancestor of an entry is a directory and
// adds the missing ones.
func addParents(entries map[string]*normEntry, src string, opts *TarOptions) error {
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	for _, n := range names {
		for p, _ := splitPath(n); p != ""; p, _ = splitPath(p) {
			pe, ok := entries[p]
			if !ok {
				entries[p] = &normEntry{synth: true, hdr: &tar.Header{
					Typeflag: tar.TypeDir, Name: p, Mode: 0o755, ModTime: whiteoutTime(opts),
				}}
				continue
			}
			if pe.hdr.Typeflag == tar.TypeSymlink {
				return entryErr(src, entries[n].original, "lies below symlink %q; a root filesystem tarball names real paths only", pe.original)
			}
			if pe.hdr.Typeflag != tar.TypeDir {
				return entryErr(src, entries[n].original, "lies below %q, which is not a directory", pe.original)
			}
			break // p and its ancestors were checked when p was
		}
	}
	// The loop above stops at the first existing ancestor, which is only
	// sound if that ancestor's own ancestors are checked too: they are,
	// because every entry name (including p) is in names or was synthesized
	// with all its ancestors checked on the way up.
	return nil
}

// linkGroups sorts the names in output order and groups hardlinks: linkOf
// maps a link to its group's root (the file it ends at), leader a group's
// root to the first of its names in order, which carries the content.
func linkGroups(entries map[string]*normEntry, src string) (order []string, leader, linkOf map[string]string, err error) {
	order = make([]string, 0, len(entries))
	for n := range entries {
		order = append(order, n)
	}
	slices.SortFunc(order, func(a, b string) int {
		if a == b {
			return 0
		}
		if pathLess(a, b) {
			return -1
		}
		return 1
	})
	root := func(n string) (string, error) {
		seen := 0
		for {
			e, ok := entries[n]
			if !ok {
				return "", fmt.Errorf("hardlink target %q is not in the archive", n)
			}
			if e.hdr.Typeflag != tar.TypeLink {
				if e.hdr.Typeflag == tar.TypeDir {
					return "", fmt.Errorf("hardlink to directory %q", n)
				}
				return n, nil
			}
			if seen++; seen > len(entries) {
				return "", errors.New("hardlink loop")
			}
			n = e.hdr.Linkname
		}
	}
	leader = make(map[string]string) // group root -> first name in order
	linkOf = make(map[string]string) // member -> group root
	for _, n := range order {
		e := entries[n]
		if e.hdr.Typeflag != tar.TypeLink {
			continue
		}
		r, err := root(n)
		if err != nil {
			return nil, nil, nil, entryErr(src, e.original, "%v", err)
		}
		linkOf[n] = r
	}
	for _, n := range order {
		r, ok := linkOf[n]
		if !ok {
			if _, grouped := leader[n]; !grouped {
				leader[n] = n // roots not yet claimed lead themselves unless a link came first
			}
			continue
		}
		if _, ok := leader[r]; !ok {
			leader[r] = n
		}
	}
	return order, leader, linkOf, nil
}

// writeNormalized writes the entries in order, each hardlink group's
// content on its leader and the other names linking to it.
func writeNormalized(ctx context.Context, w io.Writer, spool io.ReaderAt, entries map[string]*normEntry, order []string, leader, linkOf map[string]string, src string, opts *TarOptions) error {
	tw := tar.NewWriter(w)
	for _, n := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := entries[n]
		var hdr tar.Header
		var content *normEntry
		if r, isLink := linkOf[n]; isLink || leader[n] != n {
			if !isLink {
				r = n // a group root whose leader is an earlier link
			}
			if l := leader[r]; l != n {
				hdr = *entries[r].hdr
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, l, 0
			} else {
				hdr = *entries[r].hdr
				content = entries[r]
			}
		} else {
			hdr = *e.hdr
			content = e
		}
		hdr.Name = n
		normalizeHeader(&hdr, opts)
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			return &EntryError{Source: src, Entry: n, Err: fmt.Errorf("writing header: %w", err)}
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			if _, err := copyN(tw, io.NewSectionReader(spool, content.off, hdr.Size), hdr.Size); err != nil {
				return &EntryError{Source: src, Entry: n, Err: fmt.Errorf("writing content: %w", err)}
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("normalizing %s: finishing tar: %w", src, err)
	}
	return nil
}
