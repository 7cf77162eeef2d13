"""``probe()``: what this kernel and process offer, for ``sg.probe()`` and
``python -m sdk_guard probe``: Landlock (ABI, errata), no_new_privs, seccomp, the
cgroup v2 mount and the egress backends.  It reads; it applies nothing.
"""
from __future__ import annotations

import os
from typing import Any

from . import _guard, _lockdown
from .landlock import _C, errata_names

__all__ = ["probe"]


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _status_fields() -> dict[str, str]:
    out = {}
    for line in (_read("/proc/self/status") or "").splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def _cgroup2() -> dict[str, Any]:
    mount = None
    for line in (_read("/proc/self/mountinfo") or "").splitlines():
        pre, sep, post = line.partition(" - ")
        if sep and post.split(" ", 1)[0] == "cgroup2":
            mount = pre.split(" ")[4]
            break
    own = None
    for line in (_read("/proc/self/cgroup") or "").splitlines():
        if line.startswith("0::"):
            own = line[3:]
    return {"mount": mount, "cgroup": own,
            "reason": None if mount else "no cgroup2 filesystem in /proc/self/mountinfo"}


def probe() -> dict[str, Any]:
    """What this kernel and process offer: Landlock, seccomp, cgroup v2, egress."""
    info = _guard.landlock_probe()
    abi = int(info["abi"])
    errata = info["errata"]
    status = _status_fields()
    cg = _cgroup2()
    # Egress: whether each backend could actually be applied here, and why not (write
    # access to the cgroup2 tree, CAP_NET_ADMIN, the tools, what is implemented).
    from . import egress

    actions = (_read("/proc/sys/kernel/seccomp/actions_avail") or "").split()
    return {
        "kernel": os.uname().release,
        "arch": os.uname().machine,
        "landlock": {
            "available": abi >= 1, "abi": abi, "abi_newest_known": _C["ABI_NEWEST"],
            "errno": info["errno"], "reason": info["reason"], "errata": errata,
            "errata_fixed": errata_names(errata),
            "tsync": abi >= 8, "net_tcp": abi >= 4, "scopes": abi >= 6,
            "confined_by_sdk_guard": _lockdown._applied is not None,
        },
        "no_new_privs": bool(_guard.get_no_new_privs()),
        "seccomp": {
            "available": bool(actions) or "Seccomp" in status,
            "mode": {"0": "disabled", "1": "strict", "2": "filter"}.get(status.get("Seccomp", ""),
                                                                        "unknown"),
            "filters": int(status["Seccomp_filters"]) if "Seccomp_filters" in status else None,
            "actions_avail": actions,
            "actions_logged": (_read("/proc/sys/kernel/seccomp/actions_logged") or "").split(),
        },
        "cgroup_v2": cg,
        "egress": egress.probe(),
    }
