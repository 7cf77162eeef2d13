"""Policy loading and validation.

A policy is TOML (or the same structure as a dict / JSON).  Validation is strict: every
unknown key, wrong type, malformed path, address, port or module pattern is a
``PolicyError`` whose ``key`` is the dotted path of the offending entry
(``extensions.acme.net.connect[2]``) and whose message says how to fix it.  Nothing is
installed from a policy: this module only builds objects, so a failing policy changes
nothing in the process.

Network rules and module patterns are checked by the same C parser the audit hook
uses (``sdk_guard._guard``), so a rule that validates here is the rule that is enforced.
"""
from __future__ import annotations

import copy
import difflib
import importlib
import ipaddress
import json
import keyword
import os
import re
import string
import sys
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _guard
from .errors import PolicyError

if TYPE_CHECKING:
    from ._guard import ExtensionSpec, GuardSpec

__all__ = ["CAPABILITIES", "PRESETS", "Policy"]

#: Capability names, exactly as docs/design.md spells them (audit events and policy keys).
CAPABILITIES: tuple[str, ...] = (
    "import", "fs.read", "fs.write", "net.connect", "net.bind", "net.resolve",
    "process.spawn", "process.signal", "native", "introspection", "dynamic_code", "threads",
    "process.env",
)

# Import presets.  Each entry is (module, is_package): a package expands to "m" and
# "m.*" so its submodules load.  A preset lists what extension code may *name* in an
# import; the private accelerators each member imports while loading are listed too, so
# the first import of a member works.  Members are side-effect free: they compute on
# values the caller passes in and reach no file, socket or process on their own (where
# one can, the reach goes through an audited operation the guard mediates separately).
_PURE: tuple[tuple[str, bool], ...] = (
    ("json", True), ("_json", False),
    ("re", True), ("_sre", False),                 # re is a package since 3.11
    ("math", False), ("cmath", False),
    ("datetime", False), ("_datetime", False), ("_pydatetime", False),
    ("decimal", False), ("_decimal", False), ("_pydecimal", False),
    ("fractions", False), ("numbers", False),
    ("statistics", False), ("_statistics", False),
    ("collections", True), ("_collections", False), ("_collections_abc", False),
    ("itertools", False), ("functools", False), ("_functools", False),
    ("operator", False), ("_operator", False),
    ("typing", False), ("_typing", False),
    # dataclasses imports inspect while loading; inspect itself is not a member (it
    # hands out frames), and that import is made by dataclasses, not by the extension.
    ("dataclasses", False),
    ("enum", False), ("string", False), ("_string", False), ("textwrap", False),
    # uuid1()'s node lookup may run a helper program or read /sys: both are audited
    # events (process.spawn, fs.read) the guard still decides; uuid4() is pure.
    ("uuid", False), ("_uuid", False),
    ("hashlib", False), ("_hashlib", False), ("hmac", False), ("_md5", False),
    ("_sha1", False), ("_sha2", False), ("_sha256", False), ("_sha512", False),
    ("_sha3", False), ("_blake2", False),
    ("base64", False), ("binascii", False),
    # copy rebuilds objects through __reduce_ex__ but never looks a callable up by
    # name (that is pickle.find_class, which dynamic_code mediates).
    ("copy", False), ("pprint", False),
    ("heapq", False), ("_heapq", False), ("bisect", False), ("_bisect", False),
    ("array", False), ("struct", False), ("_struct", False),
    ("zlib", False),                                # in-memory (de)compression only
    # random.SystemRandom reads os.urandom (a syscall, no file); seeding is per instance.
    ("random", False), ("_random", False),
    ("time", False),
    # calendar's Locale*Calendar switch the process locale and restore it on exit.
    ("calendar", False),
    ("abc", False), ("_abc", False), ("contextlib", False),
    # types exposes CodeType/FunctionType, but constructing either raises the
    # code.__new__/function.__new__ audit events that dynamic_code mediates, and the
    # same classes are reachable from any function object anyway.
    ("types", False),
    ("keyword", False), ("reprlib", False),
)
# Deliberately absent: copyreg (registers reducers for the whole process), io and
# pathlib (their value is file access: name them explicitly), inspect (frames).

_TEXT: tuple[tuple[str, bool], ...] = (
    ("string", False), ("_string", False), ("textwrap", False),
    ("re", True), ("_sre", False), ("unicodedata", False),
    ("difflib", False), ("heapq", False), ("_heapq", False),
    ("html", True), ("_markupbase", False),
    ("fnmatch", False), ("shlex", False),           # shlex reads a file only via open()
    ("csv", False), ("_csv", False),                # readers/writers over caller objects
)

#: Preset name -> module patterns it expands to.
PRESETS: dict[str, tuple[str, ...]] = {}
for _name, _members in (("@pure", _PURE), ("@text", _TEXT)):
    _pats: list[str] = []
    for _mod, _pkg in _members:
        _pats.append(_mod)
        if _pkg:
            _pats.append(_mod + ".*")
    PRESETS[_name] = tuple(dict.fromkeys(_pats))
