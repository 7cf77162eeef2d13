"""Landlock layer of ``lockdown()``: the rights tables, the ruleset plan, its report.

The plan probes the ABI, downgrades the handled rights to what this kernel offers
(recording each dropped right and its effect), settles the threads question, adds
the interpreter's runtime grants, the private temporary directory and the policy's
rules, and builds the ruleset fd; applying it is ``landlock_restrict_self``.  What is
granted automatically, and why: ``sdk_guard._lockdown_runtime`` and docs/lockdown.md.
"""
from __future__ import annotations

import fcntl
import importlib
import importlib.machinery
import os
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import _guard
from . import _lockdown_runtime as rt
from ._lockdown_spec import _default_expand, parse_spec
from .errors import GuardError, PolicyError

__all__ = ["FS_READ", "FS_WRITE", "PRELOAD", "LandlockPlan", "describe_landlock", "describe_ruleset",
           "errata_names", "explain", "prepare"]


_C: dict[str, int] = _guard.landlock_constants()

# Right and scope names used in reports, with the bit and the ABI that introduced each
# (defined in C, next to the bits the ruleset is built from).
_FS_RIGHTS: tuple[tuple[str, int, int], ...] = _guard.LANDLOCK_FS_RIGHTS
_NET_RIGHTS: tuple[tuple[str, int, int], ...] = _guard.LANDLOCK_NET_RIGHTS
_SCOPES: dict[str, int] = {name: bit for name, bit, _abi in _guard.LANDLOCK_SCOPES}
_TSYNC = _C["RESTRICT_TSYNC"]

_FS_ALL = 0
for _name, _bit, _abi in _FS_RIGHTS:
    _FS_ALL |= _bit
_NET_ALL = _C["NET_BIND_TCP"] | _C["NET_CONNECT_TCP"]

FS_READ = _C["FS_READ_FILE"] | _C["FS_READ_DIR"]
# Writing implies reading.  Device nodes and device ioctls are never granted:
# creating them needs CAP_MKNOD anyway, and an extension has no business with them.
FS_WRITE = (FS_READ | _C["FS_WRITE_FILE"] | _C["FS_REMOVE_DIR"] | _C["FS_REMOVE_FILE"]
            | _C["FS_MAKE_DIR"] | _C["FS_MAKE_REG"] | _C["FS_MAKE_SOCK"]
            | _C["FS_MAKE_FIFO"] | _C["FS_MAKE_SYM"] | _C["FS_REFER"] | _C["FS_TRUNCATE"])
_DEV_RW = _C["FS_READ_FILE"] | _C["FS_WRITE_FILE"] | _C["FS_TRUNCATE"]

# Stdlib modules commonly imported lazily (inside functions, on first use).  They are
# imported before lockdown so they keep working whatever the policy makes readable.
PRELOAD = (
    "encodings.utf_8", "encodings.latin_1", "encodings.ascii", "encodings.utf_16",
    "encodings.utf_32", "encodings.unicode_escape", "encodings.raw_unicode_escape",
    "encodings.idna", "encodings.punycode", "json", "json.decoder", "json.encoder", "re",
    "decimal", "datetime", "_strptime", "locale", "traceback", "linecache", "tokenize",
    "string", "textwrap", "fnmatch", "zoneinfo", "unicodedata", "stringprep",
)

# Landlock errata (the kernel's landlock_get_errata bits, 1-based), by name.
_ERRATA_NAMES = {1: "tcp_socket_identification", 2: "scoped_signal_same_process"}


def errata_names(errata: int | None) -> list[str]:
    """The fixed errata in the kernel's bit mask, by name (erratum_N if unnamed here)."""
    if errata is None:
        return []
    return [_ERRATA_NAMES.get(n, f"erratum_{n}") for n in range(1, 32) if errata & (1 << (n - 1))]


def _names(mask: int, table: Iterable[tuple[str, int, int]]) -> list[str]:
    return [name for name, bit, _ in table if mask & bit]


def _scope_names(mask: int) -> list[str]:
    return [name for name, bit in _SCOPES.items() if mask & bit]


# ---- planning ----------------------------------------------------------------------

class _Context:
    """What lockdown() knows beyond the [lockdown] table: the Policy's extension paths
    and whether the policy lets anything use the network by name."""

    def __init__(self, policy: Any = None) -> None:
        self.extension_paths: list[tuple[str, str]] = []
        self.names = False
        if policy is None or not hasattr(policy, "to_spec"):
            return
        try:
            full = policy.to_spec()
        except (GuardError, PolicyError, ValueError, KeyError, TypeError):
            return  # a policy that cannot build its spec adds nothing here
        for ext in full.get("extensions", ()):
            if ext.get("path"):
                self.extension_paths.append((str(ext["path"]), str(ext["name"])))
            if ext.get("net_connect") or ext.get("net_resolve"):
                self.names = True
        data = getattr(policy, "data", None)
        if isinstance(data, dict) and data.get("egress"):
            self.names = True


