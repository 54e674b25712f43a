#!/usr/bin/env python3
"""Writes image archives for `wharf load`: a valid legacy docker-archive
(`ok`) and hostile variants that plant symlinks to host paths or a FIFO.

usage: hostile-archive.py KIND OUT.tar VICTIM_DIR
"""
import hashlib, io, json, sys, tarfile

kind, out, victim = sys.argv[1], sys.argv[2], sys.argv[3]

def tar_bytes(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()

layer = tar_bytes([("hello.txt", b"hello from the layer\n")])
diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Cmd": ["/hello.txt"]},
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
}).encode()
manifest = [{"Config": "config.json", "RepoTags": ["hostile/test:" + kind],
             "Layers": ["layer/layer.tar"]}]

with tarfile.open(out, "w") as t:
    def add(name, data=None, type_=tarfile.REGTYPE, target=""):
        info = tarfile.TarInfo(name)
        info.type = type_
        info.linkname = target
        info.mode = 0o755 if type_ == tarfile.DIRTYPE else 0o644
        info.size = len(data) if data is not None else 0
        t.addfile(info, io.BytesIO(data) if data is not None else None)

    add("manifest.json", json.dumps(manifest).encode())
    if kind == "config-link":
        add("config.json", type_=tarfile.SYMTYPE, target=victim + "/config.json")
    else:
        add("config.json", config)
    add("layer", type_=tarfile.DIRTYPE)
    if kind == "layer-link":
        add("layer/layer.tar", type_=tarfile.SYMTYPE, target=victim + "/layer.tar")
    elif kind == "layer-fifo":
        add("layer/layer.tar", type_=tarfile.FIFOTYPE)
    else:
        add("layer/layer.tar", layer)
    if kind == "blobs-link":
        # Writing the converted blobs would go through this into the victim.
        add("blobs", type_=tarfile.DIRTYPE)
        add("blobs/sha256", type_=tarfile.SYMTYPE, target=victim)
    if kind not in ("ok", "blobs-link", "config-link", "layer-link", "layer-fifo"):
        sys.exit("unknown kind " + kind)

# What the links point at: readable host files an attacker wants loaded.
if kind in ("config-link", "layer-link"):
    open(victim + "/config.json", "wb").write(config)
    open(victim + "/layer.tar", "wb").write(layer)
