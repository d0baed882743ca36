package engine

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/index"
	"github.com/manyarch/manyarch/internal/platform"
	"github.com/manyarch/manyarch/internal/ref"
	"github.com/manyarch/manyarch/internal/snapshot"
	"github.com/manyarch/manyarch/internal/store"
)

// outputPlan is the checked form of a Request's outputs.
type outputPlan struct {
	compression Compression
	tags        []ref.Reference // -t and type=image,name=: written to the store
	push        []ref.Reference // pushed to their registries
	byDigest    bool            // push-by-digest=true: pushed with no tag, as REPO@DIGEST
	files       []Output        // oci, docker, local, tar
	annotations annotations
}

// checkOutputs validates the outputs before anything is built, so that a
// build that cannot be written fails at once.
func checkOutputs(req *Request) (*outputPlan, error) {
	op := &outputPlan{compression: CompressionGzip}
	compSet := false
	names := append([]string(nil), req.Tags...)
	push := req.Push
	nplat := len(req.Platforms)
	for _, o := range req.Outputs {
		if c, ok := o.Attrs["compression"]; ok {
			comp, err := ParseCompression(c)
			if err != nil {
				return nil, err
			}
			if compSet && comp != op.compression {
				return nil, fmt.Errorf("%w: outputs ask for different compressions (%s and %s): the layers are shared, pick one", ErrBadOutput, op.compression, comp)
			}
			op.compression, compSet = comp, true
		}
		if v, ok := o.Attrs[attrPushByDigest]; ok {
			b, err := strconv.ParseBool(v)
			if err != nil || (o.Type != "image" && o.Type != "registry") {
				return nil, fmt.Errorf("%w: -o type=%s,%s=%s: want true or false, with type=registry or type=image", ErrBadOutput, o.Type, attrPushByDigest, v)
			}
			op.byDigest = op.byDigest || b
		}
		switch o.Type {
		case "image":
			if n := o.Attrs["name"]; n != "" {
				names = append(names, strings.Split(n, ",")...)
			}
			if o.Attrs["push"] == "true" {
				push = true
			}
		case "registry":
			if n := o.Attrs["name"]; n != "" {
				names = append(names, strings.Split(n, ",")...)
			}
			push = true
		case "docker":
			if nplat > 1 {
				var ps []string
				for _, p := range req.Platforms {
					ps = append(ps, platform.Format(p))
				}
				return nil, fmt.Errorf("%w: -o type=docker holds one image, and this build has %d platforms (%s): use -o type=oci,dest=FILE for all of them, or build one --platform per docker archive",
					ErrBadOutput, nplat, strings.Join(ps, ", "))
			}
			if o.Dest == "" || o.Dest == "-" {
				return nil, fmt.Errorf("%w: -o type=docker needs dest=FILE (there is no docker daemon to load into)", ErrBadOutput)
			}
			op.files = append(op.files, o)
		case "oci", "tar", "local":
			if v, ok := o.Attrs[attrUnsafeKeep]; ok {
				if o.Type != "local" {
					return nil, fmt.Errorf("%w: -o type=%s: %s= applies to type=local only", ErrBadOutput, o.Type, attrUnsafeKeep)
				}
				if _, err := strconv.ParseBool(v); err != nil {
					return nil, fmt.Errorf("%w: -o type=local,%s=%s: want true or false", ErrBadOutput, attrUnsafeKeep, v)
				}
			}
			if o.Dest == "-" {
				return nil, fmt.Errorf("%w: -o type=%s,dest=-: writing to standard output is not supported; give a file", ErrBadOutput, o.Type)
			}
			op.files = append(op.files, o)
		default:
			return nil, fmt.Errorf("%w: unknown output type %q", ErrBadOutput, o.Type)
		}
	}
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		r, err := ref.Parse(n)
		if err != nil {
			return nil, fmt.Errorf("-t %s: %w", n, err)
		}
		switch r.Transport {
		case ref.Store:
			if r.Digest() != "" {
				return nil, fmt.Errorf("-t %s: a tag cannot be a digest; write NAME:TAG", n)
			}
			op.tags = append(op.tags, r)
			if push {
				op.push = append(op.push, r)
			}
		case ref.Docker:
			op.push = append(op.push, r)
		default:
			return nil, fmt.Errorf("-t %s: -t names an image in the store or a registry; write other destinations with -o (type=oci,dest=FILE ...)", n)
		}
	}
	if push && len(op.push) == 0 {
		return nil, fmt.Errorf("%w: --push needs a name to push to: add -t REGISTRY/REPO:TAG", ErrBadOutput)
	}
	if op.byDigest && len(op.push) == 0 {
		return nil, fmt.Errorf("%w: push-by-digest needs a repository to push to: add -t REGISTRY/REPO (the tag is not pushed)", ErrBadOutput)
	}
	ann, err := parseAnnotations(req.Annotations)
	if err != nil {
		return nil, err
	}
	op.annotations = ann
	return op, nil
}

