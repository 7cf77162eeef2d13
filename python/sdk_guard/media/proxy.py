"""Signed proxy URLs and the ASGI / WSGI applications that serve them.

A proxy URL is ``{prefix}/{signature}/{token}``: ``token`` is the base64url of
``v1 \\n expiry \\n principal \\n external URL`` and ``signature`` the base64url
HMAC-SHA256 of a fixed context string plus the token, under the first of the proxy's
keys.  Verification tries every key with :func:`hmac.compare_digest`, so keys rotate by
putting the new key first and dropping the old one once the URLs it signed expired.

Nothing is fetched for a URL that fails verification: it is answered 403 with a
short reason and recorded (layer ``media``, capability ``media.fetch``, decision
``deny``).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextvars
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .addr import AddressError, parse_host
from .fetch import (
    SECURITY_HEADERS,
    Fetcher,
    Media,
    MediaError,
    MediaResponse,
    Resolver,
    _Trace,
    as_config,
)

__all__ = ["MediaProxy", "Ticket"]

_CONTEXT = b"sdk_guard.media.v1\0"
_BATCH = 256 * 1024          # body bytes moved per trip between the pool and the event loop
_MIN_KEY = 32
_REASONS = {200: "OK", 304: "Not Modified", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Content Too Large",
            415: "Unsupported Media Type", 502: "Bad Gateway", 504: "Gateway Timeout"}


@dataclass(frozen=True)
class Ticket:
    """What a verified proxy URL carries."""

    url: str
    expires: int
    principal: str | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or len(text) > 16384 or not text.isascii():
        raise ValueError("bad base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _as_keys(keys: bytes | str | Sequence[bytes | str]) -> tuple[bytes, ...]:
    seq = [keys] if isinstance(keys, (bytes, str)) else list(keys)
    if not seq:
        raise ValueError("MediaProxy needs at least one key")
    out = []
    for i, k in enumerate(seq):
        raw = k.encode("utf-8") if isinstance(k, str) else k
        if not isinstance(raw, bytes) or len(raw) < _MIN_KEY:
            raise ValueError(f"key {i} is shorter than {_MIN_KEY} bytes; use "
                             "secrets.token_bytes(32) or a 64-character hex string")
        out.append(raw)
    return tuple(out)


class MediaProxy:
    """Mints signed same-origin URLs for external media and serves them.

    ``keys``: one key or a sequence (the first signs, all verify).  ``policy``: a
    :class:`~sdk_guard.Policy`, a ``[media]`` dict, a MediaConfig or None.  ``prefix``:
    the path the host mounts the app at (URLs are ``{prefix}/{sig}/{token}``).
    ``.asgi`` and ``.wsgi`` are the applications; ``.fetch`` the SDK's fetch.
    """

    def __init__(self, keys: bytes | str | Sequence[bytes | str], policy: Any = None, *,
                 prefix: str = "/media", resolver: Resolver | None = None,
                 ssl_context: Any = None, clock: Callable[[], float] = time.time,
                 workers: int = 64) -> None:
        self._keys = _as_keys(keys)
        self.config = as_config(policy)
        if not prefix.startswith("/") or prefix.endswith("/") and prefix != "/":
            raise ValueError(f"prefix {prefix!r} must start with '/' and not end with one")
        self.prefix = "" if prefix == "/" else prefix
        self.fetcher = Fetcher(self.config, resolver=resolver, ssl_context=ssl_context)
        self._clock = clock
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="sdk_guard-media")
        self.asgi = _ASGIApp(self)
        self.wsgi = _WSGIApp(self)

    # -- minting and verifying

    def _check_principal(self, principal: str | None, what: str, url: str) -> None:
        if principal is not None and principal not in self.config.mint:
            err = MediaError("mint_denied", f"{principal!r} may not {what}; add it to "
                                            "media.mint", rule="media.mint",
                             principal=principal, target=url)
            err.event_id = _Trace(url, principal, "media.mint").emit(
                "deny", "mint_denied", "media.mint", err.status)
            raise err

    def url_for(self, external_url: str, *, principal: str | None = None,
                expires: float | None = None) -> str:
        """The signed proxy path for EXTERNAL_URL, charged to PRINCIPAL (None: the
        host), valid until EXPIRES (a Unix time; default now + media.ttl).  Raises
        ValueError for a URL that can never be fetched and MediaError when PRINCIPAL
        may not mint."""
        if not isinstance(external_url, str):
            raise TypeError("external_url must be a str")
        self._check_principal(principal, "mint media URLs", external_url)
        if principal is not None and ("\n" in principal or not principal):
            raise ValueError("principal must be a non-empty name without newlines")
        if not external_url.isascii() or any(c in external_url for c in "\r\n\t\0 "):
            raise ValueError(f"{external_url!r}: write the URL in ASCII (an IDNA host as "
                             "xn--..., the path percent-encoded) without spaces")
        parts = urllib.parse.urlsplit(external_url)
        if parts.scheme.lower() not in self.config.schemes:
            raise ValueError(f"{external_url!r}: scheme must be one of media.schemes "
                             f"({', '.join(sorted(self.config.schemes))})")
        try:
            host = parts.hostname or ""
            parse_host(host)
        except AddressError as exc:
            raise ValueError(f"{external_url!r}: {exc}") from None
        exp = int(self._clock() + self.config.ttl if expires is None else expires)
        token = _b64(f"v1\n{exp}\n{principal or ''}\n{external_url}".encode())
        sig = _b64(hmac.new(self._keys[0], _CONTEXT + token.encode("ascii"),
                            hashlib.sha256).digest())
        return f"{self.prefix}/{sig}/{token}"

    def verify(self, sig: str, token: str) -> Ticket:
        """The ticket in a proxy URL's last two path segments; raises MediaError
        (reason bad_signature / expired / malformed) without recording it."""
        try:
            given = _unb64(sig)
            _unb64(token)
        except (ValueError, binascii.Error):
            raise MediaError("malformed", "malformed proxy URL") from None
        msg = _CONTEXT + token.encode("ascii")
        ok = False
        for key in self._keys:
            # Every key is tried, so timing says nothing about which one matched.
            ok |= hmac.compare_digest(hmac.new(key, msg, hashlib.sha256).digest(), given)
        if not ok:
            raise MediaError("bad_signature", "bad signature")
        try:
            version, exp, principal, url = _unb64(token).decode("utf-8").split("\n", 3)
            expires = int(exp)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise MediaError("malformed", "malformed proxy URL") from None
        if version != "v1":
            raise MediaError("malformed", "unknown proxy URL version")
        if expires <= self._clock():
            raise MediaError("expired", "expired proxy URL", principal=principal or None,
                             target=url)
        return Ticket(url, expires, principal or None)

    def _ticket_for_path(self, path: str) -> Ticket:
        parts = path.rstrip("/").rsplit("/", 2)
        if len(parts) < 3:
            raise MediaError("malformed", "malformed proxy URL")
        return self.verify(parts[1], parts[2])

    def refuse(self, path: str, err: MediaError) -> int | None:
        """Records a refused proxy URL (one audit record); returns its seq."""
        err.event_id = _Trace(err.target or path, err.principal).emit(
            "deny", err.reason, err.rule, err.status)
        return err.event_id

    # -- serving

    def open_path(self, path: str, request_headers: Mapping[str, str]) -> MediaResponse:
        """Verifies the proxy PATH and opens its origin; raises MediaError (recorded)."""
        try:
            ticket = self._ticket_for_path(path)
            if ticket.principal is not None and ticket.principal not in self.config.mint:
                raise MediaError("mint_denied", "principal may no longer use the proxy",
                                 rule="media.mint", principal=ticket.principal,
                                 target=ticket.url)
        except MediaError as err:
            self.refuse(path, err)
            raise
        return self.fetcher.open(ticket.url, principal=ticket.principal,
                                 request_headers=request_headers)

    def fetch(self, url: str, *, principal: str | None = None) -> Media:
        """The SDK's fetch: URL's body under the media policy, charged to PRINCIPAL
        (which must be in media.mint when it is an extension)."""
        self._check_principal(principal, "fetch media", url)
        return self.fetcher.fetch(url, principal=principal)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _close_abandoned(opening: asyncio.Future[tuple[MediaResponse, bytes, bool]]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result()[0].close()


def _error_response(err: MediaError) -> tuple[int, list[tuple[str, str]], bytes]:
    body = f"{err.reason}\n".encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"),
               ("Content-Length", str(len(body))), ("Cache-Control", "no-store"),
               *SECURITY_HEADERS]
    return err.status, headers, body


class _ASGIApp:
    """The proxy as an ASGI 3 application (GET and HEAD)."""

    def __init__(self, proxy: MediaProxy) -> None:
        self._proxy = proxy

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any],
                       send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await self._plain(send, 405, [("Allow", "GET, HEAD")], b"method\n")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        loop = asyncio.get_running_loop()
        pool = self._proxy._pool
        body_wanted = scope["method"] == "GET"
        # The pool thread runs in this request's context, so the audit record carries
        # the host's spans (and acting_as) like code awaited here would.
        ctx = contextvars.copy_context()
        try:
            # One trip to the pool opens the origin and reads the first part of the
            # body: a small image is answered whole, and a failure in that part (cap,
            # timeout) still gets its status instead of a cut connection.
            opening = loop.run_in_executor(pool, ctx.run, self._open, scope["path"], headers,
                                           body_wanted)
            # Shielded: if the server cancels this request while the origin is being
            # opened, the response that arrives later is still closed (and recorded).
            resp, first, done = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_abandoned)
            raise
        except MediaError as err:
            status, hdrs, body = _error_response(err)
            await self._plain(send, status, hdrs, body)
            return
        try:
            await send({"type": "http.response.start", "status": resp.status,
                        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                                    for k, v in resp.headers]})
            await send({"type": "http.response.body", "body": first, "more_body": not done})
            while not done:
                try:
                    chunk, done = await loop.run_in_executor(pool, ctx.run, resp.read_some,
                                                             _BATCH)
                except MediaError:
                    # Headers are out: the only honest signal left is an incomplete
                    # body, so the connection is dropped without finishing it.
                    return
                await send({"type": "http.response.body", "body": chunk,
                            "more_body": not done})
        finally:
            resp.close()

    def _open(self, path: str, headers: dict[str, str],
              body_wanted: bool) -> tuple[MediaResponse, bytes, bool]:
        resp = self._proxy.open_path(path, headers)
        if not body_wanted or resp.status == 304:
            resp.close("head")
            return resp, b"", True
        first, done = resp.read_some(_BATCH)
        return resp, first, done

    @staticmethod
    async def _plain(send: Callable[..., Any], status: int, headers: list[tuple[str, str]],
                     body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                                for k, v in headers]})
        await send({"type": "http.response.body", "body": body})


class _WSGIBody:
    """A WSGI response iterable that closes the origin response when the server does."""

    def __init__(self, resp: MediaResponse, head_only: bool) -> None:
        self._resp = resp
        self._head_only = head_only

    def __iter__(self) -> Iterator[bytes]:
        if self._head_only or self._resp.status == 304:
            return iter(())
        return iter(self._resp)

    def close(self) -> None:
        self._resp.close("head" if self._head_only else "client_closed")


class _WSGIApp:
    """The proxy as a WSGI application (GET and HEAD)."""

    def __init__(self, proxy: MediaProxy) -> None:
        self._proxy = proxy

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"),
                                                      ("Content-Type", "text/plain")])
            return [b"method\n"]
        headers = {}
        for name, env in (("if-none-match", "HTTP_IF_NONE_MATCH"),
                          ("if-modified-since", "HTTP_IF_MODIFIED_SINCE")):
            if env in environ:
                headers[name] = environ[env]
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        try:
            resp = self._proxy.open_path(path, headers)
        except MediaError as err:
            status, hdrs, body = _error_response(err)
            start_response(f"{status} {_REASONS.get(status, 'Error')}", hdrs)
            return [body]
        start_response(f"{resp.status} {_REASONS.get(resp.status, 'OK')}", resp.headers)
        return _WSGIBody(resp, method == "HEAD")
