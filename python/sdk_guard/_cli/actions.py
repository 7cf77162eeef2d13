"""``python -m sdk_guard actions``: every declared action, page and tool, its owner and
its effective requirements (the declaration plus what the policy adds).

Actions are declared when their modules are imported: ``--policy`` installs the guard
with that policy and imports each extension it names (as that extension, so owners are
attributed); ``--import MODULE`` imports host modules too.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterator
from typing import Any

from ..errors import GuardError, PolicyError
from ._common import Subparsers, add_command, fail, show


def _run(args: argparse.Namespace) -> int:
    from .. import actions
    for d in args.path or []:
        sys.path.insert(0, d)
    try:
        guard = None
        if args.policy:
            from .. import Policy, install
            guard = install(Policy.from_file(args.policy))
        # Host modules first: extensions may import the SDK they provide.
        for mod in args.imports or []:
            importlib.import_module(mod)
        if guard is not None:
            for name in guard.extensions:
                guard.import_extension(name)
    except (PolicyError, GuardError, ImportError) as exc:
        return fail(f"actions: {exc}", 2)
    except OSError as exc:
        return fail(f"actions: cannot read policy {args.policy}: {exc.strerror or exc}", 2)
    rows = actions.registry()
    return show(rows, _lines(rows), as_json=args.json)


def _lines(rows: list[dict[str, Any]]) -> Iterator[str]:
    if not rows:
        yield "no actions declared (import the modules that declare them: --policy/--import)"
    for r in rows:
        req = ", ".join(r["declared_requires"]) or "-"
        if r["policy_requires"]:
            req += f" + policy: {', '.join(r['policy_requires'])}"
        appr = "approval" if r["approval"] else "no approval"
        if r["approval"] and not r["declared_approval"]:
            appr += " (policy)"
        yield (f"{r['name']:<28} {r['kind']:<6} owner={r['owner'] or 'host'}  requires: {req}"
               f"  [{appr}]  {r['function']}")


def register(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers, "actions", _run,
        help="list declared actions/pages/tools with owners and requirements",
        description="List the action registry: name, kind, owner extension, required "
                    "permissions (declared and added by the policy), approval.")
    p.add_argument("--policy", help="install the guard with this policy and import its "
                                    "extensions")
    p.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                   help="import a host module that declares actions (repeatable)")
    p.add_argument("--path", action="append", metavar="DIR", help="prepend DIR to sys.path")
    p.add_argument("--json", action="store_true")
