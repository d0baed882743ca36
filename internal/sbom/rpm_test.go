package sbom

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// rpmFixture reads a database made by rpm (internal/rpmdb/testdata,
// hack/rpmdb-fixtures.sh).
func rpmFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("../rpmdb/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const rockyRelease = "NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"\n"

func rpmPURLs(inv *Inventory) string {
	var out []string
	for _, p := range inv.Packages {
		if p.Type == TypeRPM {
			out = append(out, p.PURL)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestCatalogRPM: an image's rpm database, in each format and place rpm
// keeps it, gives its packages with exact versions, arch, license, source
// rpm and purls as syft writes them.
func TestCatalogRPM(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		release string
		files   []tfile
		want    string // rpm purls, sorted
	}{
		{"sqlite", rockyRelease, []tfile{{name: "var/lib/rpm/rpmdb.sqlite", mode: 0o644, body: rpmFixture(t, "rpmdb.sqlite")}},
			"pkg:rpm/rocky/bash@5.1.8-9.el9?arch=x86_64&distro=rocky-9.3&upstream=bash-5.1.8-9.el9.src.rpm\n" +
				"pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rocky-9.3&epoch=1&upstream=openssl-3.0.7-24.el9.src.rpm\n" +
				"pkg:rpm/rocky/snapshot-tool@1.0~rc1%5Egit2-3.fc40?arch=aarch64&distro=rocky-9.3&upstream=snapshot-tool-1.0~rc1%5Egit2-3.fc40.src.rpm\n" +
				"pkg:rpm/rocky/tzdata@2024a-1.el9?arch=noarch&distro=rocky-9.3&upstream=tzdata-2024a-1.el9.src.rpm"},
		{"sqlite with -wal (tzdata erased)", "ID=rhel\nVERSION_ID=9.4\n", []tfile{
			{name: "usr/lib/sysimage/rpm/rpmdb.sqlite", mode: 0o644, body: rpmFixture(t, "wal/rpmdb.sqlite")},
			{name: "usr/lib/sysimage/rpm/rpmdb.sqlite-wal", mode: 0o644, body: rpmFixture(t, "wal/rpmdb.sqlite-wal")}},
			"pkg:rpm/redhat/bash@5.1.8-9.el9?arch=x86_64&distro=rhel-9.4&upstream=bash-5.1.8-9.el9.src.rpm\n" +
				"pkg:rpm/redhat/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rhel-9.4&epoch=1&upstream=openssl-3.0.7-24.el9.src.rpm\n" +
				"pkg:rpm/redhat/snapshot-tool@1.0~rc1%5Egit2-3.fc40?arch=aarch64&distro=rhel-9.4&upstream=snapshot-tool-1.0~rc1%5Egit2-3.fc40.src.rpm"},
		{"Berkeley DB, big endian", "ID=\"centos\"\nVERSION_ID=\"7\"\n", []tfile{{name: "var/lib/rpm/Packages", mode: 0o644, body: rpmFixture(t, "Packages.be")}},
			"pkg:rpm/centos/bash@5.1.8-9.el9?arch=x86_64&distro=centos-7&upstream=bash-5.1.8-9.el9.src.rpm\n" +
				"pkg:rpm/centos/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=centos-7&epoch=1&upstream=openssl-3.0.7-24.el9.src.rpm\n" +
				"pkg:rpm/centos/snapshot-tool@1.0~rc1%5Egit2-3.fc40?arch=aarch64&distro=centos-7&upstream=snapshot-tool-1.0~rc1%5Egit2-3.fc40.src.rpm\n" +
				"pkg:rpm/centos/tzdata@2024a-1.el9?arch=noarch&distro=centos-7&upstream=tzdata-2024a-1.el9.src.rpm"},
		{"ndb, no os-release", "", []tfile{{name: "usr/lib/sysimage/rpm/Packages.db", mode: 0o644, body: rpmFixture(t, "Packages.db")}},
			"pkg:rpm/bash@5.1.8-9.el9?arch=x86_64&upstream=bash-5.1.8-9.el9.src.rpm\n" +
				"pkg:rpm/openssl-libs@3.0.7-24.el9?arch=x86_64&epoch=1&upstream=openssl-3.0.7-24.el9.src.rpm\n" +
				"pkg:rpm/snapshot-tool@1.0~rc1%5Egit2-3.fc40?arch=aarch64&upstream=snapshot-tool-1.0~rc1%5Egit2-3.fc40.src.rpm\n" +
				"pkg:rpm/tzdata@2024a-1.el9?arch=noarch&upstream=tzdata-2024a-1.el9.src.rpm"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			files := tt.files
			if tt.release != "" {
				files = append(files, tfile{name: "etc/os-release", mode: 0o644, body: tt.release})
			}
			inv, err := Catalog(ctx, imageOf(t, layer(t, files...)))
			if err != nil {
				t.Fatal(err)
			}
			if got := rpmPURLs(inv); got != tt.want {
				t.Errorf("rpm purls:\n%s\nwant\n%s", got, tt.want)
			}
			p := find(inv, TypeRPM, "openssl-libs")
			if p == nil || p.Version != "1:3.0.7-24.el9" || p.Source != "openssl" || p.License != "Apache-2.0" ||
				p.Arch != "x86_64" || len(p.Locations) != 1 || p.Locations[0] != "/"+tt.files[0].name {
				t.Errorf("openssl-libs = %+v, want 1:3.0.7-24.el9 from source openssl at /%s", p, tt.files[0].name)
			}
		})
	}
}

// TestCatalogRPMLayers: the -wal file an upper layer removed is not
// applied; a database an upper layer replaced is not read.
func TestCatalogRPMLayers(t *testing.T) {
	ctx := context.Background()
	base := layer(t, tfile{name: "var/lib/rpm/rpmdb.sqlite", mode: 0o644, body: rpmFixture(t, "wal/rpmdb.sqlite")},
		tfile{name: "var/lib/rpm/rpmdb.sqlite-wal", mode: 0o644, body: rpmFixture(t, "wal/rpmdb.sqlite-wal")})
	for _, tt := range []struct {
		name   string
		upper  v1.Layer
		tzdata bool
		rpms   int
	}{
		{"wal applied", layer(t, tfile{name: "etc/x", mode: 0o644, body: "x"}), false, 3},
		{"wal removed", layer(t, tfile{name: "var/lib/rpm/.wh.rpmdb.sqlite-wal", mode: 0o644}), true, 4},
		{"database removed", layer(t, tfile{name: "var/lib/.wh.rpm", mode: 0o644}), false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Catalog(ctx, imageOf(t, base, tt.upper))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, p := range inv.Packages {
				if p.Type == TypeRPM {
					n++
				}
			}
			if got := find(inv, TypeRPM, "tzdata") != nil; got != tt.tzdata || n != tt.rpms {
				t.Errorf("%d rpms, tzdata %v; want %d, %v", n, got, tt.rpms, tt.tzdata)
			}
		})
	}
}

// TestCatalogRPMBad: a damaged rpm database is an error naming the file
// and what is wrong, and saying how to repair it.
func TestCatalogRPMBad(t *testing.T) {
	db := []byte(rpmFixture(t, "rpmdb.sqlite"))
	ps := int(binary.BigEndian.Uint16(db[16:]))
	i := bytes.Index(db, []byte("Line 300 of a long description"))
	n := i / ps
	binary.BigEndian.PutUint32(db[n*ps:], uint32(n+1)) // an overflow page pointing to itself
	for _, tt := range []struct {
		name, path, body, want string
	}{
		{"overflow loop", "var/lib/rpm/rpmdb.sqlite", string(db), fmt.Sprintf("overflow chain: page %d is reached twice", n+1)},
		{"not a database", "usr/lib/sysimage/rpm/Packages.db", "garbage, not a database", "/usr/lib/sysimage/rpm/Packages.db: not an rpm database"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Catalog(context.Background(), imageOf(t, layer(t, tfile{name: tt.path, mode: 0o644, body: tt.body})))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "/"+tt.path) || !strings.Contains(err.Error(), "rpm --rebuilddb") {
				t.Errorf("Catalog = %v, want an error naming /%s, containing %q and how to repair it", err, tt.path, tt.want)
			}
		})
	}
}

func TestWriteInventoryRPM(t *testing.T) {
	inv, err := Catalog(context.Background(), imageOf(t, layer(t,
		tfile{name: "etc/os-release", mode: 0o644, body: rockyRelease},
		tfile{name: "var/lib/rpm/rpmdb.sqlite", mode: 0o644, body: rpmFixture(t, "rpmdb.sqlite")})))
	if err != nil {
		t.Fatal(err)
	}
	var tb, cdx bytes.Buffer
	s := Subject{Name: "rocky:9", Digest: "sha256:" + strings.Repeat("b", 64), Platform: "linux/amd64"}
	if err := WriteInventory(&tb, FormatTable, s, inv, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tb.String(), "openssl-libs   1:3.0.7-24.el9       rpm   /var/lib/rpm/rpmdb.sqlite") {
		t.Errorf("table =\n%s", tb.String())
	}
	if err := WriteInventory(&cdx, FormatCycloneDX, s, inv, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cdx.String(), `"name": "GPLv3+"`) {
		t.Errorf("CycloneDX lacks bash's license:\n%s", cdx.String())
	}
}