def _prefixes() -> tuple[str, ...]:
    return tuple(os.path.abspath(p).rstrip("/") + "/" for p in
                 {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix} if p)


_SITE_NAMES = ("site-packages", "dist-packages")


def _runtime_entry(path: str, prefixes: tuple[str, ...], stdlib: str) -> bool:
    """A sys.path entry of the Python installation (stdlib, lib-dynload, a site
    directory), as opposed to the application's own (script dir, cwd, PYTHONPATH)."""
    if path == stdlib or (path + "/").startswith(prefixes):
        return True
    return any(part in _SITE_NAMES for part in path.split("/"))


_CODE_SUFFIXES = tuple(importlib.machinery.SOURCE_SUFFIXES
                       + importlib.machinery.BYTECODE_SUFFIXES
                       + importlib.machinery.EXTENSION_SUFFIXES)


def _app_code(entry: str, why: str) -> tuple[list[tuple[str, int, str]], list[str]]:
    """Grants for what import needs from an application directory: listing it, its
    code files, its packages and its __pycache__; and the names left ungranted."""
    if os.path.isfile(entry):
        return [(entry, FS_READ, f"{why} (zip archive on sys.path)")], []
    grants: list[tuple[str, int, str]] = [
        (entry, _C["FS_READ_DIR"], f"{why}: listing only, for the import system")]
    left: list[str] = []
    try:
        it = os.scandir(entry)
    except OSError:
        return [], []
    with it:
        for de in it:
            name = de.name
            try:
                is_dir = de.is_dir()
            except OSError:
                continue
            if is_dir:
                if name == "__pycache__":
                    grants.append((de.path, FS_READ, f"{why}: compiled bytecode"))
                elif name.isidentifier() and os.path.exists(de.path + "/__init__.py"):
                    grants.append((de.path, FS_READ, f"{why}: package {name}"))
                else:
                    left.append(name + "/")
            elif name.endswith(_CODE_SUFFIXES):
                grants.append((de.path, _C["FS_READ_FILE"], f"{why}: module file"))
            else:
                left.append(name)
    return grants, left


