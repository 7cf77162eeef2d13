"""``python -m sdk_guard explain POLICY``: what lockdown() would enforce, for review.

Prints the seccomp program the policy's ``[lockdown] seccomp`` mode compiles to, as
labelled assembly with the syscall names it denies, then the Landlock rules the
policy would add.  Nothing is installed.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from .errors import GuardError, PolicyError


def _landlock_lines(spec: Any) -> list[str]:
    # By module path: the package attribute ``lockdown`` is the function, not the module.
    module = importlib.import_module("sdk_guard.lockdown")
    describe = getattr(module, "describe_landlock", None)
    if describe is None:
        return ["  unavailable (sdk_guard.lockdown.describe_landlock is not in this build)"]
    return [f"  {line}" for line in describe(spec)]


def _run(args: argparse.Namespace) -> int:
    from . import Policy, seccomp
    try:
        policy = Policy.from_file(args.policy)
        spec = policy.lockdown_spec()
    except (PolicyError, OSError) as e:
        print(f"explain: {args.policy}: {e}", file=sys.stderr)
        return 2
    mode = spec.get("seccomp", "errno") if isinstance(spec, dict) else "errno"
    out = [f"# lockdown plan for {args.policy}", "", f"## seccomp (lockdown.seccomp = {mode!r})"]
    if mode == "off":
        out.append("  off: no seccomp program would be installed")
    else:
        try:
            out += seccomp.explain_lines(mode, args.arch)
        except (ValueError, GuardError) as e:
            out.append(f"  unavailable: {e}")
    out += ["", "## Landlock"]
    out += _landlock_lines(spec)
    if getattr(args, "lockdown", False):
        module = importlib.import_module("sdk_guard.lockdown")
        out += ["", "## Landlock ruleset, in full"]
        out += [f"  {line}" for line in module.describe_ruleset(policy)]
    print("\n".join(out))
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("explain", help="show the seccomp program and Landlock rules a "
                              "policy's lockdown would install")
    p.add_argument("policy", metavar="POLICY", help="policy file (TOML or JSON)")
    p.add_argument("--arch", choices=("x86_64", "aarch64"), default=None,
                   help="assemble for this architecture instead of the running one")
    p.add_argument("--lockdown", action="store_true",
                   help="also print the full effective Landlock ruleset, runtime grants "
                        "included, each with its reason")
    p.set_defaults(func=_run)
