"""Kernel lockdown: Landlock (``sdk_guard.landlock``) and seccomp-BPF (``sdk_guard.seccomp``).

``lockdown()`` confines the whole process, irreversibly and without privileges:
files, TCP ports and IPC through Landlock, system calls through seccomp.  It is
best effort by default and honest about it: the returned ``LockdownReport`` says
what the kernel enforces, at which ABI, and every right it dropped and why;
``require=[...]`` turns anything short of full enforcement into ``GuardError``
*before* anything is applied.

Order (each step can refuse; nothing is applied until every check passed):
parse the spec, plan Landlock (probe, downgrade, runtime grants, the private
temporary directory, build the ruleset fd) and seccomp, check ``require`` and threads
(a refusal removes the temporary directory again), start its reaper, set
NO_NEW_PRIVS, enforce Landlock, install seccomp, install the import notes, report
(one audit record, layer ``landlock``).  What is granted automatically, and why:
``sdk_guard._lockdown_runtime`` and docs/lockdown.md.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from . import _guard, audit, landlock
from ._lockdown_spec import parse_spec
from .errors import GuardError
from .landlock import LandlockPlan, _notes

__all__ = ["LockdownReport", "lockdown"]


# ---- report ------------------------------------------------------------------------

class LockdownReport:
    """What ``lockdown()`` enforced.  ``as_dict()`` is JSON-serialisable."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @property
    def status(self) -> str:
        """``full`` (everything asked for is enforced), ``partial`` or ``none``."""
        return str(self._data["status"])

    @property
    def landlock(self) -> dict[str, Any]:
        return dict(self._data["landlock"])

    @property
    def seccomp(self) -> dict[str, Any]:
        return dict(self._data["seccomp"])

    def as_dict(self) -> dict[str, Any]:
        copied: dict[str, Any] = _copy_json(self._data)
        return copied

    def __repr__(self) -> str:
        ll = self._data["landlock"]
        return (f"<LockdownReport status={self.status} landlock={ll['status']} "
                f"abi={ll.get('abi')} seccomp={self._data['seccomp'].get('status')}>")


def _copy_json(v: Any) -> Any:
    # The C encoder is the fastest deep copy of plain data, and proves it serialisable.
    import json

    return json.loads(json.dumps(v))


def _seccomp_plan(mode: str) -> tuple[Any, dict[str, Any]]:
    if mode == "off":
        return None, {"status": "off", "mode": "off"}
    # Imported on first use, not to dodge a cycle: seccomp registers an at-fork
    # handler, which a process that never locks down does without.
    from . import seccomp

    try:
        plan = seccomp.prepare(mode)
    except GuardError as e:
        # Best effort: reported as "none"; require=["seccomp"] turns it into a refusal.
        return None, {"status": "none", "mode": mode, "reason": str(e)}
    return plan, dict(plan.report, status=plan.status)


# ---- lockdown ----------------------------------------------------------------------

_lock = threading.Lock()
_applied: LockdownReport | None = None


def _mptcp_enabled() -> bool:
    try:
        with open("/proc/sys/net/mptcp/enabled") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _warn_mptcp(ll: LandlockPlan, sc_report: dict[str, Any], mode: str) -> None:
    """Only the seccomp filter refuses IPPROTO_MPTCP sockets, which Landlock's TCP rules
    do not cover: say so when TCP rules apply and the filter will not be in place."""
    if (ll.status != "none" and ll.handled[1] and sc_report.get("status") != "full"
            and _mptcp_enabled()):
        ll.report["warnings"].append({
            "fd": None, "target": "net.mptcp", "access": "connect/bind",
            "why": "Multipath TCP sockets reach any port around the TCP rules: "
                   "net.mptcp.enabled is 1 and the seccomp filter that refuses "
                   f"them is {sc_report.get('status')} (lockdown.seccomp = {mode!r})"})


def _refusals(ll: LandlockPlan, sc_report: dict[str, Any], require: list[str]) -> list[str]:
    """Why lockdown() must refuse before applying anything: threads Landlock cannot
    confine, or a required layer short of full; empty when it may go ahead."""
    problems = []
    if ll.refusal:
        problems.append(ll.refusal)
    if "landlock" in require:
        if ll.status != "full":
            why = ll.report["reason"] or "; ".join(
                f"{d['right']}: {d['why']}" for d in ll.report["dropped"]
                if d.get("effect") == "not_enforced") or ll.report["threads"].get("why")
            problems.append(f"Landlock would be {ll.status}, not full ({why})")
        missing = [s for s in ll.report["skipped"]
                   if "path" in s and s["source"].startswith("lockdown.")]
        if missing:
            problems.append("paths in the policy cannot be added: " + "; ".join(
                f"{s['source']} {s['path']}: {s['why']}" for s in missing))
    if "seccomp" in require and sc_report.get("status") != "full":
        problems.append(f"seccomp would be {sc_report.get('status')}, not full"
                        + (f" ({sc_report['reason']})" if sc_report.get("reason") else ""))
    return problems


