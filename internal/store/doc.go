// Package store is manyarch's local image store: an OCI image layout
// (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
// that skopeo (`oci:DIR:NAME`), umoci and go-containerregistry's layout
// package can read, with crash-safe writes, verified reads, named entries,
// concurrency between processes and garbage collection.
//
// On disk:
//
//	ROOT/oci-layout         {"imageLayoutVersion":"1.0.0"}
//	ROOT/index.json         OCI image index; each named entry carries its name in
//	                        the org.opencontainers.image.ref.name annotation
//	ROOT/blobs/sha256/HEX   content-addressed blobs
//	ROOT/ingest/            temporary files being written (garbage after a crash)
//	ROOT/roots/NAME         GC roots: one digest per line (build cache records)
//	ROOT/sources/HEX        where image HEX was pulled from (HOST/REPO), for repairs
//	ROOT/index.lock         flock: exclusive around every index.json update
//	ROOT/gc.lock            flock: shared by writers and readers (Hold), exclusive by GC
//	ROOT/locks/name-HASH.lock  flock: one name's read-modify-write (LockNames)
//
// Guarantees, umoci style:
//   - Every blob is written to ROOT/ingest, hashed while streaming, checked
//     against the expected digest and size, fsync'd and renamed into place, and
//     the directory is fsync'd. A blob path therefore only ever holds complete,
//     verified content (barring later damage to the disk, which reads detect).
//     A BlobBatch (a pull's blobs) defers the fsyncs to its Commit, which
//     fsyncs every file, renames them in the order written and fsyncs the
//     directory once: the same guarantee, without a download waiting for the
//     disk after each blob. On Linux a blob of 1 MiB or more is written with
//     O_DIRECT (the disk reads it from the copy buffer; nothing is copied into
//     the page cache), the rest through the page cache with early writeback;
//     the fsync follows either way.
//   - Every read through OpenBlob, ReadBlob, Image and Index is verified against
//     its digest and size; a mismatch is a *CorruptBlobError.
//   - Names are updated by a read-modify-write of index.json under an exclusive
//     flock, written temp+fsync+rename+dir fsync. Tag refuses descriptors whose
//     blobs are not all present, so a name never points at a missing blob.
//   - A SIGKILL at any moment leaves a usable store: at worst some temp files
//     and unreferenced blobs, which GC removes.
//
// Names are opaque strings to the store (the ref package uses "repo:tag" for the
// manyarch root store and "tag" for oci:DIR layouts, skopeo's convention); they
// must be non-empty and contain no NUL, newline or "." or ".." path component. Note for interop: skopeo
// 1.9 (containers/image) only looks at index.json entries with OCI media types,
// so an entry whose manifest is a Docker schema 2 manifest is invisible to it.
//
// Typical use:
//
//	s, err := store.Open(ctx, store.DefaultRoot())
//	err = s.Transaction(ctx, func(ctx context.Context) error {
//		d, err := s.WriteIndex(ctx, idx)
//		if err != nil {
//			return err
//		}
//		return s.Tag(ctx, "hello:1.0", d)
//	})
//
// Garbage collection marks from every index.json entry (through indexes,
// manifests, configs and layers), from the digests listed in ROOT/roots/
// (see SetRoots) and from WithGCRoots hooks, then removes every other blob
// and every temp file. Writers hold gc.lock shared for each operation and for
// a whole Transaction, so GC never removes a blob a live writer is about to tag;
// a reader that must not lose what it reads holds it too (Hold), and GC in
// a process that holds it is ErrGCWhileHeld. An edit of what a name points
// at that reads it first (append to an index, add a signature) holds
// LockNames from its read to its Tag, so two at once both land.
//
// GC refuses to run, removing nothing, on a root set it cannot fully read:
// an index.json that is null, has no "manifests" array or does not parse
// (*DamagedIndexError), a tagged or child manifest that is missing or corrupt,
// a corrupt root blob (*DamagedRootError). Reading such a store as empty would
// remove every blob. No manifest over MaxManifestSize (4 MiB) is read.
//
// Check rehashes every blob and walks every name's tree, reporting each
// corrupt, missing or mismatched blob with the names that use it and the
// repositories they came from (SetSource); RemoveCorruptBlob removes a blob
// only when it fails its rehash. A *CorruptBlobError names the images that use
// the blob (UsedBy) and the repair (`manyarch check --repair`).
package store