del _name, _members, _pats, _mod, _pkg

_TEMPLATE_NAMES = ("data", "home", "tmp", "prefix")

_MODES = ("enforce", "monitor")
_AUDIT_LEVELS = ("deny", "all")
_UNATTRIBUTED = ("deny", "allow")

# Extension keys after nested tables are flattened ("fs.read"), with their kinds.
_EXT_LISTS = ("imports.allow", "imports.deny", "fs.read", "fs.write", "net.connect",
              "net.bind", "net.resolve", "approve")
_EXT_BOOLS = {"process.spawn": False, "process.signal": False, "process.env": False,
              "native": False,
              "introspection": False, "dynamic_code": False, "threads": True}
_EXT_STRINGS = ("package", "path")
# Entry-point plugins (sdk_guard._distributions): the distribution whose RECORD defines
# the extension's code, and whether its entry points failing to load is fatal.
_EXT_PLUGIN = ("distribution", "required")
_EXT_KEYS = _EXT_STRINGS + _EXT_LISTS + tuple(_EXT_BOOLS) + _EXT_PLUGIN
_EXT_GROUPS = ("imports", "fs", "net", "process")

_TOP_KEYS = ("version", "guard", "host", "extensions", "lockdown", "audit", "media",
             "egress", "actions")
_GUARD_KEYS = ("mode", "audit", "unattributed", "subinterpreters")
_HOST_KEYS = ("trusted", "public", "private", "hints", "data")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_EXT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")

# ---- small helpers ---------------------------------------------------------------

def _join(key: str, sub: str) -> str:
    return f"{key}.{sub}" if key else sub