// annotations are --annotation values by where they go.
type annotations struct {
	index      map[string]string
	manifest   []platformAnnotation
	descriptor []platformAnnotation
}

type platformAnnotation struct {
	key, value string
	platform   *specs.Platform
}

// parseAnnotations parses buildx's --annotation syntax: KEY=VALUE (on the
// manifests), TYPE:KEY=VALUE or TYPE[PLATFORM]:KEY=VALUE with TYPE one of
// index, manifest, manifest-descriptor.
func parseAnnotations(in []string) (annotations, error) {
	var a annotations
	for _, s := range in {
		kv := s
		typ := "manifest"
		var plat *specs.Platform
		if i := strings.Index(s, ":"); i >= 0 && i < strings.Index(s+"=", "=") {
			typ, kv = s[:i], s[i+1:]
			if j := strings.IndexByte(typ, '['); j >= 0 && strings.HasSuffix(typ, "]") {
				p, err := platform.Parse(typ[j+1 : len(typ)-1])
				if err != nil {
					return a, fmt.Errorf("--annotation %s: %w", s, err)
				}
				plat = &p
				typ = typ[:j]
			}
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return a, fmt.Errorf("--annotation %s: want KEY=VALUE, index:KEY=VALUE or manifest[linux/arm64]:KEY=VALUE", s)
		}
		switch typ {
		case "index":
			if plat != nil {
				return a, fmt.Errorf("--annotation %s: index annotations take no platform", s)
			}
			if a.index == nil {
				a.index = map[string]string{}
			}
			a.index[k] = v
		case "manifest":
			a.manifest = append(a.manifest, platformAnnotation{k, v, plat})
		case "manifest-descriptor":
			a.descriptor = append(a.descriptor, platformAnnotation{k, v, plat})
		default:
			return a, fmt.Errorf("--annotation %s: unknown type %q: want index, manifest or manifest-descriptor", s, typ)
		}
	}
	return a, nil
}

