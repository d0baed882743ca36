package verify

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/testutil"
)

// debArches maps the fixture platforms to Debian architectures and GOARCH.
var debArches = []struct{ platform, deb, goarch, goarm string }{
	{"linux/amd64", "amd64", "amd64", ""},
	{"linux/arm64", "arm64", "arm64", ""},
	{"linux/arm/v7", "armhf", "arm", "7"},
	{"linux/arm/v5", "armel", "arm", "5"},
	{"linux/386", "i386", "386", ""},
	{"linux/ppc64le", "ppc64el", "ppc64le", ""},
	{"linux/s390x", "s390x", "s390x", ""},
	{"linux/mips64le", "mips64el", "mips64le", ""},
}

// busyboxes caches busybox binaries by Debian architecture.
var busyboxes = map[string][]byte{}

// busybox is Debian's busybox-static for deb, from the shared test cache;
// testutil.BusyboxRootfs skips t when it cannot be fetched.
func busybox(t testing.TB, deb string) []byte {
	t.Helper()
	fixtureMu.Lock()
	b, ok := busyboxes[deb]
	fixtureMu.Unlock()
	if ok {
		return b
	}
	b, err := os.ReadFile(filepath.Join(testutil.BusyboxRootfs(t, deb), "bin", "busybox"))
	if err != nil {
		t.Fatal(err)
	}
	fixtureMu.Lock()
	busyboxes[deb] = b
	fixtureMu.Unlock()
	return b
}

// base is a busybox root file system layer for a Debian architecture.
func base(t testing.TB, deb string) step {
	return step{"ADD rootfs.tar /", layerOf(t, dir("bin"), exe("bin/busybox", busybox(t, deb)), symlink("bin/sh", "busybox"))}
}

func goHello(t testing.TB, goarch, goarm string) []byte {
	if goarm != "" {
		return goBinary(t, goarch, "GOARM="+goarm)
	}
	return goBinary(t, goarch)
}

func run(t *testing.T, a any, opts ...Option) *Report {
	t.Helper()
	r, err := Run(context.Background(), a, opts...)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r
}

