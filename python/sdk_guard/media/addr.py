"""Which addresses the media fetcher may connect to, and which URL hosts it accepts.

Two questions, answered separately:

* :func:`parse_host` turns the host part of a URL into either a DNS name or an IP
  address.  It refuses every IPv4 spelling other than canonical dotted decimal
  (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``, ``127.0.0.1.``): C resolvers
  (``inet_aton``) and browsers read those as addresses, so a name check that let them
  through would be looking at a different host than the one connected to.
* :func:`classify` says why an address is not a public unicast destination, or
  returns ``None`` when it is.  The special-purpose tables follow the IANA IPv4 and
  IPv6 Special-Purpose Address Registries; IPv6 outside 2000::/3 (global unicast) is
  refused whole, and every IPv6 form that embeds an IPv4 address (mapped, compatible,
  SIIT-translated, 6to4, Teredo, NAT64) is refused whatever it embeds, since a gateway
  on the path would deliver it to the embedded address.  ``ipaddress``'s own
  ``is_global`` is checked last, so a range added to a future Python's tables is
  refused too.
"""
from __future__ import annotations

import ipaddress
import re

__all__ = ["AddressError", "classify", "parse_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressError(ValueError):
    """A URL host that names no acceptable destination; ``reason`` is a short token."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


_V4: list[tuple[ipaddress.IPv4Network, str]] = [(ipaddress.IPv4Network(n), why) for n, why in (
    ("0.0.0.0/8", "unspecified"),              # "this network"; 0.0.0.0 reaches loopback on Linux
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "cgnat"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link_local"),          # cloud metadata lives at 169.254.169.254
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),              # IETF protocol assignments
    ("192.0.2.0/24", "documentation"),
    ("192.31.196.0/24", "reserved"),           # AS112-v4
    ("192.52.193.0/24", "reserved"),           # AMT
    ("192.88.99.0/24", "reserved"),            # deprecated 6to4 relay anycast
    ("192.168.0.0/16", "private"),
    ("192.175.48.0/24", "reserved"),           # direct delegation AS112
    ("198.18.0.0/15", "reserved"),             # benchmarking
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),               # includes 255.255.255.255 (broadcast)
)]

_V6: list[tuple[ipaddress.IPv6Network, str]] = [(ipaddress.IPv6Network(n), why) for n, why in (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "ipv4_mapped"),
    ("::/96", "ipv4_compatible"),
    ("::ffff:0:0:0/96", "ipv4_translated"),    # SIIT
    ("64:ff9b::/96", "nat64"),
    ("64:ff9b:1::/48", "nat64"),               # local-use NAT64
    ("100::/64", "reserved"),                  # discard-only
    ("2001::/32", "teredo"),
    ("2001::/23", "reserved"),                 # IETF protocol assignments (ORCHID, benchmarking, ...)
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "reserved"),                 # SRv6 SIDs
    ("fc00::/7", "private"),                   # unique local
    ("fe80::/10", "link_local"),
    ("fec0::/10", "link_local"),               # deprecated site-local
    ("ff00::/8", "multicast"),
)]
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def classify(addr: IPAddress | str) -> str | None:
    """The reason ADDR is not a public unicast address ("loopback", "private",
    "link_local", "cgnat", "multicast", "reserved", "unspecified", "documentation",
    "ipv4_mapped", "ipv4_compatible", "ipv4_translated", "6to4", "teredo", "nat64",
    "scoped", "not_global"), or None when it is one."""
    ip = ipaddress.ip_address(addr) if isinstance(addr, str) else addr
    if isinstance(ip, ipaddress.IPv4Address):
        for net, why in _V4:
            if ip in net:
                return why
    else:
        if ip.scope_id:
            return "scoped"
        # Most specific first: the 2001::/32 Teredo entry precedes 2001::/23.
        for net6, why6 in _V6:
            if ip in net6:
                return why6
        if ip not in _V6_GLOBAL_UNICAST:
            return "reserved"
    if not ip.is_global:
        return "not_global"
    return None


_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")
_NUMERIC = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)\Z")
_CANONICAL_V4 = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                           r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\Z")


def parse_host(host: str) -> str | IPAddress:
    """HOST (the URL's host, brackets removed for IPv6) as a lower-case ASCII name or an
    IP address; raises AddressError for anything else."""
    if not host:
        raise AddressError("bad_host", "the URL has no host")
    if ":" in host:
        if "%" in host:
            raise AddressError("scoped", f"IPv6 zone identifiers are refused: {host!r}")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise AddressError("bad_host", f"not an IPv6 address: {host!r}") from None
    try:
        name = host.encode("ascii").decode("ascii").lower()
    except UnicodeEncodeError:
        try:
            name = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise AddressError("bad_host", f"host is not a valid internationalised name: "
                                           f"{host!r}") from None
    bare = name.removesuffix(".")
    # WHATWG URL: a host whose last label is a number is an IPv4 address, in whatever
    # spelling.  Only canonical dotted decimal is accepted (a trailing dot after an
    # address is an odd spelling too).
    if _NUMERIC.match(bare.rsplit(".", 1)[-1]):
        if bare == name and _CANONICAL_V4.match(name):
            return ipaddress.IPv4Address(name)
        raise AddressError("odd_ipv4", f"{host!r} is an IPv4 address in a non-canonical "
                                       "spelling (decimal, octal, hex or short form); only "
                                       "dotted decimal a.b.c.d is accepted")
    if len(bare) > 253 or not all(_LABEL.match(p) for p in bare.split(".")):
        raise AddressError("bad_host", f"not a valid host name: {host!r}")
    return name
