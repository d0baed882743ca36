package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/manyarch/manyarch/internal/image"
	"github.com/manyarch/manyarch/internal/platform"
)

// Package types, the purl types of the ecosystems the catalogers know.
const (
	TypeDeb    = "deb"
	TypeAPK    = "apk"
	TypeGolang = "golang"
	TypeRPM    = "rpm"
)

// Package is one software package found in an image.
type Package struct {
	Type string // TypeDeb, TypeAPK, TypeRPM or TypeGolang
	Name string // dpkg/apk/rpm package name, Go module path, or "stdlib"
	// Version is as the package manager or the build info records it;
	// an rpm's is [EPOCH:]VERSION-RELEASE.
	Version string
	// Source is the source package of a Debian binary package (Source:,
	// else the package itself), the origin of an apk package, or the
	// name of an rpm's source rpm; OSV's Debian, Alpine, Rocky, Alma and
	// SUSE records name source packages.
	Source  string
	Arch    string // deb, apk and rpm packages
	License string // apk's L: field, rpm's LICENSE; dpkg records none
	// SourceRPM is an rpm's source rpm file name
	// ("openssl-3.0.7-24.el9.src.rpm"), the purl's upstream qualifier.
	SourceRPM string
	PURL      string
	// Locations are the image paths that record the package: the dpkg
	// status file, the apk database, or each Go binary built with it.
	Locations []string
}

// Distro is the image's /etc/os-release (or /usr/lib/os-release).
type Distro struct {
	ID        string // "debian", "alpine"
	VersionID string // "12", "3.20.3"
	Name      string // PRETTY_NAME
}

// Inventory is what one image holds.
type Inventory struct {
	Distro   *Distro   // nil when the image has no os-release
	Packages []Package // sorted by type, name, version
}

// Bounds on what cataloguing reads from an image, so that a hostile image
// cannot make it read or hold without end.
const (
	// MaxEntries bounds the entries of one layer.
	MaxEntries = 1 << 20
	// MaxDatabaseSize bounds a dpkg status file, a status.d file, the apk
	// database and os-release.
	MaxDatabaseSize = 64 << 20
	// MaxRPMDatabaseSize bounds an rpm database file (and its -wal
	// file): rpm keeps whole headers, file lists included, so its
	// database is larger (a UBI 9 image's is ~8 MB, a full server's
	// ~100 MB).
	MaxRPMDatabaseSize = 256 << 20
	// MaxBinarySize bounds an executable read for Go build information;
	// larger executables are not read (none of Go's own binaries is
	// near it).
	MaxBinarySize = 512 << 20
)

// Paths the catalogers read.
const (
	dpkgStatus  = "/var/lib/dpkg/status"
	dpkgStatusD = "/var/lib/dpkg/status.d/"
	apkDB       = "/lib/apk/db/installed"
	osRelease   = "/etc/os-release"
	osRelease2  = "/usr/lib/os-release"
)

// rpmDatabases are the files rpm keeps its package database in: sqlite
// (rpm 4.16+; Fedora moved it under /usr/lib/sysimage, with /var/lib/rpm
// a symbolic link), Berkeley DB (RHEL/CentOS 5-8) and ndb (SUSE). An
// sqlite database's -wal file is read with it.
var rpmDatabases = map[string]bool{
	"/var/lib/rpm/rpmdb.sqlite":              true,
	"/usr/lib/sysimage/rpm/rpmdb.sqlite":     true,
	"/var/lib/rpm/Packages":                  true,
	"/usr/lib/sysimage/rpm/Packages":         true,
	"/usr/lib/sysimage/rpm/Packages.db":      true,
	"/var/lib/rpm/Packages.db":               true,
	"/var/lib/rpm/rpmdb.sqlite-wal":          true,
	"/usr/lib/sysimage/rpm/rpmdb.sqlite-wal": true,
}

// file is one file of the flattened image that a cataloger reads.
type file struct {
	path string
	data []byte
}

