"""Visit counter: redis holds the count, stdlib only (RESP spoken by hand)."""
import http.server
import os
import socket


def redis_incr(key: str) -> int:
    with socket.create_connection((os.environ.get("REDIS_HOST", "redis"), 6379), timeout=5) as s:
        s.sendall(f"*2\r\n$4\r\nINCR\r\n${len(key)}\r\n{key}\r\n".encode())
        reply = s.recv(64).decode()
    return int(reply.strip().lstrip(":"))


def redis_ping() -> None:
    with socket.create_connection((os.environ.get("REDIS_HOST", "redis"), 6379), timeout=5) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        if not s.recv(64).startswith(b"+PONG"):
            raise RuntimeError("redis did not answer PING")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            redis_ping()
            body = b"ok\n"
        else:
            body = f"visits: {redis_incr('visits')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        # The healthcheck asks every second; its requests would bury the real ones.
        if getattr(self, "path", "") != "/healthz":
            super().log_message(fmt, *args)


http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
