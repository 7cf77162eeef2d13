"""A pure-Python audit hook enforcing the Process Guard's policy: the reference that
bench_guard.py compares the C hook against.

It is written the way a careful Python implementation would be, so the comparison is
fair rather than a straw man:

* event-name dispatch first: one dict lookup, unmediated events return at once;
* attribution by a walk of the Python stack (``sys._getframe``), innermost first, with
  each code object classified once and the verdict cached in a dict (the C guard caches
  on ``co_extra``): extension code by its package, host code by a trusted prefix *and*
  module identity (the frame's globals are ``sys.modules[name].__dict__``), the import
  machinery, importers and frame-leaking libraries by name, anything else transparent;
  the same three walk modes as attrib.c (full, import, direct);
* paths made absolute and resolved with ``os.path.realpath`` and matched by prefix on a
  path-component boundary; ``os.open`` (mode None) with a relative path is denied
  because its dir_fd is unknown; file descriptors resolved through /proc/self/fd;
* the same per-capability verdicts, the same "anything writable is readable" and
  import-root rules, and the same denial (a ``PermissionError`` naming the key).

What it leaves out (which only makes it cheaper than the C guard): the guarded
``__import__`` for already-imported modules, the finder, thread-starter wrapping, the
approver and audit records for allowed events.  It takes the spec that
``Policy.to_spec()`` produces (plus ``import_roots``), as the C hook does.
"""
from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

__all__ = ["ReferenceViolation", "install"]

LIBRARY, HOST, IMPORTER, LEAKER, MACHINERY = range(1, 6)
EXT0 = 8

FULL, IMPORT, DIRECT = range(3)

_MACHINERY = ("importlib._bootstrap", "importlib._bootstrap_external", "zipimport")
_IMPORTERS = ("importlib", "pkgutil", "runpy")
_LEAKERS = ("inspect", "traceback", "pdb", "bdb", "cgitb")


