//go:build linux

package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/testutil"
)

func TestHasRegistryHost(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"busybox", false},
		{"busybox:1.36", false},
		{"fixtures/busybox:1.35", false},
		{"demo/app", false},
		{"localhost/app", true},
		{"localhost:5000/app:1", true},
		{"127.0.0.1:5055/demo/app:1.0", true},
		{"registry.example.com/app", true},
		{"docker.io/library/busybox", true},
		{"localhost", false}, // the image "localhost" on Docker Hub, as docker reads it
	}
	for _, tt := range tests {
		if got := hasRegistryHost(tt.in); got != tt.want {
			t.Errorf("hasRegistryHost(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// storeHas reports whether `images` lists name.
func storeHas(t *testing.T, root, name string) bool {
	t.Helper()
	out := mustRun(t, root, "images", "--format", "{{.Name}}:{{.Tag}}")
	for _, l := range strings.Split(out, "\n") {
		if l == name {
			return true
		}
	}
	return false
}

func registryHas(t *testing.T, ref string) bool {
	t.Helper()
	ok, err := remote.Exists(context.Background(), ref, anon)
	if err != nil {
		t.Fatalf("Exists(%q) = %v", ref, err)
	}
	return ok
}

// TestRegistryHostRule: issue #22 item 1. A name with a registry host is the
// registry in copy, tag, index and inspect; store: names the store's copy;
// pull, push and build -t keep docker's reading; every message says where.
func TestRegistryHostRule(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	root := t.TempDir()
	importTwo(t, root, "demo:1")
	app := reg.Ref("demo/app:1.0")

	// Store → registry: the case, said in the message.
	out := mustRun(t, root, "copy", "demo:1", app)
	if !strings.Contains(out, "Copied demo:1 to registry "+reg.Host()+" as "+app) {
		t.Errorf("copy demo:1 %s printed %q, want it to name registry %s", app, out, reg.Host())
	}
	if !registryHas(t, app) || storeHas(t, root, app) {
		t.Errorf("copy to %s: in registry %v, in store %v; want the registry only", app, registryHas(t, app), storeHas(t, root, app))
	}
	// Registry → registry, as crane copy and skopeo copy.
	cp := reg.Ref("demo/app:copy")
	out = mustRun(t, root, "copy", app, cp)
	if !strings.Contains(out, "to registry "+reg.Host()) || !registryHas(t, cp) || storeHas(t, root, cp) {
		t.Errorf("copy %s %s printed %q; want it written to the registry only", app, cp, out)
	}
	// Without a host: the local store.
	out = mustRun(t, root, "copy", app, "demo:back")
	if !strings.Contains(out, "to the local store as demo:back") || !storeHas(t, root, "demo:back") {
		t.Errorf("copy %s demo:back printed %q, want it in the local store", app, out)
	}

	// tag: registry to registry (crane tag), store to registry.
	tagged := reg.Ref("demo/app:tagged")
	out = mustRun(t, root, "tag", cp, tagged)
	if !strings.Contains(out, "Tagged "+tagged+" in registry "+reg.Host()) || !registryHas(t, tagged) || storeHas(t, root, tagged) {
		t.Errorf("tag %s %s printed %q, want the tag in the registry only", cp, tagged, out)
	}
	// store:NAME keeps a registry name in the store (docker tag), and one-argument
	// push sends the store's copy (docker push).
	local := reg.Ref("demo/app:local")
	if out := mustRun(t, root, "tag", "demo:1", "store:"+local); out != "" || !storeHas(t, root, local) || registryHas(t, local) {
		t.Errorf("tag demo:1 store:%s printed %q; want it in the store only, silently as docker tag", local, out)
	}
	mustRun(t, root, "push", "-q", local)
	if !registryHas(t, local) {
		t.Errorf("push %s: the registry has no %s", local, local)
	}

	// inspect: the registry for a host name, the store's copy with store:.
	mustRun(t, root, "copy", "--platform", "linux/amd64", "demo:1", "store:"+reg.Ref("demo/app:only-local"))
	if _, _, err := runCLI(t, root, "inspect", reg.Ref("demo/app:only-local")); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("inspect %s (in the store only) = %v, want the registry's not found", reg.Ref("demo/app:only-local"), err)
	}
	if v := inspectJSON(t, root, "store:"+reg.Ref("demo/app:only-local")); v.Platform != "linux/amd64" {
		t.Errorf("inspect store:%s = %+v, want the store's amd64 image", reg.Ref("demo/app:only-local"), v)
	}

	// index: sources and target in the registry.
	mustRun(t, root, "copy", "--platform", "linux/arm64", "demo:1", reg.Ref("demo/one:arm64"))
	idx := reg.Ref("demo/idx:1")
	out = mustRun(t, root, "index", "create", idx, reg.Ref("demo/one:arm64"))
	if !strings.Contains(out, "Wrote "+idx+" to registry "+reg.Host()) || !registryHas(t, idx) || storeHas(t, root, idx) {
		t.Errorf("index create %s printed %q, want it in the registry only", idx, out)
	}

	// pull keeps the full name in the store, as docker pull.
	mustRun(t, root, "pull", "-q", tagged)
	if !storeHas(t, root, tagged) {
		t.Errorf("pull %s: the store has no %s", tagged, tagged)
	}
}

func TestNotPushedHint(t *testing.T) {
	for _, tc := range []struct {
		tag  string
		push bool
		want bool
	}{
		{"app:1", false, false},
		{"localhost:5000/app:1", false, true},
		{"localhost:5000/app:1", true, false},
		{"registry.example.com/app", false, true},
	} {
		if got := notPushedHint(tc.tag, tc.push) != ""; got != tc.want {
			t.Errorf("notPushedHint(%q, %v) = %q, want a hint %v", tc.tag, tc.push, notPushedHint(tc.tag, tc.push), tc.want)
		}
	}
}

// TestWriteErrorsSayTheirPrefixOnce: issue #22 item 12. A refused push
// says "pushing REF" once, in every command that writes a registry.
func TestWriteErrorsSayTheirPrefixOnce(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.RegistryOptions{Username: "alice", Password: "x"})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	root := t.TempDir()
	importTwo(t, root, "demo:1")
	dst := reg.Ref("a/b:1")
	for _, args := range [][]string{
		{"push", "demo:1", dst},
		{"copy", "demo:1", dst},
		{"tag", "demo:1", dst},
		{"index", "create", dst, "demo:1"},
	} {
		_, _, err := runCLI(t, root, args...)
		if err == nil {
			t.Fatalf("%v without credentials succeeded", args)
		}
		msg := err.Error()
		if n := strings.Count(msg, dst); n != 1 || strings.Contains(msg, "writing docker://") {
			t.Errorf("%v = %q: names %s %d times, want once", args, msg, dst, n)
		}
	}
}
