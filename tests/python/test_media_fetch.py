"""The SSRF-safe media fetcher end to end against loopback origins the tests start.

Origins are opened through media.allow_internal (the only way a loopback address is
reachable); names are answered by a stub resolver, so nothing here contacts any
address outside 127.0.0.0/8.
"""
from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from _support.child import ROOT, run_program_json
from _support.media_origin import Origin, StubResolver, make_ca, png
from sdk_guard import audit
from sdk_guard.media import Fetcher, MediaError
from sdk_guard.media.fetch import CHUNK

PNG = png(37, 23)


@pytest.fixture
def origin() -> Iterator[Origin]:
    o = Origin()
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


def fetcher_for(*origins: Origin, resolver: StubResolver | None = None,
                **media: object) -> Fetcher:
    section = {"allow_internal": [o.hostport for o in origins], **media}
    return Fetcher(section, resolver=resolver)


def refused(f: Fetcher, url: str, **kw: object) -> MediaError:
    with pytest.raises(MediaError) as exc:
        f.fetch(url, **kw)  # type: ignore[arg-type]
    return exc.value


# ---- addresses ------------------------------------------------------------------

def test_names_resolving_to_each_forbidden_range_are_refused_before_any_connect() -> None:
    # A plain audit hook in a child sees every socket.connect and getaddrinfo the
    # fetcher makes; the stub resolver answers one forbidden address per name.
    out = run_program_json("media_address_refusals", str(ROOT / "tests"))
    assert "socket.connect" not in out["events"]
    assert "socket.getaddrinfo" not in out["events"]   # the stub answered every name
    for url, *why in out["results"]:
        assert why[0] in ("address", "odd_ipv4", "scoped", "mixed_addresses"), (url, why)
        assert why[1] == 403, (url, why)
    reasons = {u: w[0] for u, *w in out["results"]}
    assert reasons["http://2130706433/"] == "odd_ipv4"
    assert reasons["http://[fe80::1%25lo]/"] == "scoped"
    assert reasons["http://h5.test/a.png"] == "address"   # 169.254.169.254
    assert reasons["http://mixed.test/"] == reasons["https://mixed6.test/"] == "mixed_addresses"
    # Odd spellings never reach the resolver.
    assert not any(c.startswith(("2130706433", "0x7f", "0177", "127.1"))
                   for c in out["resolved"])


def test_origin_answering_both_allowed_and_private_addresses_is_refused(
        origin: Origin, trail: audit.MemorySink) -> None:
    origin.serve("/a.png", PNG, "image/png")
    resolver = StubResolver({"media.test": ["127.0.0.1", "10.0.0.1"]})
    f = fetcher_for(origin, resolver=resolver)
    err = refused(f, origin.url("/a.png", host="media.test"))
    assert err.reason == "mixed_addresses" and err.status == 403
    assert origin.connections == 0
    rec = media_records(trail)[-1]
    assert rec["decision"] == "deny" and rec["reason"] == "mixed_addresses"
    assert rec["address"] == "10.0.0.1 (private)"


def test_rebinding_cannot_reach_the_second_answer_because_the_address_is_pinned() -> None:
    good = Origin("127.0.0.1")
    # The rebinding target listens on the same port at another loopback address.
    evil = Origin("127.0.0.2", port=good.port)
    try:
        good.serve("/a.png", PNG, "image/png")
        evil.serve("/a.png", png(1, 1), "image/png")
        resolver = StubResolver({"media.test": [["127.0.0.1"], ["127.0.0.2"]]})
        f = fetcher_for(good, resolver=resolver)
        got = f.fetch(good.url("/a.png", host="media.test"))
        assert got.body == PNG
        assert resolver.calls == ["media.test"]          # resolved once
        assert evil.connections == 0
        assert good.requests[0]["headers"]["host"] == f"media.test:{good.port}"
        # The next fetch resolves again, sees the private answer and refuses it.
        err = refused(f, good.url("/a.png", host="media.test"))
        assert err.reason == "address"
        assert evil.connections == 0
    finally:
        good.close()
        evil.close()


