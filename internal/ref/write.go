package ref

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/store"
)

// Write stores a under r and returns the descriptor of what r now names.
// Every blob is written before the name, so a crash or an error leaves no
// name pointing at missing content; archive files appear whole or not at all.
func Write(ctx context.Context, env *Env, r Reference, a image.Artifact) (v1.Descriptor, error) {
	switch r.Transport {
	case Store:
		if r.Digest() != "" {
			return v1.Descriptor{}, fmt.Errorf("writing %s: a digest reference cannot be written; name a tag (NAME:TAG)", r)
		}
		st, err := env.Store(ctx)
		if err != nil {
			return v1.Descriptor{}, err
		}
		return writeNamed(ctx, st, r.Name, a)
	case Docker:
		d, err := remote.Write(ctx, r.Registry(), a, env.Remote...)
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("writing %s: %w", r, err)
		}
		return d, nil
	case OCI:
		st, err := store.Open(ctx, r.Path)
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("writing %s: %w", r, err)
		}
		return writeNamed(ctx, st, layoutTag(r), a)
	case OCIArchive:
		return writeOCIArchive(ctx, r, a)
	case DockerArchive:
		return writeDockerArchive(ctx, r, a)
	}
	return v1.Descriptor{}, fmt.Errorf("writing %s: unknown transport %d", r, r.Transport)
}

// layoutTag is the tag an OCI layout destination is written under.
func layoutTag(r Reference) string {
	if r.Tag == "" {
		return "latest"
	}
	return r.Tag
}

// writeNamed writes a's blobs into st and then names it, in one transaction.
func writeNamed(ctx context.Context, st *store.Store, name string, a image.Artifact) (v1.Descriptor, error) {
	var desc v1.Descriptor
	err := st.Transaction(ctx, func(ctx context.Context) error {
		var err error
		switch v := a.(type) {
		case v1.ImageIndex:
			desc, err = st.WriteIndex(ctx, v)
		case v1.Image:
			desc, err = st.WriteImage(ctx, v)
		default:
			return fmt.Errorf("%T is neither an image nor an index", a)
		}
		if err != nil {
			return err
		}
		return st.Tag(ctx, name, desc)
	})
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s into %s: %w", name, st.Root(), err)
	}
	return desc, nil
}

func writeDockerArchive(ctx context.Context, r Reference, a image.Artifact) (v1.Descriptor, error) {
	img, err := singleImage(ctx, a)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", r, err)
	}
	var nref name.Reference
	if r.parsed != nil {
		nref = r.parsed
	} else {
		// No name given: the archive holds the image untagged.
		d, err := img.Digest()
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("writing %s: %w", r, err)
		}
		if nref, err = name.NewDigest("image@" + d.String()); err != nil {
			return v1.Descriptor{}, fmt.Errorf("writing %s: %w", r, err)
		}
	}
	err = AtomicFile(r.Path, func(f io.Writer) error {
		return tarball.Write(nref, img, f)
	})
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", r, err)
	}
	return describe(img)
}

// AtomicFile writes path through fill with fsutil.WriteFile (mode 0644): a
// temporary file beside it, locked while written, synced and renamed, so
// path is either the old file or the whole new one, whatever happens during
// the write; the unlocked temporary files a killed writer of path left are
// removed first.
func AtomicFile(path string, fill func(io.Writer) error) error {
	return fsutil.WriteFile(path, 0o644, fill)
}
