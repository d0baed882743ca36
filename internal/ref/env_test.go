package ref

import (
	"context"
	"errors"
	"testing"

	"github.com/manyarch/manyarch/internal/store"
)

// An Env with HoldStore holds the store from its opening until ReleaseStore
// or Close: GC (here, in the same process) is refused while it does.
func TestEnvHoldStore(t *testing.T) {
	ctx := context.Background()
	env := &Env{StoreRoot: t.TempDir(), HoldStore: true}
	st, err := env.Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GC(ctx); !errors.Is(err, store.ErrGCWhileHeld) {
		t.Fatalf("GC while the Env holds the store = %v, want ErrGCWhileHeld", err)
	}
	env.ReleaseStore()
	if _, err := st.GC(ctx); err != nil {
		t.Fatalf("GC after ReleaseStore = %v", err)
	}
	env.Close() // releasing again is harmless

	env = &Env{StoreRoot: env.StoreRoot, HoldStore: true}
	if _, err := env.Store(ctx); err != nil {
		t.Fatal(err)
	}
	env.Close()
	if _, err := st.GC(ctx); err != nil {
		t.Fatalf("GC after Close = %v", err)
	}
	plain := &Env{StoreRoot: env.StoreRoot}
	defer plain.Close()
	if _, err := plain.Store(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GC(ctx); err != nil {
		t.Fatalf("GC while an Env without HoldStore has the store open = %v", err)
	}
}