class ReferenceViolation(PermissionError):
    """A denial by the reference hook."""


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _under_any(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _path_under(resolved: str, roots: tuple[str, ...]) -> bool:
    for r in roots:
        if r == "/" or resolved == r or resolved.startswith(r + "/"):
            return True
    return False


def _mod_match(name: str, patterns: tuple[str, ...]) -> bool:
    for p in patterns:
        if p == "*":
            return True
        if p.endswith(".*"):
            base = p[:-2]
            if name.startswith(base + ".") and len(name) > len(base) + 1:
                return True
        elif name == p:
            return True
    return False


class _Ext:
    __slots__ = ("name", "package", "allow", "deny", "fs_read", "fs_write", "caps")

    def __init__(self, d: dict[str, Any]) -> None:
        self.name: str = d["name"]
        self.package: str = d["package"]
        self.allow = tuple(d.get("imports_allow", ()))
        self.deny = tuple(d.get("imports_deny", ()))
        self.fs_read = tuple(d.get("fs_read", ()))
        self.fs_write = tuple(d.get("fs_write", ()))
        self.caps = {c for c in ("process_spawn", "process_signal", "native", "introspection",
                                 "dynamic_code", "threads") if d.get(c)}


class _Reference:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.exts = [_Ext(e) for e in spec["extensions"]]
        self.trusted = tuple(spec.get("trusted", ())) + ("sdk_guard", "__main__")
        self.private = tuple(spec.get("private", ()))
        self.public = tuple(spec.get("public", ()))
        self.roots = tuple(spec.get("import_roots", ()))
        self.monitor = spec.get("mode") == "monitor"
        self.unattributed_allow = spec.get("unattributed") == "allow"
        self.records: list[dict[str, Any]] = []
        self.tags: dict[CodeType, int] = {}
        self.local = threading.local()
        fs_read = self.on_read_path
        fs_write = self.on_write_path
        spawn = self.flag("process_spawn", "process.spawn")
        signal = self.flag("process_signal", "process.signal")
        intro = self.direct("introspection", "introspection")
        dyn = self.direct("dynamic_code", "dynamic_code")
        self.handlers: dict[str, Callable[[str, tuple[Any, ...], FrameType], None]] = {
            "import": self.on_import,
            "open": self.on_open,
            "os.listdir": fs_read, "os.scandir": fs_read, "os.chdir": fs_read,
            "os.walk": fs_read, "glob.glob": fs_read, "pathlib.Path.glob": fs_read,
            "os.remove": fs_write, "os.rmdir": fs_write, "os.mkdir": fs_write,
            "os.chmod": fs_write, "os.chown": fs_write, "os.utime": fs_write,
            "os.truncate": fs_write, "shutil.rmtree": fs_write, "tempfile.mkstemp": fs_write,
            "tempfile.mkdtemp": fs_write, "os.rename": self.on_two_writes,
            "os.link": self.on_two_writes, "os.symlink": self.on_symlink,
            "sqlite3.connect": fs_write,
            "socket.connect": self.on_net, "socket.bind": self.on_net,
            "socket.sendto": self.on_net, "socket.getaddrinfo": self.on_net,
            "subprocess.Popen": spawn, "os.system": spawn, "os.exec": spawn,
            "os.posix_spawn": spawn, "os.spawn": spawn, "os.fork": spawn,
            "os.forkpty": spawn, "pty.spawn": spawn,
            "os.kill": signal, "os.killpg": signal, "signal.pthread_kill": signal,
            "sys._getframe": intro, "sys._current_frames": intro, "sys.settrace": intro,
            "sys.setprofile": intro, "sys.addaudithook": intro, "gc.get_objects": intro,
            "gc.get_referrers": intro, "gc.get_referents": intro,
            "object.__getattr__": intro, "object.__setattr__": intro,
            "object.__delattr__": intro,
            "compile": dyn, "exec": dyn, "code.__new__": dyn, "function.__new__": dyn,
            "marshal.loads": dyn, "marshal.load": dyn, "pickle.find_class": dyn,
        }
        self.native = self.flag("native", "native")

    # -- the hook

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        handler = self.handlers.get(event)
        if handler is None:
            if not event.startswith("ctypes."):
                return
            handler = self.native
        local = self.local
        if getattr(local, "busy", False):
            return
        local.busy = True
        try:
            handler(event, args, sys._getframe(1))
        finally:
            local.busy = False

    # -- attribution

    def classify(self, frame: FrameType) -> int:
        code = frame.f_code
        tag = self.tags.get(code)
        if tag is not None:
            return tag
        g = frame.f_globals
        name = g.get("__name__")
        tag = LIBRARY
        if isinstance(name, str):
            for i, e in enumerate(self.exts):
                if _under(name, e.package):
                    tag = EXT0 + i
                    break
            else:
                if _under_any(name, self.trusted):
                    mod = sys.modules.get(name)
                    if mod is not None and getattr(mod, "__dict__", None) is g:
                        return HOST     # never cached: globals identity can change
                elif _under_any(name, _MACHINERY):
                    tag = MACHINERY
                elif _under_any(name, _IMPORTERS):
                    tag = IMPORTER
                elif _under_any(name, _LEAKERS):
                    tag = LEAKER
        self.tags[code] = tag
        return tag

    def who(self, frame: FrameType | None, mode: int) -> tuple[str, int, bool]:
        """(kind, extension index, via_machinery) for the code that raised the event."""
        via = False
        while frame is not None:
            tag = self.classify(frame)
            if tag >= EXT0:
                return "ext", tag - EXT0, via
            if tag == HOST:
                return "host", -1, via
            if tag == MACHINERY:
                via = True
                if mode == DIRECT:
                    return "library", -1, via
            elif mode == IMPORT and tag != IMPORTER:
                return "library", -1, via
            elif mode == DIRECT and tag != LEAKER:
                return "library", -1, via
            frame = frame.f_back
        return "unattributed", -1, via

    # -- decisions

    def deny(self, ext: _Ext | None, cap: str, target: object, key: str) -> None:
        who = ext.name if ext is not None else "<unattributed>"
        self.records.append({"principal": who, "capability": cap, "target": str(target),
                             "decision": "would_deny" if self.monitor else "deny",
                             "rule": key})
        if not self.monitor:
            raise ReferenceViolation(
                f"extension {who!r} may not {cap} {target!r} (policy key {key}); to "
                f"allow it, add {str(target)!r} to {key}")

    def attributed(self, frame: FrameType, cap: str, target: object) -> tuple[_Ext | None, bool]:
        kind, i, via = self.who(frame, FULL)
        if kind == "ext":
            return self.exts[i], via
        if kind == "unattributed" and not self.unattributed_allow:
            self.deny(None, cap, target, "guard.unattributed")
        return None, via

    # -- imports

    def on_import(self, event: str, args: tuple[Any, ...], frame: FrameType) -> None:
        kind, i, _ = self.who(frame, IMPORT)
        if kind != "ext":
            return
        e = self.exts[i]
        name = args[0]
        if _under(name, e.package):
            return
        key = f"extensions.{e.name}.imports.allow"
        if _under_any(name, self.private) or _mod_match(name, e.deny):
            self.deny(e, "import", name, key)
            return
        if _mod_match(name, e.allow) or _under_any(name, self.public):
            return
        self.deny(e, "import", name, key)

    # -- files

    def resolve(self, path: Any, unknown_dir_fd: bool = False) -> str | None:
        if isinstance(path, int):
            try:
                path = os.readlink(f"/proc/self/fd/{path}")
            except OSError:
                return None
            if not path.startswith("/"):
                return None
        elif isinstance(path, bytes):
            path = os.fsdecode(path)
        elif not isinstance(path, str):
            if type(path).__module__ != "pathlib":
                return None
            path = os.fspath(path)
        if not path.startswith("/"):
            if unknown_dir_fd:
                return None
            path = os.path.join(os.getcwd(), path)
        return os.path.realpath(path)

    def check_path(self, e: _Ext, cap: str, path: Any, via: bool,
                   unknown_dir_fd: bool = False) -> None:
        resolved = self.resolve(path, unknown_dir_fd)
        key = f"extensions.{e.name}.{cap}"
        if resolved is None:
            self.deny(e, cap, path, key)
            return
        if cap == "fs.write":
            ok = _path_under(resolved, e.fs_write)
        else:
            ok = (_path_under(resolved, e.fs_read) or _path_under(resolved, e.fs_write)
                  or (via and _path_under(resolved, self.roots)))
        if not ok:
            self.deny(e, cap, resolved, key)

    def on_open(self, event: str, args: tuple[Any, ...], frame: FrameType) -> None:
        path, mode, flags = args[0], args[1], args[2]
        if isinstance(mode, str):
            writes = any(c in mode for c in "wax+")
        else:
            fl = flags if isinstance(flags, int) else os.O_RDWR
            writes = ((fl & os.O_ACCMODE) != os.O_RDONLY
                      or bool(fl & (os.O_CREAT | os.O_TRUNC | os.O_APPEND)))
        cap = "fs.write" if writes else "fs.read"
        e, via = self.attributed(frame, cap, path)
        if e is not None:
            self.check_path(e, cap, path, via, unknown_dir_fd=mode is None)

    def on_read_path(self, event: str, args: tuple[Any, ...], frame: FrameType) -> None:
        e, via = self.attributed(frame, "fs.read", args[0] if args else None)
        if e is not None:
            self.check_path(e, "fs.read", args[0] if args and args[0] is not None else ".", via)

    def on_write_path(self, event: str, args: tuple[Any, ...], frame: FrameType) -> None:
        e, via = self.attributed(frame, "fs.write", args[0] if args else None)
        if e is not None:
            self.check_path(e, "fs.write", args[0], via)

    def on_two_writes(self, event: str, args: tuple[Any, ...], frame: FrameType) -> None:
        e, via = self.attributed(frame, "fs.write", args[0])
        if e is not None:
            self.check_path(e, "fs.write", args[0], via)
            self.check_path(e, "fs.write", args[1], via)

    def on_symlink(self, event: str, args: tuple[Any, ...], frame: FrameType) -> None:
        e, via = self.attributed(frame, "fs.write", args[1])
        if e is not None:
            self.check_path(e, "fs.write", args[1], via)

    # -- network (the benchmark policy grants none, so any attempt is denied)

    def on_net(self, event: str, args: tuple[Any, ...], frame: FrameType) -> None:
        cap = {"socket.bind": "net.bind", "socket.getaddrinfo": "net.resolve"}.get(
            event, "net.connect")
        target = args[1] if len(args) > 1 and cap != "net.resolve" else args[0]
        e, _ = self.attributed(frame, cap, target)
        if e is not None:
            self.deny(e, cap, target, f"extensions.{e.name}.{cap}")

    # -- yes/no capabilities

    def flag(self, attr: str, cap: str) -> Callable[[str, tuple[Any, ...], FrameType], None]:
        def check(event: str, args: tuple[Any, ...], frame: FrameType) -> None:
            e, _ = self.attributed(frame, cap, event)
            if e is not None and attr not in e.caps:
                self.deny(e, cap, event, f"extensions.{e.name}.{cap}")
        return check

    def direct(self, attr: str, cap: str) -> Callable[[str, tuple[Any, ...], FrameType], None]:
        def check(event: str, args: tuple[Any, ...], frame: FrameType) -> None:
            kind, i, _ = self.who(frame, DIRECT)
            if kind == "ext" and attr not in self.exts[i].caps:
                e = self.exts[i]
                self.deny(e, cap, event, f"extensions.{e.name}.{cap}")
        return check


def install(spec: dict[str, Any]) -> _Reference:
    """Add the reference hook for SPEC (Policy.to_spec() plus import_roots)."""
    ref = _Reference(spec)
    sys.addaudithook(ref.hook)
    return ref
