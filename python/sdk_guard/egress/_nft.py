"""The nft backend: one ``inet`` table per worker, matching its cgroup v2 group.

::

    table inet sdk_guard_<id>
      output (hook output): socket cgroupv2 level N "<path>" jump worker
      worker: canary mark -> counter canary, reset     (self-test, see Worker)
              daddr . l4proto . dport in @allow4/@allow6 -> accept
              log group G queue-threshold 1            (one NFLOG message per denial)
              update @denied4/@denied6 (dynamic set with counters)
              counter denied; tcp -> reject with tcp reset; drop

nft 1.0.x resolves the cgroup path relative to /sys/fs/cgroup, and ``level`` is the
depth below the cgroup2 root: a wrong level loads fine and never matches, which is why
the Worker refuses to run until the canary moved the canary counter.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from ._cgroup import Group, supervisor_alive
from ._spec import Rule

PREFIX = "sdk_guard_"
_CG_BASE = "/sys/fs/cgroup"


class BackendError(Exception):
    """The backend cannot enforce here; the message is the exact reason."""


def _nft(args: Sequence[str], script: str | None = None, timeout: float = 10.0) -> str:
    exe = shutil.which("nft")
    if exe is None:
        raise BackendError("nft not found on PATH (install the nftables package)")
    try:
        res = subprocess.run([exe, *args], input=script, capture_output=True, text=True,
                             timeout=timeout, check=False)
    except OSError as exc:
        raise BackendError(f"cannot run {exe}: {exc}") from None
    if res.returncode != 0:
        msg = " ".join(res.stderr.split()) or f"exit status {res.returncode}"
        raise BackendError(f"nft {' '.join(args)}: {msg}")
    return res.stdout


def table_name(group_id: str) -> str:
    return PREFIX + group_id.replace("-", "_")


def _element(r: Rule) -> str:
    net = r.net
    addr = (str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net))
    port = str(r.lo) if r.lo == r.hi else f"{r.lo}-{r.hi}"
    return f"{addr} . {r.proto} . {port}"


def cgroup_path(group: Group) -> str:
    """The path nft wants: relative to /sys/fs/cgroup."""
    if group.mount == _CG_BASE:
        return group.rel
    if group.mount.startswith(_CG_BASE + "/"):
        return group.mount[len(_CG_BASE) + 1:] + "/" + group.rel
    raise BackendError(f"cgroup2 is mounted at {group.mount}; nft resolves socket cgroupv2 "
                       f"paths under {_CG_BASE} only")


def ruleset(table: str, group: Group, rules: Sequence[Rule], log_group: int,
            canary_mark: int) -> str:
    v4 = [_element(r) for r in rules if r.net.version == 4]
    v6 = [_element(r) for r in rules if r.net.version == 6]
    path = cgroup_path(group).replace('"', "")

    def elements(items: list[str]) -> str:
        return f" elements = {{ {', '.join(items)} }};" if items else ""

    return f"""table inet {table} {{
  counter canary {{}}
  counter denied {{}}
  set allow4 {{ type ipv4_addr . inet_proto . inet_service; flags interval;{elements(v4)} }}
  set allow6 {{ type ipv6_addr . inet_proto . inet_service; flags interval;{elements(v6)} }}
  set denied4 {{ type ipv4_addr . inet_proto . inet_service; size 65535; flags dynamic; counter; }}
  set denied6 {{ type ipv6_addr . inet_proto . inet_service; size 65535; flags dynamic; counter; }}
  chain output {{
    type filter hook output priority filter; policy accept;
    socket cgroupv2 level {group.level} "{path}" jump worker
  }}
  chain worker {{
    meta mark {canary_mark:#x} counter name canary reject with tcp reset
    meta l4proto {{ tcp, udp }} ip daddr . meta l4proto . th dport @allow4 accept
    meta l4proto {{ tcp, udp }} ip6 daddr . meta l4proto . th dport @allow6 accept
    log group {log_group} snaplen 128 queue-threshold 1
    meta l4proto {{ tcp, udp }} update @denied4 {{ ip daddr . meta l4proto . th dport }}
    meta l4proto {{ tcp, udp }} update @denied6 {{ ip6 daddr . meta l4proto . th dport }}
    counter name denied
    meta l4proto tcp reject with tcp reset
    drop
  }}
}}
"""


class NftBackend:
    name = "nft"
    uses_nflog = True
    scope = "this network namespace"
    #: What this backend enforces, for the report.
    guarantees = ("tcp", "udp", "every ip protocol (dropped unless allowed)",
                  "per network namespace")

    def __init__(self) -> None:
        self.table = ""
        self._script = ""
        self._reference = ""

    def available(self) -> str | None:
        """None when the backend can be tried, else why not."""
        return None if shutil.which("nft") else "nft not found on PATH (install nftables)"

    def apply(self, group: Group, rules: Sequence[Rule], log_group: int,
              canary_mark: int) -> None:
        self.table = table_name(group.id)
        self._script = ruleset(self.table, group, rules, log_group, canary_mark)
        _nft(["-f", "-"], self._script)
        self._reference = self._snapshot()

    def reapply(self) -> None:
        self.remove()
        _nft(["-f", "-"], self._script)
        self._reference = self._snapshot()

    def _snapshot(self) -> str:
        return "".join(_nft(["-s", "list", "chain", "inet", self.table, c])
                       for c in ("output", "worker"))

    def intact(self) -> str | None:
        """None when the table is as applied; else what changed."""
        try:
            now = self._snapshot()
        except BackendError:
            return f"table inet {self.table} is gone (nft flush ruleset or a firewall reload)"
        if now != self._reference:
            return f"table inet {self.table} was modified"
        return None

    def _counter(self, name: str) -> int:
        out = json.loads(_nft(["-j", "list", "counter", "inet", self.table, name]))
        for item in out.get("nftables", []):
            if "counter" in item:
                return int(item["counter"].get("packets", 0))
        return 0

    def canary_packets(self, pid: int | None = None) -> int:
        return self._counter("canary")

    def counters(self) -> dict[str, Any]:
        denied: list[dict[str, Any]] = []
        for s in ("denied4", "denied6"):
            out = json.loads(_nft(["-j", "list", "set", "inet", self.table, s]))
            for item in out.get("nftables", []):
                for el in item.get("set", {}).get("elem", []) or []:
                    e = el.get("elem", el) if isinstance(el, dict) else el
                    val = e.get("val", e) if isinstance(e, dict) else e
                    parts = val.get("concat") if isinstance(val, dict) else None
                    if not parts or len(parts) != 3:
                        continue
                    ctr = e.get("counter", {}) if isinstance(e, dict) else {}
                    denied.append({"dst": str(parts[0]), "proto": str(parts[1]),
                                   "port": int(parts[2]),
                                   "packets": int(ctr.get("packets", 0))})
        return {"denied_packets": self._counter("denied"), "denied": denied}

    def remove(self) -> None:
        if not self.table:
            return
        try:
            _nft(["delete", "table", "inet", self.table])
        except BackendError as exc:
            if "No such file" not in str(exc):
                raise

    @staticmethod
    def stale() -> list[str]:
        """Tables of this namespace whose supervisor is gone."""
        if not shutil.which("nft"):
            return []
        try:
            out = json.loads(_nft(["-j", "list", "tables"]))
        except (BackendError, ValueError):
            return []
        found = []
        for item in out.get("nftables", []):
            t = item.get("table")
            if t and t.get("family") == "inet" and str(t.get("name", "")).startswith(PREFIX):
                gid = t["name"][len(PREFIX):].replace("_", "-", 1)
                if not supervisor_alive(gid):
                    found.append(t["name"])
        return found

    @staticmethod
    def remove_stale(name: str) -> None:
        _nft(["delete", "table", "inet", name])
