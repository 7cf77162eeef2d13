"""The Process Guard: install the C audit hook and the extension finder, once."""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import _guard
from .errors import GuardError, ImportBoundaryError, PolicyViolation
from .policy import Policy

if TYPE_CHECKING:
    from ._guard import GuardSpec

__all__ = ["Guard", "install", "current_guard", "acting_as"]

log = logging.getLogger("sdk_guard")

Approver = Callable[[str, str, "str | None"], bool]

_installed: Guard | None = None
_install_lock = threading.Lock()


class _ExtensionLoader(importlib.abc.Loader):
    """Wraps the real loader of an extension's module: the module gets the extension's
    guarded builtins and its code is tagged as the extension's before it runs."""

    def __init__(self, inner: importlib.abc.Loader, principal: str, native: bool = False) -> None:
        self._inner = inner
        self._principal = principal
        self._native = native   # a compiled module of the extension's own, allowed

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        if self._native:
            # A single-phase compiled module runs its initialisation here.
            module: ModuleType | None = self._as_extension("create_module", spec)
            return module
        create = getattr(self._inner, "create_module", None)
        return create(spec) if create is not None else None

    def _as_extension(self, method: str, arg: Any) -> Any:
        """Calls the real loader's METHOD from a frame tagged as the extension's code:
        a compiled module's initialisation has no Python frame, and what it does (its
        imports included) must be charged to the extension, not to this host frame."""
        code = compile(f"result = inner.{method}(arg)", f"<{self._principal}: native {method}>",
                       "exec")
        ns: dict[str, Any] = {"__name__": f"{self._principal}.<native>",
                              "inner": self._inner, "arg": arg}
        _guard.prepare_module(ns, self._principal, code)
        exec(code, ns)
        return ns["result"]

    def exec_module(self, module: ModuleType) -> None:
        if self._native:
            # The extension's own compiled module, loaded because `native` (or monitor
            # mode) lets it: it has no Python code to tag; what its initialisation does
            # is charged to the extension.
            self._as_extension("exec_module", module)
            return
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

    def __init__(self, packages: dict[str, tuple[str, str | None]], native: dict[str, bool],
                 monitor: bool = False) -> None:
        self._packages = packages          # package -> (principal, path)
        self._native = native              # principal -> native allowed
        self._monitor = monitor            # mode = "monitor": record, never refuse
        self._libraries: dict[str, list[tuple[str, list[str]]]] = {}  # principal -> (root, dirs)
        self._writable: list[str] = []

    def set_libraries(self, roots: dict[str, list[str]], writable: list[str]) -> None:
        """The libraries each principal's policy names, with the directories their code
        was found in at install: a library's own compiled modules come from there."""
        self._writable = writable
        for principal, names in roots.items():
            entries = []
            for root in names:
                name = root.split(".")[0]
                top = sys.modules.get(name)
                where = getattr(top, "__path__", None)
                if top is None:     # not initialised (preload=False): where it would load from
                    try:
                        found = importlib.machinery.PathFinder.find_spec(name)
                    except (ImportError, ValueError):
                        found = None
                    where = found.submodule_search_locations if found is not None else None
                dirs = [os.path.realpath(d) for d in where or []]
                if dirs and not any(_under_any(d, writable) for d in dirs):
                    entries.append((root, dirs))
            self._libraries[principal] = entries

    def _library_native(self, principal: str, fullname: str, origin: str | None) -> bool:
        """FULLNAME is a compiled module of a library PRINCIPAL may import, loaded from
        that library's own installed package directory."""
        if not origin:
            return False
        for root, dirs in self._libraries.get(principal, ()):
            if _module_under(fullname, root) and _under_any(origin, dirs) \
                    and not _under_any(origin, self._writable):
                return True
        return False

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
            native = isinstance(spec.loader, importlib.machinery.ExtensionFileLoader)
            if native and not self._native.get(principal, False):
                _refuse_native(principal, fullname, spec.origin, self._monitor)
            spec.loader = _ExtensionLoader(spec.loader, principal, native)
            return spec
        importer = _guard.importer()
        if importer is None:
            return None
        spec = self._other_spec(fullname, path, target)
        if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            if self._library_native(importer, fullname, spec.origin):
                # A library's own compiled module: allowed with the library, and what
                # its initialisation imports are the library's dependencies.
                spec.loader = _LibraryNativeLoader(spec.loader)
            elif not self._native.get(importer, False):
                _refuse_native(importer, fullname, spec.origin, self._monitor)
        # The spec the other finders found is the answer: returning None would make
        # importlib ask them all (and search sys.path) a second time.
        return spec