func (a annotations) forPlatform(list []platformAnnotation, p specs.Platform) map[string]string {
	var m map[string]string
	for _, x := range list {
		if x.platform != nil && !platform.Match(*x.platform, p) {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[x.key] = x.value
	}
	return m
}

// writeOutputs writes the index into the store, then every -o output, the
// pushes, and the store tags last.
func (n *Native) writeOutputs(ctx context.Context, st *store.Store, req *Request, op *outputPlan, x *executor, res *Result) error {
	var children []index.Child
	for i, img := range x.images {
		p := res.Platforms[i].Platform
		children = append(children, index.Child{Artifact: img, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
			Annotations: op.annotations.forPlatform(op.annotations.descriptor, p),
		}})
	}
	atts, err := x.attestations(ctx, res)
	if err != nil {
		return err
	}
	children = append(children, atts...)
	idx, err := index.New(types.OCIImageIndex, op.annotations.index, children...)
	if err != nil {
		return fmt.Errorf("making the index: %w", err)
	}
	desc, err := st.WriteIndex(ctx, idx)
	if err != nil {
		return fmt.Errorf("writing the images into the store: %w", err)
	}
	res.Index = desc
	env := n.opts.Env

	for _, o := range op.files {
		switch o.Type {
		case "oci":
			r, err := ref.Parse("oci-archive:" + o.Dest)
			if err != nil {
				return fmt.Errorf("-o type=oci,dest=%s: %w", o.Dest, err)
			}
			if _, err := ref.Write(ctx, env, r, idx); err != nil {
				return fmt.Errorf("-o type=oci,dest=%s: %w", o.Dest, err)
			}
		case "docker":
			s := "docker-archive:" + o.Dest
			if len(op.tags) > 0 {
				s += ":" + op.tags[0].Name
			}
			r, err := ref.Parse(s)
			if err != nil {
				return fmt.Errorf("-o type=docker,dest=%s: %w", o.Dest, err)
			}
			if _, err := ref.Write(ctx, env, r, x.images[0]); err != nil {
				return fmt.Errorf("-o type=docker,dest=%s: %w", o.Dest, err)
			}
		case "local", "tar":
			if err := x.exportFiles(ctx, o, res); err != nil {
				return fmt.Errorf("-o type=%s,dest=%s: %w", o.Type, o.Dest, err)
			}
		}
	}
	// By digest (buildx's push-by-digest=true), one platform pushes its image
	// manifest, as buildx does, so that a merge job can list the digests of
	// several single-platform builds in one index; several push the index.
	// With attestations (--sbom, --provenance) one platform pushes the index
	// too, as buildx does: the image and its attestation manifest, which a
	// bare manifest would leave behind; index create keeps both.
	var pushed image.Artifact = idx
	pushedDigest := desc.Digest
	if op.byDigest && len(x.images) == 1 && len(atts) == 0 {
		pushed, pushedDigest = x.images[0], res.Platforms[0].Manifest.Digest
	}
	for _, r := range op.push {
		target := r.Registry()
		if op.byDigest {
			repo, err := name.ParseReference(target, name.WeakValidation)
			if err != nil {
				return fmt.Errorf("pushing %s: %w", target, err)
			}
			target = repo.Context().Name() + "@" + pushedDigest.String()
		}
		dst, err := ref.Parse("docker://" + target)
		if err != nil {
			return err
		}
		d, err := ref.Write(ctx, env, dst, pushed)
		if err != nil {
			return fmt.Errorf("pushing %s: %w", target, err)
		}
		res.Pushed = append(res.Pushed, Pushed{Ref: target, Digest: d.Digest, ByDigest: op.byDigest})
	}
	for _, r := range op.tags {
		if err := st.Tag(ctx, r.Name, desc); err != nil {
			return fmt.Errorf("tagging %s: %w", r.Name, err)
		}
	}
	return nil
}

// attrPushByDigest (-o type=registry,push-by-digest=true, buildx's
// spelling; --push-by-digest) pushes the result with no tag, as REPO@DIGEST.
const attrPushByDigest = "push-by-digest"

// attrUnsafeKeep (-o type=local,dest=DIR,unsafe-keep=true) exports device
// nodes and setuid/setgid bits as the image has them.
const attrUnsafeKeep = "unsafe-keep"

