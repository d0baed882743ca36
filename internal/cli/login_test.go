package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Logins (and logouts) of many registries at once all land: each reads
// config.json, changes its own entry and writes the file back, and without
// the lock on the config's directory the later write dropped what the
// earlier added.
func TestConcurrentDockerConfigEdits(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "docker")
	t.Setenv("DOCKER_CONFIG", dir)
	const n = 16
	edit := func(login bool) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := fmt.Sprintf("registry-%d.example:5000", i)
				_, errs[i] = editDockerConfig(context.Background(), func(auths map[string]json.RawMessage) (bool, error) {
					if !login {
						_, had := auths[key]
						delete(auths, key)
						return had, nil
					}
					auths[key] = json.RawMessage(`{"auth":"dTpw"}`)
					return true, nil
				}, key)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("edit %d: %v", i, err)
			}
		}
	}
	auths := func() map[string]json.RawMessage {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct{ Auths map[string]json.RawMessage }
		if err := json.Unmarshal(b, &cfg); err != nil {
			t.Fatal(err)
		}
		return cfg.Auths
	}
	edit(true)
	if got := len(auths()); got != n {
		t.Fatalf("after %d logins at once config.json holds %d registries, want %d", n, got, n)
	}
	edit(false)
	if got := auths(); len(got) != 0 {
		t.Fatalf("after %d logouts at once config.json still holds %d registries", n, len(got))
	}
	fi, err := os.Stat(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config.json has mode %v, want 0600", fi.Mode().Perm())
	}
}
