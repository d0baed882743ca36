// Package buildkit is manyarch's distributed engine: it builds an
// engine.Request on one or more BuildKit daemons (the nodes of a builder,
// internal/builders) through BuildKit's own Go client and its Dockerfile
// frontend (dockerfile.v0), not through a second home-made protocol.
//
// A build runs in four phases:
//
//  1. Dial: every node is asked for its workers (ListWorkers) within a
//     bounded time; a node that does not answer fails the build before
//     anything runs, naming the node and its address.
//  2. Schedule (Assign): each target platform goes to the first node that
//     lists it natively (the node's --node PLATFORMS, else its worker's
//     first platform), else to the first node whose workers can run it
//     (emulated); a platform no node has is an error naming every node's
//     platforms.
//  3. Solve: every node at once, one Solve per node for its platforms, with
//     the context and Dockerfile as local mounts, build args, target,
//     labels, secrets, caches; base images found in manyarch's store are
//     given to the nodes as named OCI-layout contexts (as buildctl
//     --oci-layout). Each node exports its result as an OCI tarball,
//     streamed to a file bounded in size (Options.MaxExportSize). The
//     status streams become progress events labelled node and platform.
//     A node that cannot resume a base download an interrupted build left
//     behind has its garbage collected and solves once more.
//  4. Finish: each node's images are written into the store as soon as
//     that node has sent them (while slower nodes still build), within
//     one store transaction; then the outputs (-t, -o, --push) are
//     written by internal/engine's FinishImages, as the native engine
//     writes them, tags last: a failed or cancelled build tags nothing.
//
// With a debug logger (manyarch -vv), every phase of each node (dial,
// solve, import) and every BuildKit step and step part (from its status
// stream) is logged with its start and duration: where a build's time goes.
//
// The package does not store builder configuration (internal/builders
// does), does not print (progress is events; the CLI renders) and does not
// start or manage daemons.
package buildkit
