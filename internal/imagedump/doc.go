// Package imagedump turns an image into a canonical text dump of what a
// user of the image meets, so that two engines' builds of one Dockerfile can
// be compared line by line, and holds the Dockerfile corpus of issue #26
// (testdata/dockerfile-corpus: each case adapted from a named BuildKit
// frontend test, with BuildKit's dumps as the expected output).
//
// A dump has one line per config field and one per path of the flattened
// file tree (layers applied in order, whiteouts and opaque directories
// honoured):
//
//	config Env ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
//	config User "1000:1000"
//	/etc/foo file 0644 0:0 size=4 sha256=b5bb9d80... text="foo\n"
//	/link symlink 0777 0:0 -> /etc/foo
//	/etc dir 0755 0:0
//	/bin/ls removed
//
// Left out, because two engines building the same thing legitimately vary
// there: modification, access and change times; directory sizes; tar header
// details (user and group names, header format, ordering); whether a file is
// stored as a hardlink or a copy (its content, mode and owner are compared);
// layer boundaries, compression, digests and history. The config fields are
// those a container sees: Env, Entrypoint, Cmd, WorkingDir, User, Labels,
// ExposedPorts, Volumes, StopSignal, Healthcheck, OnBuild, Shell, and the
// image's os, architecture and variant. An empty list or map prints as
// the absent one ([] or {}): the runtimes treat them alike. A file's
// content is shown as well when it is short UTF-8 text (MaxText bytes), so
// that a difference reads as one. Reads are bounded: at most MaxEntries
// entries per layer and paths per tree; contents are hashed, never kept.
//
// When the image starts with the layers of a given base image (Dump's base
// argument; the corpus passes fixtures/busybox:1.35), paths whose entry is
// the base's own are left out, and base paths the image no longer has are
// listed as "removed": the dump shows what the Dockerfile did.
//
//	d, err := imagedump.DumpImage(ctx, img, base) // base may be nil
//	text := d.String()
//	diffs := imagedump.Compare(gotText, wantText) // []Difference{Key, Got, Want}
//
// Run the corpus with `go test ./internal/engine -run TestDockerfileCorpus`;
// hack/corpus-regen.sh regenerates the expected dumps with BuildKit through
// the corpusdump command (internal/imagedump/cmd/corpusdump) and prints a
// summary. docs/dockerfile-compatibility.md lists the known differences.
//
// The package only reads images and case files: it builds nothing, runs
// nothing, and does not decide which difference is acceptable (the corpus
// test does, from case.yaml).
package imagedump
