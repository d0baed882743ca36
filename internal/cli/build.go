package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/manyarch/manyarch/internal/cgroup"
	"github.com/manyarch/manyarch/internal/emulation"
	"github.com/manyarch/manyarch/internal/engine"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/progress"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/remote"
	"github.com/manyarch/manyarch/internal/sshagent"
)

type buildOptions struct {
	extra         buildExtra   // --check, --load
	sources       buildSources // --pull: build_sources.go
	limits        limitFlags   // --add-host, --ulimit, --shm-size
	network       string
	file          string
	tags          []string
	platform      platformFlags
	buildArgs     []string
	target        string
	labels        []string
	annotations   []string
	outputs       []string
	push          bool
	pushByDigest  bool
	digestsDir    string
	iidfile       string
	metadataFile  string
	progress      string
	quiet         bool
	jobs          int
	noCache       bool
	noCacheFilter []string
	secrets       []string
	ssh           []string
	cacheFrom     []string
	cacheTo       []string
	insecure      bool
	emulation     string
	memoryLimit   string
	allow         []string
	addMaxSize    string
	addTimeout    time.Duration
	builder       builderFlag // --builder: build_builder.go

	// --sbom, --provenance, --attest (internal/engine/attest.go)
	sbom, provenance string
	attest           []string
}

