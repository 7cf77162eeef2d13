"""Signed proxy URLs, the ASGI and WSGI applications on real servers, the [media]
policy section and the ``media`` CLI."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from _support.child import child_env
from _support.media_origin import AsgiServer, Origin, WsgiServer, get, png
from sdk_guard import audit
from sdk_guard.errors import PolicyError
from sdk_guard.media import MediaError, MediaProxy
from sdk_guard.policy import Policy

PNG = png(37, 23)
KEY1 = b"k1" * 16
KEY2 = b"k2" * 16


@pytest.fixture
def origin() -> Iterator[Origin]:
    o = Origin()
    o.serve("/a.png", PNG, "image/png", headers={"ETag": '"e1"', "Set-Cookie": "t=1"})
    yield o
    o.close()


@pytest.fixture
def trail() -> Iterator[audit.MemorySink]:
    sink = audit.MemorySink()
    audit.add_sink(sink)
    yield sink
    audit.remove_sink(sink)


def media_records(sink: audit.MemorySink) -> list[dict]:
    audit.flush()
    return [r for r in sink.records if r["layer"] == "media"]


def proxy_for(origin: Origin, keys: object = KEY1, **kw: object) -> MediaProxy:
    media = {"allow_internal": [origin.hostport], **kw.pop("media", {})}  # type: ignore[dict-item]
    return MediaProxy(keys, media, **kw)  # type: ignore[arg-type]


def refused_path(proxy: MediaProxy, path: str) -> MediaError:
    with pytest.raises(MediaError) as exc:
        proxy.open_path(path, {})
    return exc.value


# ---- signing --------------------------------------------------------------------

def test_signed_url_is_same_origin_and_serves_the_image(origin: Origin) -> None:
    proxy = proxy_for(origin)
    path = proxy.url_for(origin.url("/a.png"))
    assert path.startswith("/media/") and "://" not in path and path.count("/") == 3
    with proxy.open_path(path, {}) as r:
        assert r.read() == PNG


@pytest.mark.parametrize("where", ["sig", "token", "both"])
def test_tampered_url_is_refused_without_any_connection(origin: Origin, trail: audit.MemorySink,
                                                        where: str) -> None:
    proxy = proxy_for(origin)
    other = proxy_for(origin)
    _, prefix, sig, token = proxy.url_for(origin.url("/a.png")).split("/")
    forged = other.url_for(origin.url("/secret.png")).split("/")[3]
    def flip(s: str) -> str:
        return s[:5] + ("A" if s[5] != "A" else "B") + s[6:]
    path = {"sig": f"/{prefix}/{flip(sig)}/{token}",
            "token": f"/{prefix}/{sig}/{forged}",
            "both": f"/{prefix}/{flip(sig)}/{flip(token)}"}[where]
    err = refused_path(proxy, path)
    assert err.reason in ("bad_signature", "malformed") and err.status == 403
    assert origin.connections == 0
    rec = media_records(trail)[-1]
    assert rec["decision"] == "deny" and rec["reason"] == err.reason and rec["bytes"] == 0


@pytest.mark.parametrize("path", ["/media", "/media/", "/media/abc", "/media/!!/??",
                                  "/media/" + "A" * 43 + "/", "/media/x/y/z"])
def test_malformed_proxy_path_is_refused(origin: Origin, path: str) -> None:
    err = refused_path(proxy_for(origin), path)
    assert err.status == 403 and err.reason in ("malformed", "bad_signature")
    assert origin.connections == 0


def test_expired_url_is_refused(origin: Origin, trail: audit.MemorySink) -> None:
    now = [1_000_000.0]
    proxy = proxy_for(origin, clock=lambda: now[0], media={"ttl": 60})
    path = proxy.url_for(origin.url("/a.png"))
    short = proxy.url_for(origin.url("/a.png"), expires=now[0] + 5)
    now[0] += 10
    assert refused_path(proxy, short).reason == "expired"
    with proxy.open_path(path, {}) as r:
        assert r.read() == PNG
    now[0] += 60
    err = refused_path(proxy, path)
    assert err.reason == "expired" and err.status == 403
    rec = media_records(trail)[-1]
    assert rec["reason"] == "expired" and rec["url"] == origin.url("/a.png")
    assert origin.connections == 1


def test_key_rotation_accepts_old_urls_and_signs_with_the_first_key(origin: Origin) -> None:
    old = proxy_for(origin, keys=[KEY1])
    rotated = proxy_for(origin, keys=[KEY2, KEY1])
    retired = proxy_for(origin, keys=[KEY2])
    old_url = old.url_for(origin.url("/a.png"))
    new_url = rotated.url_for(origin.url("/a.png"))
    assert old_url != new_url
    for proxy, path in ((rotated, old_url), (rotated, new_url), (retired, new_url)):
        with proxy.open_path(path, {}) as r:
            assert r.read() == PNG
    assert refused_path(retired, old_url).reason == "bad_signature"
    assert refused_path(old, new_url).reason == "bad_signature"


def test_the_principal_is_signed_and_charged(origin: Origin, trail: audit.MemorySink) -> None:
    policy = Policy.from_dict({
        "version": 1, "extensions": {"acme": {"package": "acme"}, "beta": {"package": "beta"}},
        "media": {"allow_internal": [origin.hostport], "mint": ["acme"]}})
    proxy = MediaProxy(KEY1, policy)
    path = proxy.url_for(origin.url("/a.png"), principal="acme")
    with proxy.open_path(path, {}) as r:
        r.read()
    assert media_records(trail)[-1]["principal"] == "acme"
    with pytest.raises(MediaError) as exc:
        proxy.url_for(origin.url("/a.png"), principal="beta")
    assert exc.value.reason == "mint_denied" and exc.value.rule == "media.mint"
    rec = media_records(trail)[-1]
    assert rec["capability"] == "media.mint" and rec["principal"] == "beta"
    assert rec["decision"] == "deny" and rec["seq"] == exc.value.event_id
    with pytest.raises(MediaError):
        proxy.fetch(origin.url("/a.png"), principal="beta")
    assert proxy.fetch(origin.url("/a.png"), principal="acme").body == PNG
    # A URL minted while acme was allowed stops working once the policy drops it.
    narrowed = MediaProxy(KEY1, {"allow_internal": [origin.hostport]})
    assert refused_path(narrowed, path).reason == "mint_denied"


def test_short_keys_and_unfetchable_urls_are_refused_at_mint_time() -> None:
    with pytest.raises(ValueError, match="shorter than 32 bytes"):
        MediaProxy(b"short", {})
    with pytest.raises(ValueError, match="at least one key"):
        MediaProxy([], {})
    proxy = MediaProxy(KEY1, {"schemes": ["https"]})
    for url in ("http://example.com/a.png", "javascript:alert(1)", "https://2130706433/a.png",
                "https://bücher.de/a.png", "https://example.com/a b.png",
                "https://example.com/a.png\nX: y"):
        with pytest.raises(ValueError):
            proxy.url_for(url)


# ---- policy ---------------------------------------------------------------------

@pytest.mark.parametrize(("media", "key"), [
    ({"types": ["image/svg+xml"]}, "media.types[0]"),
    ({"types": ["image/png", "text/*"]}, "media.types[1]"),
    ({"types": "image/png"}, "media.types"),
    ({"allow_internal": ["localhost:8080"]}, "media.allow_internal[0]"),
    ({"allow_internal": ["10.0.0.1"]}, "media.allow_internal[0]"),
    ({"allow_internal": ["10.0.0.1/8:80"]}, "media.allow_internal[0]"),
    ({"allow_internal": ["[::1]:0"]}, "media.allow_internal[0]"),
    ({"schemes": ["ftp"]}, "media.schemes[0]"),
    ({"max_redirects": 6}, "media.max_redirects"),
    ({"max_bytes": "10MB"}, "media.max_bytes"),
    ({"max_bytes": True}, "media.max_bytes"),
    ({"total_timeout": 0}, "media.total_timeout"),
    ({"read_timeout": float("nan")}, "media.read_timeout"),
    ({"mint": ["nobody"]}, "media.mint[0]"),
    ({"user_agent": "a\nb"}, "media.user_agent"),
    ({"max_byte": 1}, "media.max_byte"),
])
def test_bad_media_section_names_the_key(media: dict, key: str) -> None:
    with pytest.raises(PolicyError) as exc:
        Policy.from_dict({"version": 1, "extensions": {"acme": {"package": "acme"}},
                          "media": media})
    assert exc.value.key == key


def test_media_section_from_toml() -> None:
    policy = Policy.from_toml("""
        version = 1
        [extensions.acme]
        package = "acme"
        [media]
        schemes = ["https"]
        types = ["image/*", "video/mp4"]
        max_bytes = 2000000
        allow_internal = ["10.0.0.7:8080", "[fd00::5]:443", "10.1.0.0/16:443"]
        mint = ["acme"]
    """)
    cfg = policy.media_config()
    assert cfg.schemes == {"https"} and "video/mp4" in cfg.types and "audio/mpeg" not in cfg.types
    assert policy.data["media"]["allow_internal"] == ["10.0.0.7/32:8080", "[fd00::5/128]:443",
                                                      "10.1.0.0/16:443"]
    assert Policy.from_dict({"version": 1}).media_config() is None


def test_check_prints_the_resolved_media_section_and_it_reads_back(tmp_path: Path) -> None:
    src = tmp_path / "p.toml"
    src.write_text('version = 1\n[extensions.acme]\npackage = "acme"\n[media]\n'
                   'mint = ["acme"]\ntypes = ["image/*"]\n'
                   'allow_internal = ["10.0.0.1:80", "[fd00::/8]:443"]\n')
    out = subprocess.run([sys.executable, "-m", "sdk_guard", "check", str(src)],
                         env=child_env(), capture_output=True, text=True, timeout=60,
                         check=True).stdout
    assert "[media]" in out and 'allow_internal = ["10.0.0.1/32:80", "[fd00::/8]:443"]' in out
    resolved = tmp_path / "resolved.toml"
    resolved.write_text(out)
    assert Policy.from_toml(resolved).data["media"] == Policy.from_toml(src).data["media"]


# ---- the applications on real servers ---------------------------------------------

CLIENT_HEADERS = {"Cookie": "sid=secret", "Authorization": "Bearer t",
                  "X-Forwarded-For": "203.0.113.9", "Referer": "http://host/page",
                  "User-Agent": "Mozilla/5.0", "If-None-Match": '"e0"'}


def _check_served(origin: Origin, base: str, path: str) -> None:
    status, headers, body = get(base + path, CLIENT_HEADERS)
    assert status == 200 and body == PNG
    assert headers["content-type"] == "image/png"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert headers["cross-origin-resource-policy"] == "same-origin"
    assert headers["etag"] == '"e1"' and "set-cookie" not in headers
    sent = origin.requests[-1]["headers"]
    assert set(sent) == {"host", "user-agent", "accept", "accept-encoding", "if-none-match"}
    assert sent["user-agent"] == "sdk_guard-media/1"


def test_asgi_app_on_uvicorn_serves_and_strips(origin: Origin,
                                               trail: audit.MemorySink) -> None:
    proxy = proxy_for(origin)
    server = AsgiServer(proxy.asgi)
    try:
        path = proxy.url_for(origin.url("/a.png"))
        _check_served(origin, server.base, path)
        status, headers, body = get(server.base + path, method="HEAD")
        assert status == 200 and body == b"" and headers["content-length"] == str(len(PNG))
        assert media_records(trail)[-1]["reason"] == "head"
        status, _, _ = get(server.base + path, method="POST")
        assert status == 405
        status, headers, body = get(server.base + path[:-2] + "xx")
        assert status == 403 and body == b"bad_signature\n"
        assert headers["x-content-type-options"] == "nosniff"
    finally:
        server.close()


def test_asgi_app_mounted_in_starlette(origin: Origin) -> None:
    starlette = pytest.importorskip("starlette", reason="starlette is in requirements-dev")
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route
    assert starlette
    proxy = proxy_for(origin, prefix="/static/ext-media")
    app = Starlette(routes=[Route("/", lambda r: PlainTextResponse("host")),
                            Mount("/static/ext-media", app=proxy.asgi)])
    server = AsgiServer(app)
    try:
        _check_served(origin, server.base, proxy.url_for(origin.url("/a.png")))
    finally:
        server.close()


def test_asgi_fetch_is_recorded_in_the_requests_span(origin: Origin,
                                                     trail: audit.MemorySink) -> None:
    # A host middleware opens an action span per request; the fetch runs on the
    # proxy's pool, and its record still carries that span.
    import asyncio
    proxy = proxy_for(origin)
    path = proxy.url_for(origin.url("/a.png"))
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    async def request() -> str:
        with audit.span("action", "render-page", user="u-1", org="o-1") as act:
            await proxy.asgi({"type": "http", "method": "GET", "path": path, "headers": []},
                             receive, send)
            return act.id
    span_id = asyncio.run(request())
    assert sent[0]["status"] == 200 and b"".join(m.get("body", b"") for m in sent[1:]) == PNG
    rec = media_records(trail)[-1]
    assert rec["span"]["action"] == span_id and rec["user"] == "u-1" and rec["org"] == "o-1"


def test_request_cancelled_while_opening_still_closes_and_records(
        origin: Origin, trail: audit.MemorySink) -> None:
    import asyncio
    def slow_then_big(h):  # type: ignore[no-untyped-def]
        time.sleep(0.6)
        h.body(PNG + b"\x00" * (2 * 1024 * 1024), "image/png")
    origin.routes["/slow.png"] = slow_then_big
    proxy = proxy_for(origin)
    path = proxy.url_for(origin.url("/slow.png"))

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        raise AssertionError("nothing is sent for a cancelled request")

    async def main() -> None:
        task = asyncio.ensure_future(proxy.asgi(
            {"type": "http", "method": "GET", "path": path, "headers": []}, receive, send))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The server's loop keeps running; the origin answers 0.4 s later.
        deadline = time.monotonic() + 20
        while not media_records(trail) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    asyncio.run(main())
    rec = media_records(trail)[-1]
    # The origin answered after the request was gone: the response was opened, its
    # first part read, then closed, and the fetch left its one record.
    assert rec["decision"] == "allow" and rec["reason"] == "client_closed"
    assert 0 < rec["bytes"] < 2 * 1024 * 1024


def test_wsgi_app_on_wsgiref_serves_and_strips(origin: Origin) -> None:
    proxy = proxy_for(origin)
    server = WsgiServer(proxy.wsgi)
    try:
        path = proxy.url_for(origin.url("/a.png"))
        _check_served(origin, server.base, path)
        status, _, body = get(server.base + path.replace("/media/", "/media/x"))
        assert status == 403 and body in (b"bad_signature\n", b"malformed\n")
        origin.serve("/page.png", b"<html>", "image/png")
        status, _, body = get(server.base + proxy.url_for(origin.url("/page.png")))
        assert status == 415 and body == b"type_mismatch\n"
    finally:
        server.close()


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_body_over_the_cap_mid_stream_never_completes(origin: Origin, kind: str) -> None:
    origin.stream("/big.png", PNG, 8 * 1024 * 1024, "image/png")     # no Content-Length
    proxy = proxy_for(origin, media={"max_bytes": 1024 * 1024})
    server = AsgiServer(proxy.asgi) if kind == "asgi" else WsgiServer(proxy.wsgi)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("GET", proxy.url_for(origin.url("/big.png")))
        resp = conn.getresponse()
        assert resp.status == 200
        got = 0
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            while chunk := resp.read(65536):
                got += len(chunk)
            raise ConnectionError("body ended")    # a close-delimited body: read past the end
        assert got <= 1024 * 1024
        conn.close()
    finally:
        server.close()


def test_errors_answer_the_documented_status(origin: Origin) -> None:
    proxy = proxy_for(origin, media={"max_bytes": 50})
    server = AsgiServer(proxy.asgi)
    try:
        for path, status in (("/a.png", 413), ("/missing.png", 404)):
            code, _, body = get(server.base + proxy.url_for(origin.url(path)))
            assert code == status, body
        code, _, body = get(server.base + proxy.url_for("http://10.0.0.1/a.png"))
        assert (code, body) == (403, b"address\n")
    finally:
        server.close()


# ---- CLI ------------------------------------------------------------------------

def test_cli_serves_the_proxy_and_mints_urls(origin: Origin, tmp_path: Path) -> None:
    pytest.importorskip("uvicorn", reason="uvicorn is the optional [media] extra")
    policy = tmp_path / "policy.toml"
    policy.write_text(f'version = 1\n[media]\nallow_internal = ["{origin.hostport}"]\n')
    keys = tmp_path / "keys"
    keys.write_text("# newest first\n" + "n" * 40 + "\n" + "o" * 40 + "\n")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    base = [sys.executable, "-m", "sdk_guard", "media"]
    url = subprocess.run([*base, "url", "--policy", str(policy), "--key-file", str(keys),
                          origin.url("/a.png")], env=child_env(), capture_output=True,
                         text=True, timeout=60, check=False)
    assert url.returncode == 0, url.stderr
    proc = subprocess.Popen([*base, "serve", "--policy", str(policy), "--key-file", str(keys),
                             "--port", str(port)], env=child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, body = get(f"http://127.0.0.1:{port}{url.stdout.strip()}")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert status == 200 and body == PNG
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert b"serving /media/<sig>/<token>" in err
    # No [audit] section: the fetch's record went to stderr as one JSON line.
    trail = [json.loads(ln) for ln in err.decode().splitlines() if ln.startswith("{")]
    assert [(r["layer"], r["decision"], r["status"], r["bytes"]) for r in trail] == [
        ("media", "allow", 200, len(PNG))]
    nokey = subprocess.run([*base, "url", "--policy", str(policy), origin.url("/a.png")],
                           env=child_env({"SDK_GUARD_MEDIA_KEYS": ""}), capture_output=True,
                           text=True, timeout=60, check=False)
    assert nokey.returncode != 0 and "SDK_GUARD_MEDIA_KEYS" in nokey.stderr
    env_key = subprocess.run([*base, "url", "--policy", str(policy), origin.url("/a.png")],
                             env=child_env({"SDK_GUARD_MEDIA_KEYS": "e" * 40}),
                             capture_output=True, text=True, timeout=60, check=False)
    assert env_key.returncode == 0 and env_key.stdout.startswith("/media/")
    assert os.path.exists(policy)