def test_only_the_allowlisted_port_of_an_internal_address_opens(origin: Origin) -> None:
    other = Origin()
    try:
        origin.serve("/a.png", PNG, "image/png")
        other.serve("/a.png", PNG, "image/png")
        f = fetcher_for(origin)
        assert f.fetch(origin.url("/a.png")).body == PNG
        assert refused(f, other.url("/a.png")).reason == "address"
        assert other.connections == 0
    finally:
        other.close()


def test_allowlisted_ipv6_origin_is_fetched_over_ipv6() -> None:
    try:
        o = Origin("::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback on this machine: {exc}")
    try:
        o.serve("/a.png", PNG, "image/png")
        resolver = StubResolver({"v6.test": ["::1"]})
        f = Fetcher({"allow_internal": [f"[::1]:{o.port}"]}, resolver=resolver)
        assert f.fetch(o.url("/a.png")).body == PNG
        assert f.fetch(f"http://v6.test:{o.port}/a.png").body == PNG
        assert [r["headers"]["host"] for r in o.requests] == [f"[::1]:{o.port}",
                                                               f"v6.test:{o.port}"]
        assert refused(Fetcher({}, resolver=resolver), o.url("/a.png")).reason == "address"
    finally:
        o.close()


# ---- redirects ------------------------------------------------------------------

def test_redirect_into_a_forbidden_range_is_refused(origin: Origin) -> None:
    target = Origin("127.0.0.3")
    try:
        target.serve("/a.png", PNG, "image/png")
        resolver = StubResolver({"metadata.test": ["169.254.169.254"]})
        origin.redirect("/to-loopback", target.url("/a.png"))
        origin.redirect("/to-metadata", "http://metadata.test/latest/meta-data/")
        origin.redirect("/to-decimal", f"http://2130706433:{target.port}/a.png")
        origin.redirect("/to-mapped", f"http://[::ffff:127.0.0.3]:{target.port}/a.png")
        f = fetcher_for(origin, resolver=resolver)
        assert refused(f, origin.url("/to-loopback")).reason == "address"
        assert refused(f, origin.url("/to-metadata")).reason == "address"
        assert refused(f, origin.url("/to-decimal")).reason == "odd_ipv4"
        assert refused(f, origin.url("/to-mapped")).reason == "address"
        assert target.connections == 0
    finally:
        target.close()


def test_redirect_chain_is_followed_up_to_five_and_refused_past_it(
        origin: Origin, trail: audit.MemorySink) -> None:
    for i in range(6):
        origin.redirect(f"/r{i}", origin.url(f"/r{i + 1}"), status=(301, 302, 303, 307, 308)[i % 5])
    origin.serve("/r6", PNG, "image/png")
    origin.redirect("/loop", "/loop")
    f = fetcher_for(origin)
    assert f.fetch(origin.url("/r1")).body == PNG          # 5 redirects
    err = refused(f, origin.url("/r0"))                    # 6 redirects
    assert err.reason == "too_many_redirects" and err.status == 502
    n = len(origin.requests)
    assert refused(f, origin.url("/loop")).reason == "too_many_redirects"
    assert len(origin.requests) - n == 6                   # the first request + 5 redirects
    rec = media_records(trail)[-1]
    assert rec["redirects"] == [origin.url("/loop")] * 5 and rec["rule"] == "media.max_redirects"
    assert refused(fetcher_for(origin, max_redirects=0), origin.url("/r5")).reason == \
        "too_many_redirects"


