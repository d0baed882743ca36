package imagetest

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// layeredImage has three layers exercising whiteouts, opaque directories,
// replaced directories, symbolic and hard links.
func layeredImage(t testing.TB) v1.Image {
	base := layer(t,
		dir("etc/", 0o755),
		file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644),
		file("etc/gone", "deleted above\n", 0o644),
		dir("opaque/", 0o755),
		file("opaque/old", "hidden by an opaque dir\n", 0o644),
		dir("replaced/", 0o755),
		file("replaced/child", "hidden: the dir became a file\n", 0o644),
		entry{name: "bin/tool", body: "#!/bin/sh\n", mode: 0o4750, uid: 0, gid: 42},
		entry{name: "bin/hard", typ: tar.TypeLink, link: "bin/tool", mode: 0o4750, gid: 42},
		symlink("bin/sh", "busybox"),
		file("bin/busybox", "busybox binary", 0o755),
		symlink("lib", "usr/lib"),
		file("usr/lib/libc.so", "libc", 0o644),
		dir("tmp/", 0o1777),
		file("usr/share/doc/good/copyright", "MIT License\n", 0o644),
		file("usr/share/doc/bad/copyright", "GNU Affero General Public License (AGPL) v3\n", 0o644),
		file("usr/share/doc/libgnutls30/copyright", "LGPL, some WTFPL bits\n", 0o644),
		dir("usr/share/doc/nocopyright/", 0o755),
	)
	middle := layer(t,
		file("etc/.wh.gone", "", 0o644),
		file("opaque/.wh..wh..opq", "", 0o644),
		file("opaque/new", "new\n", 0o644),
		file("replaced", "now a file\n", 0o600),
		file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n", 0o644),
	)
	top := layer(t,
		file("etc/hostname", "h\n", 0o644),
		file("usr/share/doc/.wh.nocopyright", "", 0o644),
	)
	return image(t, "linux/arm64", v1.Config{}, base, middle, top)
}