def _unknown_key(key: str, name: str, known: tuple[str, ...] | list[str]) -> PolicyError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f'did you mean "{close[0]}"? ' if close else ""
    return PolicyError(_join(key, name),
                       f"unknown key; {hint}known keys here: {', '.join(known)}")


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _table(value: object, key: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(key, f"must be a table ([{key}] or {{...}}), not {_type_name(value)}")
    return dict(value)


def _str(value: object, key: str, example: str) -> str:
    if not isinstance(value, str):
        raise PolicyError(key, f"must be a string such as {example}, not {_type_name(value)}")
    if "\0" in value:
        raise PolicyError(key, "contains a NUL character; remove it")
    return value


def _str_list(value: object, key: str, example: str) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise PolicyError(key, f"must be a list of strings such as [{example}], "
                               f"not {_type_name(value)}")
    return [_str(item, f"{key}[{i}]", example) for i, item in enumerate(value)]


def _bool(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(key, f"must be true or false, not {_type_name(value)} {value!r}")
    return value


def _choice(value: object, key: str, choices: tuple[str, ...]) -> str:
    quoted = " or ".join(f'"{c}"' for c in choices)
    if not isinstance(value, str) or value not in choices:
        raise PolicyError(key, f"must be {quoted}, not {value!r}")
    return value


def _dotted_module(value: str, key: str, what: str = "module name") -> str:
    parts = value.split(".")
    if not value or not all(_IDENT.match(p) and not keyword.iskeyword(p) for p in parts):
        raise PolicyError(key, f"{value!r} is not a valid {what}; write dotted Python "
                               f'identifiers such as "acme" or "acme.plugins"')
    return value


def _module_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _flatten(section: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Flattens the known nested tables of an extension ({"fs": {"read": ...}}) into
    dotted keys, accepting literal dotted keys too; a key given both ways is an error."""
    flat: dict[str, Any] = {}
    for name, value in section.items():
        if not isinstance(name, str):
            raise PolicyError(key, f"keys must be strings, not {name!r}")
        if name in _EXT_GROUPS:
            group = _table(value, _join(key, name))
            for sub, subvalue in group.items():
                full = f"{name}.{sub}"
                if full not in _EXT_KEYS:
                    raise _unknown_key(key, full, list(_EXT_KEYS))
                if full in flat:
                    raise PolicyError(_join(key, full), "given twice (as a dotted key and in "
                                                        "a table); keep one")
                flat[full] = subvalue
            continue
        if name not in _EXT_KEYS:
            raise _unknown_key(key, name, list(_EXT_KEYS))
        if name in flat:
            raise PolicyError(_join(key, name), "given twice (as a dotted key and in a "
                                                "table); keep one")
        flat[name] = value
    return flat


# ---- the shape every policy input must have ----------------------------------------

# No policy needs deeper nesting than [extensions.NAME.net] = {connect = [...]}; a
# limit well above that keeps a hostile file from exhausting the C stack or the
# recursion limit in copying, validating or printing it.
_MAX_DEPTH = 16
# No policy value is a number beyond 64 bits; a larger one cannot even be printed in an
# error message once it exceeds sys.get_int_max_str_digits().
_MAX_INT = 1 << 64


def _check_shape(doc: Mapping[str, Any]) -> None:
    """Refuses, as a PolicyError naming the dotted key, what no validator downstream is
    built to see: nesting deeper than _MAX_DEPTH (or a structure that contains itself),
    a non-string key, a string with a NUL or a lone surrogate (neither reaches a file
    system, a log or a terminal intact) and an integer beyond 64 bits.  Iterative, so
    the check itself cannot exhaust the stack."""
    stack: list[tuple[object, str, int]] = [(doc, "", 0)]
    while stack:
        value, key, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise PolicyError(key, f"is nested more than {_MAX_DEPTH} levels deep; a policy "
                                   "needs a few levels (tables of lists of strings)")
        if isinstance(value, Mapping):
            for name, sub in value.items():
                if not isinstance(name, str):
                    raise PolicyError(key, f"keys must be strings, not {_type_name(name)} "
                                           f"{_short_repr(name)}")
                _check_text(name, key, "a key here")
                stack.append((sub, _join(key, name), depth + 1))
        elif isinstance(value, (list, tuple)):
            for i, sub in enumerate(value):
                stack.append((sub, f"{key}[{i}]", depth + 1))
        elif isinstance(value, str):
            _check_text(value, key, "the value")
        elif isinstance(value, int) and not isinstance(value, bool):
            if not -_MAX_INT < value < _MAX_INT:
                raise PolicyError(key, "is a number too large for any policy value "
                                       "(more than 64 bits)")


def _check_text(text: str, key: str, what: str) -> None:
    if "\0" in text:
        raise PolicyError(key, f"{what} contains a NUL character; remove it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PolicyError(key, f"{what} {_short_repr(text)} contains a lone surrogate "
                               f"({ascii(text[exc.start])}) at position {exc.start}, which "
                               "is not a character; write valid Unicode") from None


def _short_repr(value: object, limit: int = 80) -> str:
    """repr() for messages: ASCII-only and bounded, so a message always prints."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _MAX_INT:
        return f"<{value.bit_length()}-bit number>"
    try:
        text = ascii(value)
    except Exception:  # a foreign __repr__ is not ours to trust
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _escape_braces(text: str) -> str:
    """A literal string as a template that expands back to it ({ and } doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


# ---- templates ---------------------------------------------------------------------

def _template_fields(value: str, key: str) -> list[tuple[str, str | None, str | None,
                                                     str | None]]:
    try:
        return list(string.Formatter().parse(value))
    except ValueError as exc:
        raise PolicyError(key, f"{value!r}: {exc}; templates are written {{data}}, and a "
                               "literal brace is doubled ({{ or }})") from None


class _Templates:
    """Expands {data} {home} {tmp} {prefix} (and caller variables) in policy strings."""

    def __init__(self, variables: Mapping[str, str] | None) -> None:
        self.values: dict[str, str | None] = {
            "data": None,
            "home": os.path.expanduser("~"),
            "tmp": tempfile.gettempdir(),
            "prefix": sys.prefix,
        }
        if variables is not None and not isinstance(variables, Mapping):
            raise PolicyError("", f"variables must be a mapping of template names to paths, "
                                  f"not {_type_name(variables)}")
        for name, value in (variables or {}).items():
            if not isinstance(name, str) or not _IDENT.match(name):
                raise PolicyError("", f"variables: {_short_repr(name)} is not a template name; "
                                      "use an identifier such as \"data\"")
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            if not isinstance(value, str):
                raise PolicyError("", f"variables[{name!r}] must be a string path, "
                                      f"not {_type_name(value)}")
            _check_text(value, "", f"variables[{name!r}]")
            self.values[name] = value
        self.data_from_variables = self.values["data"] is not None

    def expand(self, value: str, key: str) -> str:
        out: list[str] = []
        fields = _template_fields(value, key)
        for literal, field, spec, conv in fields:
            out.append(literal)
            if field is None:
                continue
            if spec or conv or field not in self.values:
                known = ", ".join("{" + n + "}" for n in self.values)
                raise PolicyError(key, f"unknown template {{{field}{'!' + conv if conv else ''}"
                                       f"{':' + spec if spec else ''}}} in {value!r}; "
                                       f"use one of {known}")
            sub = self.values[field]
            if sub is None:
                raise PolicyError(key, f"{value!r} uses {{{field}}} but no {field} directory is "
                                       f'set; set host.data = "/path" or pass '
                                       f'variables={{"{field}": "/path"}}')
            out.append(sub)
        return "".join(out)


# ---- section validators --------------------------------------------------------------

def _fs_path(value: str, key: str, templates: _Templates) -> str:
    expanded = templates.expand(value, key)
    if not expanded:
        raise PolicyError(key, "is empty; write an absolute path such as \"{data}/acme\"")
    if not os.path.isabs(expanded):
        hint = " ({home} instead of ~)" if expanded.startswith("~") else ""
        raise PolicyError(key, f"{value!r} is not absolute; write an absolute path or start it "
                               f"with {{data}}, {{home}}, {{tmp}} or {{prefix}}{hint}")
    # Rules are compared with resolved targets, so a symlinked rule directory must be
    # stored as the directory it points to.
    return os.path.realpath(expanded)


def _net_rule_fix(spec: str) -> str:
    """Says what is wrong with SPEC (the C parser rejected it) and how to write it."""
    if not spec:
        return 'is empty; write "HOST:PORT", e.g. "api.example.com:443"'
    if spec.count(":") > 1 and not spec.startswith("["):
        return f'{spec!r}: put IPv6 addresses in brackets, e.g. "[::1]:8080" or "[2001:db8::/32]:443"'
    host, sep, port = spec.rpartition(":")
    if spec.startswith("[") and "]:" not in spec:
        return f'{spec!r} has no port after the brackets; write "[ADDRESS]:PORT", e.g. "[::1]:8080"'
    if not sep or not port or (spec.startswith("[") and spec.endswith("]")):
        return (f'{spec!r} has no port; write "{spec}:PORT" (HOST:PORT), '
                f'and "*" only if any port is meant')
    if port != "*":
        lo_hi = port.split("-", 1)
        if not all(p.isdigit() and p.isascii() for p in lo_hi):
            return f'{spec!r}: port {port!r} must be a number 1..65535, a range "LO-HI" or "*"'
        if any(len(p.lstrip("0")) > 5 for p in lo_hi):
            return (f"{_short_repr(spec)}: port {_short_repr(port)} is out of range; use "
                    '1..65535 (or "*" for any port)')
        nums = [int(p) for p in lo_hi]
        bad = [n for n in nums if not 1 <= n <= 65535]
        if bad:
            return f"{spec!r}: port {bad[0]} is out of range; use 1..65535 (or \"*\" for any port)"
        if len(nums) == 2 and nums[0] > nums[1]:
            return f'{spec!r}: port range {port} is reversed; write "{nums[1]}-{nums[0]}"'
    host = host.strip("[]")
    if "/" in host:
        base, _, plen = host.partition("/")
        try:
            net = ipaddress.ip_network(host, strict=False)
        except ValueError:
            try:
                ip = ipaddress.ip_address(base)
            except ValueError:
                return (f"{spec!r}: {base!r} is not an IP address; a CIDR is written "
                        f'"10.0.0.0/8:PORT" or "[2001:db8::/32]:PORT"')
            limit = 32 if ip.version == 4 else 128
            return (f"{spec!r}: prefix length /{plen} is not valid for IPv{ip.version}; "
                    f"use 0..{limit}")
        if str(net.network_address) != base:
            single = f"[{base}]" if ":" in base else base
            return (f"{spec!r}: {host} has host bits set; write {net.with_prefixlen} for the "
                    f"network or {single}:{port} for the single address")
        return f'{spec!r}: malformed CIDR; write it as "10.0.0.0/8:{port}"'
    return (f"{spec!r}: {host!r} is neither an IP address nor a host name; write "
            f'"api.example.com:443", "10.0.0.5:5432" or "[::1]:8080"')


# An IPv4 part with a leading zero ("010") is octal to the C library: 8, not 10.
_OCTAL_PART = re.compile(r"(?:^|\.)0[0-9]")
_DOTTED_DIGITS = re.compile(r"[0-9.]+")


def _net_rules(values: list[str], key: str, *, bind: bool) -> list[str]:
    out = []
    for i, spec in enumerate(values):
        k = f"{key}[{i}]"
        base = spec.rpartition(":")[0].partition("/")[0]
        if _DOTTED_DIGITS.fullmatch(base) and _OCTAL_PART.search(base):
            raise PolicyError(k, f"{spec!r}: an address part with a leading zero is read as "
                                 "octal (010 is 8); write it without leading zeros")
        try:
            kind, addr, prefixlen, _lo, _hi = _guard.parse_net_rule(spec)
        except ValueError:
            raise PolicyError(k, _net_rule_fix(spec)) from None
        if (not bind and kind == "ip" and addr in ("0.0.0.0", "::")
                and prefixlen in (32, 128)):
            raise PolicyError(k, f"{spec!r}: the unspecified address is only meaningful in "
                                 "net.bind; connecting to it reaches loopback, so write "
                                 f'"127.0.0.1:{spec.rpartition(":")[2]}" instead')
        out.append(spec)
    return out


def _host_names(values: list[str], key: str) -> list[str]:
    out = []
    for i, name in enumerate(values):
        k = f"{key}[{i}]"
        # The C rule parser validates names exactly as the hook will compare them.
        try:
            kind, addr, *_ = _guard.parse_net_rule(f"{name}:1")
        except ValueError:
            kind = addr = ""
        if not name or kind != "name":
            raise PolicyError(k, f"{name!r} is not a host name; write names such as "
                                 '"api.example.com" (addresses need no resolving)')
        out.append(addr)
    return list(dict.fromkeys(out))


def _module_patterns(values: list[str], key: str, *, presets: bool) -> list[str]:
    out = []
    for i, pat in enumerate(values):
        k = f"{key}[{i}]"
        if pat.startswith("@"):
            if not presets or pat not in PRESETS:
                raise PolicyError(k, f"unknown preset {pat!r}; known presets: "
                                     f"{', '.join(PRESETS)}")
        else:
            try:
                _guard.module_match([pat], "_")
            except ValueError:
                raise PolicyError(k, f"{pat!r} is not a module pattern; write \"pkg\" (exactly "
                                     'pkg), "pkg.*" (its submodules) or "*" (everything)') from None
        out.append(pat)
    return out


def _expand_presets(patterns: list[str]) -> list[str]:
    out: list[str] = []
    for pat in patterns:
        out.extend(PRESETS[pat] if pat.startswith("@") else (pat,))
    return list(dict.fromkeys(out))


def _module_list(values: object, key: str) -> list[str]:
    return [_dotted_module(m, f"{key}[{i}]")
            for i, m in enumerate(_str_list(values, key, '"sdk"'))]


def _parse_guard(raw: object) -> dict[str, str]:
    section = _table(raw, "guard")
    for name in section:
        if name not in _GUARD_KEYS:
            raise _unknown_key("guard", name, _GUARD_KEYS)
    return {
        "mode": _choice(section.get("mode", "enforce"), "guard.mode", _MODES),
        "audit": _choice(section.get("audit", "deny"), "guard.audit", _AUDIT_LEVELS),
        "unattributed": _choice(section.get("unattributed", "deny"), "guard.unattributed",
                                _UNATTRIBUTED),
        # Sub-interpreters cannot be mediated (the policy's objects belong to this
        # interpreter): "deny" refuses every mediated operation in them, so none can
        # start; "allow" lets the host run them unmediated.
        "subinterpreters": _choice(section.get("subinterpreters", "deny"),
                                   "guard.subinterpreters", _UNATTRIBUTED),
    }


def _parse_host(raw: object, templates: _Templates) -> dict[str, Any]:
    section = _table(raw, "host")
    for name in section:
        if name not in _HOST_KEYS:
            raise _unknown_key("host", name, _HOST_KEYS)
    host: dict[str, Any] = {
        "trusted": _module_list(section.get("trusted", []), "host.trusted"),
        "public": _module_list(section.get("public", []), "host.public"),
        "private": _module_list(section.get("private", []), "host.private"),
    }
    hints = _table(section.get("hints", {}), "host.hints")
    host["hints"] = {}
    for mod, hint in hints.items():
        k = f"host.hints.{mod}"
        _dotted_module(mod, k)
        host["hints"][mod] = _str(hint, k, '"use sdk.database instead"')
    for mod in host["public"]:
        for priv in host["private"]:
            if _module_under(mod, priv) or _module_under(priv, mod):
                raise PolicyError("host.public", f"{mod!r} overlaps host.private {priv!r}; a "
                                                 "module cannot be both public and private")
    data = section.get("data")
    if data is not None:
        text = _str(data, "host.data", '"/var/lib/myapp"')
        if any(field == "data" for _, field, _, _ in _template_fields(text, "host.data")):
            raise PolicyError("host.data", "cannot refer to itself; use {home}, {tmp}, "
                                           "{prefix} or an absolute path")
        expanded = templates.expand(text, "host.data")
        if not os.path.isabs(expanded):
            raise PolicyError("host.data", f"{text!r} is not absolute; write an absolute path "
                                           "or start it with {home}, {tmp} or {prefix}")
        expanded = os.path.normpath(expanded)
        host["data"] = expanded
        if not templates.data_from_variables:
            templates.values["data"] = expanded
    return host


def _granted(ext: Mapping[str, Any], cap: str) -> bool:
    # An extension may always import its own package, so "import" is always granted;
    # every other capability is a non-empty list or a true flag.
    return cap == "import" or bool(ext[cap])


def _parse_extension(name: str, raw: object, host: Mapping[str, Any],
                     templates: _Templates, base_dir: Path) -> dict[str, Any]:
    key = f"extensions.{name}"
    if not _EXT_NAME.match(name):
        raise PolicyError(key, f"{name!r} is not a usable extension name; use letters, "
                               "digits, '_', '-' and '.'")
    flat = _flatten(_table(raw, key), key)
    if flat.get("distribution") is not None:
        from ._distributions import identity_from_distribution
        flat = identity_from_distribution(flat, key)
    k = f"{key}.package"
    if "package" not in flat:
        raise PolicyError(k, f'is required; add package = "{name}" (the top-level module '
                             "of this extension's code)")
    package = _str(flat["package"], k, '"acme"')
    if not package:
        raise PolicyError(k, "is empty; name the extension's top-level module, e.g. "
                             f'package = "{name}"')
    _dotted_module(package, k, "package name")
    for prefix in host["trusted"]:
        if _module_under(package, prefix) or _module_under(prefix, package):
            raise PolicyError(k, f"{package!r} overlaps host.trusted {prefix!r}: trusted code "
                                 "is never mediated; move the extension to its own package")
    for prefix in host["private"]:
        if _module_under(package, prefix) or _module_under(prefix, package):
            raise PolicyError(k, f"{package!r} overlaps host.private {prefix!r}; move the "
                                 "extension to its own package")

    ext: dict[str, Any] = {"package": package, "path": None}
    if flat.get("distribution") is not None:
        ext["distribution"] = flat["distribution"]
        ext["required"] = _bool(flat.get("required", False), f"{key}.required")
    elif "required" in flat:
        raise PolicyError(f"{key}.required", "applies to entry-point plugins; add "
                                             'distribution = "NAME" or remove it')
    if flat.get("path") is not None:
        k = f"{key}.path"
        text = templates.expand(_str(flat["path"], k, '"plugins"'), k)
        if not text:
            raise PolicyError(k, "is empty; name the directory the package is imported from")
        # A relative directory is relative to the policy file, so a checked-in policy
        # keeps working wherever it is checked out.
        ext["path"] = os.path.realpath(base_dir / text)

    for cap in ("imports.allow", "imports.deny"):
        values = _str_list(flat.get(cap, []), f"{key}.{cap}", '"sdk", "@pure"')
        ext[cap] = _module_patterns(values, f"{key}.{cap}", presets=True)
    for i, pat in enumerate(ext["imports.allow"]):
        if pat.startswith("@") or pat == "*":
            continue
        base = pat[:-2] if pat.endswith(".*") else pat
        for priv in host["private"]:
            if _module_under(base, priv):
                raise PolicyError(f"{key}.imports.allow[{i}]",
                                  f"{pat!r} is under host.private {priv!r}, which extensions "
                                  "may never import; remove it (or make the module public)")
    for cap in ("fs.read", "fs.write"):
        k = f"{key}.{cap}"
        values = _str_list(flat.get(cap, []), k, '"{data}/' + name + '"')
        ext[cap] = list(dict.fromkeys(
            _fs_path(v, f"{k}[{i}]", templates) for i, v in enumerate(values)))
    for cap, bind in (("net.connect", False), ("net.bind", True)):
        k = f"{key}.{cap}"
        ext[cap] = _net_rules(_str_list(flat.get(cap, []), k, '"api.example.com:443"'), k,
                              bind=bind)
    k = f"{key}.net.resolve"
    ext["net.resolve"] = _host_names(_str_list(flat.get("net.resolve", []), k,
                                               '"api.example.com"'), k)
    for cap, default in _EXT_BOOLS.items():
        ext[cap] = _bool(flat.get(cap, default), f"{key}.{cap}")

    k = f"{key}.approve"
    approve = _str_list(flat.get("approve", []), k, '"net.connect"')
    for i, cap in enumerate(approve):
        if cap not in CAPABILITIES:
            close = difflib.get_close_matches(cap, CAPABILITIES, n=1)
            hint = f'did you mean "{close[0]}"? ' if close else ""
            raise PolicyError(f"{k}[{i}]", f"unknown capability {cap!r}; {hint}capabilities: "
                                           f"{', '.join(CAPABILITIES)}")
        if approve.index(cap) != i:
            raise PolicyError(f"{k}[{i}]", f"{cap!r} is listed twice; keep one")
        implied = cap == "net.resolve" and any(
            _guard.parse_net_rule(r)[0] == "name" for r in ext["net.connect"])
        if not _granted(ext, cap) and not implied:
            raise PolicyError(f"{k}[{i}]", f"{cap!r} needs approval but {key}.{cap} grants "
                                           "nothing; grant it or remove it from approve")
    ext["approve"] = approve
    return ext


def _escaped(section: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """SECTION with the expanded strings (or lists of them) at KEYS as templates."""
    out = dict(section)
    for k in keys:
        v = out.get(k)
        if isinstance(v, str):
            out[k] = _escape_braces(v)
        elif isinstance(v, list):
            out[k] = [_escape_braces(x) if isinstance(x, str) else x for x in v]
    return out


def _nested(ext: Mapping[str, Any]) -> dict[str, Any]:
    """The flat validated extension as the nested structure TOML would produce."""
    out: dict[str, Any] = {}
    for name, value in ext.items():
        group, dot, sub = name.partition(".")
        if dot:
            out.setdefault(group, {})[sub] = value
        else:
            out[name] = value
    return out


def _delegate(section_name: str, raw: object, templates: _Templates) -> Any:
    """Validates [lockdown], [audit], [media] or [actions] with the module that owns it."""
    section = _table(raw, section_name)
    # Imported here: those modules import this one, and only policies with the section
    # need them.
    module = importlib.import_module("sdk_guard._lockdown_spec" if section_name == "lockdown"
                                     else f"sdk_guard.{section_name}")
    fn = getattr(module, "parse_spec" if section_name == "lockdown" else "parse_config")
    try:
        if section_name == "lockdown":
            return fn(section, templates.expand)
        return fn(section)
    except PolicyError:
        raise
    except (TypeError, ValueError) as exc:
        raise PolicyError(section_name, str(exc)) from None


def _read_text(path: Path) -> str:
    """The file's text; bytes that are not UTF-8 are a PolicyError saying where (an
    OSError, e.g. a missing file, propagates: that is not a bad policy)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise PolicyError("", f"{_short_repr(os.fsdecode(path), 200)}: not UTF-8 text "
                              f"(byte 0x{raw[exc.start]:02x} at offset {exc.start}, line "
                              f"{line}); policies are UTF-8") from None


# ---- the Policy ------------------------------------------------------------------------

class Policy:
    """A validated policy.  Build with :meth:`from_toml`, :meth:`from_dict` or
    :meth:`from_file`; the constructor is not public API."""

    data: dict[str, Any]
    """The validated, template-expanded policy as plain data (defaults filled in)."""
    _media: Any = None

    def __init__(self, data: dict[str, Any], flat: dict[str, dict[str, Any]],
                 lockdown: Any, audit: Any, source: str | None = None,
                 variables: dict[str, str] | None = None) -> None:
        self.data = data
        self._flat = flat
        self._variables = dict(variables or {})
        self._lockdown = lockdown
        self._audit = audit
        self.source = source

    # -- constructors

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, variables: Mapping[str, str] | None = None,
                  base_dir: str | os.PathLike[str] | None = None,
                  source: str | None = None) -> Policy:
        """Validates D (the TOML structure; dotted keys nested or literal).

        ``variables`` sets template values ({data}, or names of your own);
        ``base_dir`` is what a relative ``extensions.NAME.path`` is relative to
        (default: the current directory).
        """
        if not isinstance(d, Mapping):
            raise PolicyError("", f"a policy is a table (dict), not {_type_name(d)}")
        _check_shape(d)
        d = copy.deepcopy(dict(d))
        for name in d:
            if name not in _TOP_KEYS:
                raise _unknown_key("", str(name), _TOP_KEYS)
        if "version" not in d:
            raise PolicyError("version", "is required; add version = 1 at the top")
        version = d["version"]
        if isinstance(version, bool) or not isinstance(version, int) or version != 1:
            raise PolicyError("version", f"must be 1 (the only policy version), not "
                                         f"{_short_repr(version)}")

        templates = _Templates(variables)
        guard = _parse_guard(d.get("guard", {}))
        host = _parse_host(d.get("host", {}), templates)
        base = Path(base_dir) if base_dir is not None else Path.cwd()

        exts_raw = _table(d.get("extensions", {}), "extensions")
        exts: dict[str, dict[str, Any]] = {}
        owner: dict[str, str] = {}
        for name, raw in exts_raw.items():
            ext = _parse_extension(str(name), raw, host, templates, base)
            for other_pkg, other in owner.items():
                if _module_under(ext["package"], other_pkg) or _module_under(other_pkg,
                                                                              ext["package"]):
                    raise PolicyError(f"extensions.{name}.package",
                                      f"{ext['package']!r} overlaps extensions.{other}.package "
                                      f"{other_pkg!r}; each module belongs to one extension, "
                                      "so give them separate packages")
            owner[ext["package"]] = str(name)
            exts[str(name)] = ext

        lockdown = (_delegate("lockdown", d["lockdown"], templates)
                    if "lockdown" in d else None)
        audit = _delegate("audit", d["audit"], templates) if "audit" in d else None
        media = _delegate("media", d["media"], templates) if "media" in d else None
        for i, who in enumerate(media.mint if media is not None else ()):
            if who not in exts:
                raise PolicyError(f"media.mint[{i}]", f"{who!r} is not an extension in this "
                                                      "policy; name one of [extensions]")
        egress = _delegate("egress", d["egress"], templates) if "egress" in d else None
        actions = _delegate("actions", d["actions"], templates) if "actions" in d else None

        # data is itself a policy: strings that went through template expansion keep
        # their literal braces doubled, so from_dict(data) reads back the same paths.
        data: dict[str, Any] = {
            "version": 1,
            "guard": guard,
            "host": _escaped(host, ("data",)),
            "extensions": {n: _nested(_escaped(e, ("path", "fs.read", "fs.write")))
                           for n, e in exts.items()},
        }
        if lockdown is not None:
            data["lockdown"] = _escaped(lockdown, ("fs.read", "fs.write"))
        if audit is not None:
            data["audit"] = audit
        if media is not None:
            data["media"] = media.as_dict()
        if egress is not None:
            data["egress"] = egress
        if actions is not None:
            data["actions"] = actions
        defined = {k: v for k, v in templates.values.items() if v is not None}
        policy = cls(data, exts, lockdown, audit, source, defined)
        policy._media = media
        return policy

    @classmethod
    def from_toml(cls, path_or_text: str | os.PathLike[str], *,
                  variables: Mapping[str, str] | None = None) -> Policy:
        """Loads a TOML policy from a file (a path-like, or a str naming a file) or
        from TOML text (a str containing a newline or "=")."""
        if isinstance(path_or_text, os.PathLike) or (
                isinstance(path_or_text, str) and "\n" not in path_or_text
                and "=" not in path_or_text):
            path = Path(path_or_text)
            return cls._from_toml_text(_read_text(path), variables,
                                       path.resolve().parent, os.fsdecode(path))
        if not isinstance(path_or_text, str):
            raise TypeError(f"from_toml() takes a path or TOML text, not "
                            f"{type(path_or_text).__name__}")
        return cls._from_toml_text(path_or_text, variables, None, None)

    @classmethod
    def _from_toml_text(cls, text: str, variables: Mapping[str, str] | None,
                        base_dir: Path | None, source: str | None) -> Policy:
        where = f"{_short_repr(source, 200)}: " if source else ""
        try:
            d = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError("", f"{where}not valid TOML: {exc}") from None
        except RecursionError:
            raise PolicyError("", f"{where}not a usable policy: arrays or tables are nested "
                                  "too deeply") from None
        except ValueError as exc:      # e.g. an integer beyond int()'s digit limit
            raise PolicyError("", f"{where}not a usable policy: {exc}") from None
        return cls.from_dict(d, variables=variables, base_dir=base_dir, source=source)

    @classmethod
    def from_file(cls, p: str | os.PathLike[str], *,
                  variables: Mapping[str, str] | None = None) -> Policy:
        """Loads a policy file by suffix: .toml or .json."""
        path = Path(p)
        suffix = path.suffix.lower()
        if suffix == ".toml":
            return cls.from_toml(path, variables=variables)
        if suffix == ".json":
            where = _short_repr(os.fsdecode(path), 200)
            try:
                d = json.loads(_read_text(path))
            except json.JSONDecodeError as exc:
                raise PolicyError("", f"{where}: not valid JSON: {exc}") from None
            except RecursionError:
                raise PolicyError("", f"{where}: not a usable policy: arrays or objects are "
                                      "nested too deeply") from None
            except ValueError as exc:  # e.g. an integer beyond int()'s digit limit
                raise PolicyError("", f"{where}: not a usable policy: {exc}") from None
            return cls.from_dict(d, variables=variables, base_dir=path.resolve().parent,
                                 source=str(path))
        raise PolicyError("", f"{_short_repr(os.fsdecode(path), 200)}: unknown policy file "
                              f"type {_short_repr(suffix or '(none)')}; "
                              "use a .toml or .json file")

    # -- views

    @property
    def extensions(self) -> list[str]:
        """Extension (principal) names, in policy order."""
        return list(self.data["extensions"])

    @property
    def mode(self) -> str:
        return str(self.data["guard"]["mode"])

    @property
    def variables(self) -> dict[str, str]:
        """Template values this policy was expanded with ({data} only when set), for
        sections expanded later (audit sink paths)."""
        return dict(self._variables)

    def lockdown_spec(self) -> Any:
        """The [lockdown] section as sdk_guard._lockdown_spec.parse_spec returned it, or None
        when the policy has no [lockdown] section."""
        return copy.deepcopy(self._lockdown)

    def audit_config(self) -> Any:
        """The [audit] section as sdk_guard.audit.parse_config returned it, or None when
        the policy has no [audit] section."""
        return copy.deepcopy(self._audit)

    def media_config(self) -> Any:
        """The [media] section as sdk_guard.media.parse_config returned it (a
        MediaConfig), or None when the policy has no [media] section."""
        return self._media

    def to_spec(self) -> GuardSpec:
        """The flat structure the C hook's install() consumes (presets expanded, paths
        absolute and resolved, names lower-case): a new GuardSpec on each call."""
        guard, host = self.data["guard"], self.data["host"]
        exts: list[ExtensionSpec] = []
        for name, ext in self._flat.items():
            names_in_connect = [
                _guard.parse_net_rule(r)[1] for r in ext["net.connect"]
                if _guard.parse_net_rule(r)[0] == "name"]
            exts.append({
                "name": name,
                "package": ext["package"],
                "path": ext["path"],
                "imports_allow": _expand_presets(ext["imports.allow"]),
                "imports_deny": _expand_presets(ext["imports.deny"]),
                "fs_read": list(ext["fs.read"]),
                "fs_write": list(ext["fs.write"]),
                "net_connect": list(ext["net.connect"]),
                "net_bind": list(ext["net.bind"]),
                # Names an extension may connect to are names it may resolve.
                "net_resolve": list(dict.fromkeys(ext["net.resolve"] + names_in_connect)),
                "process_spawn": ext["process.spawn"],
                "process_signal": ext["process.signal"],
                "process_env": ext["process.env"],
                "native": ext["native"],
                "introspection": ext["introspection"],
                "dynamic_code": ext["dynamic_code"],
                "threads": ext["threads"],
                "approve": list(ext["approve"]),
            })
        return {
            "mode": guard["mode"],
            "audit": guard["audit"],
            "unattributed": guard["unattributed"],
            "subinterpreters": guard["subinterpreters"],
            "trusted": list(host["trusted"]),
            "public": list(host["public"]),
            "private": list(host["private"]),
            "hints": dict(host["hints"]),
            "extensions": exts,
        }

    def extension(self, name: str) -> dict[str, Any]:
        """One extension's validated section (nested, as in ``data``)."""
        try:
            return copy.deepcopy(self.data["extensions"][name])
        except KeyError:
            raise KeyError(f"no extension {name!r} in this policy; "
                           f"known: {', '.join(self.extensions) or '(none)'}") from None

    def __repr__(self) -> str:
        src = f" from {self.source}" if self.source else ""
        return f"<Policy{src} mode={self.mode} extensions={self.extensions}>"