def test_https_to_http_redirect_is_refused(tmp_path: Path) -> None:
    server_tls, client_tls = make_ca(tmp_path, ["media.test"])
    secure = Origin(tls=server_tls)
    plain = Origin()
    try:
        plain.serve("/a.png", PNG, "image/png")
        secure.serve("/a.png", PNG, "image/png")
        secure.redirect("/down", plain.url("/a.png"))
        secure.redirect("/up", secure.url("/a.png", host="media.test"))
        resolver = StubResolver({"media.test": ["127.0.0.1"]})
        f = Fetcher({"allow_internal": [secure.hostport, plain.hostport]}, resolver=resolver,
                    ssl_context=client_tls)
        assert f.fetch(secure.url("/up", host="media.test")).body == PNG
        err = refused(f, secure.url("/down", host="media.test"))
        assert err.reason == "https_to_http" and err.status == 403
        assert plain.connections == 0
    finally:
        secure.close()
        plain.close()


def test_tls_is_verified_against_the_name_with_sni_and_host_kept(tmp_path: Path) -> None:
    server_tls, client_tls = make_ca(tmp_path, ["media.test"])
    seen: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, ctx: seen.append(name)  # type: ignore[assignment]
    secure = Origin(tls=server_tls)
    try:
        secure.serve("/a.png", PNG, "image/png")
        resolver = StubResolver({"media.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
        f = Fetcher({"allow_internal": [secure.hostport]}, resolver=resolver,
                    ssl_context=client_tls)
        assert f.fetch(secure.url("/a.png", host="media.test")).body == PNG
        assert seen == ["media.test"]
        assert secure.requests[-1]["headers"]["host"] == f"media.test:{secure.port}"
        # Same pinned address, a name the certificate does not carry: refused.
        assert refused(f, secure.url("/a.png", host="other.test")).reason == "tls"
        # The default context (system CAs) does not trust the private CA.
        plain_ctx = Fetcher({"allow_internal": [secure.hostport]}, resolver=resolver)
        assert refused(plain_ctx, secure.url("/a.png", host="media.test")).reason == "tls"
    finally:
        secure.close()


def test_an_ssl_context_without_hostname_checks_is_rejected() -> None:
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    with pytest.raises(ValueError, match="check hostnames"):
        Fetcher({}, ssl_context=ctx)


# ---- URLs -----------------------------------------------------------------------

@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://127.0.0.1/a.png", "scheme"), ("file:///etc/passwd", "scheme"),
    ("gopher://127.0.0.1:6379/_INFO", "scheme"), ("data:image/png;base64,AAAA", "scheme"),
    ("//127.0.0.1/a.png", "scheme"), ("http://user:pw@127.0.0.1/a.png", "credentials"),
    ("http://127.0.0.1:99999/", "bad_url"), ("http://[::1/", "bad_url"),
    ("http://a b/", "bad_url"), ("http://127.0.0.1/\r\nX: y", "bad_url"),
    ("http:///a.png", "bad_host"),
])
def test_unfetchable_url_is_refused(url: str, reason: str) -> None:
    assert refused(Fetcher({}), url).reason == reason


def test_schemes_policy_narrows_to_https(origin: Origin) -> None:
    origin.serve("/a.png", PNG, "image/png")
    err = refused(fetcher_for(origin, schemes=["https"]), origin.url("/a.png"))
    assert err.reason == "scheme" and err.rule == "media.schemes"
    assert origin.connections == 0


# ---- bodies ---------------------------------------------------------------------

def test_declared_length_over_the_cap_is_refused_before_the_body(origin: Origin) -> None:
    origin.serve("/big.png", PNG + b"\x00" * 5000, "image/png")
    err = refused(fetcher_for(origin, max_bytes=4096), origin.url("/big.png"))
    assert err.reason == "max_bytes" and err.status == 413


def test_byte_cap_is_enforced_mid_stream(origin: Origin, trail: audit.MemorySink) -> None:
    origin.stream("/endless.png", PNG, 50 * 1024 * 1024, "image/png")   # no Content-Length
    f = fetcher_for(origin, max_bytes=1024 * 1024)
    got = 0
    with pytest.raises(MediaError) as exc, f.open(origin.url("/endless.png")) as r:
        for chunk in r:
            got += len(chunk)
    assert exc.value.reason == "max_bytes"
    assert got <= 1024 * 1024
    rec = media_records(trail)[-1]
    assert rec["reason"] == "max_bytes" and rec["decision"] == "deny"
    assert 1024 * 1024 < rec["bytes"] <= 1024 * 1024 + CHUNK


