#!/usr/bin/env python3
"""A registry on 127.0.0.1 that lies about sizes, for `wharf pull`:

  fault-registry.py          prints its port, then serves until killed

Repositories (the image's tag does not matter):
  endless-layer   the layer blob streams far past its descriptor's size
  endless-config  the config blob streams far past its descriptor's size
  huge-config     the manifest declares a 1 GiB config
  split-bomb      an honest layer (digest and size right) whose tar is
                  mostly what a tar split must record: a directory entry
                  carrying SPLIT_BOMB_PART bytes and as many after the
                  end-of-archive blocks, all incompressible
Each stream stops after STREAM_CAP bytes, so a client without a bound
fills its disk with that much, not forever.
"""
import hashlib, http.server, io, json, random, sys, tarfile, threading

STREAM_CAP = 256 << 20
SPLIT_BOMB_PART = 32 << 20
CHUNK = 1 << 20

def tar_bytes():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("hello.txt")
        data = b"hello\n"
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()

LAYER = tar_bytes()
DIFF_ID = "sha256:" + hashlib.sha256(LAYER).hexdigest()
CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": [DIFF_ID]}}).encode()
digest = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()

def split_bomb_chunks():
    """The split-bomb layer tar, generated the same way on every call."""
    head = tarfile.TarInfo("payload/")
    head.type, head.size, head.mode = tarfile.DIRTYPE, SPLIT_BOMB_PART, 0o755
    yield head.tobuf(format=tarfile.GNU_FORMAT)
    noise = lambda seed: random.Random(seed).randbytes(CHUNK)
    for i in range(SPLIT_BOMB_PART // CHUNK):
        yield noise(i)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        info = tarfile.TarInfo("payload/hello.txt")
        info.size = 6
        t.addfile(info, io.BytesIO(b"hello\n"))
    yield buf.getvalue()
    for i in range(SPLIT_BOMB_PART // CHUNK):
        yield noise(1_000_000 + i)

_split_bomb = None
_split_bomb_lock = threading.Lock()

def split_bomb():
    """(digest, size, config) of the split-bomb layer, computed once."""
    global _split_bomb
    with _split_bomb_lock:
        if _split_bomb is None:
            h, n = hashlib.sha256(), 0
            for c in split_bomb_chunks():
                h.update(c)
                n += len(c)
            d = "sha256:" + h.hexdigest()
            config = json.dumps({"architecture": "amd64", "os": "linux",
                                 "rootfs": {"type": "layers", "diff_ids": [d]}}).encode()
            _split_bomb = (d, n, config)
        return _split_bomb

def manifest(repo):
    config, layer_digest, layer_size = CONFIG, digest(LAYER), len(LAYER)
    if repo == "split-bomb":
        layer_digest, layer_size, config = split_bomb()
    config_size = (1 << 30) if repo == "huge-config" else len(config)
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_size}],
    }).encode()

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def endless(self, first):
        # No Content-Length: the body ends when the connection closes.
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            self.wfile.write(first)
            chunk, sent = b"\0" * (1 << 20), len(first)
            while sent < STREAM_CAP:
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        parts = self.path.split("/")
        if self.path in ("/v2/", "/v2"):
            return self.send(200, b"{}")
        if len(parts) < 5 or parts[1] != "v2":
            return self.send(404, b"{}")
        # The repository's last component picks the fault.
        repo, kind, ref = parts[-3], parts[-2], parts[-1]
        if kind == "manifests":
            body = manifest(repo)
            return self.send(200, body, "application/vnd.oci.image.manifest.v1+json",
                             [("Docker-Content-Digest", digest(body))])
        if repo == "split-bomb" and kind == "blobs":
            layer_digest, layer_size, config = split_bomb()
            if ref == digest(config):
                return self.send(200, config, "application/octet-stream")
            if ref == layer_digest:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(layer_size))
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    for c in split_bomb_chunks():
                        self.wfile.write(c)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return
        if kind == "blobs" and ref == digest(LAYER):
            return self.endless(LAYER) if repo == "endless-layer" else self.send(200, LAYER, "application/octet-stream")
        if kind == "blobs" and ref == digest(CONFIG):
            return self.endless(CONFIG) if repo == "endless-config" else self.send(200, CONFIG, "application/octet-stream")
        return self.send(404, b"{}")

    do_HEAD = do_GET

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