func newBuildCmd(g *globalOptions) *cobra.Command { // long: most of it is the help text and one line per flag
	o := &buildOptions{}
	cmd := &cobra.Command{
		Use:   "build [flags] CONTEXT",
		Short: "Build a Dockerfile for one or many platforms, with no daemon",
		Long: `Build the Dockerfile in CONTEXT (or -f FILE) for every --platform, as
'docker buildx build' does, in this process: no daemon, no builder instance.

Each platform builds in parallel within -j jobs. A RUN step for a platform the
host cannot run natively runs under QEMU user-mode emulation, through a host
binfmt_misc handler or a private one registered inside the step's sandbox
(nothing changes on the host). A stage pinned with FROM --platform=$BUILDPLATFORM
runs natively and, when it does not use TARGET* arguments, once for all
platforms. The summary lists the emulated steps and their time.

Bases are read from the store first, then from their registry; oci:DIR,
oci-archive:FILE and docker-archive:FILE references work in FROM, and 'scratch'
is the empty image. --pull reads each base named with a registry host and a
tag (HOST/NAME:TAG, docker.io/library/NAME) from that registry even when the
store has it, so a moved tag is built on (and cached steps after it rebuilt),
and updates the store's copy; a name without a host is a store name and is
read from the store (a warning says so). --build-context NAME=DIR makes
COPY --from=NAME and RUN --mount from=NAME read that directory as they read
the context (with the .dockerignore at its root) and FROM NAME start from its
files; NAME=docker-image://REF (or oci-layout://DIR:TAG) makes them use that
image; either replaces a stage named NAME. Step results are cached in the store (--no-cache to
rebuild); an unchanged rebuild reuses every step.

Outputs: -t NAME tags the result (an index of every platform) in the store,
--push also pushes the -t names, and -o adds buildx outputs:
  -o type=oci,dest=FILE        OCI archive of the whole index
  -o type=docker,dest=FILE     docker-archive (one platform)
  -o type=local,dest=DIR       the file system (DIR/linux_arm64 ... for several platforms)
  -o type=tar,dest=FILE        the file system as a tar (FILE-linux_arm64.tar ... for several)
  -o type=registry             push the -t names (as --push)
  -o type=registry,push-by-digest=true
                               push to the -t repositories with no tag, as
                               REPO@DIGEST (--push-by-digest): one platform
                               pushes its image manifest, several their index;
                               with --sbom/--provenance one platform pushes
                               its index too, attestations kept (as buildx)
compression=gzip|zstd|uncompressed on any -o sets the layer compression.
Nothing is tagged unless every platform built.

--cache-to type=local,dest=DIR writes the cache records and layers the build
used to DIR; --cache-from type=local,src=DIR lets a build on another machine
or store reuse them (per platform). --cache-to type=registry,ref=REF pushes
them as one image to REF (every platform's records in it, so each platform
alone can reuse a multi-platform build's cache; mode=min|max is accepted and
ignored: every step's result is exported); --cache-from type=registry,ref=REF
fetches layers from it as steps need them (a missing REF is a warning). A
failed registry cache export fails the command after the image is written.

--memory-limit SIZE (512m, 2g) bounds the memory and swap of all RUN steps
of the build together, emulators included: they run in one cgroup (root, or
a delegated cgroup v2 subtree). A step the out-of-memory killer stops fails
the build with an error that names it and the limit.

RUN steps run as BuildKit's do: host name buildkitsandbox, no HOSTNAME
variable unless the Dockerfile sets one (ENV HOSTNAME=...), the user's
primary group among its groups. --add-host, --ulimit and --shm-size apply
to every RUN step and --network none takes their network away, as buildx's
do; there is no --hostname (nor BUILDKIT_SANDBOX_HOSTNAME) for builds yet.

ADD <url> downloads fail when the server sends nothing for --add-timeout
(connecting, answering or mid-body; default 60s), when the file is larger
than --add-max-size (default 1g; "unlimited" lifts the bound), and after 10
redirects.

RUN --mount=type=ssh gives the step an SSH agent socket (SSH_AUTH_SOCK), as
buildx: --ssh default forwards the agent at $SSH_AUTH_SOCK, --ssh ID=SOCKET
another agent, --ssh ID=KEY[,KEY] serves unencrypted private key files from
an agent of manyarch's own. The step may list keys and sign; no key enters a
layer, the cache or the output.

RUN --security=insecure runs its step privileged (every capability, no
seccomp filter, /proc and /sys unmasked), as BuildKit's insecure mode; a
Dockerfile asking for it builds only with --allow security.insecure.

-o type=local drops the setuid and setgid bits and skips the device nodes of
the image (with a warning naming them), so an untrusted base cannot put a
setuid-root program or a writable device on the host; add unsafe-keep=true
(-o type=local,dest=DIR,unsafe-keep=true) to export them as they are, as root,
when you mean to export a root file system.`,
		Example: `  manyarch build --platform linux/amd64,linux/arm64,linux/arm/v7 -t hello:1.0 examples/hello
  manyarch build --platform linux/amd64,linux/arm64 -j 2 --memory-limit 2g -t app:ci .
  manyarch build -t app:dev --build-arg BASE=fixtures/busybox:1.35 .
  manyarch build --pull -t app:dev --build-arg BASE=localhost:5000/hello:1.0 .
  printf 'FROM fixtures/busybox:1.35\nCOPY --from=bin hello /usr/local/bin/\n' | manyarch build -f - --build-context bin=./hello-rootfs -t hello:bb .
  manyarch build --platform linux/arm64 -o type=oci,dest=app.tar .
  manyarch build --platform linux/amd64,linux/arm64 --sbom --provenance=mode=max -t app:1.0 .
  manyarch build --platform linux/amd64,linux/riscv64 -o type=local,dest=out --progress plain .
  manyarch build --platform linux/amd64,linux/arm64 --cache-to type=local,dest=/tmp/cache --cache-from type=local,src=/tmp/cache .
  manyarch build --allow security.insecure -t tools:1 .
  manyarch build --ssh default -t app:dev .
  manyarch build --ssh github=$HOME/.ssh/id_ed25519 -t app:dev .
  manyarch build --build-context base=docker-image://fixtures/busybox:1.35 --build-arg BASE=base -t app:ctx .
  manyarch build --build-context base=oci-layout://./out:latest --build-arg BASE=base -t app:layout .
  manyarch build --add-max-size 4g --add-timeout 5m -t data:1 .
  cat Dockerfile | manyarch build -f - -q .`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, g, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", `Dockerfile to build, "-" for standard input (default CONTEXT/Dockerfile)`)
	f.StringArrayVarP(&o.tags, "tag", "t", nil, "name the result in the store, NAME[:TAG] (repeatable)")
	o.platform.AddFlags(cmd, "target platforms, e.g. linux/amd64,linux/arm64 (comma list, repeatable; default: the host's)")
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "set a build argument: KEY=VALUE, or KEY to pass the environment's value (repeatable)")
	f.StringVar(&o.target, "target", "", "build this stage (default: the last)")
	f.StringArrayVar(&o.labels, "label", nil, "add a label to the images: KEY=VALUE (repeatable)")
	f.StringArrayVar(&o.annotations, "annotation", nil, "add an annotation: KEY=VALUE (manifests), index:KEY=VALUE, manifest[linux/arm64]:KEY=VALUE, manifest-descriptor:KEY=VALUE (repeatable)")
	f.StringArrayVarP(&o.outputs, "output", "o", nil, "add an output: type=oci|docker|local|tar|registry|image,dest=...,compression=... (repeatable)")
	f.BoolVar(&o.push, "push", false, "push the -t names to their registries")
	f.StringVar(&o.iidfile, "iidfile", "", "write the result's digest (the index for several platforms, else the manifest) to a file")
	f.BoolVar(&o.pushByDigest, "push-by-digest", false, "push to the -t repositories by digest only, with no tag (as -o type=registry,push-by-digest=true); merge per-platform digests with 'manyarch index create'")
	f.StringVar(&o.digestsDir, "digests-dir", "", "write an empty file named after the result's digest (hex, no sha256:) into DIR, as buildx CI jobs collect digests for a merge job")
	f.StringVar(&o.metadataFile, "metadata-file", "", "write the build result as JSON: index digest and per-platform digests")
	f.StringVar(&o.progress, "progress", "auto", "progress output: auto, tty, plain or json (buildx's rawjson is BuildKit's raw solve status, which manyarch has not: json has the same events)")
	o.limits.AddFlags(f)
	f.StringVar(&o.network, "network", "default", "network of RUN steps: default (the host's, as manyarch's RUN always has it), host, or none (no network but loopback)")
	f.BoolVar(&o.extra.check, "check", false, "check the Dockerfile and the build's plan (base images resolved), print the warnings and build nothing; exit 1 when there are any (as buildx build --check)")
	f.BoolVar(&o.extra.load, "load", false, "load the single-platform result into the docker (or podman) engine that answers, as buildx --load; without one, use -o type=docker,dest=FILE")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print only the result's digest")
	f.IntVarP(&o.jobs, "jobs", "j", 0, "steps run at once; an emulated RUN counts double (default: twice the number of CPUs)")
	f.BoolVar(&o.noCache, "no-cache", false, "do not reuse cached steps")
	f.StringArrayVar(&o.noCacheFilter, "no-cache-filter", nil, "do not reuse cached steps of this stage (repeatable)")
	f.StringArrayVar(&o.cacheFrom, "cache-from", nil, "also reuse build cache: type=local,src=DIR or type=registry,ref=REF (repeatable)")
	f.StringArrayVar(&o.cacheTo, "cache-to", nil, "write the build cache this build used: type=local,dest=DIR or type=registry,ref=REF")
	f.StringArrayVar(&o.secrets, "secret", nil, "a secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR (repeatable)")
	f.StringArrayVar(&o.ssh, "ssh", nil, "an SSH agent or keys for RUN --mount=type=ssh: default (the agent at $SSH_AUTH_SOCK), ID=SOCKET or ID=KEYFILE[,KEYFILE] (unencrypted keys; repeatable)")
	f.BoolVar(&o.insecure, "insecure", false, "allow plain HTTP and unverified TLS for registries")
	f.StringVar(&o.memoryLimit, "memory-limit", "", "bound the memory (and swap) of all RUN steps together, e.g. 2g (default: no limit)")
	f.StringArrayVar(&o.allow, "allow", nil, "grant an entitlement: security.insecure lets RUN --security=insecure run privileged (repeatable)")
	f.StringVar(&o.sbom, "sbom", "", "attach an SPDX SBOM of each platform's image as an attestation: true or false (see manyarch sbom)")
	f.StringVar(&o.provenance, "provenance", "", "attach SLSA provenance v1 of each platform as an attestation: true (mode=min), false, mode=min or mode=max (max adds build argument values)")
	f.StringArrayVar(&o.attest, "attest", nil, "attach an attestation: type=sbom, or type=provenance[,mode=min|max] (repeatable; disabled=true turns one off)")
	f.Lookup("sbom").NoOptDefVal, f.Lookup("provenance").NoOptDefVal = "true", "true"
	f.StringVar(&o.addMaxSize, "add-max-size", "", `bound each ADD <url> download, e.g. 4g, or "unlimited" (default 1g)`)
	f.DurationVar(&o.addTimeout, "add-timeout", engine.DefaultDownloadTimeout, "fail an ADD <url> whose server sends nothing for this long")
	f.StringVar(&o.emulation, "emulation", string(emulation.ModeAuto), "how RUN steps of other architectures run: auto, host, private or none (see manyarch run); private and host emulate even a platform the host runs natively (linux/386 on amd64)")
	o.builder.addFlag(cmd)
	o.sources.addFlags(f)
	return cmd
}

