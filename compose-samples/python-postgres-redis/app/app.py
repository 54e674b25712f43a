"""Visit counter: redis holds the count, stdlib only (RESP spoken by hand)."""
import http.server
import os
import socket


def redis_incr(key: str) -> int:
    with socket.create_connection((os.environ.get("REDIS_HOST", "redis"), 6379), timeout=5) as s:
        s.sendall(f"*2\r\n$4\r\nINCR\r\n${len(key)}\r\n{key}\r\n".encode())
        reply = s.recv(64).decode()
    return int(reply.strip().lstrip(":"))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"visits: {redis_incr('visits')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