def _runtime_paths(spec: dict[str, Any], ctx: _Context | None = None
                   ) -> tuple[list[tuple[str, int, str]], list[dict[str, Any]]]:
    """(path, rights, why) the interpreter needs after lockdown, and warnings.

    ``spec["runtime"]`` chooses how much: ``none`` adds nothing; ``minimal`` the
    interpreter (prefixes, stdlib and site directories, loaded extension modules, the
    shared-library directories extension modules link, locale/zoneinfo/CA data,
    /dev/null, /dev/urandom); ``auto`` (default) adds DNS configuration when the policy
    allows network, the process's own /proc entry, /sys/devices/system/cpu, and what
    import needs from application directories on sys.path.
    """
    ctx = ctx or _Context()
    mode = spec["runtime"]
    warnings: list[dict[str, Any]] = []
    if mode == "none":
        return [], warnings
    out: list[tuple[str, int, str]] = []
    seen: set[str] = set()
    prefixes = _prefixes()

    def add(path: str | None, why: str, rights: int = FS_READ) -> None:
        if not path:
            return
        # Paths under the interpreter's prefixes are covered by the prefix rules below;
        # a string test saves an abspath() each (lockdown() is timed in microseconds).
        if rights == FS_READ and path.startswith(prefixes) and "/." not in path:
            return
        path = os.path.abspath(path)
        if path not in seen:
            seen.add(path)
            out.append((path, rights, why))

    for attr in ("prefix", "base_prefix", "exec_prefix", "base_exec_prefix"):
        value = getattr(sys, attr, None)
        if value and os.path.abspath(value) not in seen:
            seen.add(os.path.abspath(value))
            out.append((os.path.abspath(value), FS_READ, f"interpreter sys.{attr}"))
    stdlib = os.path.dirname(os.__file__)
    add(stdlib, "standard library")
    app: list[tuple[str, str]] = []
    site_dirs: list[str] = []
    for i, entry in enumerate(sys.path):
        if not isinstance(entry, str):
            continue
        path = os.path.abspath(entry or os.curdir)
        if _runtime_entry(path, prefixes, stdlib):
            add(path, "sys.path entry (Python installation)")
            site_dirs.append(path)
        else:
            what = "current directory" if not entry else f"sys.path[{i}]"
            app.append((path, f"{what} {path}"))
    for path, name in ctx.extension_paths:
        app.append((os.path.abspath(path), f"extensions.{name}.path"))
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for name, mod in list(sys.modules.items()):
        # Through __dict__: getattr() on the many modules without __file__ raises and
        # catches an AttributeError each, which alone costs ~0.2 ms.
        ns = getattr(mod, "__dict__", None)
        f = ns.get("__file__") if type(ns) is dict else None
        if isinstance(f, str) and f.endswith(suffixes):
            add(f, f"loaded extension module {name}")

    # Extension modules of the installation: lib-dynload and the site directories (the
    # stdlib directory itself holds none, and walking it would walk site-packages twice).
    scan = [d for d in dict.fromkeys(site_dirs) if d != stdlib and os.path.isdir(d)]
    libs = rt.library_dirs(scan, suffixes)
    for d, why in libs["dirs"]:
        add(d, why)
    add("/etc/ld.so.cache", "dynamic linker cache (finds shared libraries by name)")
    for lib, needed_by in libs["outside"]:
        warnings.append({"fd": None, "target": lib, "access": "read",
                         "why": f"{needed_by} links {lib}, which is not in a library "
                                "directory and is not granted; add its directory to "
                                "[lockdown] fs.read if that module is used"})
    for p, why in (("/usr/share/zoneinfo", "time zone data"), ("/etc/localtime", "local time zone"),
                   ("/usr/share/locale", "locale messages"), ("/usr/lib/locale", "locale data"),
                   ("/etc/ssl/certs", "TLS CA certificates"),
                   ("/usr/lib/ssl", "OpenSSL configuration")):
        add(p, why)
    for env in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        add(os.environ.get(env), f"TLS CA certificates (${env})")
    ssl = sys.modules.get("ssl")
    if ssl is not None:
        vp = ssl.get_default_verify_paths()
        add(vp.cafile, "TLS CA certificates (ssl default verify paths)")
        add(vp.capath, "TLS CA certificates (ssl default verify paths)")
    add("/dev/null", "null device", _DEV_RW)
    add("/dev/urandom", "random bytes")

    if mode == "auto":
        if spec["net.connect_tcp"] or spec["net.bind_tcp"] or ctx.names:
            for f in rt.DNS_FILES:
                add(f, "name resolution (the policy allows network)")
            for d, why in libs["nss"]:
                add(d, why)
        # /proc/self is a magic link to /proc/<pid>: the rule must name the pid.  Its
        # threads live beneath it (task/<tid>); another pid, including a forked
        # child's own, is not beneath it.
        add(f"/proc/{os.getpid()}", "this process's own /proc entry (read-only)")
        add("/sys/devices/system/cpu", "CPU count and topology")
        for path, why in app:
            if path in seen:
                continue
            if path == "/":
                # Listing / would be listing everything beneath it (rules apply beneath).
                warnings.append({"fd": None, "target": path, "access": "read",
                                 "why": f"{why} is the filesystem root: nothing is granted "
                                        "there; run from the application's directory"})
                continue
            grants, left = _app_code(path, why)
            for p, r, w in grants:
                if p not in seen:
                    seen.add(p)
                    out.append((p, r, w))
            if left:
                warnings.append({
                    "fd": None, "target": path, "access": "read",
                    "why": f"{why}: only its code files and packages are readable; not "
                           f"granted: {', '.join(sorted(left)[:8])}"
                           + (f" and {len(left) - 8} more" if len(left) > 8 else "")
                           + "; add what the program reads to [lockdown] fs.read"})
    else:
        for path, why in app:
            warnings.append({
                "fd": None, "target": path, "access": "read",
                "why": f"{why} is not granted (lockdown.runtime = {mode!r}): modules there "
                       f"cannot be imported after lockdown; add \"{path}\" (or its code "
                       "files) to [lockdown] fs.read, or set [lockdown] runtime = \"auto\""})
    # A path beneath one already granted the same rights adds nothing (only a
    # directory can have paths beneath it, so no stat() is needed to decide).
    kept: list[tuple[str, int, str]] = []
    rights_at: dict[str, int] = {}
    for p, r, why in sorted(out, key=lambda e: len(e[0])):
        # Walk P's parents (a handful of dict lookups) rather than testing every kept
        # entry as a prefix (quadratic in the per-file rules of application dirs).
        covered = rights_at.get(p, 0)
        parent = p
        while parent not in ("/", ""):
            parent = parent.rpartition("/")[0] or "/"
            covered |= rights_at.get(parent, 0)
        if r & ~covered:
            kept.append((p, r, why))
            rights_at[p] = rights_at.get(p, 0) | r
    return kept, warnings


