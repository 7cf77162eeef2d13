"""The ``[lockdown]`` table: validation, defaults and template expansion.

``parse_spec()`` is the one parser of the section: ``Policy`` calls it for a policy
file's ``[lockdown]``, ``lockdown(spec=...)`` for a table given directly, and
``sdk_guard.landlock`` for the rules it describes.  It returns the flat dict every
other part of the lockdown reads.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import _guard
from ._config.templates import Templates
from ._config.validate import check_text, choice, flatten, integer, str_list, table, type_name
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

# {data} is a Policy's host.data: a table given to lockdown(spec=...) has none.
_DATA_HINT = ("pass the Policy instead of spec=... (its host.data sets {data}), or write "
              "a concrete path")


def _default_expand(value: str, key: str) -> str:
    """Expands {home}, {tmp}, {prefix}; {data} only exists relative to a Policy.  A
    literal brace is doubled ({{ or }}), as in a Policy's templates."""
    if "{" not in value and "}" not in value:
        return value
    # Built per call: {home} and {tmp} follow the environment at the time of the call.
    return Templates(None, unset_hint=_DATA_HINT).expand(value, key)


def _paths(value: object, key: str, expand: Callable[[str, str], str]) -> list[str]:
    out = []
    for i, path in enumerate(str_list(value, key, '"/srv/data"', non_empty=True)):
        k = f"{key}[{i}]"
        real = expand(path, k)
        if not isinstance(real, str) or not real or "\0" in real:
            raise PolicyError(k, f"{path!r} expands to an unusable path {real!r}")
        check_text(real, k, "the path")
        out.append(real)
    return out


def _ports(value: object, key: str) -> list[int]:
    if not isinstance(value, (list, tuple)):
        raise PolicyError(key, f"must be a list of TCP port numbers such as [443], "
                               f"not {type_name(value)}")
    return [integer(port, f"{key}[{i}]", 1, 65535) for i, port in enumerate(value)]


def _choices(value: object, key: str, allowed: Sequence[str], example: str) -> list[str]:
    """The list at KEY, each item one of ALLOWED, duplicates dropped, order kept."""
    out: list[str] = []
    for i, item in enumerate(str_list(value, key, example)):
        item = choice(item, f"{key}[{i}]", allowed)
        if item not in out:
            out.append(item)
    return out


def parse_spec(section: Mapping[str, Any] | None,
               expand: Callable[[str, str], str] = _default_expand) -> dict[str, Any]:
    """Validates a ``[lockdown]`` section (nested or dotted keys) and returns it flat.

    The result has exactly the keys ``fs.read, fs.write, net.connect_tcp,
    net.bind_tcp, scope, seccomp, threads, require, runtime, tmp`` with defaults filled in and
    templates expanded by ``expand(value, dotted_key)``; parsing it again gives the
    same dict.  Raises ``PolicyError`` whose ``key`` is the dotted path
    (``lockdown.net.connect_tcp[0]``).
    """
    flat = flatten(table({} if section is None else section, "lockdown"), "lockdown",
                   ("fs", "net"), _KEYS)
    spec: dict[str, Any] = {k: (list(v) if isinstance(v, list) else v)
                            for k, v in _DEFAULTS.items()}
    spec.update(flat)
    for key in ("fs.read", "fs.write"):
        spec[key] = _paths(spec[key], f"lockdown.{key}", expand)
    for key in ("net.connect_tcp", "net.bind_tcp"):
        spec[key] = _ports(spec[key], f"lockdown.{key}")
    spec["scope"] = _choices(spec["scope"], "lockdown.scope", _SCOPES, '"signal"')
    for key, modes in (("seccomp", _SECCOMP_MODES), ("threads", _THREAD_MODES),
                       ("runtime", _RUNTIME_MODES), ("tmp", _TMP_MODES)):
        spec[key] = choice(spec[key], f"lockdown.{key}", modes)
    spec["require"] = _choices(spec["require"], "lockdown.require", _REQUIRABLE,
                               '"landlock"')
    return spec
