"""The ``[media]`` policy section: what the media proxy may fetch, and who may mint URLs.

```toml
[media]
schemes = ["https", "http"]          # never https -> http on a redirect, whatever this says
types = ["image/*", "audio/*", "video/*"]   # or exact types; each must be sniffable
max_bytes = 10485760                 # per response body, enforced while streaming
connect_timeout = 5.0                # seconds: DNS + TCP + TLS of one hop
read_timeout = 10.0                  # seconds of silence between two reads
total_timeout = 30.0                 # seconds for the whole fetch, redirects included
max_redirects = 5                    # at most 5
allow_internal = ["10.0.0.7:8080", "[fd00::5]:443", "10.1.0.0/16:443"]
mint = ["acme"]                      # extensions that may mint proxy URLs (the host always may)
user_agent = "sdk_guard-media/1"
ttl = 86400                          # default lifetime of a minted URL, seconds
```

Every bad entry is a ``PolicyError`` naming the dotted key (``media.types[2]``).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._config.validate import check_keys, integer, number, str_list, table
from ..errors import PolicyError
from .sniff import ALIASES, SNIFFABLE

__all__ = ["DEFAULT_TYPES", "MAX_REDIRECTS", "MediaConfig", "parse_config"]

#: The hard ceiling on redirects, whatever the policy says.
MAX_REDIRECTS = 5

#: Default content-type allowlist: every sniffable image, audio and video type.
DEFAULT_TYPES: frozenset[str] = frozenset(
    t for t in SNIFFABLE if t.split("/", 1)[0] in ("image", "audio", "video"))

_KEYS = ("schemes", "types", "max_bytes", "connect_timeout", "read_timeout", "total_timeout",
         "max_redirects", "allow_internal", "mint", "user_agent", "ttl")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class MediaConfig:
    """A validated ``[media]`` section (defaults filled in)."""

    schemes: frozenset[str] = frozenset({"http", "https"})
    types: frozenset[str] = DEFAULT_TYPES
    max_bytes: int = 10 * 1024 * 1024
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    max_redirects: int = MAX_REDIRECTS
    allow_internal: tuple[tuple[IPNetwork, int], ...] = ()
    mint: frozenset[str] = frozenset()
    user_agent: str = "sdk_guard-media/1"
    ttl: int = 86400
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The section as plain data (what Policy.data["media"] holds)."""
        return {
            "schemes": sorted(self.schemes), "types": sorted(self.types),
            "max_bytes": self.max_bytes, "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout, "total_timeout": self.total_timeout,
            "max_redirects": self.max_redirects,
            "allow_internal": [f"[{n}]:{p}" if n.version == 6 else f"{n}:{p}"
                               for n, p in self.allow_internal],
            "mint": sorted(self.mint), "user_agent": self.user_agent, "ttl": self.ttl,
        }

    def internal_allowed(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                         port: int) -> str | None:
        """The allow_internal entry that opens IP:PORT, or None."""
        for i, (net, p) in enumerate(self.allow_internal):
            if p == port and ip.version == net.version and ip in net:
                return f"media.allow_internal[{i}]"
        return None


def _parse_types(value: object) -> frozenset[str]:
    out: set[str] = set()
    for i, item in enumerate(str_list(value, "media.types", '"image/*", "video/mp4"', non_empty=True)):
        t = item.strip().lower()
        if t.endswith("/*"):
            family = {s for s in SNIFFABLE if s.startswith(t[:-1])}
            if not family:
                raise PolicyError(f"media.types[{i}]", f"{item!r} matches no type the proxy "
                                                       "can confirm by sniffing")
            out |= family
            continue
        t = ALIASES.get(t, t)
        if t not in SNIFFABLE:
            raise PolicyError(f"media.types[{i}]",
                              f"{item!r} cannot be confirmed by magic-byte sniffing (SVG and "
                              "text types are never served); choose from "
                              + ", ".join(sorted(SNIFFABLE)))
        out.add(t)
    return frozenset(out)


def _parse_internal(value: object) -> tuple[tuple[IPNetwork, int], ...]:
    out = []
    for i, item in enumerate(str_list(value, "media.allow_internal",
                                      '"10.0.0.7:8080", "[fd00::5]:443"', non_empty=True)):
        key = f"media.allow_internal[{i}]"
        if item.startswith("["):
            addr, sep, port = item[1:].partition("]:")
        else:
            addr, sep, port = item.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise PolicyError(key, f"{item!r} must be ADDRESS:PORT with a port from 1 to "
                                   "65535, e.g. \"10.0.0.7:8080\" or \"[fd00::5]:443\"")
        try:
            net = ipaddress.ip_network(addr, strict=True)
        except ValueError:
            raise PolicyError(key, f"{addr!r} is not an IP address or network; write the "
                                   "address the origin resolves to (a name is not accepted: "
                                   "DNS could point it at any internal host)") from None
        out.append((net, int(port)))
    return tuple(out)


def parse_config(section: Mapping[str, Any] | None) -> MediaConfig:
    """Validates a ``[media]`` table; raises PolicyError naming the dotted key."""
    if section is None:
        return MediaConfig()
    section = table(section, "media")
    check_keys(section, "media", _KEYS)
    kw: dict[str, Any] = {"raw": dict(section)}
    if "schemes" in section:
        schemes = str_list(section["schemes"], "media.schemes", '"https", "http"', non_empty=True)
        for i, s in enumerate(schemes):
            if s not in ("http", "https"):
                raise PolicyError(f"media.schemes[{i}]",
                                  f"{s!r} is not fetchable; only \"http\" and \"https\" are")
        kw["schemes"] = frozenset(schemes)
    if "types" in section:
        kw["types"] = _parse_types(section["types"])
    if "max_bytes" in section:
        kw["max_bytes"] = integer(section["max_bytes"], "media.max_bytes", 1, 2 ** 62)
    for name in ("connect_timeout", "read_timeout", "total_timeout"):
        if name in section:
            kw[name] = number(section[name], f"media.{name}", 0.001, 3600, "seconds")
    if "max_redirects" in section:
        kw["max_redirects"] = integer(section["max_redirects"], "media.max_redirects", 0,
                                      MAX_REDIRECTS)
    if "allow_internal" in section:
        kw["allow_internal"] = _parse_internal(section["allow_internal"])
    if "mint" in section:
        kw["mint"] = frozenset(str_list(section["mint"], "media.mint", '"acme"', non_empty=True))
    if "user_agent" in section:
        ua = section["user_agent"]
        if not isinstance(ua, str) or not ua or not ua.isprintable() or not ua.isascii():
            raise PolicyError("media.user_agent", "must be a non-empty printable ASCII string")
        kw["user_agent"] = ua
    if "ttl" in section:
        kw["ttl"] = integer(section["ttl"], "media.ttl", 1, 10 ** 9)
    return MediaConfig(**kw)
