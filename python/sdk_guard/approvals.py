"""Approval points: one service for ``approval=True`` actions and the Process Guard's
``approve`` capabilities.

A request for approval is stored as *pending* (who asked, what, in which request
context, why, until when), then decided by the host's approver callback or, without
one, by an operator answering the queue::

    python -m sdk_guard approvals --store /var/lib/app/approvals.db list
    python -m sdk_guard approvals --store /var/lib/app/approvals.db approve ap-3f09c2e1b7aa
    python -m sdk_guard approvals --store /var/lib/app/approvals.db deny ap-... --reason "no"

Every step is an audit record (layer ``app``, capability ``approval``): ``pending``
when asked, then ``approved``, ``refused`` or ``expired`` naming the approver; the
records carry the span ids of the action being approved.  A refused or expired
approval raises ``PolicyViolation`` with the reason.
"""
from __future__ import annotations

import getpass
import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from . import _guard, audit, context
from .errors import GuardError, PolicyViolation

__all__ = ["ApprovalRequest", "Approvals", "Store", "configure", "current_service",
           "require"]

STATUSES: Final = ("pending", "approved", "denied", "expired")
_ids = random.Random(int.from_bytes(os.urandom(16), "little"))


@dataclass(frozen=True)
class ApprovalRequest:
    id: str
    principal: str | None          # the extension asking (None: host code)
    capability: str                # "action", "page", "tool", or a guard capability
    target: str                    # the action name, path, address ...
    reason: str
    user: str | None
    org: str | None
    span: str | None               # innermost span id when it was asked
    details: dict[str, Any]
    created: float
    expires: float
    status: str = "pending"
    approver: str | None = None
    decided: float | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: approver(request) -> True/False, or (True/False, note)
Approver = Callable[[ApprovalRequest], "bool | tuple[bool, str]"]

_COLUMNS: Final = ("id", "principal", "capability", "target", "reason", "user", "org",
                   "span", "details", "created", "expires", "status", "approver",
                   "decided", "note")


