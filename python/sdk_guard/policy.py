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
import json
import keyword
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _guard
from ._config.templates import Templates, escape_braces, template_fields
from ._config.validate import (
    IDENT,
    MAX_INT,
    boolean,
    check_keys,
    check_text,
    choice,
    flatten,
    join,
    short_repr,
    str_list,
    string,
    table,
    type_name,
    unknown_key,
)
from ._netrules import host_names, net_rules
from ._presets import PRESETS, expand_presets
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

_EXT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")

# ---- small helpers ---------------------------------------------------------------

def _dotted_module(value: str, key: str, what: str = "module name") -> str:
    parts = value.split(".")
    if not value or not all(IDENT.match(p) and not keyword.iskeyword(p) for p in parts):
        raise PolicyError(key, f"{value!r} is not a valid {what}; write dotted Python "
                               f'identifiers such as "acme" or "acme.plugins"')
    return value


def _module_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


# ---- the shape every policy input must have ----------------------------------------

# No policy needs deeper nesting than [extensions.NAME.net] = {connect = [...]}; a
# limit well above that keeps a hostile file from exhausting the C stack or the
# recursion limit in copying, validating or printing it.
_MAX_DEPTH = 16


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
                    raise PolicyError(key, f"keys must be strings, not {type_name(name)} "
                                           f"{short_repr(name)}")
                check_text(name, key, "a key here")
                stack.append((sub, join(key, name), depth + 1))
        elif isinstance(value, (list, tuple)):
            for i, sub in enumerate(value):
                stack.append((sub, f"{key}[{i}]", depth + 1))
        elif isinstance(value, str):
            check_text(value, key, "the value")
        elif isinstance(value, int) and not isinstance(value, bool):
            if not -MAX_INT < value < MAX_INT:
                raise PolicyError(key, "is a number too large for any policy value "
                                       "(more than 64 bits)")


# ---- section validators --------------------------------------------------------------

def _fs_path(value: str, key: str, templates: Templates) -> str:
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


def _module_list(values: object, key: str) -> list[str]:
    return [_dotted_module(m, f"{key}[{i}]")
            for i, m in enumerate(str_list(values, key, '"sdk"'))]


def _parse_guard(raw: object) -> dict[str, str]:
    section = table(raw, "guard")
    check_keys(section, "guard", _GUARD_KEYS)
    return {
        "mode": choice(section.get("mode", "enforce"), "guard.mode", _MODES),
        "audit": choice(section.get("audit", "deny"), "guard.audit", _AUDIT_LEVELS),
        "unattributed": choice(section.get("unattributed", "deny"), "guard.unattributed",
                                _UNATTRIBUTED),
        # Sub-interpreters cannot be mediated (the policy's objects belong to this
        # interpreter): "deny" refuses every mediated operation in them, so none can
        # start; "allow" lets the host run them unmediated.
        "subinterpreters": choice(section.get("subinterpreters", "deny"),
                                   "guard.subinterpreters", _UNATTRIBUTED),
    }


def _parse_host(raw: object, templates: Templates) -> dict[str, Any]:
    section = table(raw, "host")
    check_keys(section, "host", _HOST_KEYS)
    host: dict[str, Any] = {
        "trusted": _module_list(section.get("trusted", []), "host.trusted"),
        "public": _module_list(section.get("public", []), "host.public"),
        "private": _module_list(section.get("private", []), "host.private"),
    }
    hints = table(section.get("hints", {}), "host.hints")
    host["hints"] = {}
    for mod, hint in hints.items():
        k = f"host.hints.{mod}"
        _dotted_module(mod, k)
        host["hints"][mod] = string(hint, k, '"use sdk.database instead"')
    for mod in host["public"]:
        for priv in host["private"]:
            if _module_under(mod, priv) or _module_under(priv, mod):
                raise PolicyError("host.public", f"{mod!r} overlaps host.private {priv!r}; a "
                                                 "module cannot be both public and private")
    data = section.get("data")
    if data is not None:
        text = string(data, "host.data", '"/var/lib/myapp"')
        if any(field == "data" for _, field, _, _ in template_fields(text, "host.data")):
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
                     templates: Templates, base_dir: Path) -> dict[str, Any]:
    key = f"extensions.{name}"
    if not _EXT_NAME.match(name):
        raise PolicyError(key, f"{name!r} is not a usable extension name; use letters, "
                               "digits, '_', '-' and '.'")
    flat = flatten(table(raw, key), key, _EXT_GROUPS, _EXT_KEYS)
    if flat.get("distribution") is not None:
        from ._distributions import identity_from_distribution
        flat = identity_from_distribution(flat, key)
    k = f"{key}.package"
    if "package" not in flat:
        raise PolicyError(k, f'is required; add package = "{name}" (the top-level module '
                             "of this extension's code)")
    package = string(flat["package"], k, '"acme"')
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
        ext["required"] = boolean(flat.get("required", False), f"{key}.required")
    elif "required" in flat:
        raise PolicyError(f"{key}.required", "applies to entry-point plugins; add "
                                             'distribution = "NAME" or remove it')
    if flat.get("path") is not None:
        k = f"{key}.path"
        text = templates.expand(string(flat["path"], k, '"plugins"'), k)
        if not text:
            raise PolicyError(k, "is empty; name the directory the package is imported from")
        # A relative directory is relative to the policy file, so a checked-in policy
        # keeps working wherever it is checked out.
        ext["path"] = os.path.realpath(base_dir / text)

    for cap in ("imports.allow", "imports.deny"):
        values = str_list(flat.get(cap, []), f"{key}.{cap}", '"sdk", "@pure"')
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
        values = str_list(flat.get(cap, []), k, '"{data}/' + name + '"')
        ext[cap] = list(dict.fromkeys(
            _fs_path(v, f"{k}[{i}]", templates) for i, v in enumerate(values)))
    for cap, bind in (("net.connect", False), ("net.bind", True)):
        k = f"{key}.{cap}"
        ext[cap] = net_rules(str_list(flat.get(cap, []), k, '"api.example.com:443"'), k,
                              bind=bind)
    k = f"{key}.net.resolve"
    ext["net.resolve"] = host_names(str_list(flat.get("net.resolve", []), k,
                                               '"api.example.com"'), k)
    for cap, default in _EXT_BOOLS.items():
        ext[cap] = boolean(flat.get(cap, default), f"{key}.{cap}")

    k = f"{key}.approve"
    approve = str_list(flat.get("approve", []), k, '"net.connect"')
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
            out[k] = escape_braces(v)
        elif isinstance(v, list):
            out[k] = [escape_braces(x) if isinstance(x, str) else x for x in v]
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


