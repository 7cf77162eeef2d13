"""``python -m sdk_guard approvals``: list, approve or deny pending approval requests.

The host's approvals service (``sdk_guard.approvals.Approvals(store=PATH)``) waits for
the answer written here; the decision and this operator's name reach the host's
audit trail from there.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

from ..approvals import default_operator, open_store


def _when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _run(args: argparse.Namespace) -> int:
    path = args.store or os.environ.get("SDK_GUARD_APPROVALS")
    if not path:
        print("approvals: name the store with --store PATH or SDK_GUARD_APPROVALS",
              file=sys.stderr)
        return 2
    try:
        store = open_store(path)
    except FileNotFoundError as exc:
        print(f"approvals: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "list":
            reqs = store.list(None if args.all else "pending")
            if args.json:
                print(json.dumps([r.as_dict() for r in reqs], indent=2))
                return 0
            if not reqs:
                print("no pending approval requests" if not args.all else "no approval requests")
            for r in reqs:
                who = r.principal or "host"
                print(f"{r.id}  {r.status:<8} {r.capability} {r.target!r}  by {who} "
                      f"for user {r.user} org {r.org}  expires {_when(r.expires)}"
                      f"  span {r.span}\n    why: {r.reason}"
                      + (f"\n    decided by {r.approver}: {r.note or ''}" if r.approver else ""))
            return 0
        status = "approved" if args.action == "approve" else "denied"
        try:
            r = store.decide(args.id, status, args.operator or default_operator(), args.note)
        except LookupError as exc:
            print(f"approvals: {exc}", file=sys.stderr)
            return 1
        except ValueError as exc:
            print(f"approvals: {exc}", file=sys.stderr)
            return 1
        print(f"{r.id} {r.status} by {r.approver}")
        return 0
    finally:
        store.close()


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "approvals", help="list, approve or deny pending approval requests",
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
    p.set_defaults(func=_run)
