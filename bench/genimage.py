#!/usr/bin/env python3
"""Write a multi-platform OCI image layout of incompressible layers, for
bench/registry.sh.

    bench/genimage.py DIR TAG PLATFORMS LAYERS LAYER_KIB

PLATFORMS is a comma list (linux/amd64,linux/arm64,...). Each platform gets
LAYERS layers, each a gzip stream (stored blocks: the data is random, so no
level would shrink it) of a tar holding one file of LAYER_KIB KiB from
os.urandom, so every blob differs. Prints the index's digest.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import zlib


def blob(root, data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return "sha256:" + h


def layer(root, kib, name):
    payload = os.urandom(kib * 1024)
    t = io.BytesIO()
    with tarfile.open(fileobj=t, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        info.mtime = 0
        tf.addfile(info, io.BytesIO(payload))
    del payload
    tar = t.getvalue()
    diff = "sha256:" + hashlib.sha256(tar).hexdigest()
    z = io.BytesIO()
    with gzip.GzipFile(fileobj=z, mode="wb", compresslevel=zlib.Z_NO_COMPRESSION, mtime=0) as g:
        g.write(tar)
    data = z.getvalue()
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": blob(root, data), "size": len(data)}, diff


def main():
    root, tag, plats, layers, kib = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]), int(sys.argv[5])
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    manifests = []
    for p in plats:
        parts = p.split("/")
        ls, diffs = [], []
        for i in range(layers):
            d, diff = layer(root, kib, "data-%s-%d" % (p.replace("/", "-"), i))
            ls.append(d)
            diffs.append(diff)
        plat = {"os": parts[0], "architecture": parts[1]}
        if len(parts) > 2:
            plat["variant"] = parts[2]
        cfg = dict(plat, created="1970-01-01T00:00:00Z", config={},
                   rootfs={"type": "layers", "diff_ids": diffs})
        cb = json.dumps(cfg, separators=(",", ":")).encode()
        m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
             "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(root, cb), "size": len(cb)},
             "layers": ls}
        mb = json.dumps(m, separators=(",", ":")).encode()
        manifests.append({"mediaType": m["mediaType"], "digest": blob(root, mb), "size": len(mb), "platform": plat})
    idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
    ib = json.dumps(idx, separators=(",", ":")).encode()
    d = blob(root, ib)
    top = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": [{"mediaType": idx["mediaType"], "digest": d, "size": len(ib),
                          "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump(top, f)
    print(d)


if __name__ == "__main__":
    main()
