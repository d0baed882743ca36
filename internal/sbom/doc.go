// Package sbom writes software bills of materials. Today it knows one
// ecosystem, the one manyarch itself is made of: the Go module list and Go
// version a Go binary records in its build information (debug/buildinfo),
// and one format, SPDX 2.3 JSON. hack/release.sh uses it for the SBOM of a
// release (one document describing every release binary).
//
// The output is deterministic: the same binaries and the same creation time
// give the same bytes (packages sorted, the document namespace derived from
// the binaries' digests), so a release stays reproducible with its SBOM.
//
// It reads only the files it is given, bounded by what debug/buildinfo
// reads; it must not fetch anything (no license or vulnerability lookups).
package sbom
