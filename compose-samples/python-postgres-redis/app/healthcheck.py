"""The web service's healthcheck: healthy when the server answers /healthz."""
import sys
import urllib.request

try:
    with urllib.request.urlopen("http://127.0.0.1:8000/healthz", timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as e:  # any failure is "not ready yet"
    print(e, file=sys.stderr)
    sys.exit(1)
