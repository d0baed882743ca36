// Package scan matches the packages of an image's platforms against an
// OSV vulnerability database, offline.
//
// Load reads the database: a directory or .zip of OSV JSON records as
// osv.dev exports them per ecosystem (ECOSYSTEM/all.zip), keeping only the
// records that name a package a scan can match (Wanted). Reads are
// bounded (MaxRecordSize, MaxRecords, MaxDatabaseSize: a zip bomb stops at
// the first entry past them), and a record that cannot be read is an
// error naming the file and zip entry, never skipped: a scan must not
// report less than its database says.
//
// Match takes the inventories internal/sbom catalogues (one per platform)
// and compares each package with the records of its ecosystem:
//
//   - dpkg packages with Debian (Debian, Debian:12) or Ubuntu
//     (Ubuntu:22.04...) records, by source package name (OSV's Debian
//     records name source packages), in dpkg's version order;
//   - apk packages with Alpine (Alpine:v3.20), Wolfi or Chainguard records,
//     by origin, in apk-tools' version order (_rc before the release, _p
//     after, -rN the revision);
//   - rpms with Red Hat records (by binary or source rpm, the mainline
//     streams of the image's major release: Red Hat:enterprise_linux:9::*),
//     Rocky Linux and AlmaLinux ones (Rocky Linux:9, by source package),
//     openSUSE and SUSE ones (the product's PRETTY_NAME: SUSE:Linux
//     Enterprise Server 15 SP5), in rpm's order (rpmvercmp, epoch, then
//     version, then release; '~' before the end, '^' after it);
//   - Go modules and the standard library ("stdlib", 1.26.8) with Go
//     records, in semantic version order.
//
// Ranges are evaluated as the OSV schema specifies (introduced, fixed,
// last_affected and limit events; SEMVER and ECOSYSTEM types; GIT ranges
// are not matched, an image records no commits), plus the versions lists.
// Each finding is rated from the record's CVSS v3 (else v2) vector, else
// the source's own rating, else UNKNOWN.
//
// WriteTable, WriteJSON and WriteSARIF write a Report. The package reads
// only the database it is given; it fetches nothing.
package scan