func codes(r *Report) []Code {
	var out []Code
	for _, f := range r.All() {
		if !slices.Contains(out, f.Code) {
			out = append(out, f.Code)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func find(r *Report, c Code) *Finding {
	for _, f := range r.All() {
		if f.Code == c {
			return &f
		}
	}
	return nil
}

func TestCleanFixtureAllPlatforms(t *testing.T) {
	var entries []entryOf
	for _, a := range debArches {
		app := step{"COPY --from=build /out/hello /usr/local/bin/hello", layerOf(t, exe("usr/local/bin/hello", goHello(t, a.goarch, a.goarm)))}
		img := imageOf(t, a.platform, []string{"/bin/sh", "-c", "hello"}, base(t, a.deb), app)
		entries = append(entries, entryOf{platform: a.platform, img: img})
	}
	r := run(t, indexOf(t, entries...), WithRequire(mustPlatforms(t, "linux/amd64", "linux/arm64", "linux/arm/v7")...))
	if len(r.Platforms) != len(debArches) {
		t.Fatalf("Run verified %d platforms, want %d", len(r.Platforms), len(debArches))
	}
	for _, p := range r.Platforms {
		if p.ELFFiles != 2 || p.Files != 2 {
			t.Errorf("%s: files %d, ELF files %d, want 2 and 2", p.Platform, p.Files, p.ELFFiles)
		}
	}
	if all := r.All(); len(all) != 0 {
		t.Errorf("clean fixture: %d findings, want none; first: %+v", len(all), all[0])
	}
	if r.Failed(true) {
		t.Errorf("clean fixture Failed(strict) = true")
	}
}

func TestCleanGlibcProgram(t *testing.T) {
	img := imageOf(t, "linux/amd64", []string{"hello"},
		step{"ADD rootfs.tar /", layerOf(t,
			exe("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", hostFile(t, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")),
			exe("usr/lib/x86_64-linux-gnu/libc.so.6", hostFile(t, "/usr/lib/x86_64-linux-gnu/libc.so.6")),
			symlink("lib", "usr/lib"),
			symlink("lib64", "usr/lib/x86_64-linux-gnu"),
		)},
		step{"COPY hello /usr/bin/hello", layerOf(t, exe("usr/bin/hello", gccProgram(t)))},
	)
	r := run(t, img)
	if all := r.All(); len(all) != 0 {
		t.Errorf("glibc image: findings %v, want none: %+v", codes(r), all[0])
	}
	if r.Platforms[0].ELFFiles != 3 {
		t.Errorf("ELF files = %d, want 3", r.Platforms[0].ELFFiles)
	}
}

func mustPlatforms(t testing.TB, ss ...string) []specs.Platform {
	var out []specs.Platform
	for _, s := range ss {
		parts := strings.Split(s, "/")
		p := specs.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) > 2 {
			p.Variant = parts[2]
		}
		out = append(out, p)
	}
	return out
}

func TestPlantedDefects(t *testing.T) { // long: one table of planted defects, each case its image and findings
	type tc struct {
		name     string
		artifact func(t *testing.T) any
		opts     []Option
		want     []Code
		key      Code     // the finding whose text is checked
		contains []string // in its message, cause, fix, found or expected
	}
	arm64App := func(t *testing.T, by string, f ...file) step { return step{by, layerOf(t, f...)} }
	cases := []tc{
		{
			name: "amd64 binary in arm64 image",
			artifact: func(t *testing.T) any {
				return indexOf(t, entryOf{platform: "linux/arm64", img: imageOf(t, "linux/arm64", []string{"/bin/sh"}, base(t, "arm64"),
					arm64App(t, "COPY --from=build /out/hello /app/hello", exe("app/hello", goHello(t, "amd64", ""))))})
			},
			want: []Code{CodeWrongArch},
			key:  CodeWrongArch,
			contains: []string{
				"/app/hello is a linux/amd64 Go executable in the linux/arm64 image",
				"was copied from the stage build by layer 2 (COPY --from=build /out/hello /app/hello)",
				"that stage built it for linux/amd64",
				"GOARCH=$TARGETARCH",
			},
		},
		{
			// BuildKit's (and manyarch's) history leaves --from out: the
			// absolute source says it was no build context file (issue #22 item 14).
			name: "amd64 binary copied from a stage, BuildKit history",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/arm64", []string{"/bin/sh"}, base(t, "arm64"),
					arm64App(t, "COPY /out/hello /app/hello # buildkit", exe("app/hello", goHello(t, "amd64", ""))))
			},
			want: []Code{CodeWrongArch},
			key:  CodeWrongArch,
			contains: []string{
				"was copied by layer 2 (COPY /out/hello /app/hello # buildkit) from another stage or image (COPY --from",
				"whose build made it for linux/amd64",
				"GOARCH=$TARGETARCH",
			},
		},
		{
			name: "amd64 binary copied from the build context",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/arm64", []string{"/bin/sh"}, base(t, "arm64"),
					arm64App(t, "COPY --chmod=755 out/hello /app/hello # buildkit", exe("app/hello", goHello(t, "amd64", ""))))
			},
			want:     []Code{CodeWrongArch},
			key:      CodeWrongArch,
			contains: []string{"was copied from the build context by layer 2 (COPY --chmod=755 out/hello"},
		},
		{
			name: "amd64 binary copied from an image",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/arm64", []string{"/bin/sh"}, base(t, "arm64"),
					arm64App(t, "COPY --from=tools/hello:1 /hello /app/hello", exe("app/hello", goHello(t, "amd64", ""))))
			},
			want:     []Code{CodeWrongArch},
			key:      CodeWrongArch,
			contains: []string{"was copied from the image tools/hello:1 by layer 2", "the linux/arm64 image of tools/hello:1 holds a linux/amd64 binary"},
		},
		{
			name: "arm64 root file system under an amd64 tag",
			artifact: func(t *testing.T) any {
				a := goHello(t, "arm64", "")
				return indexOf(t, entryOf{platform: "linux/amd64", img: imageOf(t, "linux/amd64", []string{"/bin/busybox"}, base(t, "arm64"),
					arm64App(t, "COPY bin /usr/bin", exe("usr/bin/a", a), exe("usr/bin/b", a), exe("usr/bin/c", a)))})
			},
			want:     []Code{CodeEntrypointWrongArch, CodeRootFSWrongArch, CodeWrongArch},
			key:      CodeRootFSWrongArch,
			contains: []string{"the linux/amd64 image holds a linux/arm64 file system (4 of 4"},
		},
		{
			name: "armv5 soft-float static binary in arm/v7 image",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/arm/v7", []string{"/bin/sh"}, base(t, "armhf"),
					arm64App(t, "COPY --from=tools /bin/busybox /usr/local/bin/tool", exe("usr/local/bin/tool", busybox(t, "armel"))))
			},
			opts:     nil,
			want:     []Code{CodeFloatABI},
			key:      CodeFloatABI,
			contains: []string{"/usr/local/bin/tool is an ARMv5TE soft-float executable in the linux/arm/v7 image, which is hard-float", "ARMv5TE soft-float (armel)", "arm-linux-gnueabihf"},
		},
		{
			name: "armv5 soft-float dynamic program in arm/v7 image",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/arm/v7", []string{"/bin/sh"}, base(t, "armhf"),
					arm64App(t, "COPY hello /usr/bin/hello", exe("usr/bin/hello", debFile(t, "hello", "armel", "usr/bin/hello"))))
			},
			want:     []Code{CodeFloatABI, CodeMissingInterpreter},
			key:      CodeFloatABI,
			contains: []string{"dynamically linked and needs a armel C library and loader (/lib/ld-linux.so.3)"},
		},
		{
			name: "GOARM=7 binary in arm/v5 image",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/arm/v5", []string{"/usr/bin/hello"}, base(t, "armel"),
					arm64App(t, "COPY --from=build /hello /usr/bin/hello", exe("usr/bin/hello", goHello(t, "arm", "7"))))
			},
			want:     []Code{CodeWrongVariant},
			key:      CodeWrongVariant,
			contains: []string{"needs an ARMv7 CPU but the linux/arm/v5 image runs on ARMv5", "GOARM=7", "GOARM=5"},
		},
		{
			name: "GOAMD64=v3 binary in linux/amd64 image",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/amd64", []string{"/usr/bin/hello"},
					arm64App(t, "COPY hello /usr/bin/hello", exe("usr/bin/hello", goBinary(t, "amd64", "GOAMD64=v3"))))
			},
			want:     []Code{CodeWrongVariant},
			key:      CodeWrongVariant,
			contains: []string{"GOAMD64=v3", "x86-64-v1"},
		},
		{
			name: "config arm64 under an amd64 index entry",
			artifact: func(t *testing.T) any {
				return indexOf(t, entryOf{platform: "linux/amd64", img: imageOf(t, "linux/arm64", []string{"/bin/sh"}, base(t, "arm64"))})
			},
			want:     []Code{CodeConfigMismatch, CodeEntrypointWrongArch, CodeWrongArch},
			key:      CodeConfigMismatch,
			contains: []string{"the index lists this image as linux/amd64 but its config says linux/arm64"},
		},
		{
			name: "duplicate platforms",
			artifact: func(t *testing.T) any {
				return indexOf(t,
					entryOf{platform: "linux/arm64", img: imageOf(t, "linux/arm64", []string{"/bin/sh"}, base(t, "arm64"))},
					entryOf{platform: "linux/arm64/v8", img: imageOf(t, "linux/arm64", []string{"/bin/busybox"}, base(t, "arm64"))})
			},
			want:     []Code{CodeDuplicatePlatform},
			key:      CodeDuplicatePlatform,
			contains: []string{"linux/arm64 is listed twice in the index"},
		},
		{
			name: "missing required platform",
			artifact: func(t *testing.T) any {
				return indexOf(t,
					entryOf{platform: "linux/amd64", img: imageOf(t, "linux/amd64", []string{"/bin/sh"}, base(t, "amd64"))},
					entryOf{platform: "linux/arm64", img: imageOf(t, "linux/arm64", []string{"/bin/sh"}, base(t, "arm64"))})
			},
			opts:     []Option{WithRequire(mustPlatforms(t, "linux/amd64", "linux/arm/v7")...)},
			want:     []Code{CodeMissingPlatform},
			key:      CodeMissingPlatform,
			contains: []string{"the index has no image for linux/arm/v7", "linux/amd64, linux/arm64"},
		},
		{
			name: "glibc program on a busybox base",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/amd64", []string{"/app/hello"}, base(t, "amd64"),
					arm64App(t, "COPY --from=build /src/hello /app/hello", exe("app/hello", gccProgram(t))))
			},
			want:     []Code{CodeMissingInterpreter},
			key:      CodeMissingInterpreter,
			contains: []string{"needs the loader /lib64/ld-linux-x86-64.so.2, which is not in the image", "a glibc program on a musl (Alpine) or busybox base", "CGO_ENABLED=0"},
		},
		{
			name: "missing shared library",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/amd64", []string{"/app/hello"},
					arm64App(t, "ADD loader /", exe("lib64/ld-linux-x86-64.so.2", hostFile(t, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"))),
					arm64App(t, "COPY hello /app/hello", exe("app/hello", gccProgram(t))))
			},
			want:     []Code{CodeMissingLibrary},
			key:      CodeMissingLibrary,
			contains: []string{"/app/hello needs the shared library libc.so.6"},
		},
		{
			name: "entrypoint missing",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/arm64", []string{"/app/server", "--port=80"}, base(t, "arm64"))
			},
			want:     []Code{CodeEntrypointMissing},
			key:      CodeEntrypointMissing,
			contains: []string{`"/app/server" is not in the image`},
		},
		{
			name: "entrypoint missing from PATH",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/arm64", []string{"server"}, base(t, "arm64"))
			},
			want:     []Code{CodeEntrypointMissing},
			key:      CodeEntrypointMissing,
			contains: []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		},
		{
			name: "entrypoint script without its interpreter",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/arm64", []string{"/entrypoint.sh"}, base(t, "arm64"),
					arm64App(t, "COPY entrypoint.sh /", exe("entrypoint.sh", []byte("#!/bin/bash\nexec hello\n"))))
			},
			want:     []Code{CodeEntrypointMissing},
			key:      CodeEntrypointMissing,
			contains: []string{"is a script for /bin/bash, which is not in the image"},
		},
		{
			name: "entrypoint of the wrong architecture",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/arm64", []string{"hello"}, base(t, "arm64"),
					arm64App(t, "COPY --from=build /out/hello /usr/bin/hello", exe("usr/bin/hello", goHello(t, "amd64", ""))))
			},
			// One finding for the one file: the entrypoint's (issue #22 item 14).
			want:     []Code{CodeEntrypointWrongArch},
			key:      CodeEntrypointWrongArch,
			contains: []string{`the entrypoint/cmd program "hello" (/usr/bin/hello) is a linux/amd64 Go executable in the linux/arm64 image; the container fails with 'exec format error'`},
		},
		{
			name: "entrypoint script whose interpreter is of the wrong architecture",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/arm64", []string{"/run.sh"}, base(t, "amd64"),
					arm64App(t, "COPY run.sh /", exe("run.sh", []byte("#!/bin/sh\necho hi\n"))))
			},
			want:     []Code{CodeEntrypointWrongArch, CodeWrongArch},
			key:      CodeEntrypointWrongArch,
			contains: []string{`the interpreter "/bin/sh" of script /run.sh`},
		},
		{
			name: "bad binary deleted by a later layer",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/arm64", []string{"/bin/sh"}, base(t, "arm64"),
					arm64App(t, "COPY --from=build /out /app", dir("app"), exe("app/hello", goHello(t, "amd64", "")), dir("opt"), dir("opt/x"), exe("opt/x/old", goHello(t, "amd64", "")), exe("opt/y", goHello(t, "amd64", ""))),
					arm64App(t, "RUN rm /app/hello", whiteout("app/hello")),
					arm64App(t, "RUN rm -rf /opt/x && mkdir /opt/x && cp /bin/busybox /opt/x/", dir("opt/x"), file{path: "opt/x/" + whiteoutOpaque}, exe("opt/x/busybox", busybox(t, "arm64"))),
					arm64App(t, "COPY y /opt/y", exe("opt/y", goHello(t, "arm64", ""))))
			},
			want: nil,
		},
		{
			name: "attestation manifest",
			artifact: func(t *testing.T) any {
				att := mutate.MediaType(imageOf(t, "unknown/unknown", nil,
					arm64App(t, "", data("provenance.json", []byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`)))), types.OCIManifestSchema1)
				img := imageOf(t, "linux/arm64", []string{"/bin/sh"}, base(t, "arm64"))
				d, err := img.Digest()
				if err != nil {
					t.Fatal(err)
				}
				return indexOf(t,
					entryOf{platform: "linux/arm64", img: img},
					entryOf{platform: "unknown/unknown", img: att, ann: map[string]string{dockerRefType: "attestation-manifest", "vnd.docker.reference.digest": d.String()}})
			},
			want: nil,
		},
		{
			name: "386 binary in an amd64 image",
			artifact: func(t *testing.T) any {
				return imageOf(t, "linux/amd64", []string{"/bin/sh"}, base(t, "amd64"),
					arm64App(t, "COPY lib32 /usr/lib32", exe("usr/lib32/hello", goHello(t, "386", ""))))
			},
			want:     []Code{CodeWrongArch},
			key:      CodeWrongArch,
			contains: []string{"/usr/lib32/hello is a linux/386 Go executable in the linux/amd64 image; it runs only where the linux/amd64 kernel supports linux/386 executables"},
		},
		{
			name: "foreign binaries ignored on purpose",
			artifact: func(t *testing.T) any {
				amd := goHello(t, "amd64", "")
				return imageOf(t, "linux/arm64", []string{"/bin/sh"}, base(t, "arm64"),
					arm64App(t, "COPY cross /opt", exe("opt/cross/bin/tool", amd), exe("usr/share/qemu/x86_64", amd), exe("usr/share/qemu/keep/deep", amd)))
			},
			opts:     []Option{WithIgnore("/opt/cross/", "/usr/share/qemu/*")},
			want:     []Code{CodeWrongArch},
			key:      CodeWrongArch,
			contains: []string{"/usr/share/qemu/keep/deep is a linux/amd64"},
		},
		{
			name: "attestation for an image not in the index",
			artifact: func(t *testing.T) any {
				att := imageOf(t, "unknown/unknown", nil, arm64App(t, "", data("provenance.json", []byte("{}"))))
				return indexOf(t,
					entryOf{platform: "linux/arm64", img: imageOf(t, "linux/arm64", []string{"/bin/sh"}, base(t, "arm64"))},
					entryOf{platform: "unknown/unknown", img: att, ann: map[string]string{dockerRefType: "attestation-manifest", "vnd.docker.reference.digest": "sha256:" + strings.Repeat("0", 64)}})
			},
			want:     []Code{CodeIndexInconsistent},
			key:      CodeIndexInconsistent,
			contains: []string{"attestation for", "which is not an image of this index"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, c.artifact(t), c.opts...)
			if got := codes(r); !slices.Equal(got, c.want) {
				for _, f := range r.All() {
					t.Logf("%s %s %s", f.Code, f.Path, f.Message)
				}
				t.Fatalf("codes = %v, want %v", got, c.want)
			}
			if c.key == "" {
				return
			}
			f := find(r, c.key)
			text := strings.Join([]string{f.Message, f.Cause, f.Fix, f.Found, f.Expected}, "\n")
			for _, s := range c.contains {
				if !strings.Contains(text, s) {
					t.Errorf("%s finding does not say %q:\n%s", c.key, s, text)
				}
			}
			if f.Platform == "" && c.key != CodeMissingPlatform && c.key != CodeIndexInconsistent {
				t.Errorf("%s finding has no platform", c.key)
			}
			if c.name == "386 binary in an amd64 image" && (f.Severity != SeverityWarning || r.Failed(false)) {
				t.Errorf("386 on amd64: severity %s, Failed(false) = %v; want a warning that does not fail", f.Severity, r.Failed(false))
			}
			if !r.Failed(true) {
				t.Errorf("Failed(strict) = false with findings %v", codes(r))
			}
		})
	}
}

func TestAttestationSkipped(t *testing.T) {
	att := imageOf(t, "unknown/unknown", nil, step{"", layerOf(t, data("sbom.json", []byte("{}")))})
	idx := indexOf(t,
		entryOf{platform: "linux/amd64", img: imageOf(t, "linux/amd64", []string{"/hello"}, step{"COPY hello /", layerOf(t, exe("hello", goHello(t, "amd64", "")))})},
		entryOf{platform: "unknown/unknown", img: att, ann: map[string]string{dockerRefType: "attestation-manifest"}})
	r := run(t, idx)
	if len(r.Skipped) != 1 || r.Skipped[0].Reason != "attestation manifest" {
		t.Errorf("Skipped = %+v, want the attestation manifest", r.Skipped)
	}
	if len(r.Platforms) != 1 || r.Platforms[0].Platform != "linux/amd64" {
		t.Errorf("Platforms = %+v, want only linux/amd64", r.Platforms)
	}
}

func TestLayerRefAndHistory(t *testing.T) {
	img := imageOf(t, "linux/arm64", nil,
		step{"ADD a /", layerOf(t, data("a", []byte("a")))},
		step{"RUN curl -o /usr/bin/tool https://example.com/tool-amd64", layerOf(t, exe("usr/bin/tool", goHello(t, "amd64", "")))})
	r := run(t, img)
	f := find(r, CodeWrongArch)
	if f == nil {
		t.Fatalf("no wrong-arch finding: %v", codes(r))
	}
	l2, _ := mustLayers(t, img)[1].Digest()
	if f.Layer == nil || f.Layer.Index != 1 || f.Layer.Digest != l2.String() || !strings.HasPrefix(f.Layer.CreatedBy, "RUN curl") {
		t.Errorf("Layer = %+v, want index 1, %s, RUN curl…", f.Layer, l2)
	}
	if !strings.Contains(f.Cause, "downloaded") || !strings.Contains(f.Fix, "$TARGETARCH") {
		t.Errorf("download cause/fix = %q / %q", f.Cause, f.Fix)
	}
}

func mustLayers(t testing.TB, img v1.Image) []v1.Layer {
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func TestOptionsRejectBadInput(t *testing.T) {
	for name, opt := range map[string]Option{
		"relative ignore": WithIgnore("usr/bin/*"),
		"bad pattern":     WithIgnore("/usr/[bin"),
		"zero jobs":       WithJobs(0),
		"negative limit":  WithFindingLimit(-1),
		"require no arch": WithRequire(specs.Platform{OS: "linux"}),
		"nil logger":      WithLogger(nil),
	} {
		if _, err := Run(context.Background(), imageOf(t, "linux/amd64", nil), opt); err == nil {
			t.Errorf("Run with %s = nil error, want one", name)
		}
	}
	if _, err := Run(context.Background(), "not an image"); err == nil {
		t.Errorf("Run(string) = nil error, want ErrNotArtifact")
	}
}

// countingLayer counts how often its blob is opened.
type countingLayer struct {
	v1.Layer
	mu    sync.Mutex
	opens int
}

func (l *countingLayer) Compressed() (io.ReadCloser, error) {
	l.mu.Lock()
	l.opens++
	l.mu.Unlock()
	return l.Layer.Compressed()
}

func TestSharedLayerReadOnce(t *testing.T) {
	shared := &countingLayer{Layer: layerOf(t, data("etc/motd", []byte("hello\n")))}
	var entries []entryOf
	for _, a := range []struct{ plat, goarch string }{{"linux/amd64", "amd64"}, {"linux/arm64", "arm64"}, {"linux/riscv64", "riscv64"}} {
		img := imageOf(t, a.plat, []string{"/hello"},
			step{"COPY hello /", layerOf(t, exe("hello", goHello(t, a.goarch, "")))},
			step{"COPY motd /etc/", shared})
		entries = append(entries, entryOf{platform: a.plat, img: img})
	}
	r := run(t, indexOf(t, entries...), WithJobs(2))
	if all := r.All(); len(all) != 0 {
		t.Fatalf("findings %v: %+v", codes(r), all[0])
	}
	if shared.opens != 1 {
		t.Errorf("the layer three platforms share was read %d times, want once", shared.opens)
	}
	for _, p := range r.Platforms {
		if p.Files != 2 {
			t.Errorf("%s: %d files, want 2", p.Platform, p.Files)
		}
	}
}
