"""``python -m sdk_guard learn --policy P -- python app.py`` (or ``--from-trail FILE``):
run a host in monitor mode and propose a minimal policy per extension.

The program runs with ``SDK_GUARD_LEARN`` set (see ``sdk_guard._learn_mode``): the
guard its host installs switches to monitor mode and records every decision to a
JSONL trail in a temporary directory.  ``--startup`` also sets ``SDK_GUARD_POLICY``
for hosts that do not install the guard themselves (needs sdk_guard pip-installed,
which ships the start-up hook).  The proposal goes to stdout (or ``--out``), then a
unified diff against the current policy; the program's own output goes to stderr.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .. import _learn
from .._learn_mode import ENV as LEARN_ENV
from ._common import Subparsers, add_command, add_var_option, after_dashes, fail, parse_vars


def _record_run(args: argparse.Namespace, trail: Path) -> int:
    command = after_dashes(args.command)
    env = dict(os.environ)
    env[LEARN_ENV] = str(trail)
    if args.startup:
        env["SDK_GUARD_POLICY"] = os.path.abspath(args.policy)
        env.pop("SDK_GUARD_DISABLE", None)
    print(f"learn: running {' '.join(command)} in monitor mode", file=sys.stderr)
    try:
        proc = subprocess.run(command, env=env, stdout=sys.stderr.fileno(),
                              stderr=sys.stderr.fileno())
    except OSError as exc:
        print(f"learn: cannot run {command[0]!r}: {exc.strerror or exc}", file=sys.stderr)
        return -1
    print(f"learn: the program exited {proc.returncode}", file=sys.stderr)
    return proc.returncode


def _run(args: argparse.Namespace) -> int:
    from ..errors import PolicyError
    from ..policy import Policy, read_document

    if bool(args.from_trail) == bool(args.command):
        return fail("learn: give a command after -- or --from-trail FILE (one of them)", 2)
    try:
        variables = parse_vars(args.var)
        raw: dict[str, Any] = read_document(args.policy)
        Policy.from_file(args.policy, variables=variables or None)   # fail early
    except (PolicyError, ValueError, OSError) as exc:
        return fail(f"learn: {args.policy}: {exc}", 2)

    tmp = None
    if args.from_trail:
        trail = Path(args.from_trail)
        source = str(trail)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="sdk_guard-learn-")
        trail = Path(tmp.name) / "trail.jsonl"
        source = f"a monitored run of: {' '.join(args.command).lstrip('- ')}"
        if _record_run(args, trail) == -1:
            return 2
    try:
        if not trail.exists():
            return fail("learn: the program never installed sdk_guard, so nothing was recorded; "
                        "use --startup (with sdk_guard pip-installed) for a host that does not "
                        "call sdk_guard.install() itself", 1)
        side = _learn.load_sidecar(trail)
        run_vars = {k: v for k, v in side.get("variables", {}).items()
                    if k not in ("home", "tmp", "prefix")}
        variables = {**run_vars, **variables}
        try:
            policy = Policy.from_file(args.policy, variables=variables or None)
            records = _learn.read_trail(trail)
        except (PolicyError, ValueError, OSError) as exc:
            return fail(f"learn: {exc}", 2)
        proposals = _learn.propose(records, policy.data, raw.get("extensions", {}),
                                   policy.variables)
        text, diff = _learn.render(proposals, raw, policy.data, policy.variables, source)
    finally:
        if tmp is not None:
            tmp.cleanup()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"learn: proposed policy written to {args.out}", file=sys.stderr)
    else:
        print(text, end="")
    print(f"\n# ---- diff against {args.policy} (grants only) ----")
    print(diff or "# (no change)", end="" if diff else "\n")
    for line in _learn.summary(proposals):
        print(f"learn: {line}", file=sys.stderr)
    return 0


def register(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers, "learn", _run,
        help="run a program in monitor mode (or read a trail) and propose a "
             "minimal policy per extension",
        usage="%(prog)s --policy P [--var NAME=VALUE] [--out FILE] "
              "(--from-trail FILE | [--startup] -- command ...)",
        description="Propose a minimal policy from what each extension did: imports, "
                    "directories, hosts and ports seen.  Risky grants (native, "
                    "process.spawn, dynamic_code, introspection, writes or reads outside "
                    "the data directory, loopback/private addresses) are written as "
                    "comments with the reason; host-private modules are never proposed.")
    p.add_argument("--policy", required=True, help="the current policy (.toml or .json)")
    p.add_argument("--from-trail", metavar="FILE",
                   help="read this JSONL audit trail instead of running a program")
    add_var_option(p, "template variable, e.g. --var data=/srv/app (repeatable)")
    p.add_argument("--out", metavar="FILE", help="write the proposed policy to FILE")
    p.add_argument("--startup", action="store_true",
                   help="also set SDK_GUARD_POLICY, for a host that does not install "
                        "the guard itself")
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="-- and the command to run, e.g. -- python app.py")
