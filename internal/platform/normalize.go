package platform

import specs "github.com/opencontainers/image-spec/specs-go/v1"

// Normalize returns p in canonical form (arm64/v8 → arm64, arm → arm/v7,
// aarch64 → arm64, …) without requiring it to be in the table, for platforms
// read from images and indexes, which may name any OS and architecture.
func Normalize(p specs.Platform) specs.Platform { return normalize(p) }