// Catalog lists the packages of img's flattened file system: Debian
// packages from dpkg's status file and status.d directory (distroless),
// Alpine packages from apk's installed database, and for every executable
// that is a Go binary its main module, the modules it was built with and
// the Go standard library at the version that built it. It reads each
// layer once, top layer first, so that the files it reads are the ones a
// container sees (whiteouts and opaque directories applied).
func Catalog(ctx context.Context, img v1.Image) (*Inventory, error) {
	files, err := collect(ctx, img)
	if err != nil {
		return nil, err
	}
	inv := &Inventory{}
	for _, f := range files {
		if f.path == osRelease || (f.path == osRelease2 && inv.Distro == nil) {
			inv.Distro = parseOSRelease(f.data)
		}
	}
	byPath := map[string][]byte{}
	for _, f := range files {
		byPath[f.path] = f.data
	}
	var pkgs []Package
	for _, f := range files {
		switch {
		case f.path == osRelease || f.path == osRelease2:
		case rpmDatabases[f.path]:
			if strings.HasSuffix(f.path, "-wal") {
				continue // read with its database
			}
			ps, err := parseRPM(f.data, byPath[f.path+"-wal"])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.path, err)
			}
			pkgs = append(pkgs, located(ps, f.path)...)
		case f.path == dpkgStatus || strings.HasPrefix(f.path, dpkgStatusD):
			ps, err := parseDpkg(f.data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.path, err)
			}
			pkgs = append(pkgs, located(ps, f.path)...)
		case f.path == apkDB:
			ps, err := parseAPK(f.data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.path, err)
			}
			pkgs = append(pkgs, located(ps, f.path)...)
		default:
			info, err := buildinfo.Read(bytes.NewReader(f.data))
			if err != nil {
				continue // an executable, not a Go binary
			}
			pkgs = append(pkgs, located(goPackages(info), f.path)...)
		}
	}
	inv.Packages = merge(pkgs, inv.Distro)
	return inv, nil
}

func located(ps []Package, p string) []Package {
	for i := range ps {
		ps[i].Locations = []string{p}
	}
	return ps
}

// merge joins packages found in several places (a Go module in several
// binaries) and sets their purls.
func merge(pkgs []Package, d *Distro) []Package {
	byKey := map[string]int{}
	var out []Package
	for _, p := range pkgs {
		k := p.Type + "\x00" + p.Name + "\x00" + p.Version + "\x00" + p.Arch
		if i, ok := byKey[k]; ok {
			out[i].Locations = append(out[i].Locations, p.Locations...)
			continue
		}
		p.PURL = purl(p, d)
		byKey[k] = len(out)
		out = append(out, p)
	}
	for i := range out {
		sort.Strings(out[i].Locations)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Arch < b.Arch
	})
	return out
}

// interesting reports whether the cataloguers read the file at p with
// header h.
func interesting(p string, h *tar.Header) bool {
	switch {
	case p == dpkgStatus || p == apkDB || p == osRelease || p == osRelease2 || rpmDatabases[p]:
		return true
	case strings.HasPrefix(p, dpkgStatusD) && !strings.HasSuffix(p, ".md5sums") && !strings.Contains(p[len(dpkgStatusD):], "/"):
		return true
	}
	return h.Mode&0o111 != 0 && h.Size >= 4
}

