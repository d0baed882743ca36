package verify

import (
	"debug/elf"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/manyarch/manyarch/internal/platform"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// checker runs the file checks of one platform over its final tree.
type checker struct {
	platform specs.Platform // normalized
	name     string         // "linux/arm64"
	arch     platform.Arch
	known    bool
	tree     *tree
	layers   []LayerRef
	add      func(Finding)
	ignored  func(abs string) bool
}

func (c *checker) layer(n *node) *LayerRef {
	if n == nil || n.layer < 0 || n.layer >= len(c.layers) {
		return nil
	}
	l := c.layers[n.layer]
	return &l
}

// archOK reports whether f's class, byte order and machine fit the platform.
func (c *checker) archOK(f *elfFile) bool {
	return f.Class == c.arch.ELFClass && f.Data == c.arch.ELFData && f.Machine == c.arch.ELFMachine
}

// checkELFs checks every ELF file of the final tree and returns how many
// there are.
func (c *checker) checkELFs() int {
	count, runnable := 0, 0
	foreign := map[string]int{}
	var example string
	c.tree.walkFiles(func(p string, n *node) {
		f := n.elf
		if f == nil {
			return
		}
		count++
		abs := "/" + p
		if c.ignored(abs) {
			return
		}
		if f.Bad != "" {
			c.add(Finding{
				Code:     CodeMalformedELF,
				Layer:    c.layer(n),
				Path:     abs,
				Found:    f.Bad,
				Expected: "a valid ELF header",
				Message:  fmt.Sprintf("%s starts with the ELF magic but its header is unusable (%s); running it fails with 'exec format error'", abs, f.Bad),
				Cause:    "a corrupted or truncated binary, or a data file that happens to start with \\x7fELF",
				Fix:      "rebuild or re-download the file; delete it if it is not needed",
			})
			return
		}
		if deviceMachines[f.Machine] || !c.known {
			return
		}
		if f.runnable() {
			runnable++
		}
		if !c.archOK(f) {
			found := elfPlatform(f)
			compat := c.compatible(f)
			if f.runnable() && !compat {
				foreign[found]++
				if example == "" {
					example = abs
				}
			}
			cause, fix := explainWrongArch(f, c.layer(n), found, c.name)
			sev := SeverityError
			msg := fmt.Sprintf("%s is a %s %s in the %s image", abs, found, f.describe(), c.name)
			switch {
			case !f.runnable():
				sev = SeverityWarning
			case compat:
				// 386 on amd64: runs natively where the kernel has
				// 32-bit support, as multilib images rely on.
				sev = SeverityWarning
				msg += fmt.Sprintf("; it runs only where the %s kernel supports %s executables", c.name, found)
			}
			c.add(Finding{
				Severity: sev,
				Code:     CodeWrongArch,
				Layer:    c.layer(n),
				Path:     abs,
				Found:    found + " " + f.describe(),
				Expected: c.name,
				Message:  msg,
				Cause:    cause,
				Fix:      fix,
			})
			return
		}
		c.checkVariant(abs, n, f)
	})
	for found, n := range foreign {
		if n >= 3 && n*5 >= runnable*4 {
			c.add(Finding{
				Code:     CodeRootFSWrongArch,
				Path:     example,
				Found:    fmt.Sprintf("%d of %d executables and libraries are %s", n, runnable, found),
				Expected: c.name,
				Message:  fmt.Sprintf("the %s image holds a %s file system (%d of %d executables and libraries, e.g. %s)", c.name, found, n, runnable, example),
				Cause:    fmt.Sprintf("the image was built from, or pulled as, the %s variant: a base image resolved for the build machine, or a build on a %s machine tagged as %s", found, found, c.name),
				Fix:      fmt.Sprintf("build with --platform %s (FROM --platform=$TARGETPLATFORM, or no --platform on FROM) and check that the base image's index has %s", c.name, c.name),
			})
		}
	}
	return count
}

// compatible reports whether the platform's CPUs run f natively although
// its machine differs (linux/386 files on linux/amd64).
func (c *checker) compatible(f *elfFile) bool {
	for _, row := range platform.LookupELF(f.Class, f.Data, f.Machine) {
		if row.ELFMachine != elf.EM_ARM && platform.MatchCompat(row.Platform, c.platform) {
			return true
		}
	}
	return false
}

// explainWrongArch gives the likely cause and fix of a foreign binary from
// the instruction that created its layer.
func explainWrongArch(f *elfFile, l *LayerRef, found, want string) (cause, fix string) {
	where := "a layer"
	by := ""
	if l != nil {
		where = fmt.Sprintf("layer %d", l.Index+1)
		by = l.CreatedBy
		if by != "" {
			where += fmt.Sprintf(" (%s)", shorten(by, 80))
		}
	}
	arch := strings.TrimPrefix(want, "linux/")
	goFix := "set GOOS=linux GOARCH=$TARGETARCH"
	if strings.HasPrefix(arch, "arm/v") {
		goFix += " GOARM=${TARGETVARIANT#v}"
	}
	crossFix := "use a cross compiler for $TARGETPLATFORM (e.g. tonistiigi/xx)"
	if f.Go != nil {
		crossFix = goFix + " (for Go; the build info says GOARCH=" + f.Go.GOARCH + ")"
	}
	switch {
	case copyFrom(by) != "":
		from := copyFrom(by)
		if looksLikeImage(from) {
			return fmt.Sprintf("this %s binary in the %s image was copied from the image %s by %s; the %s image of %s holds a %s binary there", found, want, from, where, want, from, found),
				"copy from an image that has a " + want + " build of it (or build it in a stage: " + crossFix + ")"
		}
		return fmt.Sprintf("this %s binary in the %s image was copied from the stage %s by %s; that stage built it for %s, not %s (FROM --platform=$BUILDPLATFORM without cross-compiling)", found, want, from, where, found, want),
			crossFix + " in the stage " + from
	case strings.HasPrefix(by, "ADD") || strings.Contains(by, "curl") || strings.Contains(by, "wget"):
		return fmt.Sprintf("this %s binary in the %s image was downloaded by %s for one fixed architecture", found, want, where),
			"pick the download by $TARGETARCH (ARG TARGETARCH, then use it in the URL)"
	case strings.HasPrefix(by, "COPY") && absoluteSources(by):
		// BuildKit's history leaves --from out ("COPY /out/app /app #
		// buildkit"); a build context's paths are relative to it.
		return fmt.Sprintf("this %s binary in the %s image was copied by %s from another stage or image (COPY --from: the image history does not name which), whose build made it for %s", found, want, where, found),
			crossFix + " in the stage that builds it; or copy it from an image that has a " + want + " build of it"
	case strings.HasPrefix(by, "COPY"):
		return fmt.Sprintf("this %s binary in the %s image was copied from the build context by %s; it was built on the host for the host's architecture", found, want, where),
			"build it for each target platform (" + crossFix + ") or build it in a stage of the Dockerfile"
	}
	return fmt.Sprintf("this %s binary in the %s image came from %s", found, want, where),
		"build or download it for " + want + "; for Go, " + goFix
}

// copyFrom is the --from=NAME of a COPY or ADD history entry ("COPY
// --link --from=build /out/app /app # buildkit"), or "".
func copyFrom(by string) string {
	if !strings.HasPrefix(by, "COPY") && !strings.HasPrefix(by, "ADD") {
		return ""
	}
	for _, f := range strings.Fields(by)[1:] {
		if v, ok := strings.CutPrefix(f, "--from="); ok {
			return v
		}
		if !strings.HasPrefix(f, "--") {
			break
		}
	}
	return ""
}

// absoluteSources reports whether every source of a COPY history entry is
// an absolute path, as those of COPY --from are written ("COPY --chown=1
// /out/app /app # buildkit"), rather than build context paths.
func absoluteSources(by string) bool {
	by, _, _ = strings.Cut(by, " # buildkit")
	fields := strings.Fields(by)
	var srcs []string
	for _, f := range fields[1:] {
		if !strings.HasPrefix(f, "--") {
			srcs = append(srcs, f)
		}
	}
	if len(srcs) < 2 {
		return false
	}
	for _, s := range srcs[:len(srcs)-1] {
		if !strings.HasPrefix(s, "/") {
			return false
		}
	}
	return true
}

// looksLikeImage tells a --from image reference (alpine:3.20,
// ghcr.io/x/y, tools@sha256:...) from a stage name, which has none of
// ':', '/', '@' or '.'. A bare name (busybox) reads as a stage.
func looksLikeImage(from string) bool { return strings.ContainsAny(from, ":/@.") }

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// checkVariant checks what the machine alone does not say: the ARM
// architecture version and float ABI, and Go's GOARM and GOAMD64.
func (c *checker) checkVariant(abs string, n *node, f *elfFile) {
	switch c.platform.Architecture {
	case "arm":
		have := 7
		if v := strings.TrimPrefix(c.platform.Variant, "v"); v != "" {
			fmt.Sscan(v, &have)
		}
		need := armELFVariant(f)
		if need > have {
			what := ""
			fix := "build for " + c.name + " (gcc -march=armv" + fmt.Sprint(have) + ", or GOARM=" + fmt.Sprint(have) + " for Go)"
			if n := armArchName(f); n != "" {
				what = "its ARM attributes say " + n
			}
			if f.Go != nil && f.Go.GOARM != "" {
				what = "it was built with GOARM=" + f.Go.GOARM
				fix = "build with GOARM=" + fmt.Sprint(have) + " (GOARM=${TARGETVARIANT#v})"
			}
			c.add(Finding{
				Code:     CodeWrongVariant,
				Layer:    c.layer(n),
				Path:     abs,
				Found:    fmt.Sprintf("ARMv%d (%s)", need, what),
				Expected: fmt.Sprintf("ARMv%d or older", have),
				Message:  fmt.Sprintf("%s needs an ARMv%d CPU but the %s image runs on ARMv%d; it dies with SIGILL there", abs, need, c.name, have),
				Cause:    what + "; the file was built for a newer ARM than the platform",
				Fix:      fix,
			})
		}
		if f.Go != nil && f.Interp == "" {
			return // Go's own calling convention; no C library to match
		}
		want := ""
		switch c.arch.ARMFloat {
		case platform.ARMFloatHard:
			want = "hard"
		case platform.ARMFloatSoft:
			want = "soft"
		}
		got := ""
		switch floatABI(f) {
		case platform.FloatABIHard:
			got = "hard"
		case platform.FloatABISoft:
			got = "soft"
		}
		if want == "" || got == "" || got == want {
			return
		}
		sev := SeverityWarning
		detail := "it is statically linked, so it runs, but it came from a " + abiName(got) + " build"
		if f.Interp != "" {
			sev = SeverityError
			detail = "it is dynamically linked and needs a " + abiName(got) + " C library and loader (" + f.Interp + "), which an " + abiName(want) + " system does not have"
		}
		arch := ""
		if n := armArchName(f); n != "" {
			arch = n + " "
		}
		c.add(Finding{
			Severity: sev,
			Code:     CodeFloatABI,
			Layer:    c.layer(n),
			Path:     abs,
			Found:    fmt.Sprintf("%s%s-float (%s)", arch, got, abiName(got)),
			Expected: fmt.Sprintf("%s-float (%s)", want, abiName(want)),
			Message:  fmt.Sprintf("%s is an %s%s-float %s in the %s image, which is %s-float: %s", abs, arch, got, f.describe(), c.name, want, detail),
			Cause:    fmt.Sprintf("it was built with the %s toolchain or copied from an %s (%s) image", tripletFor(got), abiName(got), platformFor(got)),
			Fix:      fmt.Sprintf("build it with %s (Debian %s) for %s", tripletFor(want), abiName(want), c.name),
		})
	case "amd64":
		if f.Go == nil || f.Go.GOAMD64 == "" {
			return
		}
		have := c.platform.Variant
		if have == "" {
			have = "v1"
		}
		if f.Go.GOAMD64 > have {
			c.add(Finding{
				Code:     CodeWrongVariant,
				Layer:    c.layer(n),
				Path:     abs,
				Found:    "GOAMD64=" + f.Go.GOAMD64,
				Expected: "GOAMD64=" + have + " or lower",
				Message:  fmt.Sprintf("%s was built with GOAMD64=%s and needs an x86-64-%s CPU, but %s promises only x86-64-%s", abs, f.Go.GOAMD64, f.Go.GOAMD64, c.name, have),
				Cause:    "GOAMD64 was raised for the build but the image is published for every amd64 CPU",
				Fix:      fmt.Sprintf("build with GOAMD64=%s, or publish the image as linux/amd64/%s", have, f.Go.GOAMD64),
			})
		}
	}
}

func abiName(float string) string {
	if float == "hard" {
		return "armhf"
	}
	return "armel"
}

func tripletFor(float string) string {
	if float == "hard" {
		return "arm-linux-gnueabihf"
	}
	return "arm-linux-gnueabi"
}

func platformFor(float string) string {
	if float == "hard" {
		return "linux/arm/v7"
	}
	return "linux/arm/v5"
}

// defaultPath is the PATH runtimes use when the config sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// checkInterpreters checks each dynamically linked program's loader and
// shared libraries.
func (c *checker) checkInterpreters() {
	libDirs := c.libraryDirs()
	c.tree.walkFiles(func(p string, n *node) {
		f := n.elf
		abs := "/" + p
		if f == nil || f.Bad != "" || f.Interp == "" || !c.known || !c.archOK(f) || c.ignored(abs) {
			return
		}
		if msg, ok := c.interpProblem(f.Interp); !ok {
			cause, fix := "the program was built against a C library the image does not have", "link it statically (CGO_ENABLED=0 for Go, -static for C), or base the image on one that has this loader"
			if strings.Contains(f.Interp, "ld-linux") && c.tree.hasMusl() {
				cause, fix = "a glibc program on a musl (Alpine) or busybox base", "link it statically (CGO_ENABLED=0 for Go, -static for C), build it on the same base (FROM alpine in the build stage), or use a glibc base (debian, distroless/base)"
			} else if strings.Contains(f.Interp, "ld-musl") {
				cause, fix = "a musl (Alpine) program on a glibc or busybox base", "build it on the same base as the final image, or link it statically"
			}
			c.add(Finding{
				Code:     CodeMissingInterpreter,
				Layer:    c.layer(n),
				Path:     abs,
				Found:    msg,
				Expected: f.Interp + ", a " + c.name + " ELF file",
				Message:  fmt.Sprintf("%s is dynamically linked and needs the loader %s, which %s; running it fails with 'no such file or directory'", abs, f.Interp, msg),
				Cause:    cause,
				Fix:      fix,
			})
			return
		}
		if !f.NeededKnown {
			return
		}
		origin := path.Dir(abs)
		for _, lib := range f.Needed {
			if c.findLibrary(lib, origin, f.RunPath, libDirs) {
				continue
			}
			c.add(Finding{
				Code:     CodeMissingLibrary,
				Layer:    c.layer(n),
				Path:     abs,
				Found:    "not found in " + strings.Join(append(runPaths(f.RunPath, origin), libDirs...), ":"),
				Expected: lib,
				Message:  fmt.Sprintf("%s needs the shared library %s, which is not in the image's library paths", abs, lib),
				Cause:    "the library's package is not installed in the final stage, or it lives in a directory only ld.so.conf or LD_LIBRARY_PATH names",
				Fix:      "install the package that provides " + lib + " in the final stage, or copy the library next to the program",
			})
		}
	})
}

// interpProblem checks a loader path; ok is true when it is a usable
// ELF file of the platform.
func (c *checker) interpProblem(interp string) (string, bool) {
	n, _ := c.tree.resolve(interp)
	switch {
	case n == nil:
		return "is not in the image", false
	case n.kind != kindFile:
		return "is not a regular file", false
	case n.elf == nil || n.elf.Bad != "":
		return "is not an ELF file", false
	case !c.archOK(n.elf):
		return "is a " + elfPlatform(n.elf) + " file", false
	}
	return "", true
}

func (t *tree) hasMusl() bool {
	for _, d := range []string{"lib", "usr/lib"} {
		if dir := t.lookup(d); dir != nil {
			for name := range dir.children {
				if strings.HasPrefix(name, "ld-musl-") || strings.HasPrefix(name, "libc.musl-") {
					return true
				}
			}
		}
	}
	if n, _ := t.resolve("/bin/busybox"); n != nil {
		return true
	}
	return false
}

// libraryDirs are the directories the loader searches by default: the
// standard ones and the multiarch directories (/usr/lib/aarch64-linux-gnu)
// present in the image. ld.so.conf is not read.
func (c *checker) libraryDirs() []string {
	dirs := []string{"/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib"}
	for _, base := range []string{"lib", "usr/lib"} {
		d, _ := c.tree.resolve(base)
		if d == nil {
			continue
		}
		var names []string
		for name, child := range d.children {
			if (child.kind == kindDir || child.kind == kindSymlink) && strings.Contains(name, "-linux-") {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			dirs = append(dirs, "/"+base+"/"+name)
		}
	}
	return dirs
}

func runPaths(rp []string, origin string) []string {
	var out []string
	for _, d := range rp {
		d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}

func (c *checker) findLibrary(lib, origin string, rp, dirs []string) bool {
	if strings.Contains(lib, "/") {
		n, _ := c.tree.resolve(lib)
		return n != nil && n.kind == kindFile
	}
	for _, d := range append(runPaths(rp, origin), dirs...) {
		if n, _ := c.tree.resolve(path.Join(d, lib)); n != nil && n.kind == kindFile {
			return true
		}
	}
	return false
}

// checkEntrypoint checks that the program the container starts exists and
// runs on the platform.
func (c *checker) checkEntrypoint(argv []string, env []string, workdir string) {
	if len(argv) == 0 || argv[0] == "" {
		return
	}
	prog := argv[0]
	pathEnv := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	if workdir == "" {
		workdir = "/"
	}
	what := fmt.Sprintf("the entrypoint/cmd program %q", prog)
	n, abs, searched := c.findProgram(prog, pathEnv, workdir)
	if n == nil {
		where := "resolved from the working directory " + workdir
		if !strings.Contains(prog, "/") {
			where = "searched in PATH=" + searched
		}
		c.add(Finding{
			Code:     CodeEntrypointMissing,
			Path:     prog,
			Found:    "not found (" + where + ")",
			Expected: "an executable file",
			Message:  fmt.Sprintf("%s is not in the image (%s); the container fails to start", what, where),
			Cause:    "the program is not copied into the final stage, its path is wrong, or the base image lacks it",
			Fix:      "COPY the program into the final stage at the path the ENTRYPOINT/CMD names, or fix the path",
		})
		return
	}
	if abs != prog {
		what += " (" + abs + ")"
	}
	c.checkExecutable(what, abs, n, pathEnv, 0)
}

// findProgram resolves prog as runc does: a name with a slash from the
// working directory, a bare name through PATH.
func (c *checker) findProgram(prog, pathEnv, workdir string) (*node, string, string) {
	if strings.Contains(prog, "/") {
		p := prog
		if !path.IsAbs(p) {
			p = path.Join(workdir, p)
		}
		n, _ := c.tree.resolve(p)
		if n != nil && n.kind == kindFile {
			return n, path.Clean(p), ""
		}
		return nil, "", ""
	}
	for _, d := range strings.Split(pathEnv, ":") {
		if d == "" {
			d = workdir
		}
		if !path.IsAbs(d) {
			d = path.Join(workdir, d)
		}
		p := path.Join(d, prog)
		if n, _ := c.tree.resolve(p); n != nil && n.kind == kindFile && n.exec {
			return n, p, pathEnv
		}
	}
	return nil, "", pathEnv
}

// checkExecutable checks that n, found at abs, can be executed: an ELF
// executable of the platform or a script whose interpreter is one.
func (c *checker) checkExecutable(what, abs string, n *node, pathEnv string, depth int) {
	bad := func(code Code, found, expected, msg, cause, fix string) {
		c.add(Finding{Code: code, Layer: c.layer(n), Path: abs, Found: found, Expected: expected, Message: msg, Cause: cause, Fix: fix})
	}
	switch {
	case !n.exec:
		bad(CodeEntrypointNotExecutable, "no execute permission", "an executable file",
			fmt.Sprintf("%s has no execute permission; the container fails with 'permission denied'", what),
			"the file was copied without its mode bits", "COPY --chmod=755, or RUN chmod +x "+abs)
	case n.elf != nil && n.elf.Bad != "":
		bad(CodeEntrypointNotExecutable, n.elf.Bad, "a valid ELF executable",
			fmt.Sprintf("%s has a malformed ELF header (%s)", what, n.elf.Bad),
			"the file is corrupted or truncated", "rebuild it")
	case n.elf != nil:
		if c.known && !c.archOK(n.elf) {
			found := elfPlatform(n.elf)
			cause, fix := explainWrongArch(n.elf, c.layer(n), found, c.name)
			bad(CodeEntrypointWrongArch, found+" "+n.elf.describe(), c.name,
				fmt.Sprintf("%s is a %s %s in the %s image; the container fails with 'exec format error'", what, found, n.elf.describe(), c.name),
				cause, fix)
		}
	case n.shebang != "":
		fields := strings.Fields(n.shebang)
		if len(fields) == 0 {
			bad(CodeEntrypointNotExecutable, "#! with no interpreter", "#!/path/to/interpreter",
				fmt.Sprintf("%s is a script whose #! line names no interpreter", what), "", "write the interpreter's path after #!")
			return
		}
		if depth > 0 {
			bad(CodeEntrypointNotExecutable, "#!"+n.shebang, "an ELF interpreter",
				fmt.Sprintf("%s is a script too; the kernel does not run a script as an interpreter", what), "", "point #! at a binary")
			return
		}
		interp := fields[0]
		in, _ := c.tree.resolve(interp)
		inPath := interp
		if in != nil && path.Base(interp) == "env" && len(fields) > 1 && !strings.HasPrefix(fields[1], "-") {
			// #!/usr/bin/env NAME: NAME comes from PATH.
			in, inPath, _ = c.findProgram(fields[1], pathEnv, "/")
			interp = fields[1]
		}
		swhat := fmt.Sprintf("the interpreter %q of script %s", interp, abs)
		if in == nil || in.kind != kindFile {
			bad(CodeEntrypointMissing, "#!"+n.shebang, interp+" in the image",
				fmt.Sprintf("%s is a script for %s, which is not in the image", what, interp),
				"the base image lacks the interpreter (a distroless or scratch base has no shell)",
				"install "+interp+" in the final stage, or make the entrypoint a binary")
			return
		}
		c.checkExecutable(swhat, inPath, in, pathEnv, depth+1)
	default:
		bad(CodeEntrypointNotExecutable, "neither ELF nor #!", "an ELF executable or a #! script",
			fmt.Sprintf("%s is neither an ELF executable nor a #! script; the container fails with 'exec format error'", what),
			"a script without a #! line, or a file that is not a program", "add a #! line, or run it through its interpreter in the ENTRYPOINT")
	}
}
