package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/store"
)

// CheckOutputs validates req's -t, -o, --push and --annotation values as
// Native.Build does before it builds anything; another engine (the
// BuildKit client engine) calls it before it starts its nodes.
func CheckOutputs(req *Request) error {
	_, err := checkOutputs(req)
	return err
}

// FinishImages writes the outputs of req (the index into st, -o files,
// pushes, then the -t tags last) for images an engine other than Native
// built, one per res.Platforms entry, in the same order, their blobs
// already in st. It applies --annotation values as Native does (manifest
// annotations change the images, so res.Platforms' manifests are updated)
// and sets res.Index and res.Pushed. Call it inside st.Transaction.
func FinishImages(ctx context.Context, env *ref.Env, st *store.Store, req *Request, res *Result, images []v1.Image) error {
	if len(images) != len(res.Platforms) {
		return fmt.Errorf("finishing the build: %d images for %d platforms", len(images), len(res.Platforms))
	}
	if env == nil || st == nil {
		return errors.New("finishing the build: no environment or store")
	}
	op, err := checkOutputs(req)
	if err != nil {
		return err
	}
	epoch, err := sourceDateEpoch(req)
	if err != nil {
		return err
	}
	x := &executor{req: req, st: st, epoch: epoch, annotations: op.annotations}
	for i, img := range images {
		p := res.Platforms[i].Platform
		if ann := op.annotations.forPlatform(op.annotations.manifest, p); len(ann) > 0 {
			img = mutate.Annotations(img, ann).(v1.Image)
			if _, err := st.WriteImage(ctx, img); err != nil {
				return fmt.Errorf("annotating the image for %s: %w", platform.Format(p), err)
			}
			d, err := img.Digest()
			if err != nil {
				return err
			}
			res.Platforms[i].Manifest.Digest = d
			if res.Platforms[i].Manifest.Size, err = img.Size(); err != nil {
				return err
			}
		}
		x.images = append(x.images, img)
	}
	for _, o := range op.files {
		if o.Type != "local" && o.Type != "tar" {
			continue
		}
		// The file system outputs unpack the layers: a snapshotter and a
		// scratch directory, as the native executor has.
		if x.snap, err = snapshot.NewSnapshotter(st.Layout().Snapshots()); err != nil {
			return err
		}
		defer x.snap.Close()
		if err := os.MkdirAll(st.Layout().BuildTmp(), 0o700); err != nil {
			return fmt.Errorf("creating build directory: %w", err)
		}
		if x.tmp, err = os.MkdirTemp(st.Layout().BuildTmp(), "finish-"); err != nil {
			return fmt.Errorf("creating build directory: %w", err)
		}
		defer os.RemoveAll(x.tmp)
		break
	}
	n := &Native{opts: NativeOptions{Env: env}}
	return n.writeOutputs(ctx, st, req, op, x, res)
}