// collect reads the files the catalogers need from img's flattened tree.
func collect(ctx context.Context, img v1.Image) ([]file, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	gone := map[string]bool{}   // paths an upper layer removed or replaced
	opaque := map[string]bool{} // directories an upper layer made opaque
	seen := map[string]bool{}   // paths an upper layer decided
	var files []file
	for i := len(layers) - 1; i >= 0; i-- {
		d, _ := layers[i].Digest()
		fs, g, o, err := readLayer(ctx, layers[i], gone, opaque, seen)
		if err != nil {
			return nil, fmt.Errorf("layer %d of %d (%s): %w", i+1, len(layers), d, err)
		}
		files = append(files, fs...)
		for p := range g {
			gone[p] = true
		}
		for p := range o {
			opaque[p] = true
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files, nil
}

// hidden reports whether an upper layer removed p, replaced one of its
// parents with a non-directory, or made a parent opaque.
func hidden(p string, gone, opaque map[string]bool) bool {
	for q := p; ; q = path.Dir(q) {
		if gone[q] || (q != p && opaque[q]) {
			return true
		}
		if q == "/" {
			return false
		}
	}
}

func readLayer(ctx context.Context, l v1.Layer, gone, opaque, seen map[string]bool) ([]file, map[string]bool, map[string]bool, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, nil, nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	g, o := map[string]bool{}, map[string]bool{}
	var files []file
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, nil, err
			}
		}
		h, err := tr.Next()
		if err == io.EOF {
			return files, g, o, nil
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if n >= MaxEntries {
			return nil, nil, nil, fmt.Errorf("more than %d entries in one layer", MaxEntries)
		}
		p := path.Clean("/" + h.Name)
		dir, base := path.Split(p)
		dir = path.Clean(dir)
		if base == ".wh..wh..opq" {
			o[dir] = true
			continue
		}
		if strings.HasPrefix(base, ".wh.") {
			g[path.Join(dir, strings.TrimPrefix(base, ".wh."))] = true
			continue
		}
		if seen[p] || hidden(p, gone, opaque) {
			continue
		}
		seen[p] = true
		if h.Typeflag != tar.TypeDir {
			g[p] = true // hides what lower layers have below p
		}
		if h.Typeflag != tar.TypeReg || !interesting(p, h) {
			continue
		}
		limit := int64(MaxBinarySize)
		switch {
		case rpmDatabases[p]:
			limit = MaxRPMDatabaseSize
		case !isExecutableCandidate(p):
			limit = MaxDatabaseSize
		}
		if h.Size > limit {
			if limit != MaxBinarySize {
				return nil, nil, nil, fmt.Errorf("%s is %d bytes, more than the %d a package database may have", p, h.Size, limit)
			}
			continue
		}
		var magic [4]byte
		if _, err := io.ReadFull(tr, magic[:]); err != nil {
			return nil, nil, nil, fmt.Errorf("reading %s: %w", p, err)
		}
		if isExecutableCandidate(p) && !isBinary(magic[:]) {
			continue
		}
		data := make([]byte, h.Size)
		copy(data, magic[:])
		if _, err := io.ReadFull(tr, data[4:]); err != nil {
			return nil, nil, nil, fmt.Errorf("reading %s: %w", p, err)
		}
		files = append(files, file{path: p, data: data})
	}
}

// isExecutableCandidate reports whether p is read as a possible Go binary
// rather than as a package database.
func isExecutableCandidate(p string) bool {
	return p != dpkgStatus && p != apkDB && p != osRelease && p != osRelease2 && !strings.HasPrefix(p, dpkgStatusD) && !rpmDatabases[p]
}

// isBinary reports whether magic starts an executable format Go builds:
// ELF, PE, Mach-O (both byte orders, 32 and 64 bits).
func isBinary(magic []byte) bool {
	switch {
	case bytes.Equal(magic, []byte("\x7fELF")), bytes.HasPrefix(magic, []byte("MZ")):
		return true
	case bytes.Equal(magic, []byte{0xfe, 0xed, 0xfa, 0xce}), bytes.Equal(magic, []byte{0xfe, 0xed, 0xfa, 0xcf}),
		bytes.Equal(magic, []byte{0xce, 0xfa, 0xed, 0xfe}), bytes.Equal(magic, []byte{0xcf, 0xfa, 0xed, 0xfe}):
		return true
	}
	return false
}

// PlatformInventory is the inventory of one platform's image of an
// artifact.
type PlatformInventory struct {
	Platform  specs.Platform
	Digest    v1.Hash // the image manifest's digest
	Inventory *Inventory
}

// CatalogArtifact catalogs every runnable image of a (image.Entries:
// attestation manifests left out), at most jobs at once (0: 2), in the
// artifact's order.
func CatalogArtifact(ctx context.Context, a image.Artifact, jobs int) ([]PlatformInventory, error) {
	entries, err := image.Entries(ctx, a)
	if err != nil {
		return nil, err
	}
	if jobs <= 0 {
		jobs = 2
	}
	out := make([]PlatformInventory, len(entries))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for i, e := range entries {
		g.Go(func() error {
			img, ok := a.(v1.Image)
			if idx, isIndex := a.(v1.ImageIndex); isIndex {
				var err error
				if img, err = idx.Image(e.Descriptor.Digest); err != nil {
					return fmt.Errorf("%s: reading image %s: %w", platform.Format(e.Platform), e.Descriptor.Digest, err)
				}
			} else if !ok {
				return fmt.Errorf("%T is neither an image nor an index", a)
			}
			inv, err := Catalog(ctx, img)
			if err != nil {
				return fmt.Errorf("%s: %w", platform.Format(e.Platform), err)
			}
			out[i] = PlatformInventory{Platform: e.Platform, Digest: e.Descriptor.Digest, Inventory: inv}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}
