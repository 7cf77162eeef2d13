"""An SSRF-safe HTTP(S) fetcher for external media.

One hop of a fetch:

1. parse the URL: http/https only (and only the schemes ``media.schemes`` allows), no
   credentials, a host that is a DNS name or a canonically spelled IP (``addr``);
2. resolve the name **once**; every answer must be a public unicast address or be opened
   by ``media.allow_internal``, otherwise the origin is refused before any connection
   (an origin that answers with both a public and a private address is refused);
3. connect to that pinned address, never to the name again, so a second DNS answer
   (rebinding) is never used; TLS is verified against the *name* (SNI and the
   certificate check use it) and the Host header keeps it;
4. send a fixed, minimal request (User-Agent, Accept, Accept-Encoding: identity, and the
   client's cache validators): no cookie, authorization, client address or referrer;
5. redirects go back to step 1 for the new URL (at most ``media.max_redirects``, never
   from https to http);
6. the body is streamed in bounded chunks: the byte cap is counted as bytes arrive, the
   first bytes are sniffed and must confirm the declared, allowed type.

Time is bounded three ways: ``connect_timeout`` for DNS + TCP + TLS of a hop,
``read_timeout`` for each wait on the socket, ``total_timeout`` for the whole fetch
(redirects and the body included), checked before every read, so an origin that
trickles one byte at a time (slowloris) is cut off at the total.

Every fetch ends in exactly one audit record (layer ``media``, capability
``media.fetch``) through :func:`sdk_guard.audit.emit`.
"""
from __future__ import annotations

import concurrent.futures
import http.client
import io
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from .. import audit
from ..errors import PolicyViolation
from .addr import AddressError, IPAddress, classify, parse_host
from .config import MediaConfig, parse_config
from .sniff import SNIFF_BYTES, normalize, sniff

__all__ = ["CHUNK", "Fetcher", "Media", "MediaError", "MediaResponse", "Resolver"]

#: A resolver: (host name, port) -> the addresses it resolves to, as strings.
Resolver = Callable[[str, int], Iterable[str]]

#: Most bytes one read from the origin returns (and the read buffer's size): a
#: response in flight holds at most a few of these, whatever the body's size.
CHUNK = 256 * 1024

_REDIRECTS = (301, 302, 303, 307, 308)
_PASS_HEADERS = ("cache-control", "etag", "expires", "last-modified")
_CONDITIONAL = ("if-none-match", "if-modified-since")
_INLINE_FAMILIES = ("image/", "audio/", "video/")

#: Headers every proxied response carries.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'none'; sandbox"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)

_STATUS = {
    "bad_url": 403, "scheme": 403, "credentials": 403, "bad_host": 403, "odd_ipv4": 403,
    "address": 403, "scoped": 403, "mixed_addresses": 403, "https_to_http": 403, "bad_signature": 403,
    "expired": 403, "malformed": 403, "mint_denied": 403,
    "not_found": 404,
    "max_bytes": 413,
    "type_not_allowed": 415, "type_mismatch": 415,
    "resolve_failed": 502, "connect_failed": 502, "tls": 502, "origin_status": 502,
    "content_encoding": 502, "protocol": 502, "too_many_redirects": 502,
    "connect_timeout": 504, "read_timeout": 504, "total_timeout": 504,
}


class MediaError(PolicyViolation):
    """A media fetch or proxy URL the policy refused, or an origin that failed.

    ``status`` is the HTTP status the proxy answers with, ``reason`` a short token
    (``address``, ``max_bytes``, ``type_mismatch``, ``total_timeout``, ...), ``rule`` the
    policy key that decided, ``event_id`` the seq of its audit record."""

    def __init__(self, reason: str, message: str, *, rule: str | None = None,
                 principal: str | None = None, target: str | None = None) -> None:
        super().__init__(message, principal=principal, capability="media.fetch",
                         target=target, rule=rule)
        self.reason = reason
        self.status = _STATUS.get(reason, 502)


