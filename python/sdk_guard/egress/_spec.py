"""The ``[egress]`` policy section and the kernel rule table derived from it.

One policy: ``connect`` rules use the syntax of ``extensions.NAME.net.connect``
(``host:port``, ``CIDR:port``, ``[v6]:lo-hi``, ``:*``) and are checked by the same C
parser (``_guard.parse_net_rule``) and the same validators as policy.py.  Without a
``connect`` key the allowlist is the union of every extension's ``net.connect``.
Host names are resolved once, when the rule table is compiled; the addresses are
pinned into the kernel rules and listed in the report.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import _guard
from .._config.validate import check_keys, choice, str_list, table
from .._netrules import net_rules  # the validator net.connect itself uses
from ..errors import PolicyError

BACKENDS = ("nft", "iptables", "bpf")
_BACKEND_CHOICES = ("auto",) + BACKENDS
_TAMPER = ("reapply", "kill")
_KEYS = ("backend", "connect", "connect_tcp", "connect_udp", "dns", "on_tamper", "require")
_PROTOS = {"connect": ("tcp", "udp"), "connect_tcp": ("tcp",), "connect_udp": ("udp",)}

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Rule:
    """One allowed (network, protocol, port range); ``source`` is the dotted policy key."""

    net: IPNet
    proto: str
    lo: int
    hi: int
    source: str

    def describe(self) -> str:
        host = (str(self.net.network_address) if self.net.prefixlen == self.net.max_prefixlen
                else str(self.net))
        if self.net.version == 6:
            host = f"[{host}]"
        port = "*" if (self.lo, self.hi) == (0, 65535) else (
            str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}")
        return f"{self.proto}:{host}:{port}"


def _list(section: Mapping[str, Any], key: str, example: str) -> list[str]:
    return str_list(section[key], f"egress.{key}", example, non_empty=True)


def _dns_entry(value: str, key: str) -> str:
    """A resolver "10.0.0.53", "[fd00::53]" or with a port; returns a net.connect rule."""
    try:
        ip = ipaddress.ip_address(value.strip("[]"))
        return f"[{ip}]:53" if ip.version == 6 else f"{ip}:53"
    except ValueError:
        pass
    rule = net_rules([value], key.rpartition("[")[0], bind=False)[0] if ":" in value else ""
    if not rule:
        raise PolicyError(key, f"{value!r} is not a resolver address; write an IP address "
                               'such as "10.0.0.53" or "[fd00::53]" (optionally with :PORT)')
    kind, _addr, plen, lo, hi = _guard.parse_net_rule(rule)
    if kind != "ip" or plen not in (32, 128) or lo != hi:
        raise PolicyError(key, f"{value!r}: a resolver is one IP address and one port, "
                               'e.g. "10.0.0.53:53"')
    return rule


def parse_spec(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validates an ``[egress]`` section; returns it with defaults filled in.

    Keys: ``backend`` ("auto" | "nft" | "iptables" | "bpf"), ``connect`` (TCP and UDP,
    like ``net.connect``), ``connect_tcp``, ``connect_udp``, ``dns`` (resolver
    addresses: UDP and TCP to port 53 unless a port is given), ``on_tamper``
    ("reapply" | "kill") and ``require`` (["egress"]).  Without any of ``connect``,
    ``connect_tcp`` and ``connect_udp`` the allowlist is the union of the extensions'
    ``net.connect`` (see :func:`spec_from_policy`).
    """
    section = table({} if section is None else section, "egress")
    check_keys(section, "egress", _KEYS)
    spec: dict[str, Any] = {"backend": "auto", "connect": None, "connect_tcp": [],
                            "connect_udp": [], "dns": [], "on_tamper": "reapply",
                            "require": []}
    for key, choices in (("backend", _BACKEND_CHOICES), ("on_tamper", _TAMPER)):
        if key in section:
            spec[key] = choice(section[key], f"egress.{key}", choices)
    for key in ("connect", "connect_tcp", "connect_udp"):
        if key in section:
            spec[key] = net_rules(_list(section, key, '"10.0.0.5:5432"'), f"egress.{key}",
                                  bind=False)
    if "dns" in section:
        spec["dns"] = [_dns_entry(v, f"egress.dns[{i}]")
                       for i, v in enumerate(_list(section, "dns", '"10.0.0.53"'))]
    if "require" in section:
        spec["require"] = [choice(r, f"egress.require[{i}]", ("egress",))
                           for i, r in enumerate(_list(section, "require", '"egress"'))]
    return spec


def spec_from_policy(policy: Any) -> dict[str, Any]:
    """The [egress] spec of a Policy (or a policy dict), defaulted from net.connect."""
    from ..policy import Policy

    if isinstance(policy, Mapping):
        policy = Policy.from_dict(policy)
    parsed = None if policy is None else policy.data.get("egress")
    spec = dict(parsed) if parsed is not None else parse_spec(None)
    if spec["connect"] is None and not spec["connect_tcp"] and not spec["connect_udp"]:
        union: list[str] = []
        sources: list[str] = []
        if policy is not None:
            for name in policy.extensions:
                for i, rule in enumerate(policy.extension(name)["net"]["connect"]):
                    union.append(rule)
                    sources.append(f"extensions.{name}.net.connect[{i}]")
        spec["connect"] = union
        spec["connect_sources"] = sources
    return spec


Resolver = Callable[[str], list[str]]


def _resolve(name: str) -> list[str]:
    infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def compile_rules(spec: Mapping[str, Any], resolve: Resolver = _resolve
                  ) -> tuple[list[Rule], dict[str, list[str]], dict[str, str]]:
    """The rule table: (rules, pinned names -> addresses, unresolved name -> reason)."""
    rules: list[Rule] = []
    pinned: dict[str, list[str]] = {}
    unresolved: dict[str, str] = {}
    sources = spec.get("connect_sources") or []
    entries: list[tuple[str, str, tuple[str, ...]]] = []
    for i, r in enumerate(spec["connect"] or []):
        src = sources[i] if i < len(sources) else f"egress.connect[{i}]"
        entries.append((r, src, _PROTOS["connect"]))
    for key in ("connect_tcp", "connect_udp"):
        entries += [(r, f"egress.{key}[{i}]", _PROTOS[key]) for i, r in enumerate(spec[key])]
    entries += [(r, f"egress.dns[{i}]", ("udp", "tcp")) for i, r in enumerate(spec["dns"])]
    seen: set[tuple[Any, ...]] = set()
    for rule, src, protos in entries:
        kind, addr, plen, lo, hi = _guard.parse_net_rule(rule)
        if kind == "name":
            if addr not in pinned and addr not in unresolved:
                try:
                    pinned[addr] = _resolve(addr) if resolve is _resolve else resolve(addr)
                except (OSError, UnicodeError) as exc:
                    unresolved[addr] = f"{type(exc).__name__}: {exc}"
            nets = [ipaddress.ip_network(a) for a in pinned.get(addr, [])]
        else:
            nets = [ipaddress.ip_network(f"{addr}/{plen}")]
        for net in nets:
            if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96 and \
                    net.network_address.ipv4_mapped is not None:
                # A mapped destination leaves as an IPv4 packet: the v4 rule is the one
                # the kernel sees.
                net = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/"
                                           f"{net.prefixlen - 96}")
            for proto in protos:
                ident = (net, proto, lo, hi)
                if ident not in seen:
                    seen.add(ident)
                    rules.append(Rule(net, proto, lo, hi, src))
    return rules, pinned, unresolved


def describe_rules(rules: Sequence[Rule]) -> list[dict[str, Any]]:
    return [{"rule": r.describe(), "source": r.source} for r in rules]
