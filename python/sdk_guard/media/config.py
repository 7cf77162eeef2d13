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
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import PolicyError
from .._config.validate import _type_name, _unknown_key
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


def _strings(value: object, key: str, example: str) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise PolicyError(key, f"must be a list of strings such as [{example}], "
                               f"not {_type_name(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item or "\0" in item:
            raise PolicyError(f"{key}[{i}]", f"must be a non-empty string such as {example}")
    return list(value)


def _number(value: object, key: str, *, integer: bool, low: float, high: float) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not ok
            or not math.isfinite(value) or not low <= value <= high):
        what = "an integer" if integer else "a number of seconds"
        raise PolicyError(key, f"must be {what} from {low:g} to {high:g}, not {value!r}")
    return value


def _parse_types(value: object) -> frozenset[str]:
    out: set[str] = set()
    for i, item in enumerate(_strings(value, "media.types", '"image/*", "video/mp4"')):
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
    for i, item in enumerate(_strings(value, "media.allow_internal",
                                      '"10.0.0.7:8080", "[fd00::5]:443"')):
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
    if not isinstance(section, Mapping):
        raise PolicyError("media", f"must be a table ([media]), not {_type_name(section)}")
    for name in section:
        if name not in _KEYS:
            raise _unknown_key("media", str(name), _KEYS)
    kw: dict[str, Any] = {"raw": dict(section)}
    if "schemes" in section:
        schemes = _strings(section["schemes"], "media.schemes", '"https", "http"')
        for i, s in enumerate(schemes):
            if s not in ("http", "https"):
                raise PolicyError(f"media.schemes[{i}]",
                                  f"{s!r} is not fetchable; only \"http\" and \"https\" are")
        kw["schemes"] = frozenset(schemes)
    if "types" in section:
        kw["types"] = _parse_types(section["types"])
    if "max_bytes" in section:
        kw["max_bytes"] = _number(section["max_bytes"], "media.max_bytes", integer=True,
                                  low=1, high=2 ** 62)
    for name in ("connect_timeout", "read_timeout", "total_timeout"):
        if name in section:
            kw[name] = float(_number(section[name], f"media.{name}", integer=False,
                                     low=0.001, high=3600))
    if "max_redirects" in section:
        kw["max_redirects"] = _number(section["max_redirects"], "media.max_redirects",
                                      integer=True, low=0, high=MAX_REDIRECTS)
    if "allow_internal" in section:
        kw["allow_internal"] = _parse_internal(section["allow_internal"])
    if "mint" in section:
        kw["mint"] = frozenset(_strings(section["mint"], "media.mint", '"acme"'))
    if "user_agent" in section:
        ua = section["user_agent"]
        if not isinstance(ua, str) or not ua or not ua.isprintable() or not ua.isascii():
            raise PolicyError("media.user_agent", "must be a non-empty printable ASCII string")
        kw["user_agent"] = ua
    if "ttl" in section:
        kw["ttl"] = _number(section["ttl"], "media.ttl", integer=True, low=1, high=10 ** 9)
    return MediaConfig(**kw)
