"""seccomp-BPF layer of ``lockdown()``: a hand-assembled deny list against escalation.

Interface used by ``lockdown()`` (``sdk_guard._lockdown``), the same shape as ``sdk_guard.landlock``::

    plan = prepare(mode)    # mode: "errno" | "trap" | "log" | "kill" | "off"; builds, probes, applies nothing
    plan.status             # "full" | "partial" | "none"
    plan.report             # JSON-serialisable dict for LockdownReport["seccomp"]
    plan.apply()            # installs on every thread (TSYNC); raises GuardError, leaves nothing half-applied

The program (``src/_guard/seccomp.c``) checks the architecture first (a foreign one,
i386 via ``int 0x80`` included, kills the process), kills x32 syscall numbers, then
binary-searches the syscall number over the deny list; only clone/unshare,
personality, ioctl (TIOCSTI) and socket (MPTCP) look at an argument, so the kernel
caches every other syscall as always-allowed.  ``python -m sdk_guard explain POLICY`` prints it.

Trap mode
---------
Denied syscalls raise SIGSYS; the guard's handler makes them fail with EPERM and
records each in a lock-free ring.  :func:`drain` turns the ring into audit records
(layer ``seccomp``, capability = the syscall name, decision ``deny``).  A signal
handler cannot run Python, so draining is opportunistic: ``drain()`` runs at
interpreter exit and whenever the host or the audit pipeline calls it (for example
before a flush); it is cheap when the ring is empty.
"""
from __future__ import annotations

import atexit
import errno
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from . import _guard
from .errors import GuardError

__all__ = ["MODES", "SeccompPlan", "drain", "explain_lines", "prepare", "trap_installed"]

if TYPE_CHECKING:
    from ._guard import SeccompKind, SeccompMode

#: [lockdown] seccomp values: the filter's modes (defined in C) and "off".
MODES: tuple[str, ...] = (*_guard.SECCOMP_MODES, "off")

# What explain adds after a denied syscall of each kind (one per _guard.SECCOMP_KINDS).
_KIND_NOTES: dict[SeccompKind, str] = {
    "deny": "", "enosys": " -> ENOSYS", "ns_flags": " if flags & CLONE_NEW*",
    "personality": " unless a harmless persona", "ioctl_tiocsti": " if request == TIOCSTI",
    "socket_mptcp": " if protocol == MPTCP"}


def _filter_mode(mode: str) -> SeccompMode:
    """MODE as one of the filter's modes; ValueError naming them otherwise."""
    for known in _guard.SECCOMP_MODES:
        if known == mode:
            return known
    raise ValueError(f"seccomp mode must be {', '.join(_guard.SECCOMP_MODES)}, not {mode!r}")

# SECCOMP_FILTER_FLAG_* (include/uapi/linux/seccomp.h)
_FLAG_TSYNC = 1 << 0
_FLAG_LOG = 1 << 1
_FLAG_SPEC_ALLOW = 1 << 2
_FLAG_NAMES = (("tsync", _FLAG_TSYNC), ("log", _FLAG_LOG), ("spec_allow", _FLAG_SPEC_ALLOW))
# What the filter is without each flag (listed in report["flags_dropped"]).
_FLAG_DROP_EFFECT = {
    "tsync": ("only the calling thread is filtered: status partial unless it is the "
              "only thread"),
    "log": "denials are not written to the kernel's audit log",
    "spec_allow": "stricter: the kernel keeps its speculative store bypass mitigation on",
}

# The kernel action each mode needs (SECCOMP_GET_ACTION_AVAIL names).
_MODE_ACTION = {"errno": "errno", "trap": "trap", "log": "log", "kill": "kill_process"}

_drain_lock = threading.Lock()
_dropped_reported = 0
_installed = False
_trap_installed = False
_handler_loss_reported = False


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


