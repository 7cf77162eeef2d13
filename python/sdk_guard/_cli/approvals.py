"""``python -m sdk_guard approvals``: list, approve or deny pending approval requests.

The host's approvals service (``sdk_guard.approvals.Approvals(store=PATH)``) waits for
the answer written here; the decision and this operator's name reach the host's
audit trail from there.
"""
from __future__ import annotations

import argparse
import datetime
import os
from collections.abc import Iterator

from ..approvals import ApprovalRequest, default_operator, open_store
from ._common import Subparsers, add_command, fail, show


def _when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _run(args: argparse.Namespace) -> int:
    path = args.store or os.environ.get("SDK_GUARD_APPROVALS")
    if not path:
        return fail("approvals: name the store with --store PATH or SDK_GUARD_APPROVALS", 2)
    try:
        store = open_store(path)
    except FileNotFoundError as exc:
        return fail(f"approvals: {exc}", 2)
    try:
        if args.action == "list":
            reqs = store.list(None if args.all else "pending")
            return show([r.as_dict() for r in reqs], _lines(reqs, args.all), as_json=args.json)
        status = "approved" if args.action == "approve" else "denied"
        try:
            r = store.decide(args.id, status, args.operator or default_operator(), args.note)
        except (LookupError, ValueError) as exc:
            return fail(f"approvals: {exc}", 1)
        print(f"{r.id} {r.status} by {r.approver}")
        return 0
    finally:
        store.close()


def _lines(reqs: list[ApprovalRequest], every: bool) -> Iterator[str]:
    if not reqs:
        yield "no pending approval requests" if not every else "no approval requests"
    for r in reqs:
        who = r.principal or "host"
        yield (f"{r.id}  {r.status:<8} {r.capability} {r.target!r}  by {who} "
               f"for user {r.user} org {r.org}  expires {_when(r.expires)}"
               f"  span {r.span}\n    why: {r.reason}"
               + (f"\n    decided by {r.approver}: {r.note or ''}" if r.approver else ""))


def register(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers, "approvals", _run, help="list, approve or deny pending approval requests",
        description="Answer the approval queue a host's sdk_guard.approvals service waits "
                    "on (a SQLite file).")
    p.add_argument("--store", help="the approvals store file (default: $SDK_GUARD_APPROVALS)")
    sub = p.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("list", help="pending requests (--all: every request)")
    ls.add_argument("--all", action="store_true")
    ls.add_argument("--json", action="store_true")
    for name in ("approve", "deny"):
        d = sub.add_parser(name, help=f"{name} request ID")
        d.add_argument("id")
        d.add_argument("--as", dest="operator", help="approver name (default: this user)")
        d.add_argument("--note", "--reason", dest="note", help="recorded with the decision")