# The loader wrapper for a library's own compiled module.  Its code runs with globals
# that are not a module in sys.modules, so attribution classifies its frames as
# library code: transparent for files, network, processes and native code (still
# charged to the extension that triggered the import), but the direct importer for
# the imports the module's C initialisation makes (PyImport_Import has no Python
# frame of its own): those are the library's dependencies, like a Python library's.
_LIBINIT_SOURCE = """
class LibraryNativeLoader:
    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        try:
            self._inner.exec_module(module)
        finally:
            spec = getattr(module, "__spec__", None)
            if spec is not None and spec.loader is self:
                spec.loader = self._inner
            if getattr(module, "__loader__", None) is self:
                module.__loader__ = self._inner

    def __getattr__(self, name):
        return getattr(self._inner, name)
"""
_libinit_ns: dict[str, Any] = {"__name__": "sdk_guard._library_init",
                                "__builtins__": __builtins__}
exec(compile(_LIBINIT_SOURCE, "<sdk_guard library init>", "exec"), _libinit_ns)
_LibraryNativeLoader: Any = _libinit_ns["LibraryNativeLoader"]


def _refuse_native(principal: str, fullname: str, origin: str | None = None,
                   monitor: bool = False) -> None:
    """A native module refused to an extension without `native`: one record and one
    ImportBoundaryError carrying its event_id, built in C like every other denial.
    In monitor mode it is recorded as would_deny and the import goes on."""
    if monitor:
        _guard.emit("guard", "native", "would_deny", principal=principal, target=fullname,
                    rule=f"extensions.{principal}.native")
        return
    _guard.deny(principal, "native", fullname, import_error=True)


class Guard:
    """The installed Process Guard (one per process)."""

    def __init__(self, policy: Policy, spec: GuardSpec, finder: _GuardFinder) -> None:
        self.policy = policy
        self._spec = spec
        self._finder = finder
        self._packages = {e["name"]: e["package"] for e in spec["extensions"]}
        self.preloaded: dict[str, str] = {}   # library -> what install() did with it

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

    def load_entry_points(self, group: str, *, names: Any = None) -> Any:
        """Load the plugins of entry-point GROUP, each as the extension whose
        ``distribution`` is the plugin's distribution; returns an EntryPointLoad
        (``.loaded`` by entry-point name, ``.errors``).  See sdk_guard._distributions."""
        from ._distributions import load_entry_points
        return load_entry_points(self, group, names=names)

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


# importlib.import_module's replacement.  Its globals are named as part of importlib
# and are not a module in sys.modules, so attribution classifies its frame like
# importlib's own (transparent: the caller of import_module is the importer, and what
# the imported module's body does is charged to that caller; as host code, the host
# would have been charged for an extension's import_module).
_IMPORT_MODULE_SOURCE = """
def import_module(name, package=None):
    # Exact str copies: a str subclass could answer the check with one name and
    # hand importlib another (its __getitem__, startswith, __hash__/__eq__).
    if isinstance(name, str):
        name = str.__str__(name)
    if isinstance(package, str):
        package = str.__str__(package)
    try:
        absname = resolve_name(name, package)
    except (ImportError, ValueError, TypeError, AttributeError):
        absname = None          # the real call raises its usual error
    if absname is not None:
        check_importer(absname)
    return orig(name, package)
"""


