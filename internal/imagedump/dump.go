package imagedump

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Entry is one path of a flattened image file tree.
type Entry struct {
	Type   string // file, dir, symlink, char, block, fifo
	Mode   int64  // permission and setuid/setgid/sticky bits (07777)
	UID    int
	GID    int
	Size   int64             // files only
	SHA256 string            // files only: hex of the content
	Text   string            // files only: the content when it is short UTF-8 text (MaxText), for readable differences
	Link   string            // symlinks only: the target as written
	Dev    string            // char and block devices: "major,minor"
	Xattrs map[string]string // name -> hex sha256 of the value (PAX SCHILY.xattr.*)
}

// line is the entry's text after its path.
func (e Entry) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %04o %d:%d", e.Type, e.Mode, e.UID, e.GID)
	switch e.Type {
	case "file":
		fmt.Fprintf(&b, " size=%d sha256=%s", e.Size, e.SHA256)
		if e.Text != "" {
			fmt.Fprintf(&b, " text=%s", strconv.Quote(e.Text))
		}
	case "symlink":
		fmt.Fprintf(&b, " -> %s", e.Link)
	case "char", "block":
		fmt.Fprintf(&b, " dev=%s", e.Dev)
	}
	names := make([]string, 0, len(e.Xattrs))
	for k := range e.Xattrs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, " xattr:%s=%s", k, e.Xattrs[k])
	}
	return b.String()
}

// Tree is a flattened file tree: "/"-rooted clean paths to entries.
type Tree map[string]Entry

// MaxEntries bounds the paths of a flattened tree and the entries of one
// layer: a dump is for images a test builds, and a layer past the bound is
// refused rather than read without end.
const MaxEntries = 1 << 20

// Flatten applies the image's layers in order, as a container runtime
// would, and returns the resulting tree. A hardlink takes the entry of its
// target. Whiteouts and opaque markers hide the lower layers' paths only.
func Flatten(ctx context.Context, img v1.Image) (Tree, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	t := Tree{}
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := t.apply(ctx, l); err != nil {
			d, _ := l.Digest()
			return nil, fmt.Errorf("layer %d of %d (%s): %w", i+1, len(layers), d, err)
		}
	}
	return t, nil
}

func (t Tree) removeUnder(dir string) {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	for k := range t {
		if strings.HasPrefix(k, prefix) {
			delete(t, k)
		}
	}
}

func cleanName(name string) string {
	return path.Clean("/" + name)
}

func (t Tree) apply(ctx context.Context, l v1.Layer) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	return t.applyTar(ctx, rc, MaxEntries)
}

// applyTar lays one layer tar over t, refusing more than limit entries in
// the layer or paths in the tree.
func (t Tree) applyTar(ctx context.Context, r io.Reader, limit int) error {
	tr := tar.NewReader(r)
	// Opaque markers and whiteouts apply to the lower layers only: entries
	// of this layer are collected first (hardlinks resolved against this
	// layer's earlier entries, then the lower layers), then laid over.
	type pending struct {
		name string
		e    Entry
	}
	var adds []pending
	here := map[string]Entry{}
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if n >= limit {
			return fmt.Errorf("more than %d entries in one layer", limit)
		}
		name := cleanName(h.Name)
		dir, base := path.Split(name)
		if wh, ok := strings.CutPrefix(base, ".wh."); ok {
			switch {
			case wh == ".wh..opq":
				t.removeUnder(dir)
			case wh == "" || wh == "." || wh == ".." || strings.HasPrefix(wh, ".wh."):
				return fmt.Errorf("%s: a whiteout must name one entry of its directory", h.Name)
			default:
				victim := path.Join(dir, wh)
				delete(t, victim)
				t.removeUnder(victim)
			}
			continue
		}
		if name == "/" && h.Typeflag != tar.TypeDir {
			return fmt.Errorf("%s: the root can only be a directory", h.Name)
		}
		e, err := entryOf(h, tr)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if h.Typeflag == tar.TypeLink {
			target := cleanName(h.Linkname)
			te, ok := here[target]
			if !ok {
				te, ok = t[target]
			}
			if !ok {
				return fmt.Errorf("%s: hardlink to %s, which the layers do not hold", name, h.Linkname)
			}
			if te.Type == "dir" {
				return fmt.Errorf("%s: hardlink to the directory %s", name, h.Linkname)
			}
			e = te
		}
		here[name] = e
		adds = append(adds, pending{name, e})
	}
	if len(t)+len(adds) > limit {
		return fmt.Errorf("more than %d paths in the image", limit)
	}
	for _, p := range adds {
		if old, ok := t[p.name]; ok && old.Type == "dir" && p.e.Type != "dir" {
			t.removeUnder(p.name)
		}
		t[p.name] = p.e
	}
	return nil
}

// MaxText is the size up to which a UTF-8 file's content is shown in its
// dump line (text="..."), so that a difference reads as one.
const MaxText = 128

