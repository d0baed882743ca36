//go:build linux

package cli

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/testutil"
)

// imagesJSON runs `manyarch images --format json` and returns its rows and
// stderr.
func imagesJSON(t *testing.T, root string) ([]imageSummary, string) {
	t.Helper()
	out, stderr, err := runCLI(t, root, "images", "--format", "json")
	if err != nil {
		t.Fatalf("manyarch images: %v\n%s", err, stderr)
	}
	var rows []imageSummary
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("images --format json: %v\n%s", err, out)
	}
	return rows, stderr
}

func findRow(rows []imageSummary, name, tag string) *imageSummary {
	for i := range rows {
		if rows[i].Name == name && rows[i].Tag == tag {
			return &rows[i]
		}
	}
	return nil
}

// TestPullByDigest: issue #24 item 1. A pull by digest records a digest
// record (NAME@DIGEST, no tag) that every store command reads back; a
// NAME:TAG@DIGEST pull tags NAME:TAG and records the digest.
func TestPullByDigest(t *testing.T) {
	src := busyboxStore(t, "linux/amd64=amd64", "linux/arm64=arm64")
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	mustRun(t, src, "push", "-q", "t/busybox:1", reg.Ref("bb:1"))
	d := headDigest(t, reg.Ref("bb:1")).String()
	repo := reg.Ref("bb")
	byDigest := repo + "@" + d

	root := t.TempDir()
	if out := mustRun(t, root, "pull", byDigest); !strings.Contains(out, "Pulled "+byDigest+"\n") {
		t.Errorf("pull %s printed %q, want the digest record's name", byDigest, out)
	}

	// images: the whole store lists, the record as NAME <none> with its digest.
	rows, _ := imagesJSON(t, root)
	r := findRow(rows, repo, "")
	if len(rows) != 1 || r == nil || r.RepoDigest != d || r.Digest != d || len(r.Platforms) != 2 {
		t.Fatalf("images after pull by digest = %+v, want one row %s, no tag, repoDigest %s, 2 platforms", rows, repo, d)
	}
	out := mustRun(t, root, "images")
	if !strings.Contains(out, "<none>") || strings.Contains(out, d) {
		t.Errorf("images =\n%s\nwant TAG <none> and the short digest only", out)
	}
	if out := mustRun(t, root, "images", "--digests"); !strings.Contains(out, "REPO DIGEST") || !strings.Contains(out, d) {
		t.Errorf("images --digests =\n%s\nwant the REPO DIGEST column with %s", out, d)
	}

	// inspect, run and test take NAME@DIGEST back, from the store (inspect
	// by store:, as a name with a registry host is the registry there).
	if v := inspectJSON(t, root, "store:"+byDigest); v.Digest != d || len(v.Manifests) != 2 {
		t.Errorf("inspect %s = %s with %d manifests, want %s with 2", byDigest, v.Digest, len(v.Manifests), d)
	}
	if out, stderr, code := runManyarch(t, "", "--root", root, "run", "--network", "none", byDigest, "echo", "ran"); code != 0 || out != "ran\n" {
		t.Errorf("run %s = %q, exit %d, want ran\n%s", byDigest, out, code, stderr)
	}
	cst := filepath.Join(t.TempDir(), "t.yaml")
	if err := os.WriteFile(cst, []byte("schemaVersion: 2.0.0\nfileExistenceTests:\n- {name: sh, path: /bin/sh, shouldExist: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runManyarch(t, "", "--root", root, "test", byDigest, "-c", cst, "--platform", "linux/amd64"); code != 0 {
		t.Errorf("test %s: exit %d\n%s", byDigest, code, stderr)
	}

	// By tag: a tag row beside the record, which --digests links to it.
	mustRun(t, root, "pull", "-q", reg.Ref("bb:1"))
	rows, _ = imagesJSON(t, root)
	if r := findRow(rows, repo, "1"); len(rows) != 2 || r == nil || r.RepoDigest != d {
		t.Errorf("images after pull by tag = %+v, want a row %s:1 with repoDigest %s", rows, repo, d)
	}

	// By both, in a new store: tagged NAME:TAG and the digest recorded.
	both := t.TempDir()
	out = mustRun(t, both, "pull", reg.Ref("bb:2")+"@"+d)
	if !strings.Contains(out, "Pulled "+reg.Ref("bb:2")+"\n") || !strings.Contains(out, "Pulled "+byDigest+"\n") {
		t.Errorf("pull NAME:TAG@DIGEST printed %q, want both names", out)
	}
	rows, _ = imagesJSON(t, both)
	if len(rows) != 2 || findRow(rows, repo, "2") == nil || findRow(rows, repo, "") == nil {
		t.Errorf("images after pull NAME:TAG@DIGEST = %+v, want %s:2 and %s", rows, repo, byDigest)
	}
	// The digest is checked: a digest the repository does not have tags nothing.
	wrong := "sha256:" + strings.Repeat("0", 64)
	if _, _, err := runCLI(t, both, "pull", reg.Ref("bb:3")+"@"+wrong); err == nil {
		t.Errorf("pull of %s:3@%s succeeded", repo, wrong)
	}
	if rows, _ = imagesJSON(t, both); findRow(rows, repo, "3") != nil {
		t.Errorf("a failed NAME:TAG@DIGEST pull tagged %s:3", repo)
	}
	// A registry (here a proxy) serving other content for the digest: refused,
	// nothing tagged.
	proxy := testutil.StartFaultProxy(t, reg.Host(), testutil.Fault{
		Method: http.MethodGet, Path: "/manifests/", Kind: testutil.FaultRewrite, Times: -1,
		Rewrite: func(b []byte) []byte { return append(b, ' ') }, // still JSON, another digest
	})
	lying := t.TempDir()
	if _, _, err := runCLI(t, lying, "pull", proxy.Host()+"/bb:1@"+d); !errors.Is(err, remote.ErrDigestMismatch) {
		t.Errorf("pull NAME:TAG@DIGEST through a corrupting proxy = %v, want ErrDigestMismatch", err)
	}
	if rows, _ = imagesJSON(t, lying); len(rows) != 0 {
		t.Errorf("a pull refused for its digest left names: %+v", rows)
	}

	// One platform by digest: the record names the arm64 image pulled,
	// and inspect reads that from the store, not the registry's index.
	one := t.TempDir()
	mustRun(t, one, "pull", "-q", "--platform", "linux/arm64", byDigest)
	v := inspectJSON(t, one, "store:"+byDigest)
	if v.Platform != "linux/arm64" || v.Digest == d {
		t.Errorf("inspect %s after pull --platform linux/arm64 = %s %s, want the arm64 image", byDigest, v.Platform, v.Digest)
	}
	if out := mustRun(t, one, "images", "--digests"); !strings.Contains(out, d) || !strings.Contains(out, "linux/arm64") {
		t.Errorf("images --digests =\n%s\nwant repo digest %s on the arm64 image", out, d)
	}

	// rmi NAME@DIGEST removes the record alone; gc keeps the tag's blobs.
	if out := mustRun(t, root, "rmi", byDigest); !strings.Contains(out, "Untagged: "+byDigest) {
		t.Errorf("rmi %s printed %q", byDigest, out)
	}
	rows, _ = imagesJSON(t, root)
	if r := findRow(rows, repo, "1"); len(rows) != 1 || r == nil || r.RepoDigest != "" {
		t.Errorf("images after rmi %s = %+v, want %s:1 alone, no repo digest", byDigest, rows, repo)
	}
	if _, _, err := runCLI(t, root, "rmi", byDigest); err == nil || !strings.Contains(err.Error(), byDigest) {
		t.Errorf("second rmi %s = %v, want an error naming it", byDigest, err)
	}
	mustRun(t, root, "gc")
	if v := inspectJSON(t, root, "store:"+reg.Ref("bb:1")); v.Digest != d {
		t.Errorf("inspect %s after gc = %s, want %s", reg.Ref("bb:1"), v.Digest, d)
	}
	mustRun(t, both, "rmi", byDigest, reg.Ref("bb:2"))
	if out := mustRun(t, both, "gc"); !strings.Contains(out, "Deleted 0 blobs") {
		t.Logf("gc: %s", out) // rmi prunes already
	}
	if ents, err := os.ReadDir(filepath.Join(both, "blobs", "sha256")); err != nil || len(ents) != 0 {
		t.Errorf("after removing every name the store keeps %d blobs (%v)", len(ents), err)
	}
}

// TestImagesSkipsUnreadable: one entry `images` cannot read (a name whose
// digest part is not a digest, a manifest that is missing) is skipped with a
// warning naming it; the rest is listed.
func TestImagesSkipsUnreadable(t *testing.T) {
	root := t.TempDir()
	importTwo(t, root, "t/good:1")
	p := filepath.Join(root, "index.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m v1.IndexManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	good := m.Manifests[0]
	badName := good
	badName.Annotations = map[string]string{"org.opencontainers.image.ref.name": "t/odd@sha256@sha256:" + good.Digest.Hex}
	missing := good
	missing.Digest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	missing.Annotations = map[string]string{"org.opencontainers.image.ref.name": "t/missing:1"}
	m.Manifests = append(m.Manifests, badName, missing)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rows, stderr := imagesJSON(t, root)
	if len(rows) != 1 || findRow(rows, "t/good", "1") == nil {
		t.Errorf("images = %+v, want t/good:1 alone", rows)
	}
	for _, n := range []string{"t/odd@sha256@sha256:", "t/missing:1"} {
		if !strings.Contains(stderr, "warning: skipping \""+n) {
			t.Errorf("images stderr = %q, want a warning naming %s", stderr, n)
		}
	}
	out, _, err := runCLI(t, root, "images")
	if err != nil || !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool { return strings.HasPrefix(l, "t/good ") }) {
		t.Errorf("images table = %q, %v, want the t/good row", out, err)
	}
	// The warning's advice works, even for a name that is no reference.
	odd := badName.Annotations["org.opencontainers.image.ref.name"]
	mustRun(t, root, "rmi", "--no-prune", odd, "t/missing:1")
	if rows, stderr := imagesJSON(t, root); len(rows) != 1 || stderr != "" {
		t.Errorf("images after rmi of the unreadable names = %+v, stderr %q, want t/good:1 and no warning", rows, stderr)
	}
}

func TestSplitName(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct{ in, repo, tag, digest string }{
		{"busybox:1.36", "busybox", "1.36", ""},
		{"127.0.0.1:5000/bb:1", "127.0.0.1:5000/bb", "1", ""},
		{"127.0.0.1:5000/bb@" + d, "127.0.0.1:5000/bb", "", d},
		{"localhost:5000/bb:2@" + d, "localhost:5000/bb", "2", d},
		{"latest", "latest", "", ""}, // a name another tool wrote
	} {
		repo, tag, digest, err := splitName(tc.in)
		if err != nil || repo != tc.repo || tag != tc.tag || digest != tc.digest {
			t.Errorf("splitName(%q) = %q, %q, %q, %v, want %q, %q, %q", tc.in, repo, tag, digest, err, tc.repo, tc.tag, tc.digest)
		}
	}
	if _, _, _, err := splitName("bb@sha256@sha256:" + strings.Repeat("ab", 32)); err == nil {
		t.Errorf("splitName of a broken digest name succeeded")
	}
}