def _overall(ll: str, sc: str) -> str:
    levels = [s for s in (ll, sc) if s != "off"]
    if levels and all(s == "full" for s in levels):
        return "full"
    if all(s == "none" for s in levels):
        return "none"
    return "partial"


def _emit(report: dict[str, Any], decision: str) -> None:
    # The record carries the report itself, not a copy (a copy costs a sixth of the
    # 1 ms budget); LockdownReport.as_dict() hands callers their own copies.
    _guard.emit(layer="landlock", capability="lockdown", decision=decision, target=None,
                extra={"report": report})


def lockdown(policy: Any = None, *, spec: Mapping[str, Any] | None = None,
             require: Iterable[str] | None = None) -> LockdownReport:
    """Confines this process with Landlock and seccomp; irreversible, once per process.

    ``policy``: a ``Policy`` (its ``[lockdown]`` section); ``spec``: a ``[lockdown]``
    table given directly.  ``require`` adds to the spec's ``require``.  Raises
    ``GuardError`` on a second call, when a required layer would not be fully
    enforced, or when threads cannot be confined; in those cases nothing is applied.
    """
    global _applied
    _guard.require_host_caller()    # confining the process is the host's call
    if policy is not None and spec is not None:
        raise GuardError("lockdown() takes a policy or a spec, not both")
    if policy is not None:
        if not hasattr(policy, "lockdown_spec"):
            raise GuardError(f"lockdown() needs an sdk_guard.Policy, not {type(policy).__name__}")
        spec = policy.lockdown_spec()
    parsed = parse_spec(spec)
    if require is not None:
        extra = parse_spec({"require": list(require)})["require"]
        parsed["require"] += [r for r in extra if r not in parsed["require"]]

    # The audit writer thread is stopped for the duration, so a lone main thread can
    # be confined without TSYNC; the restarted writer inherits Landlock and seccomp.
    with _lock, audit.writer_paused():
        if _applied is not None:
            raise GuardError("lockdown() already ran in this process; its report is "
                             f"{_applied!r} (Landlock and seccomp cannot be undone or redone)")
        ll = landlock.prepare(parsed, policy)
        try:
            sc_plan, sc_report = _seccomp_plan(parsed["seccomp"])
            _warn_mptcp(ll, sc_report, parsed["seccomp"])
            report: dict[str, Any] = {"status": "none", "landlock": ll.report,
                                      "seccomp": sc_report, "require": parsed["require"],
                                      "no_new_privs": bool(_guard.get_no_new_privs())}
            problems = _refusals(ll, sc_report, parsed["require"])
            if problems:
                ll.discard_tmp()
                ll.report["status"] = "refused"
                report["status"] = "none"
                _emit(report, "deny")
                raise GuardError("lockdown refused, nothing was applied: " + " | ".join(problems))

            notes = _notes() if ll.status != "none" else None  # its file may be unreadable after
            if ll.tmp is not None:
                # Before Landlock: the reaper is a program, and execute is never granted.
                ll.report["tmp"] = ll.tmp.activate()
            _guard.set_no_new_privs()
            report["no_new_privs"] = True
            _applied = LockdownReport(report)
            if ll.status != "none":
                try:
                    ll.apply()
                except GuardError:
                    pass  # ll.report now says none and why; require is checked below
            sc_error = None
            if sc_plan is not None:
                try:
                    sc_plan.apply()
                except GuardError as e:
                    sc_error = e
                    report["seccomp"] = dict(report["seccomp"], status="none",
                                             reason=f"install failed: {e}")
            report["status"] = _overall(ll.report["status"], report["seccomp"]["status"])
            if notes is not None and ll.report["status"] != "none":
                notes.install(ll.report, parsed["runtime"])
            failed = [layer for layer in parsed["require"]
                      if report[layer]["status"] != "full"]
            _emit(report, "deny" if failed else "allow")
            if failed:
                raise GuardError(f"lockdown: required {', '.join(failed)} failed while applying; "
                                 f"the process is in the state the report describes: "
                                 f"{_applied.as_dict()}") from sc_error
            return _applied
        except BaseException:
            if _applied is None:
                ll.discard_tmp()
            raise
        finally:
            ll.close()