class _Timeout(TimeoutError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Timing:
    connect: float
    read: float
    deadline: float
    total: float

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Timeout("total_timeout")
        return left

    def wait(self, limit: float, reason: str) -> tuple[float, str]:
        left = self.remaining()
        return (limit, reason) if limit < left else (left, "total_timeout")


class _DeadlineRaw(io.RawIOBase):
    """The socket as http.client reads it: every recv waits at most read_timeout and
    never past the total deadline."""

    def __init__(self, owner: _PinnedSocket) -> None:
        super().__init__()
        self._owner = owner
        self._sock = owner.sock
        self._timing = owner.timing

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        wait, why = self._timing.wait(self._timing.read, "read_timeout")
        self._sock.settimeout(wait)
        try:
            return self._sock.recv_into(buf)
        except TimeoutError:
            raise _Timeout(why) from None

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._owner.unref()


class _PinnedSocket:
    """What http.client sees as its socket: sendall, makefile and close over the
    connection to the pinned address."""

    def __init__(self, sock: socket.socket, timing: _Timing) -> None:
        self.sock = sock
        self.timing = timing
        # Like socket.makefile(): the connection may be closed (http.client does so
        # once a response says Connection: close) while the response still reads.
        self._refs = 1
        self._closed = False

    def sendall(self, data: bytes) -> None:
        wait, why = self.timing.wait(self.timing.read, "read_timeout")
        self.sock.settimeout(wait)
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise _Timeout(why) from None

    def makefile(self, mode: str) -> io.BufferedReader:
        self._refs += 1
        return io.BufferedReader(_DeadlineRaw(self), CHUNK)

    def unref(self) -> None:
        self._refs -= 1
        if self._refs == 0:
            self.sock.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.unref()


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) to HOST:PORT whose TCP connection goes to ADDRESS, decided beforehand."""

    def __init__(self, host: str, port: int, address: IPAddress, timing: _Timing,
                 tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port)
        self._address = address
        self._timing = timing
        self._tls = tls

    def connect(self) -> None:
        wait, why = self._timing.wait(self._timing.connect, "connect_timeout")
        family = socket.AF_INET6 if self._address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(wait)
            try:
                sock.connect((str(self._address), self.port))
            except TimeoutError:
                raise _Timeout(why) from None
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                wait, why = self._timing.wait(self._timing.connect, "connect_timeout")
                sock.settimeout(wait)
                try:
                    sock = self._tls.wrap_socket(sock, server_hostname=self.host)
                except TimeoutError:
                    raise _Timeout(why) from None
        except BaseException:
            sock.close()
            raise
        self.sock = _PinnedSocket(sock, self._timing)


_dns_pool: concurrent.futures.ThreadPoolExecutor | None = None
_dns_lock = threading.Lock()


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _resolve(resolver: Resolver, host: str, port: int, timing: _Timing) -> list[str]:
    """RESOLVER's answers, waiting at most connect_timeout (getaddrinfo has no timeout
    of its own, so it runs on a small pool and is abandoned when late)."""
    global _dns_pool
    with _dns_lock:
        if _dns_pool is None:
            _dns_pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=16, thread_name_prefix="sdk_guard-media-dns")
    wait, why = timing.wait(timing.connect, "connect_timeout")
    future = _dns_pool.submit(lambda: list(resolver(host, port)))
    try:
        return future.result(timeout=wait)
    except concurrent.futures.TimeoutError:
        raise _Timeout(why) from None


@dataclass
class _Trace:
    """What the audit record of one fetch says."""

    url: str
    principal: str | None
    capability: str = "media.fetch"
    address: str | None = None
    origin_status: int | None = None
    bytes: int = 0
    type: str | None = None
    redirects: list[str] = field(default_factory=list)
    emitted: bool = False
    event_id: int | None = None

    def emit(self, decision: str, reason: str, rule: str | None,
             status: int) -> int | None:
        """Writes the fetch's one record (later calls return the first one's seq);
        STATUS is what the client is answered, origin_status what the origin said."""
        if self.emitted:
            return self.event_id
        self.emitted = True
        extra: dict[str, Any] = {"url": self.url[:2048], "address": self.address,
                                 "status": status, "origin_status": self.origin_status,
                                 "bytes": self.bytes, "type": self.type, "reason": reason}
        if self.redirects:
            extra["redirects"] = list(self.redirects)
        self.event_id = audit.emit("media", self.capability, decision,
                                   principal=self.principal, target=self.url[:2048], rule=rule,
                                   extra=extra)
        return self.event_id


class MediaResponse:
    """A vetted origin response whose body has not been read yet (beyond the sniffed
    head).  Iterate it for chunks; it closes itself (and writes its audit record) at
    the end of the body, on an error, or when :meth:`close` is called."""

    def __init__(self, status: int, content_type: str | None, headers: list[tuple[str, str]],
                 head: bytes, resp: http.client.HTTPResponse | None,
                 conn: http.client.HTTPConnection | None, trace: _Trace, timing: _Timing,
                 max_bytes: int) -> None:
        self.status = status
        self.content_type = content_type
        self.headers = headers
        self._head = head
        self._resp = resp
        self._conn = conn
        self._trace = trace
        self._timing = timing
        self._max = max_bytes
        self._done = False
        self._chunks: Iterator[bytes] | None = None
        self.error: MediaError | None = None

    @property
    def event_id(self) -> int | None:
        return self._trace.event_id

    def __iter__(self) -> Iterator[bytes]:
        try:
            if self._head:
                yield self._head
            while self._resp is not None:
                try:
                    self._timing.remaining()
                    chunk = self._resp.read1(CHUNK)
                except _Timeout as exc:
                    raise self._fail(exc.reason, f"origin too slow ({exc.reason})",
                                     "media." + exc.reason) from None
                except (OSError, http.client.HTTPException) as exc:
                    raise self._fail("protocol", f"origin body failed: {exc}", None) from None
                if not chunk:
                    break
                self._trace.bytes += len(chunk)
                if self._trace.bytes > self._max:
                    raise self._fail("max_bytes", f"body exceeds media.max_bytes "
                                                  f"({self._max} bytes)", "media.max_bytes")
                yield chunk
            self._finish("allow", "ok", None)
        finally:
            self.close()

    def read(self) -> bytes:
        """The whole body (at most media.max_bytes)."""
        return b"".join(self)

    def read_some(self, limit: int = CHUNK) -> tuple[bytes, bool]:
        """The next part of the body, about LIMIT bytes (at least one read's worth
        unless the body ended), and whether the body ended; raises MediaError.  Lets
        a server move a small body in one call and a large one in few."""
        if self._chunks is None:
            self._chunks = iter(self)
        parts: list[bytes] = []
        n = 0
        for chunk in self._chunks:
            parts.append(chunk)
            n += len(chunk)
            if n >= limit:
                return b"".join(parts), False
        return b"".join(parts), True

    def _fail(self, reason: str, message: str, rule: str | None) -> MediaError:
        err = MediaError(reason, message, rule=rule, principal=self._trace.principal,
                         target=self._trace.url)
        err.event_id = self._trace.emit("deny", reason, rule, err.status)
        self.error = err
        self._release()
        return err

    def _finish(self, decision: str, reason: str, rule: str | None) -> None:
        self._trace.emit(decision, reason, rule, self.status)
        self._release()

    def _release(self) -> None:
        if self._done:
            return
        self._done = True
        if self._resp is not None:
            self._resp.close()
        if self._conn is not None:
            self._conn.close()

    def close(self, reason: str = "client_closed") -> None:
        """Stops reading; a body not read to its end is recorded with REASON
        (``client_closed``, or ``head`` for a HEAD request)."""
        if not self._trace.emitted:
            self._trace.emit("allow", "ok" if self._resp is None else reason, None,
                             self.status)
        self._release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Media:
    """A fetched body: ``content_type`` is the confirmed type."""

    url: str
    status: int
    content_type: str | None
    body: bytes
    headers: tuple[tuple[str, str], ...]
    event_id: int | None


def _clean(value: str) -> str | None:
    value = value.strip()
    if len(value) > 1024 or not value.isascii() or not value.isprintable():
        return None
    return value


class Fetcher:
    """Fetches external media under a ``[media]`` policy.

    ``config`` is a :class:`~sdk_guard.Policy` (its ``[media]`` section), a
    :class:`MediaConfig`, the section as a dict, or None for the defaults.  ``resolver``
    replaces DNS (tests, or a host's own resolver); ``ssl_context`` replaces the default
    verifying context (a private CA); hostname checking cannot be turned off.
    """

    def __init__(self, config: Any = None, *, resolver: Resolver | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.config = as_config(config)
        self._resolver = resolver or _system_resolver
        ctx = ssl_context or ssl.create_default_context()
        if not ctx.check_hostname or ctx.verify_mode != ssl.CERT_REQUIRED:
            raise ValueError("ssl_context must verify certificates and check hostnames")
        self._tls = ctx
        self._accept = ", ".join(sorted({t.split("/")[0] + "/*" if t.startswith(
            _INLINE_FAMILIES) else t for t in self.config.types}))

    # -- public API

    def fetch(self, url: str, *, principal: str | None = None) -> Media:
        """GET URL and return its body (at most media.max_bytes); raises MediaError."""
        with self.open(url, principal=principal) as r:
            body = r.read()
            return Media(url, r.status, r.content_type, body, tuple(r.headers), r.event_id)

    def open(self, url: str, *, principal: str | None = None,
             request_headers: Mapping[str, str] | None = None) -> MediaResponse:
        """Vets URL, connects, reads the response head and sniffs the first bytes;
        returns a :class:`MediaResponse` to stream the rest.  ``request_headers`` may
        carry the client's If-None-Match / If-Modified-Since; every other header is
        dropped.  Raises MediaError (already recorded)."""
        trace = _Trace(url=url if isinstance(url, str) else repr(url), principal=principal)
        cfg = self.config
        timing = _Timing(cfg.connect_timeout, cfg.read_timeout,
                         time.monotonic() + cfg.total_timeout, cfg.total_timeout)
        conditional: dict[str, str] = {}
        for name, value in (request_headers or {}).items():
            if (name.lower() in _CONDITIONAL and isinstance(value, str)
                    and (clean := _clean(value))):
                conditional[name.lower()] = clean
        try:
            return self._open(trace, timing, conditional)
        except MediaError as err:
            err.event_id = trace.emit("deny", err.reason, err.rule, err.status)
            raise
        except _Timeout as exc:
            slow = MediaError(exc.reason, f"origin too slow ({exc.reason.replace('_', ' ')})",
                              rule="media." + exc.reason, principal=principal, target=trace.url)
            slow.event_id = trace.emit("deny", exc.reason, slow.rule, slow.status)
            raise slow from None
        except BaseException as exc:
            # Whatever else went wrong, the fetch still leaves its one record.
            trace.emit("deny", f"internal_error: {type(exc).__name__}", None, 502)
            raise

    # -- one fetch

    def _error(self, trace: _Trace, reason: str, message: str,
               rule: str | None = None) -> MediaError:
        return MediaError(reason, message, rule=rule, principal=trace.principal,
                          target=trace.url)

    def _open(self, trace: _Trace, timing: _Timing,
              conditional: dict[str, str]) -> MediaResponse:
        url = trace.url
        previous_scheme: str | None = None
        for hop in range(self.config.max_redirects + 1):
            scheme, host, port, target, address = self._vet(trace, url, previous_scheme,
                                                             timing)
            trace.address = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
            conn = _PinnedConnection(host, port, address, timing,
                                     self._tls if scheme == "https" else None)
            try:
                resp = self._request(trace, conn, target, conditional)
            except BaseException:
                conn.close()
                raise
            trace.origin_status = resp.status
            if resp.status in _REDIRECTS:
                location = resp.getheader("Location")
                resp.close()
                conn.close()
                if not location:
                    raise self._error(trace, "origin_status",
                                      f"origin answered {resp.status} without a Location")
                if hop == self.config.max_redirects:
                    break
                url = urllib.parse.urljoin(url, location.strip())
                trace.redirects.append(url[:2048])
                previous_scheme = scheme
                continue
            try:
                return self._vet_response(trace, timing, conn, resp)
            except BaseException:
                resp.close()
                conn.close()
                raise
        raise self._error(trace, "too_many_redirects",
                          f"more than {self.config.max_redirects} redirects",
                          "media.max_redirects")

    def _vet(self, trace: _Trace, url: str, previous_scheme: str | None,
             timing: _Timing) -> tuple[str, str, int, str, IPAddress]:
        """Checks one hop's URL and picks the pinned address; raises before any connect."""
        cfg = self.config
        if not isinstance(url, str) or len(url) > 8192 or any(
                c in url for c in "\r\n\t\0 ") or not url.isascii():
            raise self._error(trace, "bad_url", "not a well-formed absolute http(s) URL")
        try:
            parts = urllib.parse.urlsplit(url)
            port_given = parts.port
        except ValueError as exc:
            raise self._error(trace, "bad_url", f"malformed URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise self._error(trace, "scheme", f"scheme {scheme or '(none)'!r} is never "
                                               "fetched; only http and https are")
        if previous_scheme == "https" and scheme == "http":
            raise self._error(trace, "https_to_http", "redirect from https to http refused")
        if scheme not in cfg.schemes:
            raise self._error(trace, "scheme", f"scheme {scheme!r} is not in media.schemes",
                              "media.schemes")
        if parts.username is not None or parts.password is not None:
            raise self._error(trace, "credentials", "URLs with user:password@ are refused")
        raw_host = parts.netloc.rpartition("@")[2]
        if raw_host.startswith("["):
            raw_host = raw_host[1:raw_host.find("]")]
        else:
            raw_host = raw_host.partition(":")[0]
        try:
            host = parse_host(raw_host)
        except AddressError as exc:
            raise self._error(trace, exc.reason, str(exc)) from None
        port = port_given if port_given is not None else (443 if scheme == "https" else 80)
        if port == 0:
            raise self._error(trace, "bad_url", "port 0 is not a destination")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        if isinstance(host, str):
            try:
                answers = _resolve(self._resolver, host, port, timing)
            except _Timeout:
                raise
            except Exception as exc:  # noqa: BLE001 - a host's resolver may raise anything
                raise self._error(trace, "resolve_failed", f"cannot resolve {host}: "
                                                           f"{type(exc).__name__}: {exc}") \
                    from None
            addresses = []
            for a in answers:
                try:
                    addresses.append(ipaddress.ip_address(a))
                except ValueError:
                    raise self._error(trace, "resolve_failed",
                                      f"resolver answered {a!r}, not an address") from None
            if not addresses:
                raise self._error(trace, "resolve_failed", f"{host} has no address")
            server_name = host.rstrip(".")
        else:
            addresses = [host]
            server_name = str(host)
        allowed: list[IPAddress] = []
        refused: list[str] = []
        for ip in addresses:
            why = classify(ip)
            if why is None or cfg.internal_allowed(ip, port):
                allowed.append(ip)
            else:
                refused.append(f"{ip} ({why})")
        if refused:
            trace.address = ", ".join(refused)
            if allowed:
                raise self._error(trace, "mixed_addresses",
                                  f"{server_name} resolves to both allowed and forbidden "
                                  f"addresses: {', '.join(refused)}", "media.allow_internal")
            raise self._error(trace, "address", f"{server_name}:{port} resolves to a "
                                                f"forbidden address: {', '.join(refused)}; "
                                                "add ADDRESS:PORT to media.allow_internal to "
                                                "open an internal origin",
                              "media.allow_internal")
        return scheme, server_name, port, target, allowed[0]

    def _request(self, trace: _Trace, conn: _PinnedConnection, target: str,
                 conditional: dict[str, str]) -> http.client.HTTPResponse:
        try:
            conn.putrequest("GET", target)
            conn.putheader("User-Agent", self.config.user_agent)
            conn.putheader("Accept", self._accept)
            for name, value in conditional.items():
                conn.putheader(name, value)
            conn.endheaders()
            return conn.getresponse()
        except _Timeout:
            raise
        except ssl.SSLError as exc:
            raise self._error(trace, "tls", f"TLS with {conn.host} failed: "
                                            f"{exc.reason or exc}") from None
        except ssl.CertificateError as exc:
            raise self._error(trace, "tls", f"TLS with {conn.host} failed: {exc}") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise self._error(trace, "connect_failed",
                              f"{conn.host}: {type(exc).__name__}: {exc}") from None

    def _vet_response(self, trace: _Trace, timing: _Timing, conn: _PinnedConnection,
                      resp: http.client.HTTPResponse) -> MediaResponse:
        cfg = self.config
        passed = [(name.title() if name != "etag" else "ETag", v)
                  for name in _PASS_HEADERS
                  if (v := _clean(resp.getheader(name) or "")) is not None and v]
        if resp.status == 304:
            resp.close()
            conn.close()
            r = MediaResponse(304, None, list(SECURITY_HEADERS) + passed, b"", None, None,
                              trace, timing, cfg.max_bytes)
            return r
        if resp.status in (404, 410):
            raise self._error(trace, "not_found", f"origin answered {resp.status}")
        if resp.status != 200:
            raise self._error(trace, "origin_status", f"origin answered {resp.status}")
        encoding = (resp.getheader("Content-Encoding") or "identity").strip().lower()
        if encoding != "identity":
            raise self._error(trace, "content_encoding",
                              f"origin sent Content-Encoding {encoding!r} (identity was asked)")
        declared = normalize(resp.getheader("Content-Type") or "")
        trace.type = declared or None
        if declared not in cfg.types:
            raise self._error(trace, "type_not_allowed",
                              f"type {declared or '(none)'!r} is not in media.types",
                              "media.types")
        length: int | None = None
        if resp.length is not None:
            length = resp.length
            if length > cfg.max_bytes:
                raise self._error(trace, "max_bytes", f"origin declares {length} bytes, over "
                                                      f"media.max_bytes ({cfg.max_bytes})",
                                  "media.max_bytes")
        head = b""
        try:
            while len(head) < SNIFF_BYTES:
                timing.remaining()
                chunk = resp.read1(CHUNK)
                if not chunk:
                    break
                head += chunk
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, _Timeout):
                raise
            raise self._error(trace, "protocol", f"origin body failed: {exc}") from None
        trace.bytes = len(head)
        if len(head) > cfg.max_bytes:
            raise self._error(trace, "max_bytes", f"body exceeds media.max_bytes "
                                                  f"({cfg.max_bytes} bytes)", "media.max_bytes")
        sniffed = sniff(head)
        if declared not in sniffed:
            raise self._error(trace, "type_mismatch",
                              f"declared {declared!r} but the body starts like "
                              f"{', '.join(sorted(sniffed)) or 'none of the allowed types'}",
                              "media.types")
        headers = [("Content-Type", declared)]
        if length is not None:
            headers.append(("Content-Length", str(length)))
        if not declared.startswith(_INLINE_FAMILIES):
            headers.append(("Content-Disposition", "attachment"))
        headers += list(SECURITY_HEADERS) + passed
        return MediaResponse(200, declared, headers, head, resp, conn, trace, timing,
                             cfg.max_bytes)


def as_config(config: Any) -> MediaConfig:
    """A MediaConfig from a Policy, a MediaConfig, a [media] dict or None."""
    if isinstance(config, MediaConfig):
        return config
    if config is None or isinstance(config, Mapping):
        return parse_config(config)
    media = getattr(config, "media_config", None)
    if callable(media):
        got = media()
        return got if isinstance(got, MediaConfig) else parse_config(got)
    raise TypeError(f"expected a Policy, a MediaConfig or a [media] table, not "
                    f"{type(config).__name__}")
