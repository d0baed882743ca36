// Package snapshot owns container root filesystems on disk: the layer tars
// that go into images and the directories that come out of them.
//
// The tar side is portable and streaming:
//
//   - WriteTar writes a deterministic layer tar of a directory tree: entries
//     in depth-first order with the names of each directory sorted byte-wise
//     (the order BuildKit and containerd emit), relative names without "./",
//     directories with a trailing "/", hardlinks for the second and later
//     names of an inode, devices, fifos and xattrs, empty user and group
//     names, modification times truncated to seconds and clamped to
//     TarOptions.SourceDateEpoch. The same tree always gives the same bytes.
//   - WriteDiff turns an overlayfs upper directory into an OCI layer
//     (whiteout devices become ".wh.NAME", opaque directories get
//     ".wh..wh..opq"); Diff does the same by comparing two trees when
//     overlayfs is not available.
//   - Extract unpacks a layer into a directory. Every name, symlink and
//     hardlink is resolved inside that directory (openat2 RESOLVE_IN_ROOT), so
//     no entry of a hostile tar can touch anything outside it. Whiteouts are
//     either applied (flattening) or kept as overlayfs whiteouts, so that
//     one directory per layer can be stacked as overlay lower directories.
//   - Normalize re-writes a user's rootfs tarball (plain, gzip, bzip2 or zstd)
//     into the deterministic form, refusing entries that escape the root;
//     Decompress sniffs the compression of a stream.
//
// The directory side (Linux only) unpacks each layer of an image once into
// ROOT/sha256/CHAINID/fs (Snapshotter.Prepare), stacks those directories with
// a fresh upper directory as an overlay mount (Mount, giving a *RootFS), and falls back to
// copying the flattened layers (CopyRoot) and comparing trees where overlayfs
// cannot be mounted. RootFS.Diff gives the layer a RUN step produced either way.
//
// The package never prints and never reads global state other than the
// process's credentials (to decide whether it can chown and create devices).
package snapshot
