"""``python -m sdk_guard egress``: run a command under kernel egress rules; clean up.

``egress run --policy P -- cmd ...`` prints the report (JSON) to stderr, runs CMD in
its own cgroup with the policy's ``[egress]`` rules, streams denials to the audit
sinks and exits with CMD's status.  ``egress cleanup`` removes tables, chains and
groups left by supervisors that are gone.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any

from ..errors import GuardError, PolicyError
from ._common import Subparsers, add_command, add_group, after_dashes, fail, show


def _run(args: argparse.Namespace) -> int:
    from .. import audit, egress
    from ..policy import Policy

    cmd = after_dashes(args.cmd)
    if not cmd:
        return fail("egress run: give the command after --", 2)
    try:
        policy = Policy.from_file(args.policy)
    except (PolicyError, OSError) as exc:
        return fail(f"egress run: {args.policy}: {exc}", 2)
    if args.audit_jsonl:
        audit.add_sink(audit.JsonlSink(args.audit_jsonl))
    user: Any = None if args.user == "" else args.user
    worker = egress.Worker(policy, cmd, backend=args.backend, user=user,
                           require=["egress"] if args.require else [],
                           principal=args.principal)
    try:
        report = worker.start()
    except GuardError as exc:
        print(f"egress run: {exc}", file=sys.stderr)
        audit.flush()
        return 3
    print(json.dumps(report.as_dict(), sort_keys=True), file=sys.stderr)

    def forward(signum: int, _frame: Any) -> None:
        if worker.pid:
            try:
                os.kill(worker.pid, signum)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    code = worker.wait()
    print(json.dumps({"egress_final": report.as_dict().get("final"),
                      "denials": worker.denials}, sort_keys=True), file=sys.stderr)
    audit.flush()
    return code if code >= 0 else 128 - code


def _cleanup(args: argparse.Namespace) -> int:
    from .. import egress

    return show(egress.cleanup(), indent=None, sort_keys=True)


def register(subparsers: Subparsers) -> None:
    sub = add_group(
        subparsers, "egress", "egress_command",
        help="run a command under per-cgroup kernel egress rules",
        description="Kernel egress enforcement (needs root or CAP_NET_ADMIN and write "
                    "access to the cgroup2 tree). See docs/egress.md.")
    r = add_command(sub, "run", _run, help="run CMD confined to the policy's [egress] rules")
    r.add_argument("--policy", required=True, help="policy file (.toml or .json)")
    r.add_argument("--backend", choices=("auto", "nft", "iptables", "bpf"), default=None,
                   help="override egress.backend")
    r.add_argument("--user", default="nobody",
                   help='user the command runs as when run by root (default nobody; "" '
                        "keeps the caller's uid, which can leave the group)")
    r.add_argument("--require", action="store_true",
                   help="refuse to run CMD unless a kernel backend enforces the rules")
    r.add_argument("--principal", default="worker", help="name of CMD in audit records")
    r.add_argument("--audit-jsonl", default=None, help="append audit records to this file")
    r.add_argument("cmd", nargs=argparse.REMAINDER, help="-- command and arguments")
    add_command(sub, "cleanup", _cleanup, help="remove rules and groups of supervisors that are gone")
