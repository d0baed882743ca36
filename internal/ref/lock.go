package ref

import (
	"context"
	"os"
	"path/filepath"
	"slices"

	"github.com/manyarch/manyarch/internal/store"
)

// LockNames holds store.LockNames on the local references among refs (store
// names, and OCI layout tags in their layouts) until the returned function
// is called: for a read-modify-write of what they name, such as `index
// append`, so that two at once both land. Registry and archive references
// are not locked: a registry has no lock to take, and an archive is
// rewritten whole.
func LockNames(ctx context.Context, env *Env, refs ...Reference) (func(), error) {
	byRoot := map[string][]string{}
	stores := map[string]*store.Store{}
	for _, r := range refs {
		var (
			st   *store.Store
			name string
			err  error
		)
		switch r.Transport {
		case Store:
			if r.Digest() != "" {
				continue // never written
			}
			st, err = env.Store(ctx)
			name = r.Name
		case OCI:
			if _, err := os.Stat(filepath.Join(r.Path, "oci-layout")); err != nil {
				continue // no layout yet: no name in it to edit, and Open would make one
			}
			st, err = store.Open(ctx, r.Path)
			name = layoutTag(r)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		stores[st.Root()] = st
		byRoot[st.Root()] = append(byRoot[st.Root()], name)
	}
	roots := make([]string, 0, len(byRoot))
	for root := range byRoot {
		roots = append(roots, root)
	}
	slices.Sort(roots) // one order, so two callers cannot deadlock
	var unlocks []func()
	unlock := func() {
		for i := len(unlocks) - 1; i >= 0; i-- {
			unlocks[i]()
		}
	}
	for _, root := range roots {
		u, err := stores[root].LockNames(ctx, byRoot[root]...)
		if err != nil {
			unlock()
			return nil, err
		}
		unlocks = append(unlocks, u)
	}
	return unlock, nil
}
