// Package imagediff explains why two images or indexes differ, platform by
// platform, the way diffoci and container-diff do for single images.
//
//	r, err := imagediff.Compare(ctx, a, b, imagediff.WithMaxPaths(50))
//	if err != nil { ... }          // something could not be read
//	imagediff.WriteText(os.Stdout, r) // or encoding/json
//	if !r.Identical { exit 1 }
//
// a and b are image.Artifact values (v1.Image or v1.ImageIndex). Compare reads
// lazily, so only what is needed is fetched:
//
//   - the index level: media types, annotations, the index descriptors of
//     each platform's manifest (annotations, platform fields), manifests
//     that are not runnable images (attestations), and the platforms only
//     one side has. A single image is compared with the entry of its
//     config's platform. Platforms match as internal/platform.Match says
//     (arm64 == arm64/v8).
//   - per platform both have: equal manifest digests mean "identical" and
//     nothing more is read. Otherwise the manifests (media types,
//     annotations, layer blobs with the same diff ID but another compression),
//     the configs field by field, and the layers by diff ID; the first layer
//     whose diff IDs differ (or that only one image has) is streamed from
//     both sides in parallel, uncompressed, and compared path by path:
//     content (sha256, hashed while streaming), mode, owner, size, link
//     target, type, device numbers, mtime and xattrs; paths only in one.
//
// Memory: the contents of files are never kept. For the first differing
// layer, one small record per path of each side is (metadata and a digest,
// about 200 bytes), so memory grows with the number of entries of that
// layer, not with its size. WithMaxPaths caps the paths listed (all are
// counted), which bounds the report.
//
// # JSON schema (schemaVersion 1)
//
// Report encodes as the following; fields are always present unless marked
// optional, lists are [] rather than null, and a value that is absent on one
// side is null. Numbers of layers and history entries count from 1, as the
// text report does.
//
//	{
//	  "schemaVersion": 1,
//	  "a": {"reference": "fixtures/hello:1.0" (optional), "mediaType": "...", "digest": "sha256:..."},
//	  "b": {...},
//	  "identical": false,          // true: same digest (or, with WithPlatforms, every chosen platform identical)
//	  "index": [Difference],       // top-level differences; [] with WithPlatforms
//	  "platforms": [{
//	    "platform": "linux/arm64",
//	    "status": "identical" | "different" | "only-in-a" | "only-in-b",
//	    "a": "sha256:..." | null,  // manifest digests
//	    "b": "sha256:..." | null,
//	    "manifest": [Difference],
//	    "config": [Difference],
//	    "layers": null | {         // null unless status is "different"
//	      "countA": 3, "countB": 3,
//	      "first": 2,              // first differing layer; 0: all layers have the same diff IDs
//	      "a": null | {"digest", "diffID", "mediaType", "size"},   // layer "first" of each side
//	      "b": null | {...},
//	      "alsoDiffer": [3],       // later differing layers, not compared path by path
//	      "paths": [{
//	        "path": "/app/bin",
//	        "status": "changed" | "only-in-a" | "only-in-b",
//	        "type": "file",        // file, directory, symlink, hardlink, char device, block device,
//	                               // fifo, whiteout, opaque whiteout (for a changed type: b's)
//	        "changes": [Difference] (optional; changed paths only)
//	      }],
//	      "pathsDiffering": 3,     // all differing paths
//	      "pathsOmitted": 0        // those not listed because of WithMaxPaths
//	    }
//	  }]
//	}
//
// A Difference is {"field": NAME, "a": VALUE | null, "b": VALUE | null},
// values as strings. Field names:
//
//	index:    mediaType, artifactType, annotations[KEY], manifests[PLATFORM].annotations[KEY],
//	          manifests[PLATFORM].artifactType, manifests[PLATFORM].platform,
//	          manifests[DIGEST] (a non-image manifest in one side only), encoding
//	manifest: mediaType, artifactType, config.mediaType, annotations[KEY], subject,
//	          layers[N].digest, layers[N].mediaType, layers[N].annotations[KEY] (same diff ID), encoding
//	config:   created, author, os, architecture, variant, os.version, os.features, entrypoint, cmd
//	          (JSON arrays), env[NAME] (env when only the order differs), workdir, user, labels[KEY],
//	          exposedPorts[PORT], volumes[PATH] ("present"), stopSignal, shell, onbuild,
//	          healthcheck, argsEscaped, history[N] (an entry one side lacks),
//	          history[N].created_by, .created, .comment, .author, .empty_layer,
//	          rootfs.type, rootfs.diff_ids[N], encoding
//	paths:    type, mode (octal, "0755", "4755"), owner ("UID:GID"), size (bytes),
//	          content ("sha256:HEX"), link, device ("MAJOR,MINOR"), mtime, xattrs[NAME] (Go-quoted)
//
// Times are RFC 3339 in UTC. "encoding" appears only when the digests differ
// and nothing else does: the same content serialized differently.
package imagediff
