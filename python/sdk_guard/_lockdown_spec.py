"""The ``[lockdown]`` table: validation, defaults and template expansion.

``parse_spec()`` is the one parser of the section: ``Policy`` calls it for a policy
file's ``[lockdown]``, ``lockdown(spec=...)`` for a table given directly, and
``sdk_guard.landlock`` for the rules it describes.  It returns the flat dict every
other part of the lockdown reads.
"""
from __future__ import annotations

import os
import string
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import _guard
from .errors import PolicyError

__all__ = ["parse_spec"]

_SCOPES = tuple(name for name, _bit, _abi in _guard.LANDLOCK_SCOPES)

_SECCOMP_MODES = (*_guard.SECCOMP_MODES, "off")
_THREAD_MODES = ("refuse", "thread_local")
_REQUIRABLE = ("landlock", "seccomp")
_RUNTIME_MODES = ("auto", "minimal", "none")
_TMP_MODES = ("private", "none")
_KEYS = ("fs.read", "fs.write", "net.connect_tcp", "net.bind_tcp", "scope", "seccomp",
         "threads", "require", "runtime", "tmp")
_DEFAULTS: dict[str, Any] = {
    "fs.read": [], "fs.write": [], "net.connect_tcp": [], "net.bind_tcp": [],
    "scope": ["abstract_unix_socket", "signal"], "seccomp": "errno", "threads": "refuse",
    "require": [], "runtime": "auto", "tmp": "private",
}


def _default_expand(value: str, key: str) -> str:
    """Expands {home}, {tmp}, {prefix}; {data} only exists relative to a Policy.  A
    literal brace is doubled ({{ or }}), as in a Policy's templates."""
    if "{" not in value and "}" not in value:
        return value
    subst: dict[str, Callable[[], str]] = {
        "home": lambda: os.path.expanduser("~"), "tmp": tempfile.gettempdir,
        "prefix": lambda: sys.prefix}
    out: list[str] = []
    try:
        fields = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise PolicyError(key, f"{value!r}: {exc}; a literal brace is doubled ({{{{ or }}}})"
                          ) from None
    for literal, field, spec, conv in fields:
        out.append(literal)
        if field is None:
            continue
        if spec or conv or field not in subst:
            raise PolicyError(key, f"{value!r} uses a template lockdown(spec=...) cannot expand "
                                   "({home}, {tmp} and {prefix} can); pass the Policy, or a "
                                   "concrete path (a literal brace is doubled)")
        out.append(subst[field]())
    return "".join(out)


def _flatten(section: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, val in section.items():
        if not isinstance(key, str):
            raise PolicyError("lockdown", f"key {key!r} is not a string")
        if key in ("fs", "net") and isinstance(val, Mapping):
            items = [(f"{key}.{sub}", v) for sub, v in val.items()]
        else:
            items = [(key, val)]
        for full, v in items:
            if full in flat:
                raise PolicyError(f"lockdown.{full}", "given twice (as a dotted key and "
                                                      "in a nested table); keep one")
            flat[full] = v
    return flat


def _str_list(flat: dict[str, Any], key: str) -> list[Any]:
    val = flat[key]
    if not isinstance(val, (list, tuple)):
        raise PolicyError(f"lockdown.{key}", f"must be a list, not {type(val).__name__} "
                                             f"(write {key} = [...])")
    return list(val)


def parse_spec(section: Mapping[str, Any] | None,
               expand: Callable[[str, str], str] = _default_expand) -> dict[str, Any]:
    """Validates a ``[lockdown]`` section (nested or dotted keys) and returns it flat.

    The result has exactly the keys ``fs.read, fs.write, net.connect_tcp,
    net.bind_tcp, scope, seccomp, threads, require, runtime, tmp`` with defaults filled in and
    templates expanded by ``expand(value, dotted_key)``; parsing it again gives the
    same dict.  Raises ``PolicyError`` whose ``key`` is the dotted path
    (``lockdown.net.connect_tcp[0]``).
    """
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise PolicyError("lockdown", f"must be a table, not {type(section).__name__}")
    flat = _flatten(section)
    for key in flat:
        if key not in _KEYS:
            raise PolicyError(f"lockdown.{key}", "unknown key; expected one of "
                                                 + ", ".join(_KEYS))
    spec: dict[str, Any] = {k: (list(v) if isinstance(v, list) else v)
                            for k, v in _DEFAULTS.items()}
    spec.update(flat)

    for key in ("fs.read", "fs.write"):
        paths = []
        for i, p in enumerate(_str_list(spec, key)):
            k = f"lockdown.{key}[{i}]"
            if not isinstance(p, str) or not p:
                raise PolicyError(k, f"must be a non-empty path string, not {p!r}")
            real = expand(p, k)
            if not isinstance(real, str) or not real or "\0" in real:
                raise PolicyError(k, f"{p!r} expands to an unusable path {real!r}")
            try:
                real.encode("utf-8")
            except UnicodeEncodeError:
                raise PolicyError(k, f"{p!r} contains a lone surrogate, which is not a "
                                     "character; write valid Unicode") from None
            paths.append(real)
        spec[key] = paths

    for key in ("net.connect_tcp", "net.bind_tcp"):
        ports = []
        for i, port in enumerate(_str_list(spec, key)):
            k = f"lockdown.{key}[{i}]"
            if isinstance(port, bool) or not isinstance(port, int):
                raise PolicyError(k, f"must be a TCP port number (an integer), not {port!r}")
            if not 1 <= port <= 65535:
                shown = port if abs(port) < 1 << 64 else f"<{port.bit_length()}-bit number>"
                raise PolicyError(k, f"port {shown} is outside 1-65535")
            ports.append(port)
        spec[key] = ports

    spec["scope"] = _choices(spec, "scope", _SCOPES, "scope")

    if spec["seccomp"] not in _SECCOMP_MODES:
        raise PolicyError("lockdown.seccomp", f"{spec['seccomp']!r} is not one of "
                                              + ", ".join(map(repr, _SECCOMP_MODES)))
    for key, modes in (("threads", _THREAD_MODES), ("runtime", _RUNTIME_MODES),
                       ("tmp", _TMP_MODES)):
        if not isinstance(spec[key], str) or spec[key] not in modes:
            raise PolicyError(f"lockdown.{key}", f"{spec[key]!r} is not one of "
                                                 + ", ".join(map(repr, modes)))
    spec["require"] = _choices(spec, "require", _REQUIRABLE, "layer")
    return spec


def _choices(flat: dict[str, Any], key: str, allowed: Iterable[str], what: str) -> list[str]:
    """The list at KEY, each item one of ALLOWED, duplicates dropped, order kept."""
    allowed = tuple(allowed)
    out: list[str] = []
    for i, v in enumerate(_str_list(flat, key)):
        if v not in allowed:
            raise PolicyError(f"lockdown.{key}[{i}]", f"unknown {what} {v!r}; expected "
                                                      + " or ".join(map(repr, allowed)))
        if v not in out:
            out.append(v)
    return out
