"""``python -m sdk_guard probe``: what this kernel and process offer, as JSON."""
from __future__ import annotations

import argparse

from .. import probe
from ._common import Subparsers, add_command, show


def _run(args: argparse.Namespace) -> int:
    return show(probe(), indent=None if args.compact else 2, sort_keys=True)


def register(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers, "probe", _run,
        help="print Landlock ABI/errata, seccomp, cgroup v2 and egress support as JSON",
        description="Probe the running kernel and this process: Landlock ABI and errata (or "
                    "why not), no_new_privs, seccomp actions, the cgroup v2 mount point, and "
                    "whether this user could apply kernel egress rules.")
    p.add_argument("--compact", action="store_true", help="one line of JSON")
