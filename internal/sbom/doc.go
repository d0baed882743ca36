// Package sbom writes software bills of materials.
//
// For images, Catalog lists the packages of an image's flattened file
// system, reading each layer once from the top (whiteouts and opaque
// directories applied, so the files read are those a container sees):
// Debian packages from dpkg's status file and status.d directory, Alpine
// packages from apk's installed database, rpms from rpm's database in any
// of its formats (internal/rpmdb: sqlite, Berkeley DB, ndb), the
// distribution from os-release, and for every executable that is a Go binary its main
// module, its dependencies and the Go standard library at the version that
// built it (pkg:golang/stdlib@1.26.8). CatalogArtifact does it for every
// platform of an index. WriteInventory writes an inventory as SPDX 2.3
// JSON, CycloneDX 1.6 JSON or a table; `manyarch sbom` and `build --sbom`
// use it. The catalogers are manyarch's own, not syft's: see
// docs/supply-chain.md for the measurement behind that choice.
//
// For manyarch's release, WriteSPDX describes Go binaries given as files
// (hack/release.sh: one document for every release binary).
//
// The output is deterministic: the same input and creation time give the
// same bytes (packages sorted, namespaces derived from digests).
//
// It reads only what it is given, within bounds (MaxEntries,
// MaxDatabaseSize, MaxRPMDatabaseSize, MaxBinarySize); it must not fetch anything (no license
// or vulnerability look-ups) and must not write to the store.
package sbom