// maxDockerfileSize bounds a Dockerfile read from standard input (BuildKit's
// frontend refuses larger ones too).
const maxDockerfileSize = 16 << 20

// readDockerfile reads the Dockerfile at name, at most maxDockerfileSize
// bytes of a regular file (not a device or a pipe that never ends).
func readDockerfile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxDockerfileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxDockerfileSize {
		return nil, fmt.Errorf("%s is larger than %d MiB: is it the right file?", name, maxDockerfileSize>>20)
	}
	return b, nil
}

// sizes sets --memory-limit and --add-max-size on req.
func (o *buildOptions) sizes(req *engine.Request) error {
	if o.memoryLimit != "" {
		n, err := cgroup.ParseSize(o.memoryLimit)
		if err != nil {
			return fmt.Errorf("--memory-limit: %w", err)
		}
		req.MemoryLimit = n
	}
	switch o.addMaxSize {
	case "":
	case "unlimited":
		req.DownloadMaxSize = -1
	default:
		n, err := cgroup.ParseSize(o.addMaxSize)
		if err != nil {
			return fmt.Errorf("--add-max-size %s: want a size of at least 6m, such as 512m or 4g, or unlimited", o.addMaxSize)
		}
		req.DownloadMaxSize = n
	}
	return nil
}

// request reads the flags and the Dockerfile into a Request. A flag value
// it cannot read is a usage error (exit status 2); a file, directory or
// socket a readable value names is checked when it is used (exit status 1).
func (o *buildOptions) request(cmd *cobra.Command, contextDir string) (*engine.Request, error) {
	usage := func(err error) error { return newUsageError(cmd, err) }
	req := &engine.Request{ContextDir: contextDir, Target: o.target, Tags: o.tags, Push: o.push,
		Annotations: o.annotations, NoCache: o.noCache, NoCacheFilter: o.noCacheFilter, Jobs: o.jobs}
	if o.jobs < 0 {
		return nil, usage(fmt.Errorf("--jobs must be at least 1, not %d", o.jobs))
	}
	if err := o.sizes(req); err != nil {
		return nil, usage(err)
	}
	if err := o.sources.apply(req); err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return nil, err
		}
		return nil, usage(err)
	}
	if o.addTimeout <= 0 {
		return nil, usage(fmt.Errorf("--add-timeout %s: want a positive duration, e.g. 60s or 5m", o.addTimeout))
	}
	req.DownloadTimeout = o.addTimeout
	for _, a := range o.allow {
		req.Allow = append(req.Allow, strings.Split(a, ",")...)
	}
	if err := engine.CheckAllow(req.Allow); err != nil {
		return nil, usage(err)
	}
	switch o.network {
	case "default", "host", "none":
		req.Network = o.network
	default:
		return nil, usage(fmt.Errorf("--network %q: want default, host or none", o.network))
	}
	var err error
	if req.ExtraHosts, req.Ulimits, req.ShmSize, err = o.limits.parsed(); err != nil {
		return nil, usage(err)
	}
	ps, err := o.platform.Platforms()
	if err != nil {
		return nil, usage(err)
	}
	req.Platforms = ps
	switch fi, err := os.Stat(contextDir); {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("build context %s: no such directory: give the directory holding the files the Dockerfile copies (often .)", contextDir)
	case err != nil:
		return nil, fmt.Errorf("build context %s: %w", contextDir, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("build context %s is not a directory: give the directory holding the files the Dockerfile copies, and the Dockerfile with -f FILE", contextDir)
	}
	switch o.file {
	case "-":
		b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxDockerfileSize+1))
		if err != nil {
			return nil, fmt.Errorf("reading the Dockerfile from standard input: %w", err)
		}
		if len(b) > maxDockerfileSize {
			return nil, fmt.Errorf("the Dockerfile on standard input is larger than %d MiB: is it the right file?", maxDockerfileSize>>20)
		}
		req.Dockerfile, req.DockerfileName = b, "-"
	default:
		name := o.file
		if name == "" {
			name = filepath.Join(contextDir, "Dockerfile")
		}
		b, err := readDockerfile(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && o.file == "" {
				return nil, fmt.Errorf("no Dockerfile in %s: add one, or name it with -f FILE", contextDir)
			}
			return nil, fmt.Errorf("reading the Dockerfile: %w", err)
		}
		req.Dockerfile, req.DockerfileName = b, name
	}
	if req.BuildArgs, err = buildKeyValues("--build-arg", o.buildArgs, true); err != nil {
		return nil, usage(err)
	}
	if req.Labels, err = buildKeyValues("--label", o.labels, false); err != nil {
		return nil, usage(err)
	}
	outputs := o.outputs
	if o.pushByDigest {
		outputs = append(outputs, "type=registry,push-by-digest=true")
	}
	for _, s := range outputs {
		out, err := engine.ParseOutput(s)
		if err != nil {
			return nil, usage(err) // ParseOutput's errors quote the -o value
		}
		req.Outputs = append(req.Outputs, out)
	}
	for _, list := range []struct {
		flag string
		in   []string
		out  *[]engine.Output
	}{{"--cache-from", o.cacheFrom, &req.CacheFrom}, {"--cache-to", o.cacheTo, &req.CacheTo}} {
		for _, s := range list.in {
			c, err := engine.ParseAttrs(s)
			if err != nil || c.Type == "" {
				return nil, usage(fmt.Errorf("%s %s: want type=local,%s=DIR or type=registry,ref=REF", list.flag, s, map[string]string{"--cache-from": "src", "--cache-to": "dest"}[list.flag]))
			}
			*list.out = append(*list.out, c)
		}
	}
	att, err := engine.ParseAttest(o.sbom, o.provenance, o.attest)
	if err != nil {
		return nil, usage(err)
	}
	att.BuilderVersion = version
	req.Attest = att
	for _, s := range o.secrets {
		sec, err := engine.ParseAttrs(s)
		if err != nil || sec.Attrs["id"] == "" {
			return nil, usage(fmt.Errorf("--secret %s: want id=ID,src=FILE or id=ID,env=VAR", s))
		}
		req.Secrets = append(req.Secrets, sec)
	}
	for _, s := range o.ssh {
		spec, err := sshagent.ParseSpec(s)
		if err != nil {
			return nil, usage(err)
		}
		req.SSH = append(req.SSH, spec)
	}
	if v, ok := os.LookupEnv("SOURCE_DATE_EPOCH"); ok && v != "" {
		if _, set := req.BuildArgs["SOURCE_DATE_EPOCH"]; !set {
			if req.BuildArgs == nil {
				req.BuildArgs = map[string]string{}
			}
			req.BuildArgs["SOURCE_DATE_EPOCH"] = v
		}
	}
	return req, nil
}

