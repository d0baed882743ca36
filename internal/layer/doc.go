// Package layer owns reading a layer's content: Open gives the uncompressed
// tar stream of a v1.Layer, once, the same way for every reader of layers
// (verify, imagediff, the snapshotter's unpack and imagetest's flat file
// system).
//
// A layer is decompressed by its media type and its first bytes: a layer of
// an uncompressed media type is read as it is; any other is read from its
// compressed blob and decompressed as gzip or zstd when it starts with their
// magic, else read as a plain tar (Docker accepts those). Reading the blob
// here, rather than through v1.Layer.Uncompressed, is what puts the limits
// in one place:
//
//   - a zstd frame may ask for a window of at most MaxZstdWindow (128 MiB;
//     containerd and BuildKit write a few MiB), so a hostile layer cannot
//     make a reader allocate gigabytes;
//   - at most MaxSize uncompressed bytes are read (WithMaxSize), so a
//     decompression bomb ends with ErrTooLarge instead of filling a disk or
//     running for hours;
//   - every read checks the context first, so a cancel stops a long layer
//     within one read;
//   - a compressed stream ends only where its blob ends (the decoders look
//     for a next member or frame), so a verifying blob reader below (the
//     store's, a registry's) has checked its digest and size by then.
//
// Every error of a Reader is an *Error naming the layer's digest and what
// was being done ("layer sha256:…: decompressing gzip: the stream is
// truncated ..."); context errors keep errors.Is(err, context.Canceled).
//
// Decompress is the same decompressor for a stream that is not a layer
// (snapshot.Normalize's user tarballs), with the same zstd window limit.
//
// The package does not parse tar, verify digests itself (its callers and the
// blob readers below do), cache, or know where a layer is stored. It imports
// nothing of manyarch.
package layer
