"""The iptables backend (iptables-nft): ``-m cgroup --path`` in the filter OUTPUT chain.

The path is relative to the cgroup2 root and the kernel resolves it (no hybrid-mount
issue); the rule pins the group until it is deleted.  One chain per worker, in both
iptables and ip6tables, loaded atomically with ``iptables-restore --noflush``::

    OUTPUT: -m cgroup --path sdk_guard/<id> -j SDKG-<id>
    SDKG-<id>: canary mark -> REJECT tcp-reset (self-test)
               one ACCEPT per allowed (network, protocol, port range)
               NFLOG (threshold 1); tcp -> REJECT tcp-reset; DROP

Only the nf_tables variant is used: legacy iptables also needs CAP_NET_RAW, and
legacy and nft rules must not be mixed in one network namespace.  There is no
per-destination kernel counter here (the nft backend's dynamic set); the denied
destinations come from the NFLOG stream.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from ._cgroup import Group, supervisor_alive
from ._nft import BackendError
from ._spec import Rule

PREFIX = "SDKG-"
_TOOLS = {4: ("iptables-nft", "iptables"), 6: ("ip6tables-nft", "ip6tables")}


def _tool(version: int, suffix: str = "") -> str:
    for name in _TOOLS[version]:
        exe = shutil.which(name + suffix)
        if exe:
            return exe
    raise BackendError(f"{_TOOLS[version][1]}{suffix} not found on PATH (install iptables)")


def _run(argv: list[str], stdin: str | None = None) -> str:
    try:
        res = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=20,
                             check=False)
    except OSError as exc:
        raise BackendError(f"cannot run {argv[0]}: {exc}") from None
    if res.returncode != 0:
        msg = " ".join(res.stderr.split()) or f"exit status {res.returncode}"
        raise BackendError(f"{argv[0].rsplit('/', 1)[-1]} {' '.join(argv[1:3])}: {msg}")
    return res.stdout


def chain_name(group_id: str) -> str:
    return PREFIX + group_id.replace("-", "_")


def _rule_line(chain: str, r: Rule) -> str:
    port = "" if (r.lo, r.hi) == (0, 65535) else (
        f" --dport {r.lo}" if r.lo == r.hi else f" --dport {r.lo}:{r.hi}")
    return f"-A {chain} -d {r.net.with_prefixlen} -p {r.proto} -m {r.proto}{port} -j ACCEPT"


def restore_script(chain: str, group: Group, rules: Sequence[Rule], version: int,
                   log_group: int, canary_mark: int) -> str:
    lines = ["*filter", f":{chain} - [0:0]",
             (f"-A {chain} -p tcp -m mark --mark {canary_mark:#x} "
             "-j REJECT --reject-with tcp-reset")]
    lines += [_rule_line(chain, r) for r in rules if r.net.version == version]
    lines += [(f"-A {chain} -j NFLOG --nflog-group {log_group} --nflog-threshold 1 "
              "--nflog-size 128"),
              f"-A {chain} -p tcp -j REJECT --reject-with tcp-reset",
              f"-A {chain} -j DROP",
              f"-I OUTPUT 1 -m cgroup --path {group.rel} -j {chain}",
              "COMMIT", ""]
    return "\n".join(lines)


class IptablesBackend:
    name = "iptables"
    uses_nflog = True
    scope = "this network namespace"

    def __init__(self) -> None:
        self.chain = ""
        self._scripts: dict[int, str] = {}
        self._reference = ""

    def available(self) -> str | None:
        try:
            exe = _tool(4)
            _tool(6)
            _tool(4, "-restore")
        except BackendError as exc:
            return str(exc)
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True,
                                 timeout=10, check=False).stdout
        except OSError as exc:
            return f"cannot run {exe}: {exc}"
        if "nf_tables" not in out:
            return (f"{exe} is the legacy variant ({out.strip()}); only iptables-nft is "
                    "used (legacy needs CAP_NET_RAW and must not be mixed with nft)")
        return None

    @property
    def table(self) -> str:
        return self.chain

    def apply(self, group: Group, rules: Sequence[Rule], log_group: int,
              canary_mark: int) -> None:
        self.chain = chain_name(group.id)
        self._scripts = {v: restore_script(self.chain, group, rules, v, log_group,
                                           canary_mark) for v in (4, 6)}
        self._load()

    def _load(self) -> None:
        done = []
        try:
            for v in (4, 6):
                _run([_tool(v, "-restore"), "-w", "--noflush"], self._scripts[v])
                done.append(v)
        except BackendError:
            for v in done:
                self._remove_family(v)
            raise
        self._reference = self._snapshot()

    def reapply(self) -> None:
        self.remove()
        self._load()

    def _save(self, version: int) -> str:
        return _run([_tool(version, "-save"), "-t", "filter"] + ["-c"])

    def _snapshot(self) -> str:
        out = []
        for v in (4, 6):
            for line in self._save(v).splitlines():
                if self.chain in line and line.startswith("["):
                    out.append(f"{v} " + line.split("] ", 1)[1])
                elif self.chain in line and line.startswith("-"):
                    out.append(f"{v} {line}")
        return "\n".join(out)

    def intact(self) -> str | None:
        now = self._snapshot()
        if not now:
            return f"chain {self.chain} is gone (a firewall reload or flush)"
        if now != self._reference:
            return f"chain {self.chain} was modified"
        return None

    def _counter(self, version: int, needle: str) -> int:
        for line in self._save(version).splitlines():
            if line.startswith("[") and f"-A {self.chain} " in line and needle in line:
                return int(line[1:].split(":", 1)[0])
        return 0

    def canary_packets(self, pid: int | None = None) -> int:
        return self._counter(4, "--mark")

    def counters(self) -> dict[str, Any]:
        return {"denied_packets": self._counter(4, "NFLOG") + self._counter(6, "NFLOG"),
                "denied": None}

    def _remove_family(self, version: int) -> None:
        exe = _tool(version)
        save = self._save(version)
        _delete_jumps(exe, save, {self.chain})
        if f":{self.chain} " in save:
            _run([exe, "-w", "-F", self.chain])
            _run([exe, "-w", "-X", self.chain])

    def remove(self) -> None:
        if not self.chain:
            return
        for v in (4, 6):
            self._remove_family(v)

    @staticmethod
    def stale() -> list[str]:
        if IptablesBackend().available() is not None:
            return []
        found: set[str] = set()
        for v in (4, 6):
            try:
                save = _run([_tool(v, "-save"), "-t", "filter"])
            except BackendError:
                continue
            for m in re.finditer(r"^:(" + PREFIX + r"(\d+)_[0-9a-f]+) ", save, re.MULTILINE):
                if not supervisor_alive(f"{m.group(2)}-x"):
                    found.add(m.group(1))
        return sorted(found)

    @staticmethod
    def remove_stale(chain: str) -> None:
        for v in (4, 6):
            exe = _tool(v)
            save = _run([_tool(v, "-save"), "-t", "filter"])
            _delete_jumps(exe, save, {chain})
            if f":{chain} " in save:
                _run([exe, "-w", "-F", chain])
                _run([exe, "-w", "-X", chain])


def _delete_jumps(exe: str, save: str, chains: set[str]) -> None:
    """Deletes OUTPUT rules jumping to CHAINS by number (a rule naming a cgroup path
    that no longer exists cannot be deleted by its spec)."""
    numbers = []
    n = 0
    for line in save.splitlines():
        if line.startswith("[") and "] " in line:
            line = line.split("] ", 1)[1]
        if line.startswith("-A OUTPUT "):
            n += 1
            if any(line.endswith(f"-j {c}") for c in chains):
                numbers.append(n)
    for num in reversed(numbers):
        _run([exe, "-w", "-D", "OUTPUT", str(num)])