def _wrap_import_module() -> None:
    # importlib.import_module returns a module already in sys.modules without an
    # "import" audit event and without calling __import__, so neither the hook nor
    # the extension's guarded __import__ sees it: check the name here first.
    orig = importlib.import_module
    if getattr(orig, "__sdk_guard_checked__", False):
        return
    ns: dict[str, Any] = {"__name__": "importlib._sdk_guard_import_module", "__builtins__": __builtins__,
                          "orig": orig, "resolve_name": importlib.util.resolve_name,
                          "check_importer": _guard.check_importer}
    exec(compile(_IMPORT_MODULE_SOURCE, "<sdk_guard import_module>", "exec"), ns)
    import_module = ns["import_module"]
    import_module.__doc__ = orig.__doc__
    import_module.__sdk_guard_checked__ = True
    importlib.import_module = import_module


def _import_roots(spec: GuardSpec) -> list[str]:
    """Directories the import system may read while an extension imports: the import
    path as it is at install, the interpreter's library directories, and each
    extension's own path.  The filesystem root is never one of them."""
    import sysconfig
    # "" is the working directory, where the import system looks for it.
    candidates = [p or os.getcwd() for p in sys.path]
    paths = sysconfig.get_paths()
    candidates += [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths]
    candidates += [path for e in spec["extensions"] if (path := e.get("path"))]
    roots: list[str] = []
    for c in candidates:
        real = os.path.realpath(c)
        # Archives on the path (python311.zip) count even when absent: the import
        # system and importlib.metadata look for them.
        if real != "/" and (os.path.isdir(real) or real.endswith((".zip", ".egg"))) \
                and real not in roots:
            roots.append(real)
    return roots