class Store:
    """Pending and decided approvals in SQLite (a file an operator's CLI can open, or
    ``:memory:`` for a callback-only service)."""

    def __init__(self, path: str | os.PathLike[str] = ":memory:") -> None:
        # Imported here: `import sdk_guard` must not load sqlite3 (and its shared
        # library) into a process that never uses approvals.
        import sqlite3
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=10, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS approvals (id TEXT PRIMARY KEY, principal TEXT, "
            "capability TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL, "
            "user TEXT, org TEXT, span TEXT, details TEXT NOT NULL, created REAL NOT NULL, "
            "expires REAL NOT NULL, status TEXT NOT NULL, approver TEXT, decided REAL, "
            "note TEXT)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, req: ApprovalRequest) -> None:
        row = req.as_dict()
        row["details"] = json.dumps(row["details"], sort_keys=True, default=repr)
        with self._lock:
            self._db.execute(f"INSERT INTO approvals ({', '.join(_COLUMNS)}) VALUES "
                             f"({', '.join('?' for _ in _COLUMNS)})",
                             [row[c] for c in _COLUMNS])

    def get(self, approval_id: str) -> ApprovalRequest | None:
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM approvals WHERE id = ?",
                                   (approval_id,)).fetchone()
        return _from_row(row) if row else None

    def list(self, status: str | None = "pending") -> list[ApprovalRequest]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM approvals"
        args: tuple[Any, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            args = (status,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY created", args).fetchall()
        return [_from_row(r) for r in rows]

    def decide(self, approval_id: str, status: str, approver: str,
               note: str | None = None, now: float | None = None) -> ApprovalRequest:
        """Move a pending request to STATUS; raises LookupError if unknown and
        ValueError if it was already decided or has expired."""
        if status not in ("approved", "denied", "expired"):
            raise ValueError(f"status must be approved, denied or expired, not {status!r}")
        now = time.time() if now is None else now
        with self._lock:
            row = self._db.execute("SELECT status, expires FROM approvals WHERE id = ?",
                                   (approval_id,)).fetchone()
            if row is None:
                raise LookupError(f"no approval request {approval_id!r}")
            if row[0] != "pending":
                raise ValueError(f"approval {approval_id} is already {row[0]}")
            if status != "expired" and now >= row[1]:
                self._db.execute("UPDATE approvals SET status = 'expired', decided = ? "
                                 "WHERE id = ? AND status = 'pending'", (now, approval_id))
                raise ValueError(f"approval {approval_id} has expired")
            self._db.execute("UPDATE approvals SET status = ?, approver = ?, decided = ?, "
                             "note = ? WHERE id = ? AND status = 'pending'",
                             (status, approver, now, note, approval_id))
        got = self.get(approval_id)
        assert got is not None
        return got


def _from_row(row: tuple[Any, ...]) -> ApprovalRequest:
    d = dict(zip(_COLUMNS, row, strict=True))
    d["details"] = json.loads(d["details"])
    return ApprovalRequest(**d)


class Approvals:
    """The approvals service.  ``approver`` decides at once; without it requests wait
    in ``store`` for an operator (``python -m sdk_guard approvals``) until ``timeout``
    seconds have passed, then expire."""

    def __init__(self, *, approver: Approver | None = None, approver_name: str = "host",
                 store: Store | str | os.PathLike[str] | None = None,
                 timeout: float = 300.0, poll: float = 0.2) -> None:
        if approver is None and store is None:
            raise GuardError("Approvals needs an approver callback, a store an operator "
                             "answers, or both")
        if not timeout > 0:
            raise ValueError("timeout must be positive (seconds)")
        self.approver = approver
        self.approver_name = approver_name
        self.store = store if isinstance(store, Store) else Store(store or ":memory:")
        self.timeout = float(timeout)
        self.poll = float(poll)

    def ask(self, *, principal: str | None, capability: str, target: str, reason: str,
            rule: str | None = None, details: Mapping[str, Any] | None = None
            ) -> ApprovalRequest:
        """Create and record a pending request (``require`` also waits for it)."""
        try:
            ctx = context.current()
        except PolicyViolation:
            ctx = None
        sp = audit.current_span()
        now = time.time()
        req = ApprovalRequest(
            id=f"ap-{_ids.getrandbits(48):012x}", principal=principal, capability=capability,
            target=target, reason=reason, user=ctx.user if ctx else None,
            org=ctx.org if ctx else None, span=sp.id if sp else None,
            details=dict(details or {}), created=now, expires=now + self.timeout)
        self.store.add(req)
        audit.emit("app", "approval", "pending", principal=principal, target=target,
                   rule=rule, extra={"approval_id": req.id, "asked_for": capability,
                                     "reason": reason, "expires": req.expires})
        return req

    def require(self, *, principal: str | None, capability: str, target: str, reason: str,
                rule: str | None = None, details: Mapping[str, Any] | None = None
                ) -> ApprovalRequest:
        """Ask and wait: returns the approved request; ``PolicyViolation`` otherwise."""
        req = self.ask(principal=principal, capability=capability, target=target,
                       reason=reason, rule=rule, details=details)
        decided = self._decide(req)
        status = decided.status
        extra = {"approval_id": req.id, "asked_for": capability, "approver": decided.approver,
                 "note": decided.note}
        if status == "approved":
            audit.emit("app", "approval", "approved", principal=principal, target=target,
                       rule=rule, extra=extra)
            return decided
        why = {"denied": f"denied by {decided.approver}"
                         + (f": {decided.note}" if decided.note else ""),
               "expired": f"expired after {self.timeout:g} s without a decision"}[status]
        seq = audit.emit("app", "approval", "refused" if status == "denied" else "expired",
                         principal=principal, target=target, rule=rule,
                         extra={**extra, "reason": why})
        raise PolicyViolation(f"approval {req.id} for {capability} {target!r} was {why}",
                              principal=principal, capability="approval", target=target,
                              rule=rule, event_id=seq)

    def _decide(self, req: ApprovalRequest) -> ApprovalRequest:
        if self.approver is not None:
            answer = self.approver(req)
            ok, note = (answer if isinstance(answer, tuple) else (answer, None))
            if ok is not True and ok is not False:
                raise TypeError("the approver must return True/False or (bool, note)")
            return self.store.decide(req.id, "approved" if ok else "denied",
                                     self.approver_name, note)
        while True:
            cur = self.store.get(req.id)
            if cur is not None and cur.status != "pending":
                return cur
            if time.time() >= req.expires:
                try:
                    return self.store.decide(req.id, "expired", "sdk_guard", None)
                except ValueError:
                    continue            # decided at the last moment: read it again
            time.sleep(min(self.poll, max(0.0, req.expires - time.time())))

    def guard_approver(self) -> Callable[[str, str, str | None], bool]:
        """A function for ``Guard.set_approver``: the Process Guard's ``approve``
        capabilities go through this service (the guard records approved/refused
        as well)."""
        def approve(principal: str, capability: str, target: str | None) -> bool:
            try:
                self.require(principal=principal, capability=capability,
                             target=target or "", rule=f"extensions.{principal}.approve",
                             reason=f"{capability} is listed in extensions.{principal}.approve")
            except PolicyViolation:
                return False
            return True
        return approve


_service: Approvals | None = None


def configure(service: Approvals | None, *, guard: Any = None) -> None:
    """Make SERVICE the process's approvals service (host code only); with GUARD
    (an installed ``Guard``) its approver hook goes through the service too."""
    global _service
    _guard.require_host("approvals.configure")
    _service = service
    if guard is not None:
        guard.set_approver(service.guard_approver() if service is not None else None)


def current_service() -> Approvals | None:
    return _service


def require(*, principal: str | None, capability: str, target: str, reason: str,
            rule: str | None = None, details: Mapping[str, Any] | None = None
            ) -> ApprovalRequest:
    """Approval through the configured service; without one, refused (recorded)."""
    svc = _service
    if svc is None:
        seq = audit.emit("app", "approval", "refused", principal=principal, target=target,
                         rule=rule, extra={"reason": "no approvals service is configured"})
        raise PolicyViolation(f"{capability} {target!r} needs approval and no approvals "
                              "service is configured (sdk_guard.approvals.configure)",
                              principal=principal, capability="approval", target=target,
                              rule=rule, event_id=seq)
    return svc.require(principal=principal, capability=capability, target=target,
                       reason=reason, rule=rule, details=details)


def default_operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"


def open_store(path: str | os.PathLike[str]) -> Store:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no approvals store at {p}")
    return Store(p)
