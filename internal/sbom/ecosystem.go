package sbom

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"fmt"
	"net/url"
	"strings"

	"github.com/manyarch/manyarch/internal/rpmdb"
)

// parseDpkg reads a dpkg status file (or one file of status.d): RFC 822
// style paragraphs with Package, Version, Architecture, Source and Status.
// A package whose Status is not "... installed" (removed, config-files
// left) is not in the image; status.d files carry no Status and are.
func parseDpkg(data []byte) ([]Package, error) {
	var out []Package
	for i, para := range paragraphs(data) {
		f, err := fields(para)
		if err != nil {
			return nil, fmt.Errorf("paragraph %d: %w", i+1, err)
		}
		if f["Package"] == "" {
			continue
		}
		if st, ok := f["Status"]; ok {
			w := strings.Fields(st)
			if len(w) == 0 || w[len(w)-1] != "installed" {
				continue
			}
		}
		if f["Version"] == "" {
			return nil, fmt.Errorf("package %s (paragraph %d) has no Version", f["Package"], i+1)
		}
		src := f["Source"]
		// "Source: glibc (2.36-9)": the source's own version follows.
		if j := strings.IndexByte(src, ' '); j >= 0 {
			src = src[:j]
		}
		if src == "" {
			src = f["Package"]
		}
		out = append(out, Package{Type: TypeDeb, Name: f["Package"], Version: f["Version"], Arch: f["Architecture"], Source: src})
	}
	return out, nil
}

// parseAPK reads apk's installed database: one "X:value" line per field,
// packages separated by blank lines (P name, V version, A arch, L
// license, o origin).
func parseAPK(data []byte) ([]Package, error) {
	var out []Package
	for i, para := range paragraphs(data) {
		var p Package
		for _, line := range strings.Split(para, "\n") {
			if len(line) < 2 || line[1] != ':' {
				return nil, fmt.Errorf("package %d: line %q is not X:value", i+1, line)
			}
			v := line[2:]
			switch line[0] {
			case 'P':
				p.Name = v
			case 'V':
				p.Version = v
			case 'A':
				p.Arch = v
			case 'L':
				p.License = v
			case 'o':
				p.Source = v
			}
		}
		if p.Name == "" || p.Version == "" {
			return nil, fmt.Errorf("package %d has no P: name or V: version", i+1)
		}
		if p.Source == "" {
			p.Source = p.Name
		}
		p.Type = TypeAPK
		out = append(out, p)
	}
	return out, nil
}

// parseRPM lists the packages of an rpm database (internal/rpmdb: sqlite
// with its -wal file, Berkeley DB or ndb).
func parseRPM(db, wal []byte) ([]Package, error) {
	rs, err := rpmdb.Read(db, wal)
	if err != nil {
		return nil, fmt.Errorf("%w (rebuild it: `rpm --rebuilddb` in the image)", err)
	}
	out := make([]Package, 0, len(rs))
	for _, r := range rs {
		out = append(out, Package{Type: TypeRPM, Name: r.Name, Version: r.EVR(), Arch: r.Arch, License: r.License,
			Source: r.SourceName(), SourceRPM: r.SourceRPM})
	}
	return out, nil
}