func TestFlatFS(t *testing.T) {
	f, err := newFlatFS(context.Background(), layeredImage(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path   string
		follow bool
		exists bool
		mode   string
	}{
		{"/etc/passwd", false, true, "-rw-r--r--"},
		{"/etc/gone", false, false, ""},
		{"/opaque/old", false, false, ""},
		{"/opaque/new", false, true, "-rw-r--r--"},
		{"/replaced", false, true, "-rw-------"},
		{"/replaced/child", false, false, ""},
		{"/bin/sh", false, true, "Lrwxrwxrwx"},
		{"/bin/sh", true, true, "-rwxr-xr-x"},
		{"/bin/tool", false, true, "urwxr-x---"},
		{"/bin/hard", false, true, "urwxr-x---"},
		{"/lib/libc.so", false, true, "-rw-r--r--"},
		{"/tmp", false, true, "dtrwxrwxrwx"},
		{"/usr/share", false, true, "drwxr-xr-x"}, // only implied by its children
		{"/", false, true, "drwxr-xr-x"},
		{"/usr/share/doc/nocopyright", false, false, ""},
		{"/etc/../etc/./hostname", false, true, "-rw-r--r--"},
	} {
		e, err := f.lookup(c.path, c.follow)
		if (err == nil) != c.exists {
			t.Errorf("lookup(%q, %v) err = %v, want exists=%v", c.path, c.follow, err, c.exists)
			continue
		}
		if c.exists && e.mode().String() != c.mode {
			t.Errorf("lookup(%q, %v) mode = %s, want %s", c.path, c.follow, e.mode(), c.mode)
		}
	}
	names, err := f.readDir("/opaque")
	if err != nil || !slices.Equal(names, []string{"new"}) {
		t.Errorf("readDir(/opaque) = %q, %v, want [new]", names, err)
	}
	data, errs, err := f.readFiles(context.Background(), []string{"/etc/passwd", "/bin/hard", "/lib/libc.so", "/bin/sh", "/etc", "/nope"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data["/etc/passwd"]), "nobody") {
		t.Errorf("/etc/passwd = %q, want the middle layer's", data["/etc/passwd"])
	}
	if string(data["/bin/hard"]) != "#!/bin/sh\n" || string(data["/lib/libc.so"]) != "libc" || string(data["/bin/sh"]) != "busybox binary" {
		t.Errorf("hard link, symlinked dir, symlink = %q, %q, %q", data["/bin/hard"], data["/lib/libc.so"], data["/bin/sh"])
	}
	if errs["/etc"] == nil || errs["/nope"] == nil {
		t.Errorf("errors for a directory and a missing file = %v, %v", errs["/etc"], errs["/nope"])
	}
}

func TestFileTests(t *testing.T) {
	img := layeredImage(t)
	c := mustParse(t, `schemaVersion: 2.0.0
fileExistenceTests:
- {name: passwd, path: /etc/passwd, permissions: "-rw-r--r--", uid: 0, gid: 0}
- {name: gone, path: /etc/gone, shouldExist: false}
- {name: gone but should exist, path: /etc/gone}
- {name: present but should not, path: /etc/passwd, shouldExist: false}
- {name: wrong permissions, path: /etc/passwd, permissions: "-rwxrwxrwx"}
- {name: wrong uid, path: /bin/tool, uid: 7}
- {name: wrong gid, path: /bin/tool, gid: 7}
- {name: gid, path: /bin/tool, gid: 42, isExecutableBy: group}
- {name: not executable by other, path: /bin/tool, isExecutableBy: other}
- {name: executable by any, path: /bin/busybox, isExecutableBy: any}
- {name: owner, path: /bin/busybox, isExecutableBy: owner}
- {name: platform path, path: "/{{.Arch}}", shouldExist: false}
fileContentTests:
- {name: passwd, path: /etc/passwd, expectedContents: ["^root:", "nobody:x:65534"], excludedContents: ["daemon"]}
- {name: missing content, path: /etc/passwd, expectedContents: ["daemon"]}
- {name: excluded content, path: /etc/passwd, excludedContents: ["nob.dy"]}
- {name: missing file, path: /etc/gone, expectedContents: ["."]}
- {name: through symlink, path: /lib/libc.so, expectedContents: ["^libc$"]}
licenseTests:
- {debian: true}
- {debian: false, files: [/usr/share/doc/good/copyright]}
- {debian: false, files: [/usr/share/doc/good/copyright, /nope]}
`)
	r := run(t, img, nil, []*Config{c})
	want := map[string]Status{
		"File Existence Test: passwd": StatusPass, "File Existence Test: gone": StatusPass, "File Existence Test: gone but should exist": StatusFail,
		"File Existence Test: present but should not": StatusFail, "File Existence Test: wrong permissions": StatusFail,
		"File Existence Test: wrong uid": StatusFail, "File Existence Test: wrong gid": StatusFail, "File Existence Test: gid": StatusPass,
		"File Existence Test: not executable by other": StatusFail, "File Existence Test: executable by any": StatusPass,
		"File Existence Test: owner": StatusPass, "File Existence Test: platform path": StatusPass,
		"File Content Test: passwd": StatusPass, "File Content Test: missing content": StatusFail, "File Content Test: excluded content": StatusFail,
		"File Content Test: missing file": StatusFail, "File Content Test: through symlink": StatusPass,
	}
	for i, tt := range r.Tests {
		got := r.Results[i][0]
		if tt.Kind == KindLicense {
			continue
		}
		if got.Status != want[tt.Name] {
			t.Errorf("%s: %s %+v, want %s", tt.Name, got.Status, got.Failures, want[tt.Name])
		}
	}
	lic := r.Results[len(r.Tests)-3:]
	if lic[0][0].Status != StatusFail || len(lic[0][0].Failures) != 1 || !strings.Contains(lic[0][0].Failures[0].Message, "/usr/share/doc/bad/copyright, license contains AGPL") {
		t.Errorf("debian license test = %+v, want one failure for bad's AGPL (libgnutls30 is allowed, nocopyright is whited out)", lic[0][0])
	}
	if lic[1][0].Status != StatusPass || lic[2][0].Status != StatusFail {
		t.Errorf("license files tests = %s, %s, want pass, fail", lic[1][0].Status, lic[2][0].Status)
	}
	msgs := ""
	for _, f := range r.Results[4][0].Failures {
		msgs += f.Message
	}
	if !strings.Contains(msgs, "/etc/passwd has incorrect permissions. Expected: -rwxrwxrwx, Actual: -rw-r--r--") {
		t.Errorf("permissions failure = %q", msgs)
	}
}

func TestMetadataTest(t *testing.T) {
	cfg := v1.Config{
		Env:          []string{"PATH=/usr/bin:/bin", "EMPTY=", "VERSION=1.2.3"},
		Entrypoint:   []string{"/hello"},
		Cmd:          []string{"--greet", "world"},
		WorkingDir:   "/app",
		User:         "1000:1000",
		Labels:       map[string]string{"org.opencontainers.image.title": "hello", "build": "2026-11-23"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}},
		Volumes:      map[string]struct{}{"/data": {}},
	}
	img := index(t, image(t, "linux/arm/v7", cfg, layer(t)), image(t, "linux/arm64", cfg, layer(t)))
	cases := []struct {
		name, yaml string
		want       []string // failure substrings, one per failure; none = pass
	}{
		{"all pass", `
  envVars: [{key: PATH, value: /usr/bin:/bin}, {key: EMPTY, value: ""}, {key: VERSION, value: '^1\.\d+\.\d+$', isRegex: true}]
  unboundEnvVars: [{key: HOME}]
  exposedPorts: ["8080", "53/udp"]
  unexposedPorts: ["80", "53/tcp"]
  entrypoint: [/hello]
  cmd: [--greet, world]
  workdir: /app
  volumes: [/data]
  unmountedVolumes: [/root]
  labels: [{key: org.opencontainers.image.title, value: hello}, {key: build, value: '^\d{4}-', isRegex: true}]
  user: "1000:1000"
  os: linux
  architecture: "{{.Arch}}"
  variant: "{{.Variant}}"`, nil},
		{"unset fields are not checked", `
  cmd: [--greet, world]`, nil},
		{"given empty is checked", `
  entrypoint: []
  workdir: ""
  user: ""`, []string{"Image entrypoint", "Image workdir", "Image user"}},
		{"env", `
  envVars: [{key: PATH, value: /bin}, {key: MISSING, value: x}, {key: VERSION, value: '^2', isRegex: true}]
  unboundEnvVars: [{key: PATH}]`, []string{"env var PATH value /usr/bin:/bin does not match expected value: /bin", "variable MISSING not found in image env",
			"env var VERSION value 1.2.3 does not match", "env variable PATH should not be present"}},
		{"ports and volumes", `
  exposedPorts: ["9090"]
  unexposedPorts: ["8080"]
  volumes: [/var]
  unmountedVolumes: [/data]`, []string{"Port 9090 not found", "Port 8080 should not be exposed", "Volume /var not found", "Volume /data should not be mounted"}},
		{"entrypoint and cmd", `
  entrypoint: [/bin/sh]
  cmd: []`, []string{`Image entrypoint ["/hello"] does not match expected entrypoint: ["/bin/sh"]`, "Image cmd"}},
		{"labels", `
  labels: [{key: build, value: x}, {key: nope, value: y}]`, []string{"label build value 2026-11-23 does not match", "label nope not found"}},
		{"platform", `
  os: windows
  architecture: amd64`, []string{`Image os "linux" does not match expected os: "windows"`, "Image architecture"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, img, nil, []*Config{mustParse(t, "schemaVersion: 2.0.0\nmetadataTest:"+c.yaml+"\n")})
			for j := range r.Platforms {
				res := r.Results[0][j]
				var got []string
				for _, f := range res.Failures {
					got = append(got, f.Message)
				}
				if len(got) != len(c.want) {
					t.Fatalf("%s: failures = %q, want %d: %q", c.name, got, len(c.want), c.want)
				}
				for i, w := range c.want {
					if !strings.Contains(got[i], w) {
						t.Errorf("%s: failure %d = %q, want it to contain %q", c.name, i, got[i], w)
					}
				}
			}
		})
	}
}

