package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLockNames(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	unlock, err := s.LockNames(ctx, "app:1", "app:2", "app:1") // a name twice: no self-deadlock
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if u, err := s.LockNames(short, "app:2"); !errors.Is(err, context.DeadlineExceeded) {
		if u != nil {
			u()
		}
		t.Fatalf("LockNames of a held name = %v, want it to wait until the deadline", err)
	}
	other, err := s.LockNames(ctx, "app:3")
	if err != nil {
		t.Fatalf("LockNames of another name while app:1 and app:2 are held = %v", err)
	}
	other()
	got := make(chan error, 1)
	go func() {
		u, err := s.LockNames(ctx, "app:2", "app:1")
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("LockNames returned (%v) while the names were held", err)
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("LockNames after the unlock = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LockNames still waits after the unlock")
	}
	if _, err := s.LockNames(ctx, "../x:1"); err == nil {
		t.Error("LockNames of an invalid name succeeded")
	}
}