def test_streaming_holds_a_bounded_amount_of_memory(origin: Origin) -> None:
    origin.stream("/video.mp4", b"\x00\x00\x00\x18ftypmp42", 24 * 1024 * 1024, "video/mp4",
                  length=True)
    f = fetcher_for(origin, max_bytes=64 * 1024 * 1024)
    tracemalloc.start()
    try:
        total = 0
        with f.open(origin.url("/video.mp4")) as r:
            for chunk in r:
                total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 24 * 1024 * 1024
    assert peak < 1024 * 1024, peak     # a few 64 KiB chunks, never the body


@pytest.mark.parametrize(("body", "ctype", "reason"), [
    (b"<html><script>alert(1)</script></html>", "image/png", "type_mismatch"),
    (PNG, "image/jpeg", "type_mismatch"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "type_not_allowed"),
    (b"<html></html>", "text/html", "type_not_allowed"),
    (PNG, "", "type_not_allowed"),
    (PNG, "application/octet-stream", "type_not_allowed"),
    (b"%PDF-1.7\n", "application/pdf", "type_not_allowed"),
    (b"\x89PNG", "image/png", "type_mismatch"),               # truncated signature
    (b"GIF89a" + b"\x00" * 20, "video/mp4", "type_mismatch"),
])
def test_type_must_be_allowed_and_confirmed_by_sniffing(origin: Origin, body: bytes,
                                                        ctype: str, reason: str) -> None:
    origin.serve("/x", body, ctype)
    err = refused(fetcher_for(origin), origin.url("/x"))
    assert err.reason == reason and err.status == 415


@pytest.mark.parametrize(("head", "ctype"), [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"), (b"GIF89a\x01\x00", "image/gif"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"), (b"\x00\x00\x00\x1cftypavif", "image/avif"),
    (b"ID3\x04\x00", "audio/mpeg"), (b"\xff\xfb\x90\x00", "audio/mp3"),
    (b"OggS\x00\x02", "audio/ogg"), (b"OggS\x00\x02", "video/ogg"),
    (b"\x1aE\xdf\xa3\x9fB\x86", "video/webm"), (b"fLaC\x00", "audio/flac"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/x-wav"),
    (b"\x00\x00\x00\x20ftypisom", "video/mp4"), (b"\x00\x00\x00\x20ftypM4A ", "audio/mp4"),
])
def test_sniffed_media_types_are_served_with_their_canonical_type(
        origin: Origin, head: bytes, ctype: str) -> None:
    origin.serve("/m", head + b"\x00" * 100, ctype)
    got = fetcher_for(origin).fetch(origin.url("/m"))
    assert got.status == 200 and got.body.startswith(head)
    assert got.content_type == {"audio/mp3": "audio/mpeg", "audio/x-wav": "audio/wav"}.get(
        ctype, ctype)


@pytest.mark.parametrize(("head", "types"), [
    (b"BM" + b"\x00" * 12, {"image/bmp"}), (b"\x00\x00\x01\x00\x01\x00", {"image/x-icon"}),
    (b"II*\x00\x08\x00", {"image/tiff"}), (b"MM\x00*\x00\x00", {"image/tiff"}),
    (b"\x00\x00\x00\x14ftypqt  ", {"video/quicktime"}),
    (b"\x00\x00\x00\x18ftypheic", set()), (b"\x00\x00\x00\x18ftypmif1", set()),
    (b"\xff\xf1\x50\x80", {"audio/aac"}), (b"\xff\xfb\x90\x00", {"audio/mpeg"}),
    (b"\xff\xe0\x00\x00", set()),                       # frame sync, layer bits 00: not MPEG audio
    (b"%PDF-1.4", {"application/pdf"}), (b"BM", set()),    # too short to be a BMP header
    (b"<?xml version='1.0'?><svg", set()), (b"", set()), (b"RIFF\x00\x00\x00\x00AVI ", set()),
])
def test_sniff_table(head: bytes, types: set[str]) -> None:
    from sdk_guard.media import sniff
    assert set(sniff(head)) == types


