"""Network rules in a policy (``HOST:PORT``, ``CIDR:PORT``, ``[v6]:LO-HI``): checked by
the C parser the audit hook uses, with a diagnosis saying how to write a rule it
rejected."""
from __future__ import annotations

import ipaddress
import re

from . import _guard
from ._config.validate import short_repr
from .errors import PolicyError


def net_rule_fix(spec: str) -> str:
    """Says what is wrong with SPEC (the C parser rejected it) and how to write it."""
    if not spec:
        return 'is empty; write "HOST:PORT", e.g. "api.example.com:443"'
    if spec.count(":") > 1 and not spec.startswith("["):
        return f'{spec!r}: put IPv6 addresses in brackets, e.g. "[::1]:8080" or "[2001:db8::/32]:443"'
    host, sep, port = spec.rpartition(":")
    if spec.startswith("[") and "]:" not in spec:
        return f'{spec!r} has no port after the brackets; write "[ADDRESS]:PORT", e.g. "[::1]:8080"'
    if not sep or not port or (spec.startswith("[") and spec.endswith("]")):
        return (f'{spec!r} has no port; write "{spec}:PORT" (HOST:PORT), '
                f'and "*" only if any port is meant')
    if port != "*":
        lo_hi = port.split("-", 1)
        if not all(p.isdigit() and p.isascii() for p in lo_hi):
            return f'{spec!r}: port {port!r} must be a number 1..65535, a range "LO-HI" or "*"'
        if any(len(p.lstrip("0")) > 5 for p in lo_hi):
            return (f"{short_repr(spec)}: port {short_repr(port)} is out of range; use "
                    '1..65535 (or "*" for any port)')
        nums = [int(p) for p in lo_hi]
        bad = [n for n in nums if not 1 <= n <= 65535]
        if bad:
            return f"{spec!r}: port {bad[0]} is out of range; use 1..65535 (or \"*\" for any port)"
        if len(nums) == 2 and nums[0] > nums[1]:
            return f'{spec!r}: port range {port} is reversed; write "{nums[1]}-{nums[0]}"'
    host = host.strip("[]")
    if "/" in host:
        base, _, plen = host.partition("/")
        try:
            net = ipaddress.ip_network(host, strict=False)
        except ValueError:
            try:
                ip = ipaddress.ip_address(base)
            except ValueError:
                return (f"{spec!r}: {base!r} is not an IP address; a CIDR is written "
                        f'"10.0.0.0/8:PORT" or "[2001:db8::/32]:PORT"')
            limit = 32 if ip.version == 4 else 128
            return (f"{spec!r}: prefix length /{plen} is not valid for IPv{ip.version}; "
                    f"use 0..{limit}")
        if str(net.network_address) != base:
            single = f"[{base}]" if ":" in base else base
            return (f"{spec!r}: {host} has host bits set; write {net.with_prefixlen} for the "
                    f"network or {single}:{port} for the single address")
        return f'{spec!r}: malformed CIDR; write it as "10.0.0.0/8:{port}"'
    return (f"{spec!r}: {host!r} is neither an IP address nor a host name; write "
            f'"api.example.com:443", "10.0.0.5:5432" or "[::1]:8080"')


# An IPv4 part with a leading zero ("010") is octal to the C library: 8, not 10.
_OCTAL_PART = re.compile(r"(?:^|\.)0[0-9]")
_DOTTED_DIGITS = re.compile(r"[0-9.]+")


def net_rules(values: list[str], key: str, *, bind: bool) -> list[str]:
    out = []
    for i, spec in enumerate(values):
        k = f"{key}[{i}]"
        base = spec.rpartition(":")[0].partition("/")[0]
        if _DOTTED_DIGITS.fullmatch(base) and _OCTAL_PART.search(base):
            raise PolicyError(k, f"{spec!r}: an address part with a leading zero is read as "
                                 "octal (010 is 8); write it without leading zeros")
        try:
            kind, addr, prefixlen, _lo, _hi = _guard.parse_net_rule(spec)
        except ValueError:
            raise PolicyError(k, net_rule_fix(spec)) from None
        if (not bind and kind == "ip" and addr in ("0.0.0.0", "::")
                and prefixlen in (32, 128)):
            raise PolicyError(k, f"{spec!r}: the unspecified address is only meaningful in "
                                 "net.bind; connecting to it reaches loopback, so write "
                                 f'"127.0.0.1:{spec.rpartition(":")[2]}" instead')
        out.append(spec)
    return out


def host_names(values: list[str], key: str) -> list[str]:
    out = []
    for i, name in enumerate(values):
        k = f"{key}[{i}]"
        # The C rule parser validates names exactly as the hook will compare them.
        try:
            kind, addr, *_ = _guard.parse_net_rule(f"{name}:1")
        except ValueError:
            kind = addr = ""
        if not name or kind != "name":
            raise PolicyError(k, f"{name!r} is not a host name; write names such as "
                                 '"api.example.com" (addresses need no resolving)')
        out.append(addr)
    return list(dict.fromkeys(out))
