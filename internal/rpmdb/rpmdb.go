package rpmdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Package is one installed rpm, as its header records it.
type Package struct {
	Name    string
	Epoch   string // decimal; "" when the header has no EPOCH
	Version string
	Release string
	Arch    string // "x86_64", "noarch"; "" for gpg-pubkey entries
	License string
	// SourceRPM is the file name of the source rpm the package was built
	// from: "openssl-3.0.7-24.el9.src.rpm".
	SourceRPM       string
	Vendor          string
	ModularityLabel string // "nodejs:18:9020020230720:rhel9" for module packages
}

// EVR is the package's [epoch:]version-release, as rpm -q --qf
// '%{EVR}' writes it.
func (p Package) EVR() string {
	s := p.Version + "-" + p.Release
	if p.Epoch != "" {
		s = p.Epoch + ":" + s
	}
	return s
}

// SourceName is the name of the source package: SourceRPM without its
// "-VERSION-RELEASE.src.rpm" ("openssl" for openssl-libs), or Name when
// the header records no source rpm (a source rpm itself, gpg-pubkey).
func (p Package) SourceName() string {
	s, ok := strings.CutSuffix(p.SourceRPM, ".src.rpm")
	if !ok {
		if s, ok = strings.CutSuffix(p.SourceRPM, ".nosrc.rpm"); !ok {
			return p.Name
		}
	}
	for range 2 { // release, then version
		i := strings.LastIndexByte(s, '-')
		if i <= 0 {
			return p.Name
		}
		s = s[:i]
	}
	return s
}

// Formats Read knows.
const (
	FormatSQLite = "sqlite"
	FormatBDB    = "Berkeley DB hash"
	FormatNDB    = "ndb"
)

// Bounds on what Read accepts.
const (
	// MaxHeaderSize bounds one header blob. rpm refuses headers past
	// 256 MiB; real ones are a few KB to a few hundred KB (a package with
	// tens of thousands of files).
	MaxHeaderSize = 32 << 20
)

// ErrUnknownFormat is returned by Read for a file that is none of the
// formats rpm keeps its database in.
var ErrUnknownFormat = errors.New("not an rpm database (sqlite, Berkeley DB hash or ndb)")

// Format names the database format of data, or "" if it is none of them.
func Format(data []byte) string {
	switch {
	case len(data) >= 16 && string(data[:16]) == "SQLite format 3\x00":
		return FormatSQLite
	case len(data) >= 16 && (binary.LittleEndian.Uint32(data[12:]) == bdbHashMagic || binary.BigEndian.Uint32(data[12:]) == bdbHashMagic):
		return FormatBDB
	case len(data) >= 4 && binary.LittleEndian.Uint32(data) == ndbMagic:
		return FormatNDB
	}
	return ""
}

// Read lists the packages of an rpm database file in any of the three
// formats. wal is the sqlite database's -wal file (nil if there is none;
// other formats ignore it). Entries that are not packages (gpg-pubkey,
// the public keys rpm imported) are left out. The order is the
// database's.
func Read(data, wal []byte) ([]Package, error) {
	var blobs [][]byte
	var err error
	switch f := Format(data); f {
	case FormatSQLite:
		blobs, err = sqliteBlobs(data, wal)
	case FormatBDB:
		blobs, err = bdbBlobs(data)
	case FormatNDB:
		blobs, err = ndbBlobs(data)
	default:
		return nil, ErrUnknownFormat
	}
	if err != nil {
		return nil, fmt.Errorf("%s database: %w", Format(data), err)
	}
	out := make([]Package, 0, len(blobs))
	for i, b := range blobs {
		p, err := ParseHeader(b)
		if err != nil {
			return nil, fmt.Errorf("%s database: package %d of %d: %w", Format(data), i+1, len(blobs), err)
		}
		if p.Name == "gpg-pubkey" {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}
