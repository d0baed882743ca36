//go:build linux

package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/testutil"
)

// storeState is what a user has stored: every blob file and every name's digest.
func storeState(t *testing.T, root string) (int, map[string]string) {
	t.Helper()
	n := len(blobSet(t, root))
	var idx v1.IndexManifest
	b, err := os.ReadFile(filepath.Join(root, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, d := range idx.Manifests {
		names[d.Annotations["org.opencontainers.image.ref.name"]] = d.Digest.String()
	}
	return n, names
}

func blobSet(t *testing.T, root string) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	filepath.WalkDir(filepath.Join(root, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			set[d.Name()] = true
		}
		return nil
	})
	return set
}

// Issue #25, "done when": nothing the user stored is lost when a pull meets
// a hostile registry (the stalls, resets and 5xx answers are tested, faster,
// in internal/remote).
func TestPullFromEvilRegistryKeepsStore(t *testing.T) {
	root := t.TempDir()
	importTwo(t, root, "demo:1")
	img := testutil.PlatformImage(t, "linux/arm64", 2, 32<<10)
	good := testutil.StartEvilRegistry(t, img, testutil.AttackNone)
	mustRun(t, root, "pull", "-q", good.Ref())
	blobs, names := storeState(t, root)
	have := blobSet(t, root)
	for _, tt := range []struct {
		attack testutil.Attack
		want   string
	}{
		{testutil.AttackRedirectLoop, "stopped after 10 redirects"},
		{testutil.AttackHugeManifest, "over the 4.0 MiB limit"},
		{testutil.AttackHugeManifestChunked, "over the 4.0 MiB limit"},
		{testutil.AttackHugeConfig, "declares 10737418240 bytes"},
		{testutil.AttackLongBlob, "over the"},
	} {
		// A new image each time: blobs the store holds are not fetched again.
		evil := testutil.StartEvilRegistry(t, testutil.PlatformImage(t, "linux/arm64", 2, 32<<10), tt.attack)
		_, _, err := runCLI(t, root, "pull", "-q", evil.Ref())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("pull from an evil registry (%s) = %v, want an error naming %q", tt.want, err, tt.want)
		}
		// A pull that fails after some blobs may leave those (unnamed:
		// the next gc takes them), but never loses one.
		after := blobSet(t, root)
		for h := range have {
			if !after[h] {
				t.Errorf("after the attack (%s): blob %s is gone", tt.want, h)
			}
		}
		if _, n := storeState(t, root); len(n) != len(names) {
			t.Errorf("after the attack (%s): %d names, want %d", tt.want, len(n), len(names))
		} else {
			for k, v := range names {
				if n[k] != v {
					t.Errorf("after the attack (%s): %s is %s, want %s", tt.want, k, n[k], v)
				}
			}
		}
	}
	// And a gc afterwards removes nothing the user named.
	mustRun(t, root, "gc")
	if b, n := storeState(t, root); b != blobs || len(n) != len(names) {
		t.Errorf("gc after the attacks left %d blobs and %d names, want %d and %d", b, len(n), blobs, len(names))
	}
	mustRun(t, root, "check")
}

// Issue #25 item 9: `manyarch check` finds a corrupt layer, names the image,
// exits non-zero, and --repair fetches it again from where it was pulled.
func TestCheckRepair(t *testing.T) {
	root := t.TempDir()
	importTwo(t, root, "demo:1")
	img := testutil.PlatformImage(t, "linux/arm64", 2, 32<<10)
	reg := testutil.StartEvilRegistry(t, img, testutil.AttackNone)
	mustRun(t, root, "pull", "-q", reg.Ref())
	name := strings.TrimSuffix(reg.Ref(), ":latest") + ":latest"

	out := mustRun(t, root, "check")
	if !strings.Contains(out, "The store is sound") {
		t.Errorf("check on a sound store:\n%s", out)
	}
	help := mustRun(t, root, "check", "--help")
	if !strings.Contains(help, "manyarch check --repair") {
		t.Errorf("check --help has no example:\n%s", help)
	}

	ls, _ := img.Layers()
	h, _ := ls[0].Digest()
	p := filepath.Join(root, "blobs", "sha256", h.Hex)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := storeState(t, root)

	out, _, err = runCLI(t, root, "check")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 1 || !strings.Contains(out, "corrupt-blob") || !strings.Contains(out, name) || !strings.Contains(out, h.String()) {
		t.Errorf("check on a corrupt layer = %v\n%s\nwant exit 1 naming %s and %s", err, out, h, name)
	}
	out, _, _ = runCLI(t, root, "check", "--format", "json")
	var res checkResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Problems) != 1 || res.Problems[0].Kind != "corrupt-blob" ||
		len(res.Problems[0].Sources) != 1 || !strings.HasSuffix(res.Problems[0].Sources[0], "/evil/img") {
		t.Errorf("check --format json = %v\n%s\nwant one corrupt-blob with its source", err, out)
	}
	if after, _ := storeState(t, root); after != before {
		t.Errorf("check without --repair changed the store: %d blobs, want %d", after, before)
	}

	out = mustRun(t, root, "check", "--repair")
	if !strings.Contains(out, "fetched again from") || !strings.Contains(out, "The store is sound") {
		t.Errorf("check --repair:\n%s", out)
	}
	if after, _ := storeState(t, root); after != before {
		t.Errorf("after the repair: %d blobs, want %d", after, before)
	}
	mustRun(t, root, "check")
}

// Issue #25 item 9: gc and prune refuse a store whose index.json they cannot
// fully read, name the file, and remove nothing (before: every blob went).
func TestGCPruneRefuseDamagedIndex(t *testing.T) {
	root := t.TempDir()
	importTwo(t, root, "demo:1")
	before, _ := storeState(t, root)
	if err := os.WriteFile(filepath.Join(root, "index.json"), []byte("null"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"gc", "prune"} {
		_, _, err := runCLI(t, root, cmd)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "index.json")) || !strings.Contains(err.Error(), "nothing was removed") {
			t.Errorf("%s on a null index.json = %v, want an error naming the file", cmd, err)
		}
		n := 0
		filepath.WalkDir(filepath.Join(root, "blobs"), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				n++
			}
			return nil
		})
		if n != before {
			t.Errorf("%s on a null index.json: %d blobs left, want %d", cmd, n, before)
		}
	}
	out, _, err := runCLI(t, root, "check")
	if err == nil || !strings.Contains(out, "damaged-index") {
		t.Errorf("check on a null index.json = %v\n%s\nwant damaged-index and a non-zero exit", err, out)
	}
}