// FuzzFlatFS feeds arbitrary pairs of layer tars (lower, upper) to the
// flattened file system: it may refuse them, never panic or loop, and
// every path it lists resolves inside the image. The seed corpus,
// testdata/fuzz/FuzzFlatFS, holds the hostile orderings of
// TestFileViewsMatchContainer.
func FuzzFlatFS(f *testing.F) {
	var seed bytes.Buffer
	tw := tar.NewWriter(&seed)
	for _, h := range []*tar.Header{
		{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "a/l", Typeflag: tar.TypeSymlink, Linkname: "../a/l"},
		{Name: "a/h", Typeflag: tar.TypeLink, Linkname: "a/f"},
		{Name: "a/.wh.x", Typeflag: tar.TypeReg},
		{Name: "../../escape", Typeflag: tar.TypeReg},
	} {
		tw.WriteHeader(h)
	}
	tw.Close()
	f.Add(seed.Bytes(), []byte{})
	f.Fuzz(func(t *testing.T, lower, upper []byte) {
		var ls []v1.Layer
		for _, data := range [][]byte{lower, upper} {
			l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
			if err != nil {
				return
			}
			ls = append(ls, l)
		}
		img := image(t, "linux/amd64", v1.Config{}, ls...)
		fs, err := newFlatFS(context.Background(), img)
		if err != nil {
			return
		}
		var paths []string
		for p := range fs.entries {
			if p != cleanPath(p) {
				t.Fatalf("entry %q is not a clean absolute path", p)
			}
			paths = append(paths, p)
			fs.stat(p, true)
			fs.stat(p+"/x/..", false)
			fs.stat(p+"/../../..", true)
		}
		fs.readFiles(context.Background(), paths)
		if names, err := fs.readDir("/"); err != nil {
			t.Fatalf("readDir(/) = %v", err)
		} else {
			for _, n := range names {
				if _, err := fs.stat("/"+n, false); err != nil {
					t.Fatalf("readDir(/) lists %q, but stat(/%s) = %v", n, n, err)
				}
			}
		}
	})
}