def _delegate(section_name: str, raw: object, templates: Templates) -> Any:
    """Validates [lockdown], [audit], [media] or [actions] with the module that owns it."""
    section = table(raw, section_name)
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
        raise PolicyError("", f"{short_repr(os.fsdecode(path), 200)}: not UTF-8 text "
                              f"(byte 0x{raw[exc.start]:02x} at offset {exc.start}, line "
                              f"{line}); policies are UTF-8") from None


def _decode(loads: Callable[[str], Any], text: str, where: str, syntax: str,
            nesting: str) -> Any:
    """TEXT parsed by LOADS (tomllib.loads or json.loads); what cannot be read is a
    PolicyError starting with WHERE (the source and ": ", or "")."""
    try:
        return loads(text)
    except RecursionError:
        raise PolicyError("", f"{where}not a usable policy: {nesting} are nested too "
                              "deeply") from None
    except ValueError as exc:
        # TOMLDecodeError and JSONDecodeError are ValueErrors; any other one is, e.g., an
        # integer beyond int()'s digit limit.
        if isinstance(exc, (tomllib.TOMLDecodeError, json.JSONDecodeError)):
            raise PolicyError("", f"{where}not valid {syntax}: {exc}") from None
        raise PolicyError("", f"{where}not a usable policy: {exc}") from None


def read_document(p: str | os.PathLike[str]) -> Any:
    """The policy file at P as data, by suffix (.toml or .json), not yet validated.

    Every reader of a policy file goes through here (``Policy.from_file``, ``check``'s
    schema pass, ``learn``, the pytest plugin's child), so each refuses the same files
    with the same ``PolicyError``: an unknown suffix, bytes that are not UTF-8, a
    syntax error; each names the file.  An OSError (a missing file) propagates."""
    path = Path(p)
    name = short_repr(os.fsdecode(path), 200)
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return _decode(tomllib.loads, _read_text(path), f"{name}: ", "TOML",
                       "arrays or tables")
    if suffix == ".json":
        return _decode(json.loads, _read_text(path), f"{name}: ", "JSON",
                       "arrays or objects")
    raise PolicyError("", f"{name}: unknown policy file type "
                          f"{short_repr(suffix or '(none)')}; use a .toml or .json file")


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
            raise PolicyError("", f"a policy is a table (dict), not {type_name(d)}")
        _check_shape(d)
        d = copy.deepcopy(dict(d))
        for name in d:
            if name not in _TOP_KEYS:
                raise unknown_key("", str(name), _TOP_KEYS)
        if "version" not in d:
            raise PolicyError("version", "is required; add version = 1 at the top")
        version = d["version"]
        if isinstance(version, bool) or not isinstance(version, int) or version != 1:
            raise PolicyError("version", f"must be 1 (the only policy version), not "
                                         f"{short_repr(version)}")

        templates = Templates(variables)
        guard = _parse_guard(d.get("guard", {}))
        host = _parse_host(d.get("host", {}), templates)
        base = Path(base_dir) if base_dir is not None else Path.cwd()

        exts_raw = table(d.get("extensions", {}), "extensions")
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
        where = f"{short_repr(source, 200)}: " if source else ""
        d = _decode(tomllib.loads, text, where, "TOML", "arrays or tables")
        return cls.from_dict(d, variables=variables, base_dir=base_dir, source=source)

    @classmethod
    def from_file(cls, p: str | os.PathLike[str], *,
                  variables: Mapping[str, str] | None = None) -> Policy:
        """Loads a policy file by suffix: .toml or .json."""
        path = Path(p)
        return cls.from_dict(read_document(path), variables=variables,
                             base_dir=path.resolve().parent, source=os.fsdecode(path))

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
                "imports_allow": expand_presets(ext["imports.allow"]),
                "imports_deny": expand_presets(ext["imports.deny"]),
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
