"""Extensions named by their installed distribution (``[extensions.X] distribution = ...``).

The distribution's RECORD (``importlib.metadata``) says which files are its code: its
top-level import package becomes the extension's ``package`` and the directory it is
installed in its ``path``, so the guard's finder imports that package from there and
nowhere else.  Entry points are loaded by :func:`load_entry_points`.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.metadata
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import GuardError, ImportBoundaryError, PolicyError

__all__ = ["EntryPointLoad", "PluginError", "load_entry_points", "top_level_packages"]

log = logging.getLogger("sdk_guard")

_NOT_CODE = (".dist-info", ".data", ".egg-info")


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name ("Acme_Plugin" -> "acme-plugin")."""
    return re.sub(r"[-_.]+", "-", name).lower()


def top_level_packages(dist: importlib.metadata.Distribution) -> list[str]:
    """Import names of the modules and packages DIST installs at the top of its
    directory, from its RECORD (scripts, metadata and .pth files are not code)."""
    names: set[str] = set()
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES) + (".py", ".pyc")
    for f in dist.files or ():
        parts = f.parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith(_NOT_CODE):
            continue
        if len(parts) == 1:
            for suffix in suffixes:
                if parts[0].endswith(suffix):
                    names.add(parts[0][: -len(suffix)].split(".")[0])
                    break
            continue
        if parts[0].isidentifier():
            names.add(parts[0])
    return sorted(names)


def _find(name: str, key: str) -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise PolicyError(key, f"distribution {name!r} is not installed in this environment "
                               f"(pip show {name}); install it or remove the section") from None


def identity_from_distribution(flat: dict[str, Any], key: str) -> dict[str, Any]:
    """FLAT (a flattened [extensions.X]) with ``package`` and ``path`` filled in from
    the distribution its ``distribution`` key names."""
    k = f"{key}.distribution"
    name = flat["distribution"]
    if not isinstance(name, str) or not name.strip():
        raise PolicyError(k, 'must be a distribution name such as "acme-plugin"')
    dist = _find(name, k)
    if dist.files is None:
        raise PolicyError(k, f"distribution {name!r} has no RECORD of its files, so its code "
                             "cannot be told apart; reinstall it with pip, or use package = "
                             "and path = instead")
    tops = top_level_packages(dist)
    given = flat.get("package")
    if given is not None:
        if given not in tops:
            raise PolicyError(f"{key}.package", f"{given!r} is not installed by distribution "
                                                f"{name!r} (it installs: "
                                                f"{', '.join(tops) or 'no modules'})")
        tops = [given]
    if len(tops) != 1:
        raise PolicyError(k, f"distribution {name!r} installs "
                             f"{'no importable modules' if not tops else ', '.join(tops)}; "
                             "an extension is one package, so add package = \"NAME\" "
                             "choosing one (one extension section per package)")
    out = dict(flat)
    out["package"] = tops[0]
    if out.get("path") is None:
        out["path"] = os.path.realpath(str(dist.locate_file("")))
    return out


# ---- entry points -----------------------------------------------------------------------

@dataclass
class PluginError:
    """One entry point that was not loaded: refused by the policy, or failed."""
    group: str
    entry_point: str
    value: str
    distribution: str | None
    extension: str | None
    reason: str
    error: BaseException | None = None

    def __str__(self) -> str:
        return (f"entry point {self.entry_point!r} ({self.value}) of distribution "
                f"{self.distribution!r}: {self.reason}")


@dataclass
class EntryPointLoad:
    """What :func:`load_entry_points` did: the loaded objects by entry-point name, and
    every entry point it did not load, with why."""
    group: str
    loaded: dict[str, Any] = field(default_factory=dict)
    extension_of: dict[str, str] = field(default_factory=dict)
    errors: list[PluginError] = field(default_factory=list)


def _dist_name(ep: importlib.metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None
    name = dist.metadata["Name"] if dist.metadata is not None else None
    return str(name) if name else None


def _record_files(dist: importlib.metadata.Distribution) -> set[str]:
    return {os.path.realpath(str(dist.locate_file(f))) for f in dist.files or ()}


def _refusal(message: str, ext_name: str, module: str) -> ImportBoundaryError:
    """One audit record, then the exception that carries its seq."""
    from . import audit
    rule = f"extensions.{ext_name}.distribution"
    seq = audit.emit("guard", "import", "deny", principal=ext_name, target=module, rule=rule)
    return ImportBoundaryError(message, principal=ext_name, capability="import",
                               target=module, rule=rule, event_id=seq)


def load_entry_points(guard: Any, group: str, *, names: Iterable[str] | None = None
                      ) -> EntryPointLoad:
    """Load every entry point of GROUP as the extension its distribution is named in.

    An entry point whose distribution no extension names is refused (recorded, and
    reported with the section to add); one that fails to import is reported with its
    distribution and the others still load, unless its extension says
    ``required = true``, which raises GuardError.
    """
    from . import audit

    result = EntryPointLoad(group)
    wanted = set(names) if names is not None else None
    by_dist: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for ext_name, ext in guard.policy.data["extensions"].items():
        if ext.get("distribution"):
            by_dist[canonical(ext["distribution"])] = (ext_name, ext)

    def fail(ep: importlib.metadata.EntryPoint, dist: str | None, ext: str | None,
             reason: str, error: BaseException | None = None) -> PluginError:
        err = PluginError(group, ep.name, ep.value, dist, ext, reason, error)
        result.errors.append(err)
        log.warning("sdk_guard: %s", err)
        return err

    for ep in importlib.metadata.entry_points(group=group):
        if wanted is not None and ep.name not in wanted:
            continue
        dist_name = _dist_name(ep)
        found = by_dist.get(canonical(dist_name)) if dist_name else None
        if found is None:
            section = re.sub(r"[^A-Za-z0-9_]", "_", canonical(dist_name or ep.name))
            rule = f"extensions.{section}.distribution"
            seq = audit.emit("guard", "import", "deny", target=ep.module, rule=rule,
                             extra={"distribution": dist_name, "entry_point": ep.name,
                                    "group": group})
            fail(ep, dist_name, None,
                 f"no policy for this plugin, so it was not loaded (audit seq {seq}); to "
                 f"load it, add to the policy:\n    [extensions.{section}]\n    "
                 f"distribution = \"{dist_name}\"\n    (and the grants it needs)")
            continue
        ext_name, ext = found
        package = ext["package"]
        try:
            if not (ep.module == package or ep.module.startswith(package + ".")):
                raise _refusal(
                    f"entry point {ep.name!r} names module {ep.module}, outside package "
                    f"{package} of distribution {dist_name!r} (extension {ext_name!r})",
                    ext_name, ep.module)
            module = importlib.import_module(ep.module)
            dist = getattr(ep, "dist", None)
            where = getattr(module, "__file__", None)
            if dist is not None and where is not None \
                    and os.path.realpath(where) not in _record_files(dist):
                raise _refusal(
                    f"module {ep.module} was imported from {where}, which is not a file of "
                    f"distribution {dist_name!r} (its RECORD); another installation "
                    "shadows it", ext_name, ep.module)
            obj: Any = module
            for attr in (ep.attr or "").split(".") if ep.attr else ():
                obj = getattr(obj, attr)
        except Exception as exc:
            err = fail(ep, dist_name, ext_name, f"failed to load: {type(exc).__name__}: {exc}",
                       exc)
            if ext.get("required"):
                raise GuardError(f"required plugin failed: {err} (extensions.{ext_name}."
                                 "required = true)") from exc
            continue
        result.loaded[ep.name] = obj
        result.extension_of[ep.name] = ext_name
    return result