// limitedBuffer keeps the first n bytes written to it and accepts the rest.
type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func entryOf(h *tar.Header, r io.Reader) (Entry, error) {
	e := Entry{Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives
		e.Type = "file"
		hash := sha256.New()
		var head bytes.Buffer
		n, err := io.Copy(io.MultiWriter(hash, &limitedBuffer{&head, MaxText + 1}), r)
		if err != nil {
			return e, err
		}
		e.Size, e.SHA256 = n, hex.EncodeToString(hash.Sum(nil))
		if n > 0 && n <= MaxText && utf8.Valid(head.Bytes()) {
			e.Text = head.String()
		}
	case tar.TypeLink:
		// resolved by the caller
	case tar.TypeDir:
		e.Type = "dir"
	case tar.TypeSymlink:
		e.Type, e.Link = "symlink", h.Linkname
	case tar.TypeChar, tar.TypeBlock:
		e.Type = map[byte]string{tar.TypeChar: "char", tar.TypeBlock: "block"}[h.Typeflag]
		e.Dev = fmt.Sprintf("%d,%d", h.Devmajor, h.Devminor)
	case tar.TypeFifo:
		e.Type = "fifo"
	default:
		return e, fmt.Errorf("tar entry type %q not supported", h.Typeflag)
	}
	for k, v := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			sum := sha256.Sum256([]byte(v))
			e.Xattrs[name] = hex.EncodeToString(sum[:8])
		}
	}
	return e, nil
}

// Dump is the canonical view of one image: its config lines and its tree
// (less what it shares with its base).
type Dump struct {
	Config []Line // in ConfigFields order
	Files  []Line // sorted by path
}

// Line is one line of a dump: a key ("config Env", "/etc/foo") and its
// value.
type Line struct {
	Key, Value string
}

// ConfigFields are the config fields a dump holds, in order.
var ConfigFields = []string{"os", "architecture", "variant", "Env", "Entrypoint", "Cmd", "WorkingDir", "User",
	"Labels", "ExposedPorts", "Volumes", "StopSignal", "Healthcheck", "OnBuild", "Shell"}

// DumpImage reads img (and base, when not nil) and returns its dump. When img's
// layers begin with all of base's layers (same diff IDs), entries equal to
// base's are left out and base paths img lacks are listed as removed.
func DumpImage(ctx context.Context, img, base v1.Image) (*Dump, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	tree, err := Flatten(ctx, img)
	if err != nil {
		return nil, err
	}
	var baseTree Tree
	if base != nil {
		on, err := startsWith(img, base)
		if err != nil {
			return nil, err
		}
		if on {
			if baseTree, err = Flatten(ctx, base); err != nil {
				return nil, fmt.Errorf("base image: %w", err)
			}
		}
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	// The healthcheck as written: go-containerregistry's HealthConfig lacks
	// StartInterval, which BuildKit sets.
	var hc struct {
		Config struct {
			Healthcheck map[string]any
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &hc); err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	d := &Dump{Config: configLines(cf, hc.Config.Healthcheck)}
	for p, e := range tree {
		if b, ok := baseTree[p]; ok && b.line() == e.line() {
			continue
		}
		d.Files = append(d.Files, Line{p, e.line()})
	}
	for p := range baseTree {
		if _, ok := tree[p]; !ok {
			d.Files = append(d.Files, Line{p, "removed"})
		}
	}
	sort.Slice(d.Files, func(i, j int) bool { return d.Files[i].Key < d.Files[j].Key })
	return d, nil
}

func startsWith(img, base v1.Image) (bool, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return false, err
	}
	bf, err := base.ConfigFile()
	if err != nil {
		return false, fmt.Errorf("base image config: %w", err)
	}
	a, b := cf.RootFS.DiffIDs, bf.RootFS.DiffIDs
	if len(b) == 0 || len(a) < len(b) {
		return false, nil
	}
	for i := range b {
		if a[i] != b[i] {
			return false, nil
		}
	}
	return true, nil
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%q", fmt.Sprint(v))
	}
	return string(b)
}

func configLines(cf *v1.ConfigFile, healthcheck map[string]any) []Line {
	c := cf.Config
	list := func(s []string) string {
		if len(s) == 0 {
			return "[]"
		}
		return jsonText(s)
	}
	set := func(m map[string]struct{}) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return list(keys)
	}
	labels := "{}"
	if len(c.Labels) > 0 {
		labels = jsonText(c.Labels)
	}
	hc := "null"
	if healthcheck != nil {
		hc = jsonText(healthcheck)
	}
	vals := map[string]string{
		"os": jsonText(cf.OS), "architecture": jsonText(cf.Architecture), "variant": jsonText(cf.Variant),
		"Env": list(c.Env), "Entrypoint": list(c.Entrypoint), "Cmd": list(c.Cmd),
		"WorkingDir": jsonText(c.WorkingDir), "User": jsonText(c.User), "Labels": labels,
		"ExposedPorts": set(c.ExposedPorts), "Volumes": set(c.Volumes), "StopSignal": jsonText(c.StopSignal),
		"Healthcheck": hc, "OnBuild": list(c.OnBuild), "Shell": list(c.Shell),
	}
	out := make([]Line, 0, len(ConfigFields))
	for _, f := range ConfigFields {
		out = append(out, Line{"config " + f, vals[f]})
	}
	return out
}

// String is the dump's text: config lines, then file lines, each
// "KEY VALUE\n".
func (d *Dump) String() string {
	var b strings.Builder
	for _, l := range d.Config {
		b.WriteString(l.Key + " " + l.Value + "\n")
	}
	for _, l := range d.Files {
		b.WriteString(quotePath(l.Key) + " " + l.Value + "\n")
	}
	return b.String()
}
