// Package verify proves, without running anything, that each platform's
// image in a multi-architecture artifact holds files for that platform.
//
// Run takes a v1.Image or a v1.ImageIndex (the caller resolves references,
// see internal/ref) and returns a Report:
//
//	r, err := verify.Run(ctx, idx, verify.WithRequire(amd64, arm64))
//	if err != nil { ... }             // the artifact could not be read at all
//	verify.WriteText(os.Stdout, r)    // or WriteJSON, WriteSARIF
//	if r.Failed(strict) { exit 1 }
//
// # What is checked
//
// Index and config: each entry's platform against its config's
// os/architecture/variant (normalized: arm64 == arm64/v8, arm == arm/v7),
// duplicate platforms, manifest, config and layer digests and sizes, the
// config's rootfs.diff_ids against the uncompressed layers, required
// platforms (WithRequire, WithPlatforms). Attestation manifests
// (vnd.docker.reference.type=attestation-manifest, or platform
// unknown/unknown) and non-image manifests are skipped and listed in
// Report.Skipped.
//
// The final file system of each platform: layers are read in parallel, each
// once, and applied in order with whiteouts and opaque directories, so a
// file deleted or replaced by a later layer is not reported. Every ELF
// file's class, byte order and machine is checked against the platform; for
// 32-bit ARM, the architecture version (Tag_CPU_arch of .ARM.attributes, or
// GOARM of Go binaries) against the variant, and the float ABI (e_flags
// EF_ARM_ABI_FLOAT_HARD/SOFT, Tag_ABI_VFP_args) against it (v7 and v8 are
// hard-float, v5 soft-float, v6 either); GOAMD64 of Go binaries against the
// amd64 variant. ELF files for devices (BPF, CUDA, AMDGPU) are not checked,
// nor are the paths WithIgnore names (cross toolchains, emulators, test
// data shipped on purpose).
//
// Runtime prerequisites: each dynamically linked executable's loader
// (PT_INTERP) exists in the image, symlinks resolved inside it, and is an ELF
// file of the platform; its DT_NEEDED libraries are found in DT_RUNPATH (or
// DT_RPATH, $ORIGIN expanded), /lib, /usr/lib, /lib64, /usr/lib64,
// /usr/local/lib and the multiarch directories /lib/*-linux-* and
// /usr/lib/*-linux-* (ld.so.conf is not read; a miss is a warning). The
// entrypoint and cmd program resolves as runc resolves it (a name with a
// slash from WorkingDir, a bare name through the config's PATH) to an
// executable ELF file of the platform, or to a #! script whose interpreter
// (through /usr/bin/env too) is one.
//
// # Reading layers
//
// A layer is read as one stream (gzip, zstd or plain tar, told by its
// magic), hashed as it goes (blob digest and size, and diff ID), at most
// WithJobs layers at once across all platforms; a layer several platforms
// share is read once. Each regular file costs its first 64 KiB; for
// an ELF file, verify plans from its program headers the few windows it
// needs further on (interpreter, dynamic segment and string table, the
// first 64 KiB of the writable segment where Go's build information sits,
// and for ARM the section headers and the start of the non-loaded region
// where .ARM.attributes sits) and captures them as the stream passes, never
// seeking and never keeping a whole file; a window behind the stream when
// its offset is learnt is given up and what needed it is left unknown.
// Memory is bounded by a few MiB per layer read at once plus a small
// record per path of the final file system (about 200 bytes).
//
// # Findings
//
// Each Finding has a severity ("error" fails verification, "warning" only
// with strict), a stable code, the platform and manifest digest, the layer
// (index from 0, digest, and the history's created_by when the history lines
// up with the layers), the path, what was found and what was expected, and
// the likely cause and fix. Codes:
//
//	wrong-arch                 an ELF file of another architecture (error for
//	                           executables and libraries; warning for other
//	                           ELF files and for code the platform runs
//	                           natively, linux/386 on linux/amd64)
//	rootfs-wrong-arch          80% or more of the executables and libraries are
//	                           of one other architecture (error)
//	wrong-variant              needs a newer CPU than the platform: ARM
//	                           version, GOARM, GOAMD64 (error)
//	float-abi                  ARM hard/soft float mismatch (error when dynamically
//	                           linked, warning when static)
//	malformed-elf              ELF magic with an unusable header (warning)
//	config-mismatch            index platform vs config, config without a
//	                           platform, diff_ids count vs layers (error)
//	duplicate-platform         one platform listed twice (error)
//	missing-platform           a required platform is absent (error)
//	unknown-platform           a platform verify has no ELF facts for, or an
//	                           index entry without a platform (warning)
//	digest-mismatch            manifest, config or layer vs digest/size/diff ID (error)
//	index-inconsistent         another problem internal/index.Validate finds:
//	                           media types, an attestation for an image not in
//	                           the index, an empty index (error)
//	layer-unreadable           a layer cannot be read to its end, e.g. truncated;
//	                           the platform's file checks are then skipped (error)
//	missing-interpreter        PT_INTERP absent, not ELF, or another arch (error)
//	entrypoint-missing         the entrypoint/cmd program or its #! interpreter
//	                           is not in the image (error)
//	entrypoint-not-executable  no x bit, neither ELF nor #!, malformed (error)
//	entrypoint-wrong-arch      the program or its interpreter is of another
//	                           architecture (error)
//	missing-library            a DT_NEEDED library not found (warning)
//
// # JSON report (schemaVersion 1)
//
// WriteJSON writes the Report as:
//
//	{
//	  "schemaVersion": 1,
//	  "reference": "hello:1.0",             // as the caller named it, optional
//	  "mediaType": "application/vnd.oci.image.index.v1+json",
//	  "digest": "sha256:…",
//	  "findings": [Finding…],               // index-level (missing-platform)
//	  "platforms": [{
//	    "platform": "linux/arm64", "manifest": "sha256:…",
//	    "layers": 3, "files": 1234, "elfFiles": 56, "bytes": 123456789,
//	    "errors": 1, "warnings": 0,
//	    "findings": [{
//	      "severity": "error", "code": "wrong-arch",
//	      "platform": "linux/arm64", "manifest": "sha256:…",
//	      "layer": {"index": 2, "digest": "sha256:…", "createdBy": "COPY --from=build /out/app /app"},
//	      "path": "/app", "found": "linux/amd64 Go executable", "expected": "linux/arm64",
//	      "message": "…", "cause": "…", "fix": "…"
//	    }],
//	    "omitted": {"wrong-arch": 12}        // past WithFindingLimit, still counted
//	  }],
//	  "skipped": [{"digest": "sha256:…", "reason": "attestation manifest"}],
//	  "errors": 1, "warnings": 0
//	}
//
// Fields are only added within a schema version; optional ones are omitted
// when empty. WriteSARIF writes SARIF 2.1.0: one rule per code, one result
// per finding at the file's path in the image, the platform as a logical
// location and platform, layer, found and expected as properties.
package verify
