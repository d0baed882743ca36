//go:build !linux

package snapshot

import (
	"archive/tar"
	"context"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// WriteTar is not supported on this OS; see the Linux documentation.
func WriteTar(ctx context.Context, w io.Writer, dir string, opts TarOptions) error {
	return ErrUnsupported
}

// WriteDiff is not supported on this OS; see the Linux documentation.
func WriteDiff(ctx context.Context, w io.Writer, upper string, opts TarOptions) error {
	return ErrUnsupported
}

// Diff is not supported on this OS; see the Linux documentation.
func Diff(ctx context.Context, w io.Writer, lower, upper string, opts TarOptions) error {
	return ErrUnsupported
}

// Extract is not supported on this OS; see the Linux documentation.
func Extract(ctx context.Context, r io.Reader, dir string, opts ExtractOptions) (ExtractStats, error) {
	return ExtractStats{}, ErrUnsupported
}

// CopyRoot is not supported on this OS; see the Linux documentation.
func CopyRoot(ctx context.Context, lowers []string, dst string) error {
	return ErrUnsupported
}

// NewSnapshotter is not supported on this OS; see the Linux documentation.
func NewSnapshotter(root string) (*Snapshotter, error) {
	return nil, ErrUnsupported
}

// Dir returns the directory of the layer with the given diff ID.
func (s *Snapshotter) Dir(diffID v1.Hash) string { return "" }

// Close is not supported on this OS; see the Linux documentation.
func (s *Snapshotter) Close() error { return nil }

// PruneUnused is not supported on this OS; see the Linux documentation.
func (s *Snapshotter) PruneUnused(ctx context.Context, keep int64) (PruneStats, error) {
	return PruneStats{}, ErrUnsupported
}

// Prepare is not supported on this OS; see the Linux documentation.
func (s *Snapshotter) Prepare(ctx context.Context, layers []v1.Layer) ([]string, error) {
	return nil, ErrUnsupported
}

// Remove is not supported on this OS; see the Linux documentation.
func (s *Snapshotter) Remove(ctx context.Context, diffID v1.Hash) error {
	return ErrUnsupported
}

// Prune is not supported on this OS; see the Linux documentation.
func (s *Snapshotter) Prune(ctx context.Context, keep func(diffID v1.Hash) bool) ([]v1.Hash, error) {
	return nil, ErrUnsupported
}

// Mount is not supported on this OS; see the Linux documentation.
func Mount(ctx context.Context, lowers []string, opts MountOptions) (*RootFS, error) {
	return nil, ErrUnsupported
}

// Diff is not supported on this OS; see the Linux documentation.
func (m *RootFS) Diff(ctx context.Context, w io.Writer, opts TarOptions) error {
	return ErrUnsupported
}

// Close does nothing on this OS.
func (m *RootFS) Close() error { return nil }

// EntryWriter is not supported on this OS; see the Linux documentation.
type EntryWriter struct{}

// NewEntryWriter is not supported on this OS; see the Linux documentation.
func NewEntryWriter(w io.Writer, opts TarOptions) *EntryWriter { return &EntryWriter{} }

// Entry is not supported on this OS.
func (e *EntryWriter) Entry(hdr *tar.Header, content string) error { return ErrUnsupported }

// Whiteout is not supported on this OS.
func (e *EntryWriter) Whiteout(name string) error { return ErrUnsupported }

// Opaque is not supported on this OS.
func (e *EntryWriter) Opaque(dir string) error { return ErrUnsupported }

// Close is not supported on this OS.
func (e *EntryWriter) Close() error { return ErrUnsupported }

// LayerXattrs is not supported on this OS.
func LayerXattrs(path string) (map[string]string, error) { return nil, ErrUnsupported }
