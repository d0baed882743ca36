package verify

import (
	"context"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// scanner reads the layers of one Run: at most jobs at once, and each
// distinct layer digest once, however many platforms share it (a COPY of
// the same files on every platform). A scan is kept until every platform
// that uses the layer has applied it.
type scanner struct {
	sem    chan struct{}
	mu     sync.Mutex
	shared map[v1.Hash]*sharedScan
}

type sharedScan struct {
	done    chan struct{}
	started bool
	users   int // uses still to be released
	s       *layerScan
	err     error
}

// newScanner makes a scanner for layers used uses[digest] times.
func newScanner(jobs int, uses map[v1.Hash]int) *scanner {
	sc := &scanner{sem: make(chan struct{}, jobs), shared: make(map[v1.Hash]*sharedScan, len(uses))}
	for d, n := range uses {
		sc.shared[d] = &sharedScan{done: make(chan struct{}), users: n}
	}
	return sc
}

// scan returns the scan of layer l with digest d, reading it if no other
// platform has started to.
func (sc *scanner) scan(ctx context.Context, d v1.Hash, l v1.Layer) (*layerScan, error) {
	sc.mu.Lock()
	sh := sc.shared[d]
	owner := false
	if sh == nil {
		// Not counted up front: read it for this caller alone.
		sh = &sharedScan{done: make(chan struct{})}
		owner = true
	} else if !sh.started {
		sh.started = true
		owner = true
	}
	sc.mu.Unlock()
	if !owner {
		select {
		case <-sh.done:
			return sh.s, sh.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer close(sh.done)
	select {
	case sc.sem <- struct{}{}:
	case <-ctx.Done():
		sh.err = ctx.Err()
		return nil, sh.err
	}
	defer func() { <-sc.sem }()
	sh.s, sh.err = scanLayer(ctx, l)
	return sh.s, sh.err
}

// release says one platform is done with layer d; the last one lets the
// scan's records go.
func (sc *scanner) release(d v1.Hash) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sh := sc.shared[d]
	if sh == nil {
		return
	}
	sh.users--
	if sh.users <= 0 {
		delete(sc.shared, d)
	}
}
