"""The Process Guard: install the C audit hook and the extension finder, once."""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any, NoReturn

from . import _guard
from .errors import GuardError, ImportBoundaryError, PolicyViolation
from .policy import Policy

__all__ = ["Guard", "install", "current_guard", "acting_as"]

log = logging.getLogger("sdk_guard")

Approver = Callable[[str, str, "str | None"], bool]

_installed: Guard | None = None
_install_lock = threading.Lock()


class _ExtensionLoader(importlib.abc.Loader):
    """Wraps the real loader of an extension's module: the module gets the extension's
    guarded builtins and its code is tagged as the extension's before it runs."""

    def __init__(self, inner: importlib.abc.Loader, principal: str) -> None:
        self._inner = inner
        self._principal = principal

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create = getattr(self._inner, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        get_code = getattr(self._inner, "get_code", None)
        if get_code is None:
            raise ImportBoundaryError(
                f"extension {self._principal!r}: module {module.__name__} has no Python "
                "code the guard can tag (native or unusual loader); extension packages "
                "must be Python source or bytecode",
                principal=self._principal, target=module.__name__,
                rule=f"extensions.{self._principal}.native")
        code = get_code(module.__name__)
        _guard.prepare_module(module.__dict__, self._principal, code)
        if code is not None:
            exec(code, module.__dict__)

    def __getattr__(self, name: str) -> Any:
        # get_resource_reader, is_package, get_data, ... come from the real loader.
        return getattr(self._inner, name)


class _GuardFinder(importlib.abc.MetaPathFinder):
    """First on sys.meta_path (the hook puts it back if anything moves it).

    Finds the extension packages named in the policy (from their `path` if given) and
    refuses native modules to extensions without `native`.
    """

    def __init__(self, packages: dict[str, tuple[str, str | None]], native: dict[str, bool]) -> None:
        self._packages = packages          # package -> (principal, path)
        self._native = native              # principal -> native allowed

    def _owner(self, fullname: str) -> tuple[str, str | None] | None:
        for package, owner in self._packages.items():
            if fullname == package or fullname.startswith(package + "."):
                return owner
        return None

    def _other_spec(self, fullname: str, path: Sequence[str] | None,
                    target: ModuleType | None) -> importlib.machinery.ModuleSpec | None:
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                return spec
        return None

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        owner = self._owner(fullname)
        if owner is not None:
            principal, ext_path = owner
            search = path
            if search is None and ext_path is not None and "." not in fullname:
                search = [ext_path]
            spec = importlib.machinery.PathFinder.find_spec(fullname, search, target)
            if spec is None or spec.loader is None:
                return spec
            if isinstance(spec.loader, importlib.machinery.ExtensionFileLoader) \
                    and not self._native.get(principal, False):
                _refuse_native(principal, fullname)
            spec.loader = _ExtensionLoader(spec.loader, principal)
            return spec
        importer = _guard.importer()
        if importer is None or self._native.get(importer, False):
            return None
        spec = self._other_spec(fullname, path, target)
        if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            _refuse_native(importer, fullname)
        return None


def _refuse_native(principal: str, fullname: str) -> NoReturn:
    """A native module refused to an extension without `native`: one record and one
    ImportBoundaryError carrying its event_id, built in C like every other denial."""
    _guard.deny(principal, "native", fullname, import_error=True)


class Guard:
    """The installed Process Guard (one per process)."""

    def __init__(self, policy: Policy, spec: dict[str, Any], finder: _GuardFinder) -> None:
        self.policy = policy
        self._spec = spec
        self._finder = finder
        self._packages = {e["name"]: e["package"] for e in spec["extensions"]}

    @property
    def extensions(self) -> list[str]:
        return list(self._packages)

    @property
    def mode(self) -> str:
        return str(self._spec.get("mode", "enforce"))

    def import_extension(self, name: str) -> ModuleType:
        """Import extension NAME's package as that principal and return it."""
        if name not in self._packages:
            raise GuardError(
                f"no extension {name!r} in the installed policy; known: "
                f"{', '.join(sorted(self._packages)) or '(none)'}")
        return importlib.import_module(self._packages[name])

    def set_approver(self, fn: Approver | None) -> None:
        """fn(principal, capability, target) -> bool decides capabilities listed in an
        extension's `approve`; its answer is audited as approved/refused."""
        _guard.set_approver(fn)

    def principal(self) -> tuple[str, str | None, str | None]:
        """(kind, extension, acting_as) for the code calling this."""
        return _guard.current_principal()


def _wrap_thread_starters() -> None:
    # CPython 3.11 raises no audit event when a thread starts, so the starters the
    # threading module uses are replaced by checked ones (3.12+ also get the event).
    import _thread
    for name in ("start_new_thread", "start_new", "start_joinable_thread"):
        orig = getattr(_thread, name, None)
        if orig is None:
            continue
        checked = _guard.wrap_thread_starter(orig)
        setattr(_thread, name, checked)
        for attr in ("_start_new_thread", "_start_joinable_thread"):
            if getattr(threading, attr, None) is orig:
                setattr(threading, attr, checked)


def _wrap_import_module() -> None:
    # importlib.import_module returns a module already in sys.modules without an
    # "import" audit event and without calling __import__, so neither the hook nor
    # the extension's guarded __import__ sees it: check the name here first.
    orig = importlib.import_module
    if getattr(orig, "__sdk_guard_checked__", False):
        return

    def import_module(name: str, package: str | None = None) -> ModuleType:
        # Exact str copies: a str subclass could answer the check with one name and
        # hand importlib another (its __getitem__, startswith, __hash__/__eq__).
        if isinstance(name, str):
            name = str.__str__(name)
        if isinstance(package, str):
            package = str.__str__(package)
        try:
            absname = importlib.util.resolve_name(name, package)
        except (ImportError, ValueError, TypeError, AttributeError):
            absname = None          # the real call raises its usual error
        if absname is not None:
            _guard.check_importer(absname)
        return orig(name, package)

    import_module.__doc__ = orig.__doc__
    import_module.__sdk_guard_checked__ = True  # type: ignore[attr-defined]
    importlib.import_module = import_module


def _import_roots(spec: dict[str, Any]) -> list[str]:
    """Directories the import system may read while an extension imports: the import
    path as it is at install, the interpreter's library directories, and each
    extension's own path.  The filesystem root is never one of them."""
    import sysconfig
    candidates = [p for p in sys.path if p]
    paths = sysconfig.get_paths()
    candidates += [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths]
    candidates += [e["path"] for e in spec["extensions"] if e.get("path")]
    roots: list[str] = []
    for c in candidates:
        real = os.path.realpath(c)
        if real != "/" and os.path.isdir(real) and real not in roots:
            roots.append(real)
    return roots


def install(policy: Policy) -> Guard:
    """Install the audit hook and the extension finder for POLICY (once per process)."""
    global _installed
    if not isinstance(policy, Policy):
        raise TypeError(f"install() takes a sdk_guard.Policy, not {type(policy).__name__}; "
                        "build one with Policy.from_toml/from_dict/from_file")
    with _install_lock:
        if _installed is not None or _guard.is_installed():
            raise GuardError("sdk_guard is already installed in this process: an audit hook "
                             "can never be removed, so install() may be called once")
        spec = dict(policy.to_spec())
        spec["import_roots"] = _import_roots(spec)
        packages = {e["package"]: (e["name"], e.get("path")) for e in spec["extensions"]}
        native = {e["name"]: bool(e.get("native")) for e in spec["extensions"]}
        finder = _GuardFinder(packages, native)
        # The hook first: nothing is mediated until it is in, and its return is checked.
        _guard.install(spec, violation=PolicyViolation, import_error=ImportBoundaryError,
                       guard_error=GuardError, finder=finder)
        sys.meta_path.insert(0, finder)
        _wrap_thread_starters()
        _wrap_import_module()
        for package in packages:
            stale = [m for m in sys.modules if m == package or m.startswith(package + ".")]
            if stale:
                log.warning("extension package %s was imported before install(); those "
                            "modules keep the interpreter's builtins: %s", package,
                            ", ".join(sorted(stale)))
        _installed = Guard(policy, spec, finder)
        return _installed


def current_guard() -> Guard | None:
    """The installed Guard, or None."""
    return _installed


@contextlib.contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Run a block on behalf of extension NAME: its policy applies to what the block
    does, in addition to whatever the stack says (the most restrictive wins)."""
    token = _guard.acting_as_enter(name)
    try:
        yield
    finally:
        _guard.acting_as_exit(token)