def _preload() -> list[str]:
    # lockdown()'s own helper first: the notes module must be loaded before Landlock
    # applies (runtime = "none" may leave its file unreadable).
    _notes()
    done = []
    for name in PRELOAD:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        done.append(name)
    return done


# How long the last lockdown() would wait for unknown threads to leave (tests read it).
_last_grace_ms = 250


def _python_tids() -> set[int]:
    return {t.native_id for t in threading.enumerate() if t.native_id is not None}


def _comm(tid: int) -> str:
    try:
        with open(f"/proc/self/task/{tid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def _settled_os_threads(grace: float = 0.25) -> tuple[list[int], list[tuple[str, str, str]]]:
    """/proc/self/task after giving threads that Python has already joined a moment to
    leave (join() returns before the kernel has let the OS thread go, and a lockdown
    right after joining the last worker must not see it), and the thread-pool
    libraries mapped when threads remain that Python did not start.

    A thread no live Python thread accounts for is waited for up to GRACE seconds,
    unless it clearly is not Python's: its name differs from the process's (Python
    threads keep the process's name), or a native thread-pool library (OpenBLAS, MKL,
    OpenMP) is loaded; then only 10 ms are given."""
    global _last_grace_ms
    _last_grace_ms = int(grace * 1000)
    tids: list[int] = _guard.os_threads()
    if len(tids) <= 1:
        return tids, []
    pools: list[tuple[str, str, str]] | None = None
    deadline = time.monotonic() + grace
    while len(tids) > 1:
        alive = _python_tids()
        foreign = [t for t in tids if t not in alive]
        if not foreign:
            break
        if pools is None:
            main = _comm(os.getpid())
            pools = rt.thread_pool_libraries()
            if pools or any(_comm(t) != main for t in foreign):
                deadline = min(deadline, time.monotonic() + 0.010)
                _last_grace_ms = 10
        if time.monotonic() >= deadline:
            break
        time.sleep(0.001)
        tids = _guard.os_threads()
    return tids, (pools or [])


def _thread_names() -> dict[int, str]:
    names = {}
    for t in threading.enumerate():
        if t.native_id is not None:
            names[t.native_id] = t.name
    return names


def _describe_threads(tids: list[int]) -> str:
    py = _thread_names()
    parts = []
    for tid in tids:
        parts.append(f"tid {tid} {_comm(tid)!r}" + (f" [{py[tid]}]" if tid in py
                                                     else " [not a Python thread]"))
    return ", ".join(parts)


def _covered(path: str, rules: list[dict[str, Any]], want: str) -> bool:
    for r in rules:
        if r["type"] != "path" or want not in r["access"]:
            continue
        base = r.get("resolved", r["path"])
        if path == base or path.startswith(base.rstrip("/") + "/"):
            return True
    return False


def _fd_warnings(rules: list[dict[str, Any]], skip: set[int]) -> list[dict[str, Any]]:
    """Pre-opened descriptors keep their access after Landlock: list the risky ones."""
    out = []
    try:
        fds = sorted(int(n) for n in os.listdir("/proc/self/fd"))
    except OSError:
        return [{"fd": None, "why": "cannot list /proc/self/fd: open descriptors unchecked"}]
    for fd in fds:
        if fd in skip:
            continue
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            st = os.fstat(fd)
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:
            continue
        if not target.startswith("/"):
            continue
        if stat.S_ISDIR(st.st_mode) and not _covered(target, rules, "fs.read_dir"):
            out.append({"fd": fd, "target": target, "access": "directory",
                        "why": ("an open directory outside the policy stays listable through "
                                "its descriptor (files opened under it are still checked)")})
        elif flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR) and not stat.S_ISDIR(st.st_mode) \
                and not _covered(target, rules, "fs.write_file"):
            out.append({"fd": fd, "target": target, "access": "write",
                        "why": "a descriptor opened for writing before lockdown stays writable"})
    return out