def test_non_inline_type_is_served_as_an_attachment(origin: Origin) -> None:
    origin.serve("/doc.pdf", b"%PDF-1.7\n%\xe2\xe3\n", "application/pdf")
    got = fetcher_for(origin, types=["image/*", "application/pdf"]).fetch(
        origin.url("/doc.pdf"))
    assert ("Content-Disposition", "attachment") in got.headers


def test_compressed_body_is_refused(origin: Origin) -> None:
    origin.serve("/a.png", PNG, "image/png", headers={"Content-Encoding": "gzip"})
    assert refused(fetcher_for(origin), origin.url("/a.png")).reason == "content_encoding"


def test_origin_errors_map_to_documented_statuses(origin: Origin) -> None:
    def status(code: int):  # type: ignore[no-untyped-def]
        def route(h):  # type: ignore[no-untyped-def]
            h.send_response(code)
            h.send_header("Content-Length", "0")
            h.end_headers()
        return route
    origin.routes["/500"] = status(500)
    origin.routes["/204"] = status(204)
    origin.routes["/302"] = status(302)
    f = fetcher_for(origin)
    assert refused(f, origin.url("/missing")).status == 404
    assert refused(f, origin.url("/500")).status == 502
    assert refused(f, origin.url("/204")).status == 502
    assert refused(f, origin.url("/302")).reason == "origin_status"


# ---- headers --------------------------------------------------------------------

