"""Address parsing: the guard decides on the address the C library will connect to.

The oracle is the C library itself: ``getaddrinfo(host, AI_NUMERICHOST)`` (what
CPython's socket module reaches for a numeric host), with IPv4-mapped IPv6 read as
IPv4 (the kernel sends it on the IPv4 stack).  For every generated string without
brackets or a zone, ``_guard.parse_ip`` must agree exactly: both "not an address",
or the same family and bytes.  A rule the parser calls a *name* must not be an
address to the C library in any spelling the matcher treats as equal.
"""
from __future__ import annotations

import socket

from conftest import scaled
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sdk_guard import _guard


def libc(host: str) -> tuple[int, bytes] | None:
    try:
        infos = socket.getaddrinfo(host.encode("ascii"), None, socket.AF_UNSPEC,
                                   socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    family, *_, sockaddr = infos[0]
    if family == socket.AF_INET:
        return 4, socket.inet_pton(socket.AF_INET, sockaddr[0])
    packed = socket.inet_pton(socket.AF_INET6, sockaddr[0].split("%")[0])
    if packed[:12] == b"\0" * 10 + b"\xff\xff":
        return 4, packed[12:]
    return 6, packed


def guard(host: str) -> tuple[int, bytes] | None:
    got = _guard.parse_ip(host)
    if got is None:
        return None
    family, packed = got
    return family, packed[:4] if family == 4 else packed


def aton_part(draw: st.DrawFn, bits: int) -> str:
    v = draw(st.one_of(st.integers(0, (1 << bits) - 1), st.integers(0, 300),
                       st.integers(1 << bits, 1 << (bits + 2))))
    form = draw(st.sampled_from(["dec", "oct", "hex", "HEX", "pad"]))
    if form == "oct":
        return "0" + format(v, "o")
    if form in ("hex", "HEX"):
        return ("0x" if form == "hex" else "0X") + format(v, "x" if form == "hex" else "X")
    if form == "pad":
        return "0" * draw(st.integers(1, 12)) + str(v)
    return str(v)


@st.composite
def ipv4_forms(draw: st.DrawFn) -> str:
    n = draw(st.integers(1, 5))
    widths = {1: [32], 2: [8, 24], 3: [8, 8, 16], 4: [8, 8, 8, 8]}.get(n, [8] * n)
    return ".".join(aton_part(draw, w) for w in widths)


@st.composite
def ipv6_forms(draw: st.DrawFn) -> str:
    words = [format(draw(st.integers(0, 0xFFFF)), draw(st.sampled_from(["x", "X", "04x"])))
             for _ in range(draw(st.integers(0, 9)))]
    if draw(st.booleans()):
        words[-2:] = [draw(ipv4_forms())]
    text = ":".join(words)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(words)))
        text = ":".join(words[:cut]) + "::" + ":".join(words[cut:])
    return text


def mutate(text: str, draw: st.DrawFn) -> str:
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["ins", "del", "dup"]))
        ch = draw(st.sampled_from(list("0123456789abcdefxX.: \t\n+-")))
        if op == "ins":
            text = text[:pos] + ch + text[pos:]
        elif op == "del" and text:
            text = text[:pos] + text[pos + 1:]
        else:
            text = text[:pos] + text[pos:pos + 2] + text[pos:]
    return text


@st.composite
def addresses(draw: st.DrawFn) -> str:
    base = draw(st.one_of(ipv4_forms(), ipv6_forms(),
                          st.text("0123456789abcdefxX.:", max_size=24)))
    return mutate(base, draw)


PAST_FAILURES = ["::1:1", "::1.2.3.4", "::2", "::127.0.0.1", "0X7.", "0x7f.1.",
                 "::ffff:1.2.3.4", "1.2.3.4 ", "017700000001", "0x00000000000000000001"]


@settings(max_examples=scaled(800))
@given(addresses())
@example("::1:1")
@example("::127.0.0.1")
@example("0X7.")
def test_parse_ip_agrees_with_getaddrinfo_numerichost(host: str) -> None:
    assert guard(host) == libc(host), host


def test_parse_ip_past_failures_agree_with_getaddrinfo() -> None:
    for host in PAST_FAILURES:
        assert guard(host) == libc(host), host


def _rule_kind(spec: str) -> tuple[str, str] | None:
    try:
        kind, addr, *_ = _guard.parse_net_rule(spec)
    except ValueError:
        return None
    return kind, addr


@settings(max_examples=scaled(500))
@given(addresses(), st.booleans())
@example("0X7.", False)
@example("0x7f.1", True)
def test_a_name_rule_is_no_address_to_the_c_library(host: str, root_dot: bool) -> None:
    spec = f"{host}{'.' if root_dot else ''}:80"
    got = _rule_kind(spec)
    if got is None:
        return
    kind, addr = got
    if kind == "name":
        # The matcher compares names case-insensitively and without the root dot.
        for spelling in (host, host.rstrip("."), addr, addr.upper()):
            assert libc(spelling) is None, (spec, spelling)
    else:
        assert libc(host) is not None or "/" in host, spec
