package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// tfile is one entry of a test layer.
type tfile struct {
	name string
	mode int64
	body string
	dir  bool
}

func layer(t testing.TB, files ...tfile) v1.Layer {
	t.Helper()
	l, err := tryLayer(files...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// tryLayer is a layer tar of files, or the error writing it.
func tryLayer(files ...tfile) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if f.dir {
			h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

func imageOf(t testing.TB, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

const dpkgText = `Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u4
Description: GNU C Library
 shared libraries

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
`

const apkText = `C:Q1abc=
P:musl
V:1.2.5-r0
A:x86_64
L:MIT
o:musl

P:busybox-binsh
V:1.36.1-r29
A:x86_64
L:GPL-2.0-only
o:busybox
`

func selfBinary(t testing.TB) []byte {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func find(inv *Inventory, typ, name string) *Package {
	for i, p := range inv.Packages {
		if p.Type == typ && p.Name == name {
			return &inv.Packages[i]
		}
	}
	return nil
}

func TestCatalog(t *testing.T) {
	ctx := context.Background()
	bin := string(selfBinary(t))
	img := imageOf(t,
		layer(t, tfile{name: "etc/os-release", mode: 0o644, body: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"},
			tfile{name: "var/lib/dpkg/status", mode: 0o644, body: dpkgText},
			tfile{name: "var/lib/dpkg/status.d/base-files", mode: 0o644, body: "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n"},
			tfile{name: "var/lib/dpkg/status.d/base-files.md5sums", mode: 0o644, body: "0123 etc/issue\n"},
			tfile{name: "bin/script", mode: 0o755, body: "#!/bin/sh\necho hi\n"}),
		layer(t, tfile{name: "usr/local/bin/app", mode: 0o755, body: bin},
			tfile{name: "usr/local/bin/app2", mode: 0o755, body: bin},
			tfile{name: "usr/share/app.bin", mode: 0o644, body: bin}), // not executable: not read
	)
	inv, err := Catalog(ctx, img)
	if err != nil {
		t.Fatalf("Catalog = %v", err)
	}
	if inv.Distro == nil || inv.Distro.ID != "debian" || inv.Distro.VersionID != "12" {
		t.Errorf("Distro = %+v, want debian 12", inv.Distro)
	}
	libc := find(inv, TypeDeb, "libc6")
	if libc == nil || libc.Version != "2.36-9+deb12u4" || libc.Source != "glibc" ||
		libc.PURL != "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc" {
		t.Errorf("libc6 = %+v, want version 2.36-9+deb12u4 from source glibc with its purl", libc)
	}
	if find(inv, TypeDeb, "tzdata") == nil || find(inv, TypeDeb, "base-files") == nil {
		t.Errorf("packages = %+v, want tzdata (status) and base-files (status.d)", inv.Packages)
	}
	if p := find(inv, TypeDeb, "oldpkg"); p != nil {
		t.Errorf("oldpkg = %+v, want it left out (config-files only, not installed)", p)
	}
	std := find(inv, TypeGolang, "stdlib")
	want := "pkg:golang/stdlib@" + strings.TrimPrefix(runtimeVersion(t), "go")
	if std == nil || std.PURL != want {
		t.Fatalf("stdlib = %+v, want purl %s", std, want)
	}
	if got := strings.Join(std.Locations, ","); got != "/usr/local/bin/app,/usr/local/bin/app2" {
		t.Errorf("stdlib locations = %s, want the two executables (not the 0644 copy)", got)
	}
	if p := find(inv, TypeGolang, "github.com/manyarch/manyarch"); p == nil {
		t.Errorf("packages = %+v, want the test binary's main module", inv.Packages)
	}
}

func runtimeVersion(t testing.TB) string {
	t.Helper()
	exe, _ := os.Executable()
	b, err := ReadBinary(exe)
	if err != nil {
		t.Fatal(err)
	}
	return b.Info.GoVersion
}

// The file a container sees is the one cataloged: an upper layer's
// whiteout, opaque directory or replacement hides the lower one.
func TestCatalogLayers(t *testing.T) {
	ctx := context.Background()
	base := layer(t, tfile{name: "var/lib/dpkg/status", mode: 0o644, body: dpkgText},
		tfile{name: "lib/apk/db/installed", mode: 0o644, body: apkText})
	for _, tt := range []struct {
		name  string
		upper v1.Layer
		deb   bool
		apk   bool
		newTZ bool
	}{
		{"none", layer(t, tfile{name: "etc/x", mode: 0o644, body: "x"}), true, true, false},
		{"whiteout", layer(t, tfile{name: "var/lib/dpkg/.wh.status", mode: 0o644}), false, true, false},
		{"opaque", layer(t, tfile{name: "lib/apk/db", dir: true}, tfile{name: "lib/apk/db/.wh..wh..opq", mode: 0o644}), true, false, false},
		{"parent removed", layer(t, tfile{name: "lib/.wh.apk", mode: 0o644}), true, false, false},
		{"replaced", layer(t, tfile{name: "var/lib/dpkg/status", mode: 0o644, body: "Package: tzdata\nStatus: install ok installed\nVersion: 2099a\n"}), true, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Catalog(ctx, imageOf(t, base, tt.upper))
			if err != nil {
				t.Fatal(err)
			}
			tz := find(inv, TypeDeb, "tzdata")
			if got := tz != nil; got != tt.deb {
				t.Errorf("Catalog found tzdata = %v, want %v", got, tt.deb)
			}
			if got := find(inv, TypeAPK, "musl") != nil; got != tt.apk {
				t.Errorf("Catalog found musl = %v, want %v", got, tt.apk)
			}
			if tz != nil && (tz.Version == "2099a") != tt.newTZ {
				t.Errorf("tzdata version %s, want the upper layer's only when it replaced the file", tz.Version)
			}
			if tt.newTZ && find(inv, TypeDeb, "libc6") != nil {
				t.Errorf("libc6 of the replaced status file still listed")
			}
		})
	}
}

func TestCatalogAPK(t *testing.T) {
	inv, err := Catalog(context.Background(), imageOf(t, layer(t,
		tfile{name: "etc/os-release", mode: 0o644, body: "ID=alpine\nVERSION_ID=3.20.3\n"},
		tfile{name: "lib/apk/db/installed", mode: 0o644, body: apkText})))
	if err != nil {
		t.Fatal(err)
	}
	p := find(inv, TypeAPK, "busybox-binsh")
	if p == nil || p.Source != "busybox" || p.License != "GPL-2.0-only" ||
		p.PURL != "pkg:apk/alpine/busybox-binsh@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3&origin=busybox" {
		t.Errorf("busybox-binsh = %+v", p)
	}
}

func TestCatalogBad(t *testing.T) {
	for _, tt := range []struct {
		name, path, body, want string
	}{
		{"dpkg no version", "var/lib/dpkg/status", "Package: a\nStatus: install ok installed\n", "/var/lib/dpkg/status: package a (paragraph 1) has no Version"},
		{"dpkg garbage", "var/lib/dpkg/status", "Package: a\nnot a field\n", "/var/lib/dpkg/status: paragraph 1: line \"not a field\""},
		{"apk garbage", "lib/apk/db/installed", "P:a\nV:1\nnonsense\n", "/lib/apk/db/installed: package 1: line \"nonsense\""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Catalog(context.Background(), imageOf(t, layer(t, tfile{name: tt.path, mode: 0o644, body: tt.body})))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Catalog = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestWriteInventory(t *testing.T) {
	inv, err := Catalog(context.Background(), imageOf(t, layer(t,
		tfile{name: "etc/os-release", mode: 0o644, body: "ID=alpine\nVERSION_ID=3.20.3\n"},
		tfile{name: "lib/apk/db/installed", mode: 0o644, body: apkText})))
	if err != nil {
		t.Fatal(err)
	}
	s := Subject{Name: "demo:1", Digest: "sha256:" + strings.Repeat("a", 64), Platform: "linux/amd64"}
	when := time.Unix(1700000000, 0)
	for _, format := range []string{FormatSPDX, FormatCycloneDX} {
		var a, b bytes.Buffer
		if err := WriteInventory(&a, format, s, inv, when); err != nil {
			t.Fatal(err)
		}
		if err := WriteInventory(&b, format, s, inv, when); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Errorf("%s: two writes differ", format)
		}
		var doc map[string]any
		if err := json.Unmarshal(a.Bytes(), &doc); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if !strings.Contains(a.String(), `"pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64\u0026distro=alpine-3.20.3"`) {
			t.Errorf("%s output lacks musl's purl:\n%s", format, a.String())
		}
	}
	var tb bytes.Buffer
	if err := WriteInventory(&tb, FormatTable, s, inv, when); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tb.String(), "musl           1.2.5-r0    apk   /lib/apk/db/installed") {
		t.Errorf("table =\n%s", tb.String())
	}
	if err := WriteInventory(&tb, "xml", s, inv, when); err == nil || !strings.Contains(err.Error(), `unknown SBOM format "xml"`) {
		t.Errorf("WriteInventory(xml) = %v", err)
	}
}

func TestGoPackages(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8 X:boringcrypto", Path: "example.com/app/cmd/app",
		Main: debug.Module{Path: "example.com/app", Version: "v1.2.3"},
		Deps: []*debug.Module{{Path: "golang.org/x/sys", Version: "v0.49.0"},
			{Path: "example.com/old", Version: "v1.0.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.0.1"}}}}
	inv := &Inventory{Packages: merge(located(goPackages(info), "/app"), nil)}
	var got []string
	for _, p := range inv.Packages {
		got = append(got, p.PURL)
	}
	want := "pkg:golang/example.com/app@v1.2.3 pkg:golang/example.com/fork@v1.0.1 pkg:golang/golang.org/x/sys@v0.49.0 pkg:golang/stdlib@1.26.8"
	if strings.Join(got, " ") != want {
		t.Errorf("goPackages purls = %v, want %s", got, want)
	}
	// go build main.go: no module, the main package's path stands for it.
	inv = &Inventory{Packages: merge(located(goPackages(&debug.BuildInfo{GoVersion: "go1.26.8", Path: "command-line-arguments"}), "/hello"), nil)}
	if p := find(inv, TypeGolang, "command-line-arguments"); p == nil || p.Version != "(devel)" || p.PURL != "pkg:golang/command-line-arguments" {
		t.Errorf("main of a module-less build = %+v", p)
	}
}
