"""Loopback origins, real PNGs and a private CA for the media proxy tests and bench."""
from __future__ import annotations

import datetime
import http.server
import ipaddress
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def png(width: int, height: int, rgb: tuple[int, int, int] = (200, 30, 60)) -> bytes:
    """A valid RGB PNG of WIDTH x HEIGHT in one colour."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height, 9)) + chunk(b"IEND", b""))


def padded_png(size: int) -> bytes:
    """A valid PNG of about SIZE bytes (an ancillary chunk carries the padding)."""
    base = png(16, 16)
    pad = max(0, size - len(base) - 12)
    data = b"\x00" * pad
    extra = (struct.pack(">I", pad) + b"pdNg" + data
             + struct.pack(">I", zlib.crc32(b"pdNg" + data) & 0xFFFFFFFF))
    return base[:33] + extra + base[33:]


Handler = Callable[["OriginHandler"], None]


class OriginHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.origin.requests.append(
            {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
             "peer": self.client_address[0], "local": self.connection.getsockname()[0]})
        route = self.server.origin.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        self.close_connection = True

    # responses the routes use
    def body(self, data: bytes, ctype: str, headers: dict[str, str] | None = None,
             length: bool = True) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    origin: Origin

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.origin.connections += 1
        return True


class Origin:
    """A threaded HTTP(S) server on a loopback address; ``requests`` logs every request
    it received (path, headers), ``connections`` every accepted TCP connection."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None,
                 port: int = 0) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        _Server.address_family = family
        self._srv = _Server((host, port), OriginHandler)
        self._srv.origin = self
        if tls is not None:
            self._srv.socket = tls.wrap_socket(self._srv.socket, server_side=True)
        self.host = host
        self.port = self._srv.server_address[1]
        self.scheme = "https" if tls else "http"
        self._thread = threading.Thread(target=self._srv.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    @property
    def hostport(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def url(self, path: str, host: str | None = None) -> str:
        h = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{self.scheme}://{h}:{self.port}{path}"

    def serve(self, path: str, data: bytes, ctype: str, **kw: Any) -> None:
        self.routes[path] = lambda h: h.body(data, ctype, **kw)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        def route(h: OriginHandler) -> None:
            h.send_response(status)
            h.send_header("Location", location)
            h.send_header("Content-Length", "0")
            h.send_header("Connection", "close")
            h.end_headers()
        self.routes[path] = route

    def stream(self, path: str, head: bytes, total: int, ctype: str, *,
               length: bool = False, chunk: int = 65536) -> None:
        """HEAD then zero bytes up to TOTAL, written as produced (close-delimited
        unless LENGTH)."""
        def route(h: OriginHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Type", ctype)
            if length:
                h.send_header("Content-Length", str(total))
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(head)
            sent, zeros = len(head), b"\x00" * chunk
            while sent < total:
                n = min(chunk, total - sent)
                h.wfile.write(zeros[:n])
                sent += n
        self.routes[path] = route

    def trickle(self, path: str, data: bytes, ctype: str, delay: float,
                headers_too: bool = False) -> None:
        """Slowloris: one byte every DELAY seconds (of the body, or of the whole
        response when HEADERS_TOO)."""
        def route(h: OriginHandler) -> None:
            head = (f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode()
            if not headers_too:
                h.wfile.write(head)
                h.wfile.flush()
                out = data
            else:
                out = head + data
            for i in range(len(out)):
                h.wfile.write(out[i:i + 1])
                h.wfile.flush()
                time.sleep(delay)
        self.routes[path] = route

    def close(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()


def make_ca(tmp: Path, names: Iterable[str]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A private CA and a server certificate for NAMES (DNS names or IPs): returns the
    server's context and a client context that trusts only that CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sdk_guard test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "origin")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (tmp / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp / "leaf.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp / "leaf.pem", tmp / "leaf.key")
    client = ssl.create_default_context(cafile=str(tmp / "ca.pem"))
    return server, client


class StubResolver:
    """NAME -> list of answers, one list per call (the last one repeats); records calls."""

    def __init__(self, table: dict[str, list[list[str]] | list[str]]) -> None:
        self.table = {k: (v if v and isinstance(v[0], list) else [v])
                      for k, v in table.items()}
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> list[str]:
        with self._lock:
            n = sum(1 for c in self.calls if c == host)
            self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answers = self.table[host]
        return list(answers[min(n, len(answers) - 1)])  # type: ignore[arg-type]


class AsgiServer:
    """A real uvicorn server for APP on a loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="critical", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


class WsgiServer:
    """wsgiref's server (threaded) for APP on a loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        import socketserver
        from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

        class Threading(socketserver.ThreadingMixIn, WSGIServer):
            daemon_threads = True

        self._srv = make_server("127.0.0.1", 0, app, server_class=Threading,
                                handler_class=Quiet)
        self.port = self._srv.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._srv.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET"
        ) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client (status, lower-case headers, body)."""
    import http.client
    import urllib.parse
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""),
                     headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()