class SeccompPlan:
    """A built, probed program; :meth:`apply` installs it once."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.status = "none"
        self.report: dict[str, Any] = {"mode": mode}
        self._program: _guard.SeccompProgram | None = None
        self._flags = 0
        self._applied = False
        if mode == "off":
            self.report["reason"] = 'lockdown.seccomp is "off"'
            return
        if not sys.platform.startswith("linux"):
            self.report["reason"] = "seccomp is Linux-only"
            return
        try:
            built = _guard.SeccompProgram(_filter_mode(mode))
        except ValueError as e:     # not an architecture the program is written for
            self.report["reason"] = str(e)
            return
        probe = _guard.seccomp_probe()
        self._program = built
        self.report.update({
            "arch": built.arch,
            "action": _action_name(built.deny_action),
            "instructions": built.instructions,
            "denied": [d[0] for d in built.denied],
            "rules": {d[0]: d[2] for d in built.denied},
            "flags": [],
            "kernel_mode_before": probe["mode"],
        })
        if not probe["supported"]:
            self.report["reason"] = "the kernel has no seccomp filter support (seccomp(2))"
            return
        if not probe["actions"].get(_MODE_ACTION[mode]):
            self.report["reason"] = (f"the kernel does not offer SECCOMP_RET_{_MODE_ACTION[mode].upper()} "
                                     f"(actions_avail); use lockdown.seccomp = \"errno\"")
            return
        flags = 0
        for name, bit in _FLAG_NAMES:
            if probe["flags"].get(name):
                flags |= bit
        self._flags = flags
        self.report["flags"] = [name for name, bit in _FLAG_NAMES if flags & bit]
        self.report["flags_dropped"] = [
            {"flag": name, "why": f"this kernel does not accept SECCOMP_FILTER_FLAG_{name.upper()}",
             "effect": _FLAG_DROP_EFFECT[name]}
            for name, bit in _FLAG_NAMES if not flags & bit]
        if flags & _FLAG_TSYNC or _thread_count() == 1:
            self.status = "full"
        else:
            self.status = "partial"
            self.report["reason"] = ("no SECCOMP_FILTER_FLAG_TSYNC and the process has "
                                     f"{_thread_count()} threads: only the calling thread "
                                     "would be filtered")
        if mode == "log" and self.status == "full":
            self.status = "partial"
            self.report["reason"] = ('lockdown.seccomp = "log" denies nothing: denied syscalls '
                                     'run and are only logged by the kernel; use "errno", '
                                     '"trap" or "kill" to enforce the deny list')

    def apply(self) -> None:
        """Installs the filter on every thread.  Raises GuardError (nothing installed)."""
        global _installed, _trap_installed
        _guard.require_host_caller()
        if self._program is None or self.status == "none":
            raise GuardError("seccomp cannot be applied: "
                             + str(self.report.get("reason", "nothing was prepared")))
        if self._applied or _installed:
            raise GuardError("the seccomp filter is already installed in this process")
        restore_sigsys = None
        if self.mode == "trap":
            # The handler must exist before the first trap.  If the filter then fails
            # the previous disposition comes back, so nothing is left half-applied.
            try:
                restore_sigsys = signal.getsignal(signal.SIGSYS)
            except (ValueError, OSError):
                restore_sigsys = signal.SIG_DFL
            try:
                _guard.seccomp_trap_install()
            except OSError as e:
                raise GuardError(f"seccomp trap mode: cannot install the SIGSYS handler: {e}") from e
        try:
            self._program.install(self._flags)
        except OSError as e:
            if restore_sigsys is not None:
                _restore_sigsys(restore_sigsys)
            raise GuardError(f"seccomp filter not installed ({e.strerror or e}); "
                             f"nothing was applied") from e
        self._applied = True
        _installed = True
        self.report["installed"] = True
        if self.mode == "trap":
            _trap_installed = True
            atexit.register(drain)

    def __repr__(self) -> str:
        return (f"<SeccompPlan mode={self.mode} status={self.status} "
                f"insns={self.report.get('instructions')}>")


def _restore_sigsys(previous: Any) -> None:
    try:
        signal.signal(signal.SIGSYS, previous if previous is not None else signal.SIG_DFL)
    except (ValueError, OSError, TypeError):
        pass    # not the main thread: the handler stays, harmless without a filter


def _action_name(ret: int) -> str:
    action = ret & 0xFFFF0000
    data = ret & 0xFFFF
    names = {0x80000000: "KILL_PROCESS", 0x00030000: "TRAP", 0x7FFC0000: "LOG",
             0x7FFF0000: "ALLOW"}
    if action == 0x00050000:
        return f"ERRNO({errno.errorcode.get(data, data)})"
    return names.get(action, hex(ret))


def prepare(mode: str) -> SeccompPlan:
    """Builds and probes the program for MODE; applies nothing."""
    if mode not in MODES:
        raise GuardError(f"lockdown.seccomp must be one of {', '.join(MODES)}, not {mode!r}")
    return SeccompPlan(mode)


def drain() -> int:
    """Moves trap-mode denials from the SIGSYS ring into audit records; returns how many.

    Each record: layer ``seccomp``, capability = syscall name, decision ``deny``,
    target ``name(arg0, ...)``, extra ``{"syscall": {nr, arch, tid, ip, args}}``.  A
    full ring's losses are reported once as a ``seccomp.trap_ring`` record.
    """
    global _dropped_reported, _handler_loss_reported
    with _drain_lock:
        if _trap_installed and not _handler_loss_reported and not _guard.seccomp_trap_active():
            # Code in this process replaced the SIGSYS handler (signal.signal, or
            # sigaction through ctypes): denied calls still never run, but from now
            # on they are not recorded, and that must not go unrecorded itself.
            _handler_loss_reported = True
            _guard.emit(layer="seccomp", capability="seccomp.trap_handler", decision="deny",
                        target=None, extra={"why": "the SIGSYS handler of trap mode was "
                                            "replaced: later denials are not recorded"})
        records, dropped = _guard.seccomp_trap_drain()
        for rec in records:
            name = rec["name"] or f"syscall_{rec['nr']}"
            args = ", ".join(hex(a) for a in rec["args"])
            _guard.emit(layer="seccomp", capability=name, decision="deny",
                        target=f"{name}({args})",
                        extra={"syscall": {"nr": rec["nr"], "arch": rec["arch"],
                                           "tid": rec["tid"], "ip": rec["ip"],
                                           "args": list(rec["args"]), "action": "trap"}})
        if dropped > _dropped_reported:
            _guard.emit(layer="seccomp", capability="seccomp.trap_ring", decision="deny",
                        target=None, extra={"dropped": dropped - _dropped_reported})
            _dropped_reported = dropped
        return len(records)


def _after_fork_child() -> None:
    # Traps still in the ring at the fork are the parent's to report (the child
    # reporting them too doubled them), and a drain() the parent's writer was in
    # holds a lock no thread of the child would ever release.
    global _drain_lock, _dropped_reported
    _drain_lock = threading.Lock()
    if _trap_installed:
        _, _dropped_reported = _guard.seccomp_trap_drain()


os.register_at_fork(after_in_child=_after_fork_child)


def trap_installed() -> bool:
    """True once a trap-mode filter is installed (whatever became of its handler)."""
    return _trap_installed


def explain_lines(mode: str = "errno", arch: str | None = None) -> list[str]:
    """The program for MODE as labelled assembly, then the syscalls it denies."""
    built = _guard.SeccompProgram(_filter_mode(mode), arch)
    asm = built.disasm()
    names_at: dict[int, list[str]] = {}
    for pos, name in built.labels:
        names_at.setdefault(pos, []).append(name)
    lines = [f"; seccomp program: mode={mode} arch={built.arch} "
             f"{built.instructions} instructions, deny action {_action_name(built.deny_action)}"]
    for pc, text in enumerate(asm):
        for name in names_at.get(pc, []):
            lines.append(f"{name}:")
        note = ""
        if text.startswith("jge #") and pc > 3:
            nr = int(text[5:].split(",")[0], 16)
            sys_name = _guard.seccomp_syscall_name(nr, built.arch)
            note = f"    ; nr >= {nr}" + (f" ({sys_name})" if sys_name else "")
        lines.append(f"  {pc:4d}  {text}{note}")
    lines.append("")
    lines.append(f"; denied syscalls ({len(built.denied)}):")
    for name, nr, kind, why in built.denied:
        how = _KIND_NOTES[kind]
        lines.append(f";   {name:<18} nr {nr:<4}{how:<26} {why}")
    return lines
