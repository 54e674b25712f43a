#!/usr/bin/env python3
"""Prints what the build conformance corpus compares of one image, as JSON:

    build-manifest.py ARCHIVE      # a `docker save` / `wharf save` archive of one image

{"config": {...}, "tree": ["path type mode uid:gid size sha256 link", ...]}

`config` is the subset of the image config the corpus checks (null fields dropped, since one
builder writes `null` where another leaves the key out). `tree` is the final file tree: the
layers applied in order with OCI whiteouts, one line per entry, sorted by path. Mtimes are
left out (BuildKit does not keep them stable either). The same script reads BuildKit's
archives (scripts/build-goldens) and wharf's (tests/build_conformance.rs), so both sides are
described by one definition. Stdlib only.
"""
import gzip
import hashlib
import io
import json
import sys
import tarfile

CONFIG_KEYS = [
    "Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
    "Healthcheck", "StopSignal", "Shell", "OnBuild",
]
TYPES = {
    tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo",
}


def clean(name):
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/" + "/".join(parts)


def layer_reader(data):
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:")


def apply(tree, layer):
    for m in layer.getmembers():
        path = clean(m.name)
        if path == "/":
            # The root's own entry is not part of the tree a user sees.
            continue
        parent, _, base = path.rpartition("/")
        parent = parent or "/"
        if base == ".wh..wh..opq":
            prefix = parent.rstrip("/") + "/"
            for p in [p for p in tree if p.startswith(prefix)]:
                del tree[p]
            continue
        if base.startswith(".wh."):
            gone = (parent.rstrip("/") + "/" + base[4:])
            for p in [p for p in tree if p == gone or p.startswith(gone + "/")]:
                del tree[p]
            continue
        kind = TYPES.get(m.type, "other")
        old = tree.get(path)
        if old and old["type"] == "dir" and kind == "dir":
            # A directory entry in an upper layer replaces only its own metadata.
            pass
        elif old and kind != "dir":
            for p in [p for p in tree if p.startswith(path + "/")]:
                del tree[p]
        entry = {"type": kind, "mode": m.mode & 0o7777, "uid": m.uid, "gid": m.gid,
                 "size": 0, "sha256": "-", "link": "-"}
        if kind == "file":
            data = layer.extractfile(m).read()
            entry["size"] = len(data)
            entry["sha256"] = hashlib.sha256(data).hexdigest()
        elif kind == "symlink":
            entry["link"] = m.linkname
        elif kind == "hardlink":
            target = tree.get(clean(m.linkname))
            if target:
                entry.update(size=target["size"], sha256=target["sha256"])
            entry["link"] = clean(m.linkname)
        tree[path] = entry


def name_link_groups(tree):
    """Describes hard links independently of which name a tar writer put first: every name of
    a linked file is a file, and its link column names the group's first path."""
    group = {}

    def root(p):
        while group.get(p, p) != p:
            p = group[p]
        return p

    for path, e in tree.items():
        if e["type"] == "hardlink" and e["link"] in tree:
            a, b = root(path), root(e["link"])
            group[max(a, b)] = min(a, b)
    members = {}
    for path in list(group) + list(group.values()):
        members.setdefault(root(path), set()).add(path)
    for first, paths in members.items():
        for p in paths:
            tree[p]["type"] = "file"
            tree[p]["link"] = "hardlink:" + first


def describe(archive):
    with tarfile.open(archive, mode="r:*") as outer:
        def read(name):
            return outer.extractfile(name).read()

        manifest = json.loads(read("manifest.json"))
        if len(manifest) != 1:
            sys.exit(f"{archive}: expected one image, found {len(manifest)}")
        config = json.loads(read(manifest[0]["Config"]))
        tree = {}
        for layer_name in manifest[0]["Layers"]:
            with layer_reader(read(layer_name)) as layer:
                apply(tree, layer)
    name_link_groups(tree)
    cfg = config.get("config") or {}
    subset = {k: cfg[k] for k in CONFIG_KEYS if cfg.get(k) is not None}
    lines = [
        f"{p} {e['type']} {e['mode']:04o} {e['uid']}:{e['gid']} {e['size']} {e['sha256']} {e['link']}"
        for p, e in sorted(tree.items())
    ]
    return {"config": subset, "tree": lines}


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: build-manifest.py ARCHIVE")
    json.dump(describe(argv[1]), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