// paragraphs splits text at blank lines, leaving out empty paragraphs.
func paragraphs(data []byte) []string {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	var out []string
	for _, p := range strings.Split(text, "\n\n") {
		if p = strings.Trim(p, "\n"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// fields reads one deb822 paragraph; continuation lines (starting with a
// space or tab) belong to the field before.
func fields(para string) (map[string]string, error) {
	f := map[string]string{}
	last := ""
	for _, line := range strings.Split(para, "\n") {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == "" {
				return nil, fmt.Errorf("continuation line %q before any field", line)
			}
			f[last] += "\n" + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %q is not Field: value", line)
		}
		last = k
		f[k] = strings.TrimSpace(v)
	}
	return f, nil
}

// parseOSRelease reads os-release(5).
func parseOSRelease(data []byte) *Distro {
	d := &Distro{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			d.ID = v
		case "VERSION_ID":
			d.VersionID = v
		case "PRETTY_NAME":
			d.Name = v
		}
	}
	if d.ID == "" {
		return nil
	}
	return d
}

// GoVersion is the Go release a binary's build info names, as purls and
// OSV write it: "go1.26.8 X:boringcrypto" is "1.26.8".
func GoVersion(v string) string {
	v, _, _ = strings.Cut(v, " ")
	return strings.TrimPrefix(v, "go")
}

// goPackages lists a Go binary's main module (the main package's path when
// it was built outside a module, as `go build main.go` does: its build
// info names no module), its dependencies (replacements applied) and the
// standard library.
func goPackages(info *buildinfo.BuildInfo) []Package {
	main, ver := info.Main.Path, info.Main.Version
	if main == "" {
		main, ver = info.Path, ""
	}
	if ver == "" {
		ver = "(devel)"
	}
	out := []Package{{Type: TypeGolang, Name: main, Version: ver}}
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		out = append(out, Package{Type: TypeGolang, Name: d.Path, Version: d.Version})
	}
	return append(out, Package{Type: TypeGolang, Name: "stdlib", Version: GoVersion(info.GoVersion)})
}

// purl is the package URL of p (purl-spec): pkg:deb/debian/NAME@VERSION
// ?arch=ARCH&distro=debian-12, pkg:apk/alpine/..., pkg:golang/PATH@VERSION,
// and for rpms as syft writes them:
// pkg:rpm/rocky/NAME@VERSION-RELEASE?arch=ARCH&distro=rocky-9.3&epoch=1
// &upstream=SOURCE.src.rpm (the namespace is os-release's ID, "redhat"
// for rhel; none without os-release).
func purl(p Package, d *Distro) string {
	switch p.Type {
	case TypeGolang:
		return goPURL(p.Name, p.Version)
	case TypeRPM:
		return rpmPURL(p, d)
	case TypeDeb, TypeAPK:
		ns := map[string]string{TypeDeb: "debian", TypeAPK: "alpine"}[p.Type]
		if d != nil && d.ID != "" {
			ns = d.ID
		}
		s := "pkg:" + p.Type + "/" + purlEscape(ns) + "/" + purlEscape(p.Name) + "@" + purlEscape(p.Version)
		q := url.Values{}
		if p.Arch != "" {
			q.Set("arch", p.Arch)
		}
		if d != nil && d.ID != "" && d.VersionID != "" {
			q.Set("distro", d.ID+"-"+d.VersionID)
		}
		if p.Source != "" && p.Source != p.Name {
			key := "upstream"
			if p.Type == TypeAPK {
				key = "origin"
			}
			q.Set(key, p.Source)
		}
		if len(q) > 0 {
			s += "?" + q.Encode()
		}
		return s
	}
	return ""
}

// purlEscape percent-encodes what purl-spec does not allow as is in a
// name or version (an epoch's ':' and a '+' among them).
func purlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-_~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func rpmPURL(p Package, d *Distro) string {
	s := "pkg:rpm/"
	if d != nil && d.ID != "" {
		ns := d.ID
		if ns == "rhel" {
			ns = "redhat"
		}
		s += purlEscape(ns) + "/"
	}
	q := url.Values{}
	v := p.Version
	if e, rest, ok := strings.Cut(v, ":"); ok {
		q.Set("epoch", e)
		v = rest
	}
	s += purlEscape(p.Name) + "@" + purlEscape(v)
	if p.Arch != "" {
		q.Set("arch", p.Arch)
	}
	if d != nil && d.ID != "" && d.VersionID != "" {
		q.Set("distro", d.ID+"-"+d.VersionID)
	}
	if p.SourceRPM != "" {
		q.Set("upstream", p.SourceRPM)
	}
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}