// buildKeyValues parses KEY=VALUE flags; with fromEnv, KEY alone takes the
// environment's value (and is dropped when unset, as docker does).
func buildKeyValues(flag string, in []string, fromEnv bool) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, s := range in {
		k, v, ok := strings.Cut(s, "=")
		if k == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, s)
		}
		if !ok {
			if !fromEnv {
				return nil, fmt.Errorf("%s %q: want KEY=VALUE", flag, s)
			}
			ev, set := os.LookupEnv(k)
			if !set {
				continue
			}
			v = ev
		}
		out[k] = v
	}
	return out, nil
}

func (o *buildOptions) run(cmd *cobra.Command, g *globalOptions, contextDir string) error {
	ctx := cmd.Context()
	if o.progress == "rawjson" {
		return newUsageError(cmd, errors.New("--progress rawjson: that is BuildKit's raw solve status, which manyarch's engine does not have; --progress json prints manyarch's events as JSON lines"))
	}
	mode, err := progress.ParseMode(o.progress)
	if err != nil {
		return newUsageError(cmd, fmt.Errorf("--progress: %w", err))
	}
	emu, err := emulation.ParseMode(o.emulation)
	if err != nil {
		return newUsageError(cmd, fmt.Errorf("--emulation: %w", err))
	}
	req, err := o.request(cmd, contextDir)
	if err != nil {
		return err
	}
	if err := o.extra.prepareLoad(ctx, o, req); err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	if o.quiet {
		mode = progress.ModeQuiet
	}
	printer := progress.NewPrinter(stderr, mode)
	printer.ShowIDs(g.verbose > 0)
	req.Progress = printer.Event
	env := g.newEnv(stderr, nil)
	env.Remote = append(env.Remote, remote.WithInsecure(o.insecure))
	defer env.Close()
	eng, err := o.builder.engine(g, env, stderr, engine.NewNative(engine.NativeOptions{Env: env, Emulation: emu, Logger: g.logger(stderr)}), o.extra.check)
	if err != nil {
		return err
	}
	req.CheckOnly = o.extra.check
	began := time.Now()
	res, err := eng.Build(ctx, req)
	printer.Close()
	if err != nil {
		return err
	}
	if o.extra.check {
		return printCheckResult(stderr, res)
	}
	if err := o.extra.finishLoad(ctx, cmd.OutOrStdout(), stderr); err != nil {
		return err
	}
	if !o.quiet && mode != progress.ModeJSON {
		for _, w := range res.Warnings {
			fmt.Fprintf(stderr, "%s %s\n", paint(stderr, colorYellow, "WARNING:"), w)
		}
		for _, w := range platformMismatchWarnings(res) {
			fmt.Fprintf(stderr, "%s %s\n", paint(stderr, colorYellow, "WARNING:"), w)
		}
		for _, l := range buildSummary(res, time.Since(began)) {
			fmt.Fprintln(stderr, l)
		}
		for _, l := range engine.Summary(res) {
			fmt.Fprintln(stderr, l)
		}
		for _, pr := range res.Platforms {
			fmt.Fprintf(stderr, "%-16s %s\n", platform.Format(pr.Platform), pr.Manifest.Digest)
		}
		printPulled(stderr, res)
		for _, t := range o.tags {
			if r, err := ref.Parse(t); err == nil && r.Transport == ref.Store {
				fmt.Fprintf(stderr, "tagged %s in the local store%s\n", t, notPushedHint(t, o.push || len(res.Pushed) > 0))
			}
		}
		if len(o.tags) == 0 && len(o.outputs) == 0 && !o.pushByDigest && !o.extra.load {
			fmt.Fprintln(stderr, "WARNING: no -t or -o given: the result remains only in the build cache (a later gc may drop it); name it with -t NAME, push it with -t REGISTRY/REPO:TAG --push, or write it with -o type=oci,dest=FILE")
		}
	}
	id := resultDigest(res)
	if o.iidfile != "" {
		if err := os.WriteFile(o.iidfile, []byte(id), 0o644); err != nil {
			return fmt.Errorf("--iidfile: %w", err)
		}
	}
	if !o.quiet {
		for _, p := range res.Pushed {
			if p.ByDigest {
				fmt.Fprintf(stderr, "pushed by digest to registry: %s\n", p.Ref)
			} else {
				fmt.Fprintf(stderr, "pushed to registry: %s (%s)\n", p.Ref, p.Digest)
			}
		}
	}
	if o.digestsDir != "" {
		if err := os.MkdirAll(o.digestsDir, 0o755); err != nil {
			return fmt.Errorf("--digests-dir: %w", err)
		}
		f := filepath.Join(o.digestsDir, strings.TrimPrefix(id, "sha256:"))
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			return fmt.Errorf("--digests-dir: %w", err)
		}
	}
	if o.metadataFile != "" {
		if err := writeMetadata(o.metadataFile, res, o.tags); err != nil {
			return fmt.Errorf("--metadata-file: %w", err)
		}
	}
	if o.quiet {
		fmt.Fprintln(cmd.OutOrStdout(), id)
	}
	return nil
}

