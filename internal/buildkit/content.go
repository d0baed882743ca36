package buildkit

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/core/content"
	cerrdefs "github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/store"
)

// blobStore is manyarch's store seen by BuildKit's session as a read-only
// containerd content store: nodes read base image blobs from it (named
// OCI-layout contexts); every write, delete or walk is refused.
type blobStore struct{ layout store.Layout }

var _ content.Store = blobStore{}

func (b blobStore) path(d digest.Digest) (string, error) {
	h, err := v1.NewHash(d.String())
	if err != nil {
		return "", fmt.Errorf("blob %s: %w", d, cerrdefs.ErrInvalidArgument)
	}
	return b.layout.Blob(h), nil
}

func (b blobStore) Info(_ context.Context, d digest.Digest) (content.Info, error) {
	p, err := b.path(d)
	if err != nil {
		return content.Info{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return content.Info{}, fmt.Errorf("blob %s: %w", d, cerrdefs.ErrNotFound)
	}
	if err != nil {
		return content.Info{}, err
	}
	return content.Info{Digest: d, Size: fi.Size(), CreatedAt: fi.ModTime(), UpdatedAt: fi.ModTime()}, nil
}

func (b blobStore) ReaderAt(_ context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	p, err := b.path(desc.Digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, cerrdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return sizedFile{File: f, size: fi.Size()}, nil
}

type sizedFile struct {
	*os.File
	size int64
}

func (f sizedFile) Size() int64 { return f.size }

var errReadOnly = fmt.Errorf("manyarch's store is read-only to BuildKit nodes: %w", cerrdefs.ErrNotImplemented)

func (blobStore) Update(context.Context, content.Info, ...string) (content.Info, error) {
	return content.Info{}, errReadOnly
}
func (blobStore) Walk(context.Context, content.WalkFunc, ...string) error { return errReadOnly }
func (blobStore) Delete(context.Context, digest.Digest) error             { return errReadOnly }
func (blobStore) Status(context.Context, string) (content.Status, error) {
	return content.Status{}, cerrdefs.ErrNotFound
}
func (blobStore) ListStatuses(context.Context, ...string) ([]content.Status, error) { return nil, nil }
func (blobStore) Abort(context.Context, string) error                               { return errReadOnly }
func (blobStore) Writer(context.Context, ...content.WriterOpt) (content.Writer, error) {
	return nil, errReadOnly
}
