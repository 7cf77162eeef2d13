"""The ecosystem suite: real PyPI libraries in extensions under the natural policy.

Run on its own (`python3 -m pytest -q tests/ecosystem`, a step of .ci/run after
`pip install -r requirements-ecosystem.txt`): it needs those libraries installed."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Handler(BaseHTTPRequestHandler):
    def _send(self, obj: object) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._send({"hello": "world"})

    def do_POST(self) -> None:  # noqa: N802
        n = int(self.headers.get("Content-Length", "0"))
        self._send({"got": json.loads(self.rfile.read(n) or b"null")})

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def loopback_port() -> Iterator[int]:
    """A loopback HTTP server in the test process (never in a guarded child)."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()
