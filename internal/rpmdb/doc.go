// Package rpmdb reads the installed-package database of rpm, the package
// manager of Fedora, RHEL and its rebuilds, and SUSE, from the bytes of
// its files, with no rpm, sqlite or Berkeley DB library: only what
// listing the packages needs, in each of the three formats rpm keeps:
//
//   - sqlite (rpm 4.16+: Fedora 33+, RHEL/UBI/Rocky/Alma 9,
//     /var/lib/rpm/rpmdb.sqlite or /usr/lib/sysimage/rpm/rpmdb.sqlite):
//     the table Packages(hnum, blob) found through sqlite_schema, read as
//     the file format (sqlite.org/fileformat2.html) lays it out: table
//     b-trees, records, overflow pages. A -wal file's committed frames
//     are applied first, as sqlite does when it opens the database, so
//     the packages are those rpm last committed;
//   - Berkeley DB hash (RHEL/CentOS 5-8, /var/lib/rpm/Packages), either
//     byte order: the values of the hash pages, inline or on overflow
//     page chains;
//   - ndb (SUSE, /usr/lib/sysimage/rpm/Packages.db): slot pages and
//     blobs, each checked against its adler32 tail.
//
// Every value is an rpm header blob (the immutable region rpm stores);
// ParseHeader reads from it the tags an SBOM needs: name, epoch, version,
// release, arch, license, source rpm, vendor, modularity label.
//
// Read takes untrusted input (a database in an image anyone built) and
// is bounded by its input: each page is used at most once (a page chain
// that loops or two cells sharing a page are errors), a header is at most
// MaxHeaderSize, and nothing is allocated that the input's size does not
// justify. A damaged database is an error saying which page, cell or
// slot, never a panic and never a partial list.
package rpmdb
