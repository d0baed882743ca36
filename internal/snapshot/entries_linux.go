package snapshot

import (
	"archive/tar"
	"fmt"
	"io"
)

// EntryWriter writes a layer tar entry by entry, for callers that know a
// layer's entries without a directory holding them (a build's COPY plans its
// layer from the sources and the parent's layer directories). Entries get
// the same deterministic form as those of WriteTar and WriteDiff: given the
// same entries in the same order, the bytes are equal. The caller writes
// entries in WriteDiff's order (depth first, each directory's names in byte
// order), parents before children.
type EntryWriter struct {
	lw *layerWriter
}

// NewEntryWriter returns an EntryWriter writing to w.
func NewEntryWriter(w io.Writer, opts TarOptions) *EntryWriter {
	return &EntryWriter{lw: newLayerWriter(w, "", opts)}
}

// Entry writes hdr (Name is the cleaned path relative to the root, without
// a trailing slash; xattrs go in PAXRecords as SCHILY.xattr.NAME). A
// regular file's content is read from the host file content, which must
// hold exactly hdr.Size bytes.
func (e *EntryWriter) Entry(hdr *tar.Header, content string) error {
	h := *hdr
	if h.Typeflag == tar.TypeReg && h.Size > 0 && content == "" {
		return fmt.Errorf("writing %s: no content file for %d bytes", h.Name, h.Size)
	}
	return e.lw.header(&h, func() error { return e.lw.content(content, h.Size) })
}

// Whiteout writes the entry that deletes name from the layers below.
func (e *EntryWriter) Whiteout(name string) error {
	return e.lw.header(whiteoutHeader(name, &e.lw.opts), nil)
}

// Opaque writes the entry that hides what the layers below hold in the
// directory dir; it follows dir's own entry.
func (e *EntryWriter) Opaque(dir string) error {
	return e.lw.header(opaqueHeader(dir, &e.lw.opts), nil)
}

// Close writes the end-of-archive trailer; it does not close the
// underlying writer.
func (e *EntryWriter) Close() error {
	return e.lw.tw.Close()
}

// LayerXattrs returns the extended attributes of path (not following a
// symlink) that a layer carries: overlayfs' own are left out, as WriteDiff
// leaves them out.
func LayerXattrs(path string) (map[string]string, error) {
	m, err := readXattrs(path)
	for k := range m {
		if internalXattr(k) {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		m = nil
	}
	return m, err
}
