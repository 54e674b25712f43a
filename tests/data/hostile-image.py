#!/usr/bin/env python3
"""Writes a one-layer OCI image layout whose layer attacks the unpacker.

  hostile-image.py OUT_DIR KIND

KIND: traversal (../wharf-escape-probe), symlink (etc -> /etc, then
etc/wharf-escape-probe through it), hardlink (a hard link to /etc/shadow),
whiteout (a whiteout of ..), lying-diff-id (a harmless layer whose config
names another diff id). Used by tests/pull.rs with oci-push.py.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

PROBE = "wharf-escape-probe"


def layer(kind):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, data=b"", **kw):
            info = tarfile.TarInfo(name)
            for k, v in kw.items():
                setattr(info, k, v)
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)

        add("ok.txt", b"fine\n")
        if kind == "traversal":
            add("../" + PROBE, b"escaped\n")
        elif kind == "symlink":
            add("etc", type=tarfile.SYMTYPE, linkname="/etc")
            add("etc/" + PROBE, b"escaped\n")
        elif kind == "hardlink":
            add("shadow", type=tarfile.LNKTYPE, linkname="/etc/shadow")
        elif kind == "whiteout":
            add("sub/.wh...", b"")
        elif kind == "lying-diff-id":
            pass
        else:
            raise SystemExit(f"unknown kind {kind}")
    return buf.getvalue()


def blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(out, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def main(out, kind):
    tar = layer(kind)
    gz = gzip.compress(tar, mtime=0)
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    if kind == "lying-diff-id":
        diff_id = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    layer_digest, layer_size = blob(out, gz)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }).encode()
    config_digest, config_size = blob(out, config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": layer_size}],
    }).encode()
    manifest_digest, manifest_size = blob(out, manifest)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size}]}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