// exportFiles writes each platform's file system to a directory (type=local:
// DEST itself for one platform, DEST/os_arch[_variant] for several, as
// buildx) or a tar file (type=tar). A directory export leaves out the
// image's device nodes and drops its setuid and setgid bits, with a
// warning naming them, unless unsafe-keep=true: an untrusted base must not
// put a setuid-root shell or a world-writable disk device on the host.
func (x *executor) exportFiles(ctx context.Context, o Output, res *Result) error {
	multi := len(res.Platforms) > 1
	if o.Type == "local" {
		if err := os.MkdirAll(o.Dest, 0o755); err != nil {
			return err
		}
	}
	for i, pr := range res.Platforms {
		layers, err := x.images[i].Layers()
		if err != nil {
			return err
		}
		lowers, err := x.lowers(ctx, layers)
		if err != nil {
			return err
		}
		sub := strings.ReplaceAll(platform.Format(pr.Platform), "/", "_")
		if o.Type == "local" {
			dst := o.Dest
			if multi {
				dst = filepath.Join(o.Dest, sub)
				if err := os.RemoveAll(dst); err != nil {
					return err
				}
				if err := os.Mkdir(dst, 0o755); err != nil {
					return err
				}
			}
			if err := x.exportLocal(ctx, o, lowers, dst, pr.Platform, res); err != nil {
				return fmt.Errorf("%s: %w", platform.Format(pr.Platform), err)
			}
			continue
		}
		flat, err := os.MkdirTemp(x.tmp, "export-")
		if err != nil {
			return err
		}
		if err := snapshot.CopyRoot(ctx, lowers, flat); err != nil {
			return err
		}
		dest := o.Dest
		if multi {
			dest = strings.TrimSuffix(o.Dest, ".tar") + "-" + sub + ".tar"
		}
		if err := ref.AtomicFile(dest, func(w io.Writer) error {
			return snapshot.WriteTar(ctx, w, flat, snapshot.TarOptions{SourceDateEpoch: x.epoch})
		}); err != nil {
			return err
		}
		os.RemoveAll(flat)
	}
	return nil
}

// exportLocal copies the layers into dst, private (0700) until the device
// nodes and setuid/setgid bits are gone (unless unsafe-keep=true); dst
// gets its mode back only then, so no other user reaches them meanwhile.
func (x *executor) exportLocal(ctx context.Context, o Output, lowers []string, dst string, p specs.Platform, res *Result) error {
	keep, _ := strconv.ParseBool(o.Attrs[attrUnsafeKeep])
	fi, err := os.Stat(dst)
	if err != nil {
		return err
	}
	mode := fi.Mode() & (fs.ModePerm | fs.ModeSetgid | fs.ModeSticky)
	var candidates map[string]bool
	if !keep {
		if candidates, err = findUnsafe(ctx, lowers); err != nil {
			return err
		}
		if err := os.Chmod(dst, 0o700); err != nil {
			return err
		}
	}
	if err := snapshot.CopyRoot(ctx, lowers, dst); err != nil {
		return err
	}
	if !keep {
		found, err := sanitizeExport(ctx, dst, candidates)
		if err != nil {
			return err
		}
		if w, ok := unsafeWarning(o, p, found); ok {
			res.Warnings = append(res.Warnings, w)
		}
	}
	return os.Chmod(dst, mode)
}

// unsafeWarning says what a local export left out, naming up to ten
// paths of each kind.
func unsafeWarning(o Output, p specs.Platform, u unsafeEntries) (dockerfile.Warning, bool) {
	if len(u.devices) == 0 && len(u.setid) == 0 {
		return dockerfile.Warning{}, false
	}
	list := func(names []string) string {
		const max = 10
		if len(names) <= max {
			return strings.Join(names, ", ")
		}
		return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
	}
	count := func(n int, what string) string {
		if n == 1 {
			return "1 " + what
		}
		return fmt.Sprintf("%d %ss", n, what)
	}
	var parts []string
	if len(u.setid) > 0 {
		parts = append(parts, fmt.Sprintf("dropped the setuid/setgid bits of %s (%s)", count(len(u.setid), "file"), list(u.setid)))
	}
	if len(u.devices) > 0 {
		parts = append(parts, fmt.Sprintf("skipped %s (%s)", count(len(u.devices), "device node"), list(u.devices)))
	}
	return dockerfile.Warning{
		Location: dockerfile.Location{File: "-o type=local,dest=" + o.Dest},
		Rule:     "UnsafeFilesNotExported",
		Message: fmt.Sprintf("%s: %s: add %s=true to the -o value to export them as they are (as root)",
			platform.Format(p), strings.Join(parts, "; "), attrUnsafeKeep),
	}, true
}
