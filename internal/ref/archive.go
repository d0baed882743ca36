package ref

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/fsutil"
	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/store"
)

// layoutEntry matches the only files an OCI layout archive may hold.
var layoutEntry = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(oci-layout|index\.json|blobs/[a-z0-9]+/[a-f0-9]{32,128})$`)
})

// unpackOCIArchive unpacks the layout in the tar file at file into a
// temporary directory that env.Close removes. Only the layout's own files
// are taken; anything else in the archive is an error, so a crafted archive
// cannot write outside the directory.
func unpackOCIArchive(ctx context.Context, env *Env, file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	dir, err := env.tempDir("manyarch-oci-archive-")
	if err != nil {
		return "", err
	}
	tr := tar.NewReader(f)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%s is not a valid tar file: %w", file, err)
		}
		p := path.Clean(h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return "", fmt.Errorf("%s: entry %q is not a regular file; an OCI archive holds only oci-layout, index.json and blobs/", file, h.Name)
		}
		if !layoutEntry().MatchString(p) {
			return "", fmt.Errorf("%s: unexpected entry %q; an OCI archive holds only oci-layout, index.json and blobs/ALG/HEX", file, h.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return "", fmt.Errorf("%s: entry %q: %w", file, h.Name, err)
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("%s: entry %q: %w", file, h.Name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		return "", fmt.Errorf("%s holds no index.json: it is not an OCI archive", file)
	}
	return dir, nil
}

// writeOCIArchive writes a as an OCI layout into a temporary directory beside
// the destination, then packs it into the destination file atomically.
func writeOCIArchive(ctx context.Context, r Reference, a image.Artifact) (v1.Descriptor, error) {
	// A writer killed here left its layout directory: those of earlier
	// writes of this file that nobody holds go first.
	prefix := "." + filepath.Base(r.Path) + ".layout-"
	fsutil.RemoveStaleDirs(filepath.Join(filepath.Dir(r.Path), prefix+"*"), time.Minute)
	tmp, err := os.MkdirTemp(filepath.Dir(r.Path), prefix+"*")
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", r, err)
	}
	// Locked while it lives: "in use" to other writers' sweeps.
	l, lerr := fsutil.TryLockDir(tmp, true)
	defer func() {
		os.RemoveAll(tmp)
		if lerr == nil {
			l.Unlock()
		}
	}()
	st, err := store.Open(ctx, tmp, store.WithFsync(false))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", r, err)
	}
	desc, err := writeNamed(ctx, st, layoutTag(r), a)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", r, err)
	}
	err = AtomicFile(r.Path, func(w io.Writer) error { return tarLayout(ctx, tmp, w) })
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing %s: %w", r, err)
	}
	return desc, nil
}

// tarLayout writes the OCI layout at dir as a tar stream: oci-layout,
// index.json, then the blobs in sorted order, with fixed metadata so equal
// layouts give equal archives.
func tarLayout(ctx context.Context, dir string, w io.Writer) error {
	files := []string{"oci-layout", "index.json"}
	var blobs []string
	layout := store.NewLayout(dir) // absolute, as the paths the walk gives
	err := filepath.WalkDir(layout.Blobs(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(layout.Root(), p)
			if err != nil {
				return err
			}
			if layoutEntry().MatchString(filepath.ToSlash(rel)) {
				blobs = append(blobs, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(blobs)
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	for _, name := range append(files, blobs...) {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, d := range []string{path.Dir(path.Dir(name)), path.Dir(name)} {
			if d == "." || dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		if err := addFile(tw, filepath.Join(dir, filepath.FromSlash(name)), name); err != nil {
			return err
		}
	}
	return tw.Close()
}

func addFile(tw *tar.Writer, src, name string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: fi.Size(), Mode: 0o644, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