def test_only_a_fixed_request_is_sent_and_validators_pass_through(origin: Origin) -> None:
    origin.serve("/a.png", PNG, "image/png", headers={
        "ETag": '"v1"', "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT",
        "Cache-Control": "public, max-age=60", "Set-Cookie": "track=1",
        "Access-Control-Allow-Origin": "*", "Link": "<https://x>; rel=preload",
        "Content-Security-Policy": "default-src *", "X-Content-Type-Options": "off"})
    f = fetcher_for(origin, user_agent="host-media/2")
    with f.open(origin.url("/a.png"), request_headers={
            "Cookie": "sid=secret", "Authorization": "Bearer t", "X-Forwarded-For": "1.2.3.4",
            "Referer": "https://host/page", "User-Agent": "Mozilla", "If-None-Match": '"v0"',
            "Forwarded": "for=1.2.3.4"}) as r:
        body = r.read()
        headers = r.headers
    assert body == PNG
    sent = origin.requests[-1]["headers"]
    assert sent == {"host": origin.hostport, "user-agent": "host-media/2",
                    "accept": "audio/*, image/*, video/*", "accept-encoding": "identity",
                    "if-none-match": '"v0"'}
    names = [k.lower() for k, _ in headers]
    assert len(names) == len(set(names))
    h = dict(headers)
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert h["Cross-Origin-Resource-Policy"] == "same-origin"
    assert h["Referrer-Policy"] == "no-referrer" and h["X-Frame-Options"] == "DENY"
    assert h["Content-Type"] == "image/png" and h["Content-Length"] == str(len(PNG))
    assert h["ETag"] == '"v1"' and h["Cache-Control"] == "public, max-age=60"
    assert h["Last-Modified"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert "set-cookie" not in names and "access-control-allow-origin" not in names
    assert "link" not in names and "Content-Disposition" not in h


def test_not_modified_passes_through(origin: Origin) -> None:
    def route(h):  # type: ignore[no-untyped-def]
        if h.headers.get("If-None-Match") == '"v1"':
            h.send_response(304)
            h.send_header("ETag", '"v1"')
            h.end_headers()
        else:
            h.body(PNG, "image/png", headers={"ETag": '"v1"'})
    origin.routes["/a.png"] = route
    with fetcher_for(origin).open(origin.url("/a.png"),
                                  request_headers={"If-None-Match": '"v1"'}) as r:
        assert r.status == 304 and r.read() == b""
        assert ("ETag", '"v1"') in r.headers


# ---- time -----------------------------------------------------------------------

def test_slowloris_body_is_cut_at_the_total_timeout(origin: Origin,
                                                    trail: audit.MemorySink) -> None:
    origin.trickle("/slow.png", PNG, "image/png", delay=0.05)
    f = fetcher_for(origin, total_timeout=0.6, read_timeout=5)
    t0 = time.monotonic()
    err = refused(f, origin.url("/slow.png"))
    took = time.monotonic() - t0
    assert err.reason == "total_timeout" and err.status == 504
    assert took < 3.0, took       # bounded by the total, not by 95 bytes x 0.05 s x retries
    assert media_records(trail)[-1]["reason"] == "total_timeout"


def test_slowloris_headers_are_cut_at_the_total_timeout(origin: Origin) -> None:
    origin.trickle("/slow.png", PNG, "image/png", delay=0.05, headers_too=True)
    t0 = time.monotonic()
    err = refused(fetcher_for(origin, total_timeout=0.5, read_timeout=5),
                  origin.url("/slow.png"))
    assert err.reason == "total_timeout" and time.monotonic() - t0 < 3.0


def test_silent_origin_hits_the_read_timeout(origin: Origin) -> None:
    origin.routes["/stall.png"] = lambda h: time.sleep(3)
    t0 = time.monotonic()
    err = refused(fetcher_for(origin, read_timeout=0.3), origin.url("/stall.png"))
    assert err.reason == "read_timeout" and time.monotonic() - t0 < 2.5


def test_slow_resolver_hits_the_connect_timeout() -> None:
    def slow(host: str, port: int) -> list[str]:
        time.sleep(1.5)
        return ["127.0.0.1"]
    t0 = time.monotonic()
    err = refused(Fetcher({"connect_timeout": 0.2}, resolver=slow), "http://slow.test/a.png")
    assert err.reason == "connect_timeout" and time.monotonic() - t0 < 1.2


# ---- audit ----------------------------------------------------------------------

def test_a_failing_resolver_is_a_refusal_with_its_record(trail: audit.MemorySink) -> None:
    def broken(host: str, port: int) -> list[str]:
        raise RuntimeError("resolver exploded")
    err = refused(Fetcher({}, resolver=broken), "http://x.test/a.png")
    assert err.reason == "resolve_failed" and "resolver exploded" in str(err)
    assert media_records(trail)[-1]["reason"] == "resolve_failed"

def test_every_fetch_is_one_audit_record(origin: Origin, trail: audit.MemorySink) -> None:
    origin.serve("/a.png", PNG, "image/png")
    f = fetcher_for(origin)
    got = f.fetch(origin.url("/a.png"), principal="acme")
    refused(f, "http://10.0.0.1/a.png", principal="acme")
    recs = media_records(trail)
    assert len(recs) == 2
    ok, bad = recs
    assert ok["seq"] == got.event_id
    assert {k: ok[k] for k in ("capability", "decision", "principal", "target", "url",
                               "address", "status", "origin_status", "bytes", "type",
                               "reason")} == {
        "capability": "media.fetch", "decision": "allow", "principal": "acme",
        "target": origin.url("/a.png"), "url": origin.url("/a.png"),
        "address": origin.hostport, "status": 200, "origin_status": 200,
        "bytes": len(PNG), "type": "image/png", "reason": "ok"}
    assert bad["decision"] == "deny" and bad["reason"] == "address"
    assert bad["address"] == "10.0.0.1 (private)" and bad["status"] == 403
    assert bad["rule"] == "media.allow_internal"
    json.dumps(recs)
