"""Notes (PEP 678) on import failures that Landlock causes after ``lockdown()``.

After lockdown a missing grant shows up far from its cause: ``dlopen`` says
"libssl.so.3: cannot open shared object file: No such file or directory", a module
whose file cannot be read or whose directory cannot be listed is simply "not found".
``install()`` (called by ``lockdown()``) adds, for the import system only:

- a wrapper around ``ExtensionFileLoader.create_module`` and ``FileLoader.get_data``
  that, when they fail, adds a note naming the file Landlock does not let the process
  read and the ``[lockdown]`` key that grants it;
- a finder at the end of ``sys.meta_path`` that runs only when no other finder found
  a module: if a candidate file or package exists on the search path but is not
  granted, it raises ``ModuleNotFoundError`` with that note instead of returning None.

Decisions use only ``stat`` (not a Landlock access right) and the rules of the
lockdown report, so explaining opens nothing.  ``explain(exc)`` adds the same note to
any ``OSError`` a host catches (``open()`` and ctypes are not wrapped).

This module is loaded under the name ``_sdk_guard_lockdown_notes``, not as part of
the ``sdk_guard`` package: the guard charges an operation to the innermost host or
extension frame, and these wrappers sit inside imports that extensions start, so
they must be transparent library code, never host code.
"""
from __future__ import annotations

import os
import re
import sys
from importlib import _bootstrap_external, machinery
from typing import Any

_rules: list[tuple[str, bool, frozenset[str]]] = []   # (base, is_dir, rights)
_runtime = "auto"
_installed = False
_SONAME = re.compile(r"^(?P<lib>[^:\s]+): cannot open shared object file")


def granted(path: str, right: str) -> bool:
    """Whether a rule of the applied ruleset gives RIGHT on PATH (absolute)."""
    for base, is_dir, rights in _rules:
        if right in rights and (path == base or (is_dir and path.startswith(base.rstrip("/") + "/"))):
            return True
    return False


def _lib_dirs() -> list[str]:
    from sdk_guard import _lockdown_runtime as rt  # already imported by lockdown()

    dirs = [b for b, is_dir, _ in _rules if is_dir and rt.is_library_dir(b)]
    multiarch = getattr(sys.implementation, "_multiarch", None)
    for root in rt._LIB_ROOTS:
        if multiarch:
            dirs.append(f"{root}/{multiarch}")
        dirs.append(root)
    return list(dict.fromkeys(dirs))


def _fix(path: str, is_dir: bool = False) -> str:
    from sdk_guard import _lockdown_runtime as rt

    target = path if is_dir else os.path.dirname(path)
    real = os.path.realpath(target)
    fix = f'add "{real}" to [lockdown] fs.read'
    if rt.is_library_dir(real) and _runtime == "none":
        fix += ', or set [lockdown] runtime = "minimal" (grants shared-library directories)'
    elif _runtime != "auto":
        fix += ', or set [lockdown] runtime = "auto"'
    return fix


def note_for(path: str, right: str = "fs.read_file") -> str | None:
    """The note for PATH when Landlock does not grant RIGHT on it, else None."""
    if not _installed:
        return None
    path = os.path.abspath(path)
    real = os.path.realpath(path)
    if granted(path, right) or granted(real, right):
        return None
    what = "list" if right == "fs.read_dir" else "read"
    return (f"sdk_guard: {path} exists but lockdown() did not grant this process the "
            f"right to {what} it (Landlock answers EACCES); to grant it, "
            f"{_fix(real, right == 'fs.read_dir')}")


def _add(exc: BaseException, text: str | None) -> None:
    if text and text not in getattr(exc, "__notes__", ()):
        exc.add_note(text)


def explain(exc: BaseException) -> BaseException:
    """Adds the note to an OSError for a path Landlock does not grant, or to a dlopen
    failure (ImportError, or ctypes' OSError "X: cannot open shared object file");
    returns EXC."""
    if isinstance(exc, (ImportError, OSError)) and _SONAME.match(str(exc)):
        _dlopen_note(exc, None)
    elif isinstance(exc, OSError) and isinstance(exc.filename, str) and exc.errno == 13:
        try:
            isdir = os.path.isdir(exc.filename)
        except (OSError, ValueError):
            isdir = False
        _add(exc, note_for(exc.filename, "fs.read_dir" if isdir else "fs.read_file"))
    return exc


def _dlopen_note(exc: BaseException, origin: str | None) -> None:
    if origin and os.path.exists(origin):
        text = note_for(origin)
        if text:
            _add(exc, text)
            return
    m = _SONAME.match(str(exc))
    if not m:
        return
    lib = m.group("lib")
    cands = [lib] if "/" in lib else [os.path.join(d, lib) for d in _lib_dirs()]
    for c in cands:
        if os.path.exists(c):
            text = note_for(c)
            if text:
                _add(exc, f"sdk_guard: the shared library {lib} ({c}) is not readable "
                          f"after lockdown(); to grant it, {_fix(os.path.realpath(c))}")
            return


_orig_create = machinery.ExtensionFileLoader.create_module
_orig_get_data = _bootstrap_external.FileLoader.get_data


def _create_module(self: Any, spec: Any) -> Any:
    try:
        return _orig_create(self, spec)
    except ImportError as e:
        _dlopen_note(e, getattr(spec, "origin", None))
        raise


def _get_data(self: Any, path: str) -> bytes:
    try:
        return _orig_get_data(self, path)
    except PermissionError as e:
        _add(e, note_for(str(path)))
        raise


class NotGrantedFinder:
    """Last on sys.meta_path: explains a module that exists but is not granted."""

    @classmethod
    def find_spec(cls, name: str, path: Any = None, target: Any = None) -> None:
        if not _installed:
            return
        tail = name.rpartition(".")[2]
        entries = sys.path if path is None else path
        suffixes = machinery.all_suffixes()
        for entry in list(entries):
            if not isinstance(entry, str):
                continue
            d = os.path.abspath(entry or os.curdir)
            pkg = os.path.join(d, tail)
            cands = [os.path.join(pkg, "__init__" + s) for s in suffixes]
            cands += [pkg + s for s in suffixes]
            for c in cands:
                if not os.path.isfile(c):
                    continue
                text = note_for(c) or note_for(d, "fs.read_dir")
                if text:
                    err = ModuleNotFoundError(f"No module named {name!r}", name=name)
                    err.add_note(text)
                    raise err
                return
            if os.path.isdir(pkg) and note_for(d, "fs.read_dir") is None \
                    and (text := note_for(pkg, "fs.read_dir")):
                err = ModuleNotFoundError(f"No module named {name!r}", name=name)
                err.add_note(text + " (a namespace package)")
                raise err
        return


def install(report: dict[str, Any], runtime: str) -> None:
    """Records the applied rules and wraps the loaders (idempotent)."""
    global _runtime, _installed
    rules = []
    for r in report.get("rules", ()):
        if r.get("type") == "path":
            rights = frozenset(r["access"])
            rules.append((r.get("resolved", r["path"]), r["kind"] == "dir", rights))
            if "resolved" in r:
                rules.append((r["path"], r["kind"] == "dir", rights))
    _rules[:] = rules
    _runtime = runtime
    if _installed:
        return
    machinery.ExtensionFileLoader.create_module = _create_module  # type: ignore[method-assign]
    _bootstrap_external.FileLoader.get_data = _get_data  # type: ignore[method-assign]
    sys.meta_path.append(NotGrantedFinder)
    _installed = True
