"""Kernel egress: a privileged supervisor runs a worker whose every socket, in every
thread and child, reaches only what the policy's ``[egress]`` section allows.

::

    from sdk_guard import egress
    w = egress.Worker(policy, ["python3", "job.py"])    # or target=fn, args=(...)
    report = w.start()          # group + rules + canary self-test, then the worker
    code = w.wait()             # kills the group, removes the rules and the group
    report.as_dict()            # {"egress": "nft" | ... | "none", "backends": {...}, ...}

Order (each step can refuse; a refused backend leaves nothing behind): remove stale
state of crashed supervisors, compile the rule table (names resolved once and pinned),
per backend: create ``<cgroup2>/sdk_guard/<id>``, bind the NFLOG group, install the
rules, run the canary from inside the group and require that it moved the canary
counter; then spawn the worker *into* the group (it joins before exec, so it owns no
socket made outside), stream denials as audit records (layer ``egress``) in the spans
that were open when ``start()`` was called, and watch the rules for tampering.

Without privileges the report says ``egress: none`` with the exact reason per backend
(the Python layer stays in force); ``require=["egress"]`` raises ``GuardError`` instead
of starting the worker.
"""
from __future__ import annotations

import contextvars
import ctypes
import errno
import os
import pwd
import secrets
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, Self, cast

from .. import audit
from ..errors import GuardError
from . import _cgroup, _nflog
from ._nft import BackendError, NftBackend
from ._spec import (
    BACKENDS,
    Rule,
    compile_rules,
    describe_rules,
    parse_spec,
    spec_from_policy,
)

__all__ = ["EgressReport", "Worker", "cleanup", "parse_config", "parse_spec", "probe"]

#: The [egress] policy section validator (policy.py calls it by this name).
parse_config = parse_spec

_SO_MARK = 36
_NFNLGRP_NFTABLES = 7
_CANARY = (
    "import socket, sys\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
    "s.setsockopt(socket.SOL_SOCKET, %d, %d)\n"
    "s.settimeout(2)\n"
    "try:\n"
    "    s.connect(('127.0.0.1', 9))\n"
    "except OSError:\n"
    "    sys.exit(0)\n"
    "sys.exit(3)\n")


class Backend(Protocol):
    """What the Worker needs of a backend (``_nft``, ``_iptables``, ``_bpf``).  A
    backend with ``uses_nflog`` gets its denials from NFLOG; otherwise it offers
    ``fileno()`` and ``read_events()``.  ``canary_script(mark)`` replaces the default
    marked-connect canary.  Every failure is ``BackendError`` with the exact reason."""

    name: str
    scope: str
    uses_nflog: bool

    @property
    def table(self) -> str: ...
    def available(self) -> str | None: ...
    def apply(self, group: _cgroup.Group, rules: Sequence[Rule], log_group: int,
              canary_mark: int) -> None: ...
    def reapply(self) -> None: ...
    def intact(self) -> str | None: ...
    def canary_packets(self, pid: int | None = None) -> int: ...
    def counters(self) -> dict[str, Any]: ...
    def remove(self) -> None: ...


class EventBackend(Backend, Protocol):
    """A backend that reports denials itself (bpf: a ring buffer)."""

    def fileno(self) -> int: ...
    def read_events(self) -> list[dict[str, Any]]: ...


def _backend(name: str) -> Backend:
    if name == "nft":
        return NftBackend()
    if name == "iptables":
        from ._iptables import IptablesBackend
        return IptablesBackend()
    from ._bpf import BpfBackend
    return BpfBackend()