// resultDigest is what a push by digest pushed; else the index digest for
// several platforms, the image manifest's for one.
func resultDigest(res *engine.Result) string {
	// What was pushed by digest is what a merge job lists: with
	// attestations, one platform's index rather than its manifest.
	for _, p := range res.Pushed {
		if p.ByDigest {
			return p.Digest.String()
		}
	}
	if len(res.Platforms) == 1 {
		return res.Platforms[0].Manifest.Digest.String()
	}
	return res.Index.Digest.String()
}

// buildMetadata is the --metadata-file JSON: buildx's keys plus one entry
// per platform.
type buildMetadata struct {
	Digest     string             `json:"containerimage.digest"`
	Descriptor any                `json:"containerimage.descriptor"`
	ImageName  string             `json:"image.name,omitempty"`
	Index      string             `json:"manyarch.index.digest"`
	Platforms  []platformMetadata `json:"manyarch.platforms"`
}

type platformMetadata struct {
	Platform string        `json:"platform"`
	Manifest string        `json:"manifest"`
	Config   string        `json:"config"`
	Steps    int           `json:"steps"`
	Cached   int           `json:"cached"`
	Emulated int           `json:"emulated"`
	Duration jsonDurations `json:"emulatedMs"`
}

type jsonDurations int64

func writeMetadata(file string, res *engine.Result, tags []string) error {
	m := buildMetadata{Digest: resultDigest(res), Descriptor: res.Index, Index: res.Index.Digest.String(),
		ImageName: strings.Join(tags, ",")}
	if len(res.Platforms) == 1 {
		m.Descriptor = res.Platforms[0].Manifest
	}
	for _, pr := range res.Platforms {
		pm := platformMetadata{Platform: platform.Format(pr.Platform), Manifest: pr.Manifest.Digest.String(), Config: pr.Config.String(), Steps: len(pr.Steps)}
		for _, s := range pr.Steps {
			if s.Cached {
				pm.Cached++
			}
			if s.Emulated {
				pm.Emulated++
				pm.Duration += jsonDurations(s.Duration.Milliseconds())
			}
		}
		m.Platforms = append(m.Platforms, pm)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}