class _PrivateTmp:
    """A 0700 directory for this process's temporary files (systemd's PrivateTmp=).

    Landlock lets the process empty it but not remove it (that needs remove_dir on its
    parent), so a small reaper started before lockdown removes it once every copy of
    this process's end of a pipe is closed: at exit, on any signal, even SIGKILL.  An
    atexit handler empties it first, so an orderly exit leaves nothing behind at once.
    """

    def __init__(self) -> None:
        # tempfile.mkdtemp() would first probe every candidate directory by writing a
        # file in it (gettempdir()); one mkdir(2) in the first configured one is enough.
        base = tempfile.tempdir or next(
            (os.environ[k] for k in ("TMPDIR", "TEMP", "TMP") if os.environ.get(k)), "/tmp")
        self.path = os.path.join(os.path.abspath(base), "sdk_guard-" + os.urandom(6).hex())
        os.mkdir(self.path, 0o700)  # fails rather than reuse anything that exists
        self.reaper: int | None = None

    def discard(self) -> None:
        try:
            os.rmdir(self.path)
        except OSError:
            pass

    def activate(self) -> dict[str, Any]:
        info: dict[str, Any] = {"mode": "private", "path": self.path}
        try:
            self.reaper = self._spawn_reaper()
            info["cleanup"] = f"at exit, and by reaper pid {self.reaper} on any exit or signal"
        except OSError as e:
            info["cleanup"] = ("at exit only (the directory itself stays if the process "
                               f"is killed): the reaper could not start: {e}")
        os.environ["TMPDIR"] = self.path
        tempfile.tempdir = self.path
        import atexit

        # A method of this module, not shutil.rmtree itself: at exit no host frame is on
        # the stack, and an installed guard charges a bare library callback to nobody.
        atexit.register(self.empty)
        return info

    def empty(self) -> None:
        import shutil

        shutil.rmtree(self.path, True)

    def _spawn_reaper(self) -> int:
        sh = "/bin/sh"
        r, w = os.pipe()  # both O_CLOEXEC: only this process holds the write end
        try:
            # Reads until EOF (this process and any fork of it gone), then removes the
            # directory; terminal signals are ignored so ^C cannot skip the cleanup.
            script = 'trap "" INT TERM HUP QUIT; while read -r _; do :; done; exec rm -rf -- "$1"'
            actions = [(os.POSIX_SPAWN_DUP2, r, 0),
                       (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                       (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)]
            pid = os.posix_spawn(sh, [sh, "-c", script, "sdk_guard-tmp-reaper", self.path],
                                 {"PATH": "/usr/bin:/bin"}, file_actions=actions, setsid=True)
        except BaseException:
            os.close(w)
            raise
        finally:
            os.close(r)
        _reaper_pipes.append(w)
        return pid


# Write ends of the reapers' pipes: kept open for the life of the process.
_reaper_pipes: list[int] = []


class LandlockPlan:
    """A built, not yet enforced ruleset and the report that describes it; made by
    :func:`prepare`, enforced once by :meth:`apply`.

    ``status`` is what enforcing it would give: ``full``, ``partial`` (a right this
    ABI cannot handle, or only the calling thread confined) or ``none`` (no ruleset:
    ``report["reason"]`` says why).  ``refusal`` is set when lockdown() must refuse
    (threads it cannot confine).  ``report`` is the JSON-serialisable dict that becomes
    ``LockdownReport.landlock``.
    """

    def __init__(self, spec: dict[str, Any], ctx: _Context | None = None) -> None:
        self._ruleset: _guard.Ruleset | None = None
        self._flags = 0
        self._applied = False
        self.status = "none"
        self.refusal: str | None = None
        self.handled: tuple[int, int, int] = (0, 0, 0)
        self.tmp: _PrivateTmp | None = None
        info = _guard.landlock_probe()
        self.abi = int(info["abi"])
        errata = info["errata"]
        self.report: dict[str, Any] = {
            "status": "none", "abi": self.abi, "abi_newest_known": _C["ABI_NEWEST"],
            "errata": errata, "errata_fixed": errata_names(errata),
            "reason": info["reason"], "rights": [], "dropped": [], "rules": [], "skipped": [],
            "scopes": [], "restrict_flags": [], "threads": {}, "preloaded": [], "warnings": [],
            "runtime": spec["runtime"], "tmp": {"mode": spec["tmp"]},
        }
        if self.abi < 1:
            return

        scoped = 0
        for s in spec["scope"]:
            scoped |= _SCOPES[s]
        compat = _guard.landlock_compat(self.abi, _FS_ALL, _NET_ALL, scoped, _TSYNC)
        h_fs, h_net, h_scoped, h_flags = compat["handled"]
        d_fs, d_net, d_scoped, _ = compat["dropped"]
        self.handled = (h_fs, h_net, h_scoped)
        self._rights(h_fs, d_fs, h_net, d_net, h_scoped, d_scoped,
                     compat["refer_always_denied"])
        self.report["scopes"] = _scope_names(h_scoped)
        self._threads(spec, bool(h_flags & _TSYNC))
        self._flags = h_flags & _TSYNC if self.report["threads"].get("mode") == "tsync" else 0
        self.report["restrict_flags"] = ["tsync"] if self._flags else []

        self.report["preloaded"] = _preload()
        wanted: list[tuple[str, int, str]] = []
        runtime, runtime_warnings = _runtime_paths(spec, ctx)
        for p, rights, why in runtime:
            wanted.append((p, rights, f"runtime: {why}"))
        if spec["tmp"] == "private":
            try:
                self.tmp = _PrivateTmp()
                wanted.append((self.tmp.path, FS_WRITE,
                               "lockdown.tmp: private temporary directory (TMPDIR)"))
                self.report["tmp"]["path"] = self.tmp.path
            except OSError as e:
                self.report["tmp"].update(mode="none", why=f"cannot create it: {e}")
        for key, rights in (("fs.read", FS_READ), ("fs.write", FS_WRITE)):
            for i, p in enumerate(spec[key]):
                wanted.append((os.path.abspath(p), rights, f"lockdown.{key}[{i}]"))
        ports: list[tuple[int, int, str]] = []
        if h_net:
            for key, bit in (("net.connect_tcp", _C["NET_CONNECT_TCP"]),
                             ("net.bind_tcp", _C["NET_BIND_TCP"])):
                for i, port in enumerate(spec[key]):
                    ports.append((port, bit, f"lockdown.{key}[{i}]"))
        elif spec["net.connect_tcp"] or spec["net.bind_tcp"]:
            self.report["skipped"].append({"rule": "net", "why": "TCP rules need Landlock ABI >= 4; "
                                           "TCP is not restricted on this kernel"})

        try:
            ruleset = _guard.Ruleset(
                self.abi, self.handled, [(p, r) for p, r, _ in wanted],
                [(port, bit) for port, bit, _ in ports])
        except OSError as e:
            self.report["reason"] = f"cannot create the ruleset: {e.strerror}"
            return
        self._ruleset = ruleset
        path_res, port_res = ruleset.path_results, ruleset.port_results
        for (path, _rights, source), (err, is_dir, granted, real) in zip(wanted, path_res, strict=True):
            if err:
                self.report["skipped"].append({
                    "path": path, "source": source, "errno": err,
                    "why": _guard.landlock_explain("add_rule", err)})
            elif granted:
                rule = {"type": "path", "path": path, "kind": "dir" if is_dir else "file",
                        "access": _names(granted, _FS_RIGHTS), "source": source}
                # A symlink in the path moved the grant: say where it really applies.
                real = real or os.path.realpath(path)
                if real != path:
                    rule["resolved"] = real
                self.report["rules"].append(rule)
        for (port, bit, source), err in zip(ports, port_res, strict=True):
            if err:
                self.report["skipped"].append({"port": port, "source": source, "errno": err,
                                               "why": _guard.landlock_explain("add_rule", err)})
            else:
                self.report["rules"].append({"type": "port", "port": port,
                                             "access": _names(bit, _NET_RIGHTS),
                                             "source": source})
        self.report["warnings"] = _fd_warnings(self.report["rules"], {ruleset.fd}) + runtime_warnings
        self.report["status"] = "planned"
        weak = [d for d in self.report["dropped"] if d.get("effect") == "not_enforced"]
        if weak or self.report["threads"].get("mode") == "thread_local":
            self.status = "partial"
        else:
            self.status = "full"

    def _rights(self, h_fs: int, d_fs: int, h_net: int, d_net: int, h_scoped: int,
                d_scoped: int, refer_always_denied: bool) -> None:
        rights, dropped = [], []
        for table, handled, lost in ((_FS_RIGHTS, h_fs, d_fs), (_NET_RIGHTS, h_net, d_net)):
            for name, bit, since in table:
                entry: dict[str, Any] = {"right": name, "since_abi": since,
                                         "handled": bool(handled & bit)}
                if lost & bit:
                    if name == "fs.refer" and refer_always_denied:
                        entry["effect"] = "stricter"
                        entry["why"] = ("ABI 1 cannot grant it: renaming or linking across "
                                        "directories is always denied (EXDEV)")
                    else:
                        entry["effect"] = "not_enforced"
                        entry["why"] = f"needs Landlock ABI >= {since}; this kernel has {self.abi}"
                    dropped.append(entry)
                rights.append(entry)
        for name, bit, since in _guard.LANDLOCK_SCOPES:
            if d_scoped & bit:
                e = {"right": f"scope.{name}", "since_abi": since, "handled": False,
                     "effect": "not_enforced",
                     "why": f"needs Landlock ABI >= {since}; this kernel has {self.abi}"}
                rights.append(e)
                dropped.append(e)
            elif h_scoped & bit:
                rights.append({"right": f"scope.{name}", "since_abi": since, "handled": True})
        self.report["rights"] = rights
        self.report["dropped"] = dropped

    def _threads(self, spec: dict[str, Any], tsync: bool) -> None:
        tids, pools = _settled_os_threads()
        me = threading.get_native_id()
        info: dict[str, Any] = {"count": len(tids), "policy": spec["threads"]}
        foreign = [t for t in tids if t not in _python_tids()]
        if foreign:
            info["not_python"] = foreign
        if pools:
            info["thread_pools"] = [{"library": n, "path": p, "fix": f} for n, p, f in pools]
        if len(tids) <= 1:
            info["mode"] = "single"
        elif tsync:
            info["mode"] = "tsync"
        elif spec["threads"] == "thread_local":
            info["mode"] = "thread_local"
            info["unconfined"] = [t for t in tids if t != me]
            info["why"] = (f"Landlock ABI {self.abi} < 8 has no TSYNC: only the calling "
                           f"thread (tid {me}) and threads it starts later are confined")
        elif foreign and pools:
            info["mode"] = "refused"
            libs = "; ".join(f"{n} ({p})" for n, p, _ in pools)
            fixes = " or ".join(dict.fromkeys(f for _, _, f in pools))
            self.refusal = (
                f"{len(foreign)} native thread(s) that Python did not start are running "
                f"({_describe_threads(foreign)}): the thread pool of {libs}, started when "
                f"it was loaded. Landlock ABI {self.abi} < 8 cannot confine threads that "
                f"already exist. Fix: set {fixes} in the environment before the process "
                "starts, or call lockdown() before importing numpy (or the library that "
                "loads it): shared libraries stay loadable after lockdown")
        else:
            info["mode"] = "refused"
            self.refusal = (
                f"{len(tids)} OS threads are running ({_describe_threads(tids)}); Landlock "
                f"ABI {self.abi} < 8 cannot confine threads that already exist. Stop them "
                "before lockdown(), or set [lockdown] threads = \"thread_local\" to confine "
                "only the calling thread")
        self.report["threads"] = info

    def close(self) -> None:
        """Closes the ruleset fd (apply() does it too); nothing is enforced after."""
        if self._ruleset is not None:
            self._ruleset.close()
            self._ruleset = None

    def discard_tmp(self) -> None:
        """Nothing was applied: the private directory goes again."""
        if self.tmp is not None:
            self.tmp.discard()
            self.tmp = None
            self.report["tmp"] = {"mode": "none", "why": "lockdown was refused"}

    def apply(self) -> None:
        """Enforces the ruleset (landlock_restrict_self) and closes it.  Raises
        GuardError when nothing was enforced: no ruleset, already applied or closed,
        or the kernel refused (then ``status`` and ``report`` say ``none`` and why)."""
        _guard.require_host_caller()
        if self._applied or self._ruleset is None:
            raise GuardError("Landlock cannot be applied: " + (
                "this plan was already applied" if self._applied else
                str(self.report.get("reason") or "the ruleset was closed")))
        self._applied = True
        try:
            self._ruleset.restrict(self._flags)
        except OSError as e:
            self.status = "none"
            self.report["status"] = "none"
            self.report["reason"] = f"landlock_restrict_self failed: {e.strerror}"
            raise GuardError(f"Landlock was not enforced: {self.report['reason']}") from e
        finally:
            self.close()
        self.report["status"] = self.status

    def __repr__(self) -> str:
        return (f"<LandlockPlan abi={self.abi} status={self.status} "
                f"rules={len(self.report['rules'])}>")


def prepare(spec: dict[str, Any], policy: Any = None) -> LandlockPlan:
    """Plans the ruleset for SPEC, a ``[lockdown]`` table as ``parse_spec()`` returns
    it, in this process: probes the ABI, settles threads, computes the runtime grants,
    creates the private temporary directory and builds the ruleset fd.  Enforces
    nothing.  POLICY (a ``Policy``) adds its extensions' paths, and DNS files when it
    lets anything use the network by name."""
    return LandlockPlan(spec, _Context(policy))


def _notes() -> Any:
    """sdk_guard/_lockdown_notes.py, loaded as library code (see its docstring)."""
    name = "_sdk_guard_lockdown_notes"
    mod = sys.modules.get(name)
    if mod is None:
        import importlib.util

        path = os.path.join(os.path.dirname(__file__), "_lockdown_notes.py")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return mod


def explain(exc: BaseException) -> BaseException:
    """Adds a note (PEP 678) to an OSError that Landlock caused after lockdown(),
    naming the path that was not granted and the [lockdown] key that grants it.
    Import failures get this note automatically; returns EXC."""
    return _notes().explain(exc)  # type: ignore[no-any-return]



# ---- explain / probe ---------------------------------------------------------------

def describe_landlock(spec: Mapping[str, Any] | None,
                      expand: Callable[[str, str], str] = _default_expand) -> list[str]:
    """The rules lockdown(spec) would add, one human-readable line each (no syscalls)."""
    s = parse_spec(spec, expand)
    lines = []
    for key, verb in (("fs.read", "read"), ("fs.write", "read+write")):
        for i, p in enumerate(s[key]):
            lines.append(f"{verb:<10} {os.path.abspath(p)}  (lockdown.{key}[{i}])")
    for key, verb in (("net.connect_tcp", "connect"), ("net.bind_tcp", "bind")):
        for i, port in enumerate(s[key]):
            lines.append(f"{verb:<10} tcp port {port}  (lockdown.{key}[{i}], Landlock ABI >= 4)")
    if not s["net.connect_tcp"]:
        lines.append("connect    no TCP port (Landlock ABI >= 4)")
    if not s["net.bind_tcp"]:
        lines.append("bind       no TCP port (Landlock ABI >= 4)")
    for name in s["scope"]:
        lines.append(f"scope      {name}: no IPC outside the domain (Landlock ABI >= 6)")
    lines.append(f"runtime    {s['runtime']}: " + {
        "auto": "the interpreter's own paths, shared-library directories, DNS files when "
                "network is allowed, /proc/<own pid>, /sys/devices/system/cpu, code files "
                "of application directories on sys.path (explain --lockdown lists them)",
        "minimal": "the interpreter's own paths and shared-library directories only",
        "none": "nothing beyond the policy's own rules"}[s["runtime"]])
    lines.append(f"tmp        {s['tmp']}" + (": a 0700 directory, read+write, TMPDIR, removed "
                                             "at exit" if s["tmp"] == "private" else ""))
    lines.append(f"threads    {s['threads']} (without TSYNC, Landlock ABI >= 8)")
    lines.append(f"seccomp    {s['seccomp']}")
    if s["require"]:
        lines.append(f"require    {', '.join(s['require'])} fully enforced, or lockdown() raises")
    return lines


def describe_ruleset(policy: Any = None, spec: Mapping[str, Any] | None = None) -> list[str]:
    """The full effective ruleset lockdown() would build in THIS process: the policy's
    rules and every runtime grant with its reason.  Nothing is created or applied."""
    if policy is not None:
        spec = policy.lockdown_spec()
    s = parse_spec(spec)
    runtime, warnings = _runtime_paths(s, _Context(policy))
    rows: list[tuple[str, int, str]] = [(p, r, f"runtime: {why}") for p, r, why in runtime]
    if s["tmp"] == "private":
        rows.append((os.path.join(tempfile.gettempdir(), "sdk_guard-XXXXXXXX"), FS_WRITE,
                     "lockdown.tmp: private temporary directory (TMPDIR), created by lockdown()"))
    for key, rights in (("fs.read", FS_READ), ("fs.write", FS_WRITE)):
        for i, p in enumerate(s[key]):
            rows.append((os.path.abspath(p), rights, f"lockdown.{key}[{i}]"))
    lines = [(f"# effective Landlock ruleset (runtime = {s['runtime']!r}, tmp = {s['tmp']!r}); "
              f"runtime grants as computed in this process (pid {os.getpid()}): a worker's "
              "own pid, sys.path and loaded modules decide its own; nothing was applied")]
    for p, r, why in rows:
        verb = "read+write" if r & _C["FS_WRITE_FILE"] else (
            "list" if r == _C["FS_READ_DIR"] else "read")
        lines.append(f"{verb:<10} {p}  ({why})")
    for key, verb in (("net.connect_tcp", "connect"), ("net.bind_tcp", "bind")):
        for i, port in enumerate(s[key]):
            lines.append(f"{verb:<10} tcp port {port}  (lockdown.{key}[{i}], Landlock ABI >= 4)")
    for w in warnings:
        lines.append(f"warning    {w['target']}: {w['why']}")
    return lines
