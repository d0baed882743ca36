package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/imagedump"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
)

const usage = `usage:
  corpusdump buildkit -base OCI-LAYOUT-DIR [-addr ADDR] [-corpus DIR] [-work DIR] [CASE...]
  corpusdump dump [-base REF] [-platform P] REF
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "corpusdump:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "buildkit":
		return runBuildKit(ctx, args[1:], stdout)
	case "dump":
		return runDump(ctx, args[1:], stdout)
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func runDump(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("dump", flag.ContinueOnError)
	base := fs.String("base", "", "base image reference: its paths are left out")
	plat := fs.String("platform", "", "platform of an index to dump (default: the only one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New(usage)
	}
	env := &ref.Env{StoreRoot: os.Getenv("MANYARCH_ROOT")}
	defer env.Close()
	var ps []string
	if *plat != "" {
		ps = []string{*plat}
	}
	img, err := readImage(ctx, env, fs.Arg(0), ps)
	if err != nil {
		return err
	}
	var baseImg v1.Image
	if *base != "" {
		cf, err := img.ConfigFile()
		if err != nil {
			return err
		}
		p := platform.Format(platform.Normalize(specs.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}))
		if baseImg, err = readImage(ctx, env, *base, []string{p}); err != nil {
			return err
		}
	}
	d, err := imagedump.DumpImage(ctx, img, baseImg)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, d.String())
	return err
}

// readImage reads s and selects the platform's image (ps empty: s must be
// one image, or an index of one).
func readImage(ctx context.Context, env *ref.Env, s string, ps []string) (v1.Image, error) {
	r, err := ref.Parse(s)
	if err != nil {
		return nil, err
	}
	a, err := ref.Read(ctx, env, r)
	if err != nil {
		return nil, err
	}
	if len(ps) > 0 {
		want, err := platform.ParseList(ps...)
		if err != nil {
			return nil, err
		}
		if a, err = ref.Select(ctx, a, want); err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
	}
	if img, ok := a.(v1.Image); ok {
		return img, nil
	}
	es, err := image.Entries(ctx, a)
	if err != nil {
		return nil, err
	}
	idx, ok := a.(v1.ImageIndex)
	if !ok || len(es) != 1 {
		return nil, fmt.Errorf("%s holds %d images: choose one with -platform", s, len(es))
	}
	return idx.Image(es[0].Descriptor.Digest)
}

func runBuildKit(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("buildkit", flag.ContinueOnError)
	base := fs.String("base", "", "OCI layout directory holding "+imagedump.BaseImage+" (required)")
	addr := fs.String("addr", os.Getenv("BUILDKIT_HOST"), "buildkitd address (default $BUILDKIT_HOST)")
	corpus := fs.String("corpus", imagedump.CorpusDir, "the corpus directory")
	work := fs.String("work", "", "directory for contexts, results and logs (default: a temporary one, removed)")
	buildctl := fs.String("buildctl", "buildctl", "the buildctl binary")
	timeout := fs.Duration("timeout", 10*time.Minute, "time bound of one case's build")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" || *addr == "" {
		return fmt.Errorf("-base and -addr (or $BUILDKIT_HOST) are required\n%s", usage)
	}
	digest, err := layoutDigest(*base)
	if err != nil {
		return err
	}
	cases, err := imagedump.LoadCorpus(*corpus)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		cases, err = pick(cases, fs.Args())
		if err != nil {
			return err
		}
	}
	if *work == "" {
		dir, err := os.MkdirTemp("", "corpusdump-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*work = dir
	}
	env := &ref.Env{StoreRoot: filepath.Join(*work, "store")}
	defer env.Close()
	var failed []string
	for _, c := range cases {
		start := time.Now()
		if err := buildCase(ctx, env, c, caseRun{buildctl: *buildctl, addr: *addr, base: *base, digest: digest,
			work: filepath.Join(*work, c.Name), timeout: *timeout}); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(stdout, "FAIL %s: %v\n", c.Name, err)
			failed = append(failed, c.Name)
			continue
		}
		fmt.Fprintf(stdout, "ok   %s (%d platforms, %.1fs)\n", c.Name, len(c.Platforms), time.Since(start).Seconds())
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d cases did not build with BuildKit: %s", len(failed), len(cases), strings.Join(failed, " "))
	}
	return nil
}

func pick(cases []*imagedump.Case, names []string) ([]*imagedump.Case, error) {
	byName := map[string]*imagedump.Case{}
	for _, c := range cases {
		byName[c.Name] = c
	}
	var out []*imagedump.Case
	for _, n := range names {
		c, ok := byName[filepath.Base(n)]
		if !ok {
			return nil, fmt.Errorf("no case %q in the corpus", n)
		}
		out = append(out, c)
	}
	return out, nil
}

// layoutDigest is the digest of the OCI layout's one index.json entry:
// BuildKit takes a layout's image by digest.
func layoutDigest(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return "", fmt.Errorf("reading the base layout: %w", err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		return "", fmt.Errorf("%s/index.json: %w", dir, err)
	}
	if len(idx.Manifests) != 1 {
		return "", fmt.Errorf("%s/index.json: %d entries, want the one of %s", dir, len(idx.Manifests), imagedump.BaseImage)
	}
	return idx.Manifests[0].Digest.String(), nil
}

type caseRun struct {
	buildctl, addr, base, digest, work string
	timeout                            time.Duration
}

// buildArgs is buildctl's command line for case c.
func (r caseRun) buildArgs(c *imagedump.Case, ctxDir, out string) []string {
	args := []string{"--addr", r.addr, "build", "--progress", "plain", "--frontend", "dockerfile.v0",
		"--no-cache", "--local", "context=" + ctxDir, "--local", "dockerfile=" + ctxDir,
		"--oci-layout", "corpusbase=" + r.base,
		"--opt", "context:" + imagedump.BaseImage + "=oci-layout://corpusbase@" + r.digest,
		"--opt", "platform=" + strings.Join(c.Platforms, ","),
		"--output", "type=oci,dest=" + out}
	if c.Target != "" {
		args = append(args, "--opt", "target="+c.Target)
	}
	for _, k := range sortedKeys(c.BuildArgs) {
		args = append(args, "--opt", "build-arg:"+k+"="+c.BuildArgs[k])
	}
	for _, id := range sortedKeys(c.Secrets) {
		args = append(args, "--secret", "id="+id+",src="+c.SecretPath(id))
	}
	return args
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func buildCase(ctx context.Context, env *ref.Env, c *imagedump.Case, r caseRun) error {
	if err := os.RemoveAll(r.work); err != nil {
		return err
	}
	if err := os.MkdirAll(r.work, 0o755); err != nil {
		return err
	}
	ctxDir := filepath.Join(r.work, "context")
	if err := c.Prepare(ctxDir); err != nil {
		return err
	}
	out := filepath.Join(r.work, "buildkit.tar")
	bctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	cmd := exec.CommandContext(bctx, r.buildctl, r.buildArgs(c, ctxDir, out)...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	err := cmd.Run()
	if werr := os.WriteFile(filepath.Join(r.work, "buildkit.log"), log.Bytes(), 0o644); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("buildctl: %w\n%s", err, lastLines(log.String(), 15))
	}
	dumps := map[string]string{}
	for _, p := range c.Platforms {
		img, err := readImage(ctx, env, "oci-archive:"+out, []string{p})
		if err != nil {
			return err
		}
		baseImg, err := readImage(ctx, env, "oci:"+r.base, []string{p})
		if err != nil {
			return fmt.Errorf("base image: %w", err)
		}
		d, err := imagedump.DumpImage(ctx, img, baseImg)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		dumps[p] = d.String()
	}
	// Every platform dumped before any file is written: a failed case
	// leaves the old expected dumps as they were.
	dir := filepath.Join(c.Dir, "expected")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.dump"))
	keep := map[string]bool{}
	for _, p := range c.Platforms {
		text := dumps[p]
		keep[c.ExpectedPath(p)] = true
		if err := ref.AtomicFile(c.ExpectedPath(p), func(w io.Writer) error {
			_, err := io.WriteString(w, text)
			return err
		}); err != nil {
			return err
		}
	}
	for _, f := range old {
		if !keep[f] {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