class EgressReport:
    """What the kernel enforces for one worker.  ``as_dict()`` is JSON-serialisable."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @property
    def backend(self) -> str:
        """``nft``, ``iptables``, ``bpf`` or ``none``."""
        return str(self._data["egress"])

    @property
    def active(self) -> bool:
        return bool(self._data["egress"] != "none")

    def as_dict(self) -> dict[str, Any]:
        import json
        copied: dict[str, Any] = json.loads(json.dumps(self._data))
        return copied

    def __repr__(self) -> str:
        return f"<EgressReport egress={self.backend}>"


def _who(user: str | int | None) -> tuple[int, int] | None:
    if user is None:
        return None
    ent = pwd.getpwuid(user) if isinstance(user, int) else pwd.getpwnam(user)
    return ent.pw_uid, ent.pw_gid


# The child joins the group and drops privileges in programs it execs, not in Python
# code between fork and exec (a preexec_fn can deadlock when the supervisor has other
# threads): sh writes its own pid into cgroup.procs and execs setpriv, which drops to
# the worker's uid/gid with no supplementary groups, no capabilities and no_new_privs,
# then execs the worker.  The pid never changes, so Popen's pid is the worker's.
_JOIN = 'echo 0 > "$0" && exec "$@"'


def _trampoline(procs: str | None, ids: tuple[int, int] | None, nnp: bool) -> list[str]:
    """The argv prefix that joins PROCS (a cgroup.procs path) and drops to IDS."""
    out: list[str] = []
    if procs is not None:
        out = ["/bin/sh", "-c", _JOIN, procs]
    if ids is not None or nnp:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            raise GuardError("setpriv (util-linux) is needed to start the worker as "
                             "another user or with no_new_privs; install util-linux")
        out.append(setpriv)
        if ids is not None:
            out += [f"--reuid={ids[0]}", f"--regid={ids[1]}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all"]
        if nnp:
            out.append("--no-new-privs")
        out.append("--")
    return out


def _drop_in_process(ids: tuple[int, int] | None, nnp: bool) -> None:
    """For target= workers (a forked copy of the supervisor): the same drop, in-process."""
    if ids is not None:
        os.setgroups([])
        os.setresgid(ids[1], ids[1], ids[1])
        os.setresuid(ids[0], ids[0], ids[0])
    if nnp:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(38, 1, 0, 0, 0) != 0:          # PR_SET_NO_NEW_PRIVS
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")


def cleanup() -> dict[str, list[str]]:
    """Removes state of supervisors that are gone: nft tables / iptables chains in this
    network namespace and their cgroup groups (processes still in them are killed).
    Returns what was removed."""
    removed: dict[str, list[str]] = {"tables": [], "chains": [], "groups": []}
    for name in NftBackend.stale():
        NftBackend.remove_stale(name)
        removed["tables"].append(name)
    try:
        from ._iptables import IptablesBackend
        for chain in IptablesBackend.stale():
            IptablesBackend.remove_stale(chain)
            removed["chains"].append(chain)
    except ImportError:
        pass
    mount = _cgroup.mount_point()
    if mount:
        for path in _cgroup.stale_groups(mount):
            _cgroup.kill_path(path)
            try:
                _cgroup.remove_path(path)
            except OSError:
                continue
            removed["groups"].append(path)
    return removed


def probe() -> dict[str, Any]:
    """Whether each backend could be applied by this process, and if not exactly why;
    nothing is created (``sdk_guard.probe()["egress"]`` is this)."""
    status_caps = 0
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    status_caps = int(line.split()[1], 16)
    except OSError:
        pass
    caps = {"CAP_NET_ADMIN": 12, "CAP_SYS_ADMIN": 21, "CAP_BPF": 39}
    have = {n: bool(status_caps >> b & 1) for n, b in caps.items()}
    mount = _cgroup.mount_point()
    cg_reason = None
    if mount is None:
        cg_reason = "no cgroup2 mount"
    else:
        parent = os.path.join(mount, _cgroup.PARENT)
        target = parent if os.path.isdir(parent) else mount
        if not os.access(target, os.W_OK):
            cg_reason = f"no write access to {target} (cannot create the worker's group)"
    backends: dict[str, dict[str, Any]] = {}
    nft = NftBackend().available()
    ipt = None if shutil.which("iptables") else "iptables not found on PATH"
    if nft is None and mount is not None and not (
            mount == "/sys/fs/cgroup" or mount.startswith("/sys/fs/cgroup/")):
        nft = f"cgroup2 is mounted at {mount}; nft resolves cgroup paths under /sys/fs/cgroup"
    for name, tool in (("nft", nft), ("iptables", ipt)):
        reason = tool or cg_reason or (None if have["CAP_NET_ADMIN"]
                                       else "needs CAP_NET_ADMIN")
        backends[name] = {"can_apply": reason is None, "reason": reason}
    from ._bpf import BpfBackend
    bpf = BpfBackend().available() or cg_reason or (
        None if have["CAP_SYS_ADMIN"] or (have["CAP_BPF"] and have["CAP_NET_ADMIN"])
        else "needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN")
    backends["bpf"] = {"can_apply": bpf is None, "reason": bpf}
    can = [n for n, b in backends.items() if b["can_apply"]]
    return {"can_apply": bool(can), "backends": backends, "capabilities": have,
            "cgroup2": mount,
            "reason": None if can else "; ".join(f"{n}: {b['reason']}"
                                                 for n, b in backends.items())}


class Worker:
    """A process confined by kernel egress rules.

    ``policy``: a ``Policy`` or policy dict (its ``[egress]`` section, else the union
    of its extensions' ``net.connect``); or ``spec``: an ``[egress]`` table.
    ``argv`` (a program) or ``target`` (a callable run in a forked child, with
    ``args``).  ``user``: the uid the worker runs as when the supervisor is root
    (default ``nobody``: a uid-0 worker could move itself out of the group);
    ``None`` keeps the supervisor's.  ``principal`` names the worker in audit records.
    """

    def __init__(self, policy: Any = None, argv: Sequence[str] | None = None, *,
                 target: Callable[..., Any] | None = None, args: Sequence[Any] = (),
                 spec: Mapping[str, Any] | None = None, backend: str | None = None,
                 require: Iterable[str] = (), on_tamper: str | None = None,
                 user: str | int | None = "nobody", principal: str = "worker",
                 env: Mapping[str, str] | None = None, cwd: str | None = None,
                 stdin: Any = None, stdout: Any = None, stderr: Any = None,
                 no_new_privs: bool = True, tamper_interval: float = 1.0,
                 resolve: Callable[[str], list[str]] | None = None) -> None:
        if (argv is None) == (target is None):
            raise TypeError("Worker() takes exactly one of argv or target")
        self.spec = dict(parse_spec(spec)) if spec is not None else spec_from_policy(policy)
        if spec is not None and self.spec["connect"] is None:
            self.spec["connect"] = []
        if backend is not None:
            self.spec["backend"] = parse_spec({"backend": backend})["backend"]
        if on_tamper is not None:
            self.spec["on_tamper"] = parse_spec({"on_tamper": on_tamper})["on_tamper"]
        self.require = set(self.spec["require"]) | set(require)
        bad = self.require - {"egress"}
        if bad:
            raise GuardError(f"require: unknown requirement(s) {sorted(bad)}; only "
                             '"egress" can be required here')
        self.argv = list(argv) if argv is not None else None
        self.target, self.args = target, tuple(args)
        self.principal = principal
        self.user = user if os.geteuid() == 0 else None
        self._popen_kw = {"env": env, "cwd": cwd, "stdin": stdin, "stdout": stdout,
                          "stderr": stderr}
        self.no_new_privs = no_new_privs
        self.tamper_interval = tamper_interval
        self._resolve = resolve
        self.pid: int | None = None
        self.returncode: int | None = None
        self.report: EgressReport | None = None
        self.denials = 0
        self.tamper_events: list[dict[str, Any]] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._group: _cgroup.Group | None = None
        self._backend: Backend | None = None
        self._reader: _nflog.Reader | None = None
        self._mark = 0
        self._stop = threading.Event()
        self._wake = os.pipe()              # wakes the tamper thread at close()
        self._threads: list[threading.Thread] = []
        self._ctx: contextvars.Context | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- start -------------------------------------------------------------------

    def start(self) -> EgressReport:
        """Applies the rules (or says exactly why not) and starts the worker."""
        if self.report is not None:
            raise GuardError("Worker.start() was already called")
        self._ctx = contextvars.copy_context()
        if self.argv is not None and ("/" not in self.argv[0]
                                      or self._popen_kw["cwd"] is None):
            env = self._popen_kw["env"]
            path = env.get("PATH") if env is not None else os.environ.get("PATH")
            if shutil.which(self.argv[0], path=path) is None:
                raise FileNotFoundError(2, "worker program not found", self.argv[0])
        t0 = time.perf_counter()
        stale: dict[str, list[str]] = {"tables": [], "chains": [], "groups": []}
        try:
            stale = cleanup()
        except (OSError, BackendError) as exc:
            stale["error"] = [str(exc)]
        rules, pinned, unresolved = compile_rules(
            self.spec, self._resolve) if self._resolve else compile_rules(self.spec)
        order = list(BACKENDS) if self.spec["backend"] == "auto" else [self.spec["backend"]]
        tried: dict[str, dict[str, Any]] = {b: {"status": "not_tried", "reason": None}
                                            for b in BACKENDS}
        if self.spec["backend"] != "auto":
            for b in BACKENDS:
                if b != self.spec["backend"]:
                    tried[b]["reason"] = f'not selected (egress.backend = "{self.spec["backend"]}")'
        active = None
        self_test: dict[str, Any] = {}
        for name in order:
            try:
                self_test = self._try_backend(name, rules)
            except BackendError as exc:
                tried[name] = {"status": "failed", "reason": str(exc)}
                continue
            tried[name] = {"status": "active", "reason": None}
            active = name
            break
        if active is not None:
            for name in order[order.index(active) + 1:]:
                tried[name]["reason"] = f"not needed ({active} is active)"
        uid_gid = _who(self.user)
        warnings = []
        worker_uid = uid_gid[0] if uid_gid else os.geteuid()
        if active and worker_uid == 0:
            warnings.append("the worker runs as uid 0: it can move itself out of its "
                            "cgroup and change the rules; pass user=")
        if unresolved:
            warnings.append("names not resolved (not allowed): " + ", ".join(unresolved))
        data: dict[str, Any] = {
            "egress": active or "none",
            "backends": tried,
            "python_layer": "in force (the guard's net.connect still applies in-process)",
            "rules": describe_rules(rules),
            "pinned": pinned,
            "unresolved": unresolved,
            "cgroup": self._group.path if self._group else None,
            "cgroup_level": self._group.level if self._group else None,
            "table": getattr(self._backend, "table", None) if active else None,
            "scope": getattr(self._backend, "scope", None) if active else None,
            "self_test": self_test,
            "on_tamper": self.spec["on_tamper"],
            "worker": {"uid": worker_uid, "principal": self.principal,
                       "no_new_privs": self.no_new_privs},
            "stale_removed": stale,
            "warnings": warnings,
            "apply_seconds": round(time.perf_counter() - t0, 6),
        }
        if active is None:
            data["reason"] = "; ".join(f"{n}: {tried[n]['reason']}" for n in BACKENDS)
        self.report = EgressReport(data)
        self._emit("egress.apply", "allow" if active else "refused",
                   target=data["cgroup"], extra={"report": data})
        if active is None and "egress" in self.require:
            raise GuardError("egress required but no backend can enforce it: "
                             + data["reason"])
        try:
            self._spawn(uid_gid)
        except BaseException:
            self.close()              # no rules or group outlive a worker that never ran
            raise
        self.report._data["worker"]["pid"] = self.pid
        if active:
            self._start_threads()
        return self.report

    def _try_backend(self, name: str, rules: list[Rule]) -> dict[str, Any]:
        """Group, NFLOG, rules, canary; on any failure undoes all of it and raises."""
        backend = _backend(name)
        why = backend.available()
        if why:
            raise BackendError(why)
        mount = _cgroup.mount_point()
        if mount is None:
            raise BackendError("no cgroup2 mount in /proc/self/mounts")
        group = _cgroup.Group(mount, _cgroup.new_id())
        try:
            group.create()
        except OSError as exc:
            try:
                group.remove()
            except OSError:
                pass
            hint = (" (needs root, or write access to the cgroup2 tree)"
                    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else "")
            raise BackendError(f"cannot create {group.path}: {exc.strerror}{hint}") from None
        reader = None
        try:
            if getattr(backend, "uses_nflog", False):
                reader = self._bind_nflog()
            self._mark = secrets.randbits(31) | 1
            backend.apply(group, rules, reader.group if reader else 0, self._mark)
            t = time.perf_counter()
            moved = self._self_test(group, backend)
            result = {"canary": "passed", "canary_packets": moved,
                      "seconds": round(time.perf_counter() - t, 6)}
        except BaseException as exc:
            try:
                backend.remove()           # idempotent: also undoes a partial apply
            except (BackendError, OSError):
                pass
            if reader is not None:
                reader.close()
            group.kill(1.0)
            group.remove()
            if isinstance(exc, OSError):
                raise BackendError(f"{exc.strerror or exc}") from None
            raise
        self._group, self._backend, self._reader = group, backend, reader
        return result

    def _bind_nflog(self) -> _nflog.Reader:
        last: OSError | None = None
        for _ in range(8):
            group = 0x5D00 | secrets.randbits(8)
            try:
                return _nflog.Reader(group)
            except OSError as exc:
                last = exc
                if exc.errno != errno.EBUSY:
                    break
        assert last is not None
        hint = (" (needs CAP_NET_ADMIN in this network namespace)"
                if last.errno == errno.EPERM else "")
        raise BackendError(f"cannot bind an NFLOG group for denial events: "
                           f"{os.strerror(last.errno or 0)}{hint}")

    def _self_test(self, group: _cgroup.Group, backend: Any) -> int:
        """Runs the canary inside GROUP; the backend's own counter must have moved."""
        script = (backend.canary_script(self._mark) if hasattr(backend, "canary_script")
                  else _CANARY % (_SO_MARK, self._mark))
        proc = subprocess.Popen(_trampoline(group.procs, None, False)
                                + [sys.executable, "-S", "-I", "-c", script],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise BackendError("self-test failed: the canary inside the group hung") from None
        if proc.returncode != 0:
            raise BackendError("self-test failed: the canary inside the group was not "
                               f"refused (exit {proc.returncode}) {err.decode()[-200:]}")
        moved = int(backend.canary_packets(proc.pid))
        if moved < 1:
            raise BackendError(
                "self-test failed: the canary's refusal inside the group did not move the "
                "backend's canary counter (the cgroup match matches nothing); refusing to "
                "run the worker unconfined")
        return moved

    def _spawn(self, uid_gid: tuple[int, int] | None) -> None:
        nnp = self.no_new_privs
        if self.argv is not None:
            prefix = _trampoline(self._group.procs if self._group else None, uid_gid, nnp)
            self._proc = subprocess.Popen(prefix + self.argv, **self._popen_kw)
            self.pid = self._proc.pid
            return
        procs_fd = self._group.procs_fd if self._group else -1

        def setup() -> None:
            if procs_fd >= 0:
                os.write(procs_fd, b"0")
            _drop_in_process(uid_gid, nnp)

        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                if self._reader is not None:
                    self._reader.sock.close()
                setup()
                assert self.target is not None
                self.target(*self.args)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - the forked child must always _exit
                import traceback
                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        self.pid = pid

    # -- events ------------------------------------------------------------------

    def _emit(self, capability: str, decision: str, *, target: str | None = None,
              extra: Mapping[str, Any] | None = None) -> None:
        ctx = self._ctx or contextvars.copy_context()
        ctx.run(audit.emit, "egress", capability, decision, principal=self.principal,
                target=target, rule="egress", extra=extra)

    def _start_threads(self) -> None:
        for fn, name in ((self._read_denials, "sdk_guard-egress-log"),
                         (self._watch, "sdk_guard-egress-tamper")):
            t = threading.Thread(target=fn, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def _read_denials(self) -> None:
        reader = self._reader
        fd: Any = (reader.sock if reader is not None
                   else cast(EventBackend, self._backend).fileno())
        while not self._stop.is_set():
            r, _, _ = select.select([fd, self._wake[0]], [], [])
            if fd not in r:
                continue
            if not self._read_once():
                return

    def _read_once(self) -> bool:
        """Emits what is queued now; False when the source is gone."""
        try:
            if self._reader is not None:
                for p in self._reader.read():
                    if p.mark != self._mark:
                        self._emit_denial(p)
            else:
                with self._lock:
                    events = (cast(EventBackend, self._backend).read_events()
                              if self._backend else [])
                for ev in events:
                    self._emit_event(ev)
        except (OSError, ValueError):
            return False
        return True

    def _drain(self) -> None:
        """Emits the denials still queued once the reader thread stopped."""
        if self._reader is not None:
            while select.select([self._reader.sock], [], [], 0)[0]:
                if not self._read_once():
                    return
        elif self._backend is not None and hasattr(self._backend, "read_events"):
            self._read_once()

    def _emit_event(self, ev: Mapping[str, Any]) -> None:
        """One ring-buffer record of the bpf backend (it knows the pid and tid)."""
        with self._lock:
            self.denials += 1
        extra = {"backend": "bpf", "proto": ev["proto"], "source_pid": ev["pid"],
                 "source_tid": ev["tid"], "worker_pid": self.pid,
                 "cgroup": self._group.path if self._group else None}
        if ev["dst"] is None:
            extra["sock_type"] = ev.get("sock_type")
            self._emit("net.socket", "deny", target=f"socket:{ev['proto']}", extra=extra)
            return
        host = f"[{ev['dst']}]" if ":" in ev["dst"] else ev["dst"]
        extra.update(dst=ev["dst"], port=ev["port"])
        self._emit("net.connect", "deny", target=f"{host}:{ev['port']}", extra=extra)

    def _emit_denial(self, p: _nflog.Packet) -> None:
        host = f"[{p.dst}]" if p.family == socket.AF_INET6 else p.dst
        target = f"{host}:{p.port}" if p.port is not None else host
        with self._lock:
            self.denials += 1
        self._emit("net.connect", "deny", target=target, extra={
            "backend": self.report.backend if self.report else None, "dst": p.dst,
            "proto": p.proto, "port": p.port, "uid": p.uid, "gid": p.gid,
            "worker_pid": self.pid, "cgroup": self._group.path if self._group else None})

    def _watch(self) -> None:
        """Tamper/drift check: on every nftables change event, and every
        ``tamper_interval`` seconds."""
        events = None
        try:
            events = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _nflog.NETLINK_NETFILTER)
            events.bind((0, 1 << (_NFNLGRP_NFTABLES - 1)))
        except OSError:
            events = None
        try:
            while not self._stop.is_set():
                fds: list[Any] = [self._wake[0]] + ([events] if events is not None else [])
                r, _, _ = select.select(fds, [], [], self.tamper_interval)
                if self._stop.is_set():
                    return
                if events is not None and events in r:
                    try:
                        events.recv(1 << 16)
                    except OSError:
                        pass
                    time.sleep(0.02)           # let a batch of changes finish
                self.check_tamper()
        finally:
            if events is not None:
                events.close()

    def check_tamper(self) -> str | None:
        """Checks the rules now; on drift re-applies or kills by ``on_tamper``.
        Returns what changed, or None."""
        with self._lock:
            if self._backend is None or self._closed:
                return None
            try:
                what: str | None = self._backend.intact()
            except BackendError as exc:
                what = str(exc)
            if what is None:
                return None
            action = self.spec["on_tamper"]
            outcome = action
            if action == "reapply":
                try:
                    self._backend.reapply()
                    self._self_test(self._group, self._backend)  # type: ignore[arg-type]
                    outcome = "reapplied"
                except (BackendError, OSError, subprocess.SubprocessError) as exc:
                    outcome = f"killed (re-apply failed: {exc})"
                    self._group.kill()  # type: ignore[union-attr]
            else:
                self._group.kill()  # type: ignore[union-attr]
                outcome = "killed"
            event = {"what": what, "action": outcome}
            self.tamper_events.append(event)
        self._emit("egress.tamper", "deny", target=getattr(self._backend, "table", None),
                   extra=event)
        return what

    # -- status and end ----------------------------------------------------------

    def counters(self) -> dict[str, Any]:
        """Kernel counters: denied packets and the dynamic set of denied destinations."""
        if self._backend is None:
            return {"denied_packets": 0, "denied": []}
        return dict(self._backend.counters())

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        if self._proc is not None:
            self.returncode = self._proc.poll()
        elif self.pid is not None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Waits for the worker, then ends the group (see :meth:`close`)."""
        if self._proc is not None:
            self.returncode = self._proc.wait(timeout)
        elif self.pid is not None and self.returncode is None:
            deadline = None if timeout is None else time.monotonic() + timeout
            while self.poll() is None:
                if deadline is not None and time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(str(self.target), timeout or 0)
                time.sleep(0.005)
        self.close()
        assert self.returncode is not None
        return self.returncode

    def close(self) -> dict[str, Any]:
        """Kills everything left in the group (cgroup.kill), waits for ``populated 0``,
        removes the rules, then the group.  Returns the final counters."""
        with self._lock:
            if self._closed:
                return {}
            self._closed = True
        final: dict[str, Any] = {}
        if self._backend is not None:
            time.sleep(0.01)            # the last NFLOG messages of a finished worker
            try:
                final = self.counters()
            except BackendError as exc:
                final = {"error": str(exc)}
        self._stop.set()
        os.write(self._wake[1], b"x")
        for t in self._threads:
            t.join(2.0)
        self._drain()
        if self._group is not None:
            emptied = self._group.kill()
            if self._proc is not None:
                self.returncode = self._proc.wait()
            elif self.pid is not None and self.returncode is None:
                self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
            if self._reader is not None:
                self._reader.close()
            if emptied:
                if self._backend is not None:
                    self._backend.remove()
                self._group.remove()
            else:
                # Something survived cgroup.kill: the rules stay, so it stays confined;
                # egress.cleanup() removes both once the group is empty.
                final["error"] = (f"{self._group.path} still populated after cgroup.kill; "
                                  "rules left in place")
        for fd in self._wake:
            os.close(fd)
        if self.report is not None:
            self.report._data["final"] = final
        return final

    def __enter__(self) -> Self:
        if self.report is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.poll() is None and self._group is not None:
            self._group.kill()
        self.close()
        if self._proc is not None:
            self._proc.wait()
