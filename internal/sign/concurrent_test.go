package sign

import (
	"context"
	"fmt"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/testutil"
)

// Signers of one image at once, in the store and in a layout, all land:
// each reads the signature image (or referrers index) it extends, and
// without the tags' locks the later write dropped what the earlier added.
func TestConcurrentSigners(t *testing.T) {
	ctx := context.Background()
	env, key, _ := testKeys(t)
	const signers = 6
	for _, place := range []string{"app:1", "oci:" + t.TempDir() + ":1"} {
		for _, f := range []Format{Bundle, Legacy} {
			t.Run(fmt.Sprintf("%s/%s", place[:3], f), func(t *testing.T) {
				idx := testutil.PlatformIndex(t, 1, 256, "linux/amd64", "linux/arm64")
				r, err := ref.Parse(place)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ref.Write(ctx, env, r, idx); err != nil {
					t.Fatal(err)
				}
				repo, err := RepositoryOf(r)
				if err != nil {
					t.Fatal(err)
				}
				ts := targets(t, idx)
				var wg sync.WaitGroup
				errs := make([]error, signers)
				for i := range signers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = Sign(ctx, env, repo, ts, key, f)
					}()
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("signer %d: %v", i, err)
					}
				}
				for _, tg := range ts {
					if n := countSignatures(t, ctx, env, repo, tg.Digest(), f); n != signers {
						t.Errorf("%s: %d signatures after %d signers at once, want %d", tg.Name, n, signers, signers)
					}
				}
			})
		}
	}
}

// countSignatures counts the signatures of d in p in form f: layers of
// the .sig image, or referrers.
func countSignatures(t *testing.T, ctx context.Context, env *ref.Env, p Repository, d v1.Hash, f Format) int {
	t.Helper()
	if f == Bundle {
		refs, err := p.referrers(ctx, env, d)
		if err != nil {
			t.Fatal(err)
		}
		return len(refs)
	}
	a, err := p.read(ctx, env, SigTag(d))
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.(v1.Image).Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return len(m.Layers)
}