def _module_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _pattern_matches(pattern: str, name: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return name.startswith(pattern[:-1])
    return name == pattern


# Modules that are the `native` capability itself (foreign function interfaces): never
# initialised by the host, so importing them stays each extension's own (native-checked)
# act.
_NATIVE_GATEWAYS = ("ctypes", "_ctypes", "cffi", "_cffi_backend")


def _is_bare_native(name: str) -> bool:
    """NAME is a top-level compiled module (not a package): loading it is native code
    the extension itself asks for."""
    if "." in name:
        return False
    try:
        found = sys.modules[name].__spec__ if name in sys.modules \
            else importlib.machinery.PathFinder.find_spec(name)
    except (ImportError, ValueError, AttributeError, KeyError):
        return False
    return found is not None and isinstance(found.loader, importlib.machinery.ExtensionFileLoader)


def library_roots(policy: Policy) -> dict[str, list[str]]:
    """The libraries each extension's policy names, to be initialised by the host.

    From each extension's written ``imports.allow`` (presets are stdlib and not
    expanded here): every entry without a wildcard, and the root ``lib`` of every
    ``lib.*``.  ``*`` names no library.  Never an extension package, a trusted or
    private host module, or a name the same extension's ``imports.deny`` covers; and
    never ctypes/cffi or a bare compiled module (loading those is native code, each
    extension's own act)."""
    data = policy.data
    host = data["host"]
    packages = [e["package"] for e in data["extensions"].values()]
    out: dict[str, list[str]] = {}
    for name, ext in data["extensions"].items():
        roots: list[str] = []
        for pat in ext["imports"]["allow"] if "imports" in ext else ext.get("imports.allow", []):
            if pat.startswith("@") or pat == "*":
                continue
            root = pat[:-2] if pat.endswith(".*") else pat
            if "*" in root or root in roots:
                continue
            if any(_module_under(root, p) for p in packages) \
                    or any(_module_under(root, p) for p in (*host["private"], *host["trusted"])) \
                    or _module_under(root, "sdk_guard"):
                continue
            deny = ext["imports"]["deny"] if "imports" in ext else ext.get("imports.deny", [])
            if any(_pattern_matches(d, root) for d in deny):
                continue
            # sys.modules is shared: a gateway loaded for one extension with `native`
            # would be handed to every other one without the native check.
            if any(_module_under(root, g) for g in _NATIVE_GATEWAYS) or _is_bare_native(root):
                continue
            roots.append(root)
        out[name] = roots
    return out


def _writable_by_extensions(spec: GuardSpec) -> list[str]:
    dirs: list[str] = []
    for e in spec["extensions"]:
        dirs += list(e.get("fs_write", []))
        if path := e.get("path"):
            dirs.append(path)
    return [os.path.realpath(d) for d in dirs]


def _under_any(path: str, dirs: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == d or real.startswith(d.rstrip("/") + "/") for d in dirs)


_REQ_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _dist_modules(dist: Any) -> list[str]:
    """Top-level importable modules a distribution installs (top_level.txt, else its
    RECORD), public names only."""
    text = dist.read_text("top_level.txt")
    names: list[str] = text.split() if text else []
    if not names:
        for f in dist.files or []:
            parts = f.parts
            if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data")) \
                    or parts[0] in ("..", "__pycache__"):
                continue
            first = parts[0]
            if len(parts) == 1:
                first = first.split(".")[0] if first.endswith((".py", ".so")) else ""
            if first.isidentifier():
                names.append(first)
    return [n for n in dict.fromkeys(names) if n.isidentifier() and not n.startswith("_")]


def _dependency_modules(roots: list[str]) -> list[str]:
    """The top-level modules of the distributions that ROOTS' distributions require
    (transitively; extras excluded): a library's own dependencies, which it may import
    lazily from inside an extension's call."""
    from importlib import metadata

    def dist_of(name: str) -> Any:
        try:
            return metadata.distribution(name)
        except Exception:
            return None

    todo: list[Any] = []
    for r in roots:
        top = r.split(".")[0]
        d = dist_of(top)
        if d is None:
            mod = sys.modules.get(top)
            origin = getattr(getattr(mod, "__spec__", None), "origin", None)
            if origin:     # a distribution named otherwise (PIL: pillow, yaml: PyYAML)
                site = os.path.dirname(os.path.dirname(origin)) if getattr(
                    mod, "__path__", None) else os.path.dirname(origin)
                for cand in metadata.distributions(path=[site]):
                    if top in _dist_modules(cand):
                        d = cand
                        break
        if d is not None:
            todo.append(d)
    seen: set[str] = set()
    out: list[str] = []
    while todo:
        dist = todo.pop()
        key = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        for req in dist.requires or []:
            if ";" in req and "extra" in req.split(";", 1)[1]:
                continue
            m = _REQ_NAME.match(req)
            dep = dist_of(m.group(1)) if m else None
            if dep is None:
                continue
            todo.append(dep)
            out += _dist_modules(dep)
    return list(dict.fromkeys(out))


def _preload_libraries(policy: Policy, spec: GuardSpec) -> dict[str, str]:
    """Library initialisation under host authority (see docs/process-guard.md, "Library
    initialisation"): runs inside install(), before any extension is loaded through
    the guard, so no extension code can have changed what the import finds or what
    the library's initialisation calls.  Returns {library: outcome}."""
    writable = _writable_by_extensions(spec)
    outcome: dict[str, str] = {}
    named = [r for roots in library_roots(policy).values() for r in roots]
    host = policy.data["host"]
    packages = [e["package"] for e in spec["extensions"]]
    deps = [d for d in _dependency_modules(named)
            if not any(_module_under(d, p) for p in (*packages, *host["private"]))]
    for roots in (named, deps):
        for root in roots:
            if root in outcome:
                continue
            if root in sys.modules:
                outcome[root] = "already imported"
                continue
            # The top-level package decides where the code comes from (finding a
            # dotted name would import its parents before the check below).
            top = root.split(".")[0]
            try:
                found = sys.modules[top].__spec__ if top in sys.modules \
                    else importlib.util.find_spec(top)
            except (ImportError, ValueError, AttributeError) as exc:
                outcome[root] = f"not found ({exc})"
                continue
            if found is None:
                outcome[root] = "not found"
                continue
            places = [found.origin] if found.origin and found.has_location else []
            places += list(found.submodule_search_locations or [])
            if any(_under_any(p, writable) for p in places):
                # Code an extension can write is never run with host authority.
                outcome[root] = "skipped: under an extension's fs.write or path"
                log.warning("sdk_guard: not initialising %s as the host: it lives where an "
                            "extension can write (%s)", root, ", ".join(places))
                continue
            try:
                importlib.import_module(root)
            except Exception as exc:  # the library's own failure: the extension sees it later
                outcome[root] = f"failed: {type(exc).__name__}: {exc}"
                log.warning("sdk_guard: initialising library %s failed: %s", root, exc)
                continue
            outcome[root] = "imported"
    return outcome


def _private_paths(spec: GuardSpec) -> list[str]:
    """The files and directories of the host.private modules (each package's
    directory, each module's source and cached bytecode), found without importing
    them: extension-attributed reads of these are refused by every route."""
    out: list[str] = []
    for name in spec.get("private", []):
        mod = sys.modules.get(name)
        found = getattr(mod, "__spec__", None) if mod is not None else None
        if found is None:
            parts = name.split(".")
            try:
                found = importlib.machinery.PathFinder.find_spec(parts[0])
                for i in range(1, len(parts)):
                    if found is None or not found.submodule_search_locations:
                        found = None
                        break
                    found = importlib.machinery.PathFinder.find_spec(
                        ".".join(parts[:i + 1]), list(found.submodule_search_locations))
            except (ImportError, ValueError):
                found = None
        if found is None:
            continue
        if found.submodule_search_locations:
            out += list(found.submodule_search_locations)
        elif found.origin and found.has_location:
            out.append(found.origin)
            if found.cached:
                out.append(found.cached)
    paths = list(dict.fromkeys(os.path.realpath(p) for p in out))
    # An extension's own files are its own even inside a private host package.
    ext_dirs = [os.path.realpath(path) for e in spec["extensions"] if (path := e.get("path"))]
    kept = [p for p in paths if not any(_under_any(d, [p]) for d in ext_dirs)]
    if len(kept) != len(paths):
        log.warning("sdk_guard: host.private files that contain an extension's path are not "
                    "protected from extension reads: %s", sorted(set(paths) - set(kept)))
    return kept


def _host_threads() -> list[int]:
    """Idents of the threads running now, other than the main thread: host threads
    (started before install()), whatever code they run."""
    main = threading.main_thread().ident
    idents = {t.ident for t in threading.enumerate()} | set(sys._current_frames())
    return sorted(i for i in idents if i is not None and i != main)


def install(policy: Policy, *, preload: bool = True) -> Guard:
    """Install the audit hook and the extension finder for POLICY (once per process).

    With PRELOAD (the default) the libraries the extensions' ``imports.allow`` names
    are imported here, by the host, before any extension can run (library
    initialisation under host authority); ``Guard.preloaded`` says what happened."""
    global _installed
    if not isinstance(policy, Policy):
        raise TypeError(f"install() takes a sdk_guard.Policy, not {type(policy).__name__}; "
                        "build one with Policy.from_toml/from_dict/from_file")
    with _install_lock:
        if _installed is not None or _guard.is_installed():
            raise GuardError("sdk_guard is already installed in this process: an audit hook "
                             "can never be removed, so install() may be called once")
        spec = policy.to_spec()
        spec["import_roots"] = _import_roots(spec)
        spec["private_paths"] = _private_paths(spec)
        spec["host_threads"] = _host_threads()
        if os.environ.get("SDK_GUARD_LEARN"):
            from . import _learn_mode  # `python -m sdk_guard learn` runs this process
            _learn_mode.apply(policy, spec, os.environ["SDK_GUARD_LEARN"])
        packages = {e["package"]: (e["name"], e.get("path")) for e in spec["extensions"]}
        native = {e["name"]: bool(e.get("native")) for e in spec["extensions"]}
        finder = _GuardFinder(packages, native, monitor=spec.get("mode") == "monitor")
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
        # Refusals reach the operator even with no sink configured.
        from . import audit
        audit.attach_default_sink()
        if preload:
            _installed.preloaded = _preload_libraries(policy, spec)
        finder.set_libraries(library_roots(policy), _writable_by_extensions(spec))
        from . import otel  # with opentelemetry-api installed, records get trace ids
        otel.enable_when_imported()
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

