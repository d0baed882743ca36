// Package builders owns manyarch's builder configuration: named sets of
// BuildKit nodes (`manyarch builder create NAME --node PLATFORMS=ADDR`), the
// default builder (`builder use`) and how a --builder value or
// MANYARCH_BUILDER names one.
//
// The configuration is one JSON file, builders.json, in manyarch's config
// directory ($XDG_CONFIG_HOME/manyarch, default ~/.config/manyarch; see
// ConfigDir). It is read strictly (unknown fields, a bad address or platform
// are errors naming the file) and replaced atomically under a file lock
// (internal/fsutil), so two commands changing it at once both land.
//
// The built-in engine is the builder named "local"; it has no nodes and is
// never stored.
//
// This package does not dial nodes or build anything: internal/buildkit
// does. It imports nothing of manyarch but fsutil and platform.
package builders
