"""Proposes a minimal policy from an audit trail recorded in monitor mode.

For each extension, the grants its recorded operations needed (``allow`` and
``would_deny`` records of the guard layer), made as small as the trail allows and as
general as is plausible:

* imports: exact module names; a package the extension imported (or two siblings of
  one parent) becomes ``pkg`` + ``pkg.*``; never a host module (``host.private``, or
  ``host.trusted`` and not ``host.public``): those are listed as refused, with the hint;
* files: the directories actually used (a file's directory), nested ones folded into
  their parent, written back as ``{data}/...`` when under the data directory;
* network: the exact ``host:port`` pairs and names seen.

Risky grants are never made silently: ``native``, ``process.spawn``,
``process.signal``, ``introspection``, ``dynamic_code``, writes outside the data
directory, reads outside the data directory (and the interpreter's own files),
``net.bind`` and connections to loopback / private / link-local addresses are written
as comments with the reason, for a person to decide.
"""
from __future__ import annotations

import difflib
import importlib.util
import ipaddress
import json
import os
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._config.templates import escape_braces
from ._toml import emit_table, toml_key, toml_value

_BOOL_CAPS = {
    "process.spawn": "starting a process escapes every in-process check (the child runs "
                     "unguarded)",
    "process.signal": "signals can stop or kill the host and its workers",
    "process.env": "the environment holds the host's secrets (tokens, passwords, keys)",
    "native": "native code (ctypes, cffi, .so files) runs below the audit hook",
    "introspection": "frames, gc walks and trace hooks reach the host's objects and "
                     "secrets",
    "dynamic_code": "exec/compile/pickle.find_class run code the policy never saw",
}
_ORDER = ("imports.allow", "fs.read", "fs.write", "net.connect", "net.bind", "net.resolve",
          "threads", *_BOOL_CAPS)
_IDENTITY = ("package", "distribution", "path", "required")


@dataclass
class Grant:
    key: str
    value: Any
    seen: list[str] = field(default_factory=list)
    risk: str | None = None


@dataclass
class Proposal:
    extension: str
    identity: dict[str, Any]
    grants: list[Grant] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)   # (what, why)
    skipped: list[str] = field(default_factory=list)
    records: int = 0

    def active(self) -> list[Grant]:
        return [g for g in self.grants if g.risk is None]


def read_trail(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not a JSON audit record ({exc})") from None
            if isinstance(rec, dict):
                records.append(rec)
    return records


def _under(path: str, base: str) -> bool:
    base = base.rstrip("/") or "/"
    return path == base or path.startswith(base + "/")


def _module_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _runtime_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    dirs.update(paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths)
    return sorted(os.path.realpath(d) for d in dirs if d)


def _is_package(name: str) -> bool:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return False
    return spec is not None and spec.submodule_search_locations is not None


def _fold_dirs(dirs: Iterable[str]) -> list[str]:
    out: list[str] = []
    for d in sorted(set(dirs), key=len):
        if not any(_under(d, kept) for kept in out):
            out.append(d)
    return sorted(out)


def _template(path: str, data: str | None, home: str | None) -> str:
    """PATH as a policy template: under {data} or {home} when it is, and its literal
    braces doubled, so the proposed policy loads and expands back to PATH."""
    if data and _under(path, data):
        return "{data}" + escape_braces(path[len(data.rstrip("/")):])
    if home and home != "/" and _under(path, home):
        return "{home}" + escape_braces(path[len(home.rstrip("/")):])
    return escape_braces(path)


def _address_risk(target: str) -> str | None:
    host = target.rpartition(":")[0].strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "localhost reaches services on this machine" if host == "localhost" else None
    if ip.is_loopback:
        return "a loopback address reaches services on this machine"
    if ip.is_private or ip.is_link_local:
        return "a private / link-local address reaches the internal network (and metadata services)"
    return None


def _imports(name: str, targets: list[str], own: str | None, host: Mapping[str, Any],
             prop: Proposal) -> list[Grant]:
    public = host.get("public", [])
    private = list(host.get("private", []))
    trusted = [t for t in host.get("trusted", [])
               if not any(_module_under(p, t) or _module_under(t, p) for p in public)]
    wanted: dict[str, list[str]] = {}
    for mod in dict.fromkeys(targets):
        if own and _module_under(mod, own):
            continue
        if any(_module_under(mod, p) for p in public):
            continue                          # host.public: every extension may import it
        if any(_module_under(mod, p) for p in private + trusted):
            hint = host.get("hints", {}).get(mod) or next(
                (h for k, h in host.get("hints", {}).items() if _module_under(mod, k)), None)
            prop.refused.append((f"import {mod}", "host-private module: never proposed"
                                 + (f" ({hint})" if hint else "")))
            continue
        wanted.setdefault(mod, [])
    host_mods = private + trusted
    patterns: dict[str, list[str]] = {}
    by_parent: dict[str, list[str]] = {}
    for mod in wanted:
        if "." in mod:
            by_parent.setdefault(mod.rpartition(".")[0], []).append(mod)
    for mod in wanted:
        top = mod.split(".")[0]
        covers_host = any(_module_under(h, top) for h in host_mods)
        parent = mod.rpartition(".")[0]
        if not covers_host and "." not in mod and _is_package(mod):
            patterns.setdefault(mod, []).append(mod)
            patterns.setdefault(mod + ".*", []).append(mod)
        elif (parent and len(by_parent.get(parent, ())) >= 2
              and not any(_module_under(h, parent) for h in host_mods)):
            patterns.setdefault(parent + ".*", []).append(mod)
        else:
            patterns.setdefault(mod, []).append(mod)
    return [Grant("imports.allow", p, seen) for p, seen in patterns.items()]


def propose(records: Iterable[Mapping[str, Any]], policy_data: Mapping[str, Any],
            raw_extensions: Mapping[str, Any], variables: Mapping[str, str]
            ) -> dict[str, Proposal]:
    """One Proposal per extension of the policy, from the guard's allow/would_deny
    records (``deny`` records count too: a trail from an enforcing run)."""
    host = policy_data.get("host", {})
    data_dir = variables.get("data") or host.get("data")
    data_dir = os.path.realpath(data_dir) if data_dir else None
    home = variables.get("home") or os.path.expanduser("~")
    runtime = _runtime_dirs()
    exts = policy_data.get("extensions", {})
    by_ext: dict[str, list[Mapping[str, Any]]] = {n: [] for n in exts}
    for rec in records:
        if rec.get("layer") != "guard" or rec.get("decision") not in (
                "allow", "would_deny", "deny", "approved", "refused"):
            continue
        if rec.get("principal") in by_ext:
            by_ext[str(rec["principal"])].append(rec)

    out: dict[str, Proposal] = {}
    for name, recs in by_ext.items():
        raw = raw_extensions.get(name, {}) if isinstance(raw_extensions.get(name), dict) else {}
        identity = {k: raw[k] for k in _IDENTITY if k in raw}
        prop = Proposal(name, identity, records=len(recs))
        own = exts[name].get("package")
        ext_path = exts[name].get("path")
        caps: dict[str, list[str]] = {}
        for rec in recs:
            target = rec.get("target")
            caps.setdefault(str(rec.get("capability")), []).append(
                target if isinstance(target, str) else "")

        prop.grants += _imports(name, caps.get("import", []), own, host, prop)

        for cap in ("fs.read", "fs.write"):
            dirs: dict[str, list[str]] = {}
            for target in dict.fromkeys(caps.get(cap, [])):
                if not os.path.isabs(target):
                    prop.skipped.append(f"{cap} {target!r} (not a path: an open descriptor)")
                    continue
                if cap == "fs.read" and (any(_under(target, r) for r in runtime)
                                         or (ext_path and _under(target, ext_path))
                                         or "/__pycache__/" in target):
                    continue     # the import system reading code: no grant needed
                d = target if os.path.isdir(target) else os.path.dirname(target)
                dirs.setdefault(d, []).append(target)
            folded = _fold_dirs(dirs)
            for d in folded:
                seen = [t for k, ts in dirs.items() if _under(k, d) for t in ts]
                risk = None
                if not (data_dir and _under(d, data_dir)):
                    risk = (f"{'writes' if cap == 'fs.write' else 'reads'} outside the data "
                            f"directory ({data_dir or 'no {data} set'})")
                prop.grants.append(Grant(cap, _template(d, data_dir, home), seen, risk))

        for target in dict.fromkeys(caps.get("net.connect", [])):
            prop.grants.append(Grant("net.connect", target, [target], _address_risk(target)))
        for target in dict.fromkeys(caps.get("net.bind", [])):
            prop.grants.append(Grant("net.bind", target, [target],
                                     "a listening socket accepts connections from others"))
        connect_names = {t.rpartition(":")[0] for t in caps.get("net.connect", [])}
        for target in dict.fromkeys(caps.get("net.resolve", [])):
            try:
                ipaddress.ip_address(target.strip("[]"))
                continue        # an address needs no resolving grant
            except ValueError:
                pass
            if target not in connect_names:
                prop.grants.append(Grant("net.resolve", target, [target]))
        if caps.get("threads") and not exts[name].get("threads", True):
            prop.grants.append(Grant("threads", True, caps["threads"][:3]))
        for cap, why in _BOOL_CAPS.items():
            if caps.get(cap):
                prop.grants.append(Grant(cap, True, list(dict.fromkeys(caps[cap]))[:5], why))
        out[name] = prop
    return out


def _lines_for(prop: Proposal) -> list[str]:
    """The extension's section as TOML, one list item a line (so a diff reads well)."""
    lines = [f"[extensions.{toml_key(prop.extension)}]"]
    for k, v in prop.identity.items():
        lines.append(f"{k} = {toml_value(v)}")
    for key in _ORDER:
        active = sorted((g for g in prop.grants if g.key == key and g.risk is None),
                        key=lambda g: str(g.value))
        if not active:
            continue
        if isinstance(active[0].value, bool):
            lines.append(f"{key} = {toml_value(active[0].value)}")
            continue
        lines.append(f"{key} = [")
        lines += [f"    {toml_value(g.value)},  # seen: {', '.join(g.seen[:3])}"
                  if g.seen and g.seen != [g.value] else f"    {toml_value(g.value)},"
                  for g in active]
        lines.append("]")
    risky = [g for g in prop.grants if g.risk is not None]
    if risky:
        lines.append("# Risky grants the trail asked for, NOT granted; uncomment one only")
        lines.append("# after deciding the extension needs it:")
        for g in risky:
            value = (toml_value(g.value) if isinstance(g.value, bool)
                     else f"[{toml_value(g.value)}]")
            lines.append(f"# {g.key} = {value}   # RISKY: {g.risk}; seen: "
                         f"{', '.join(g.seen[:3])}")
    for what, why in prop.refused:
        lines.append(f"# refused: {what}: {why}")
    if prop.records == 0:
        lines.append("# no activity of this extension was recorded")
    return lines


def _plain(lines: list[str]) -> list[str]:
    """LINES without trailing comments, for the diff (a grant is what it grants)."""
    out = []
    for line in lines:
        if line.startswith("#"):
            continue
        code = line.split("  # ", 1)[0].rstrip()
        out.append(code)
    return out


def _current_lines(name: str, raw_ext: Mapping[str, Any], data_ext: Mapping[str, Any],
                   data_dir: str | None, home: str | None) -> list[str]:
    prop = Proposal(name, {k: raw_ext[k] for k in _IDENTITY if k in raw_ext}, records=1)
    flat: dict[str, Any] = {}
    for k, v in data_ext.items():
        if isinstance(v, dict):
            for sub, sv in v.items():
                flat[f"{k}.{sub}"] = sv
        else:
            flat[k] = v
    raw_imports = raw_ext.get("imports", {}).get("allow") if isinstance(
        raw_ext.get("imports"), dict) else raw_ext.get("imports.allow")
    for key in _ORDER:
        value = flat.get(key)
        if key == "imports.allow" and raw_imports is not None:
            value = raw_imports
        if isinstance(value, list):
            for v in value:
                shown = _template(v, data_dir, home) if key.startswith("fs.") else v
                prop.grants.append(Grant(key, shown))
        elif value is True and key != "threads":
            prop.grants.append(Grant(key, True))
    return _lines_for(prop)


def render(proposals: Mapping[str, Proposal], raw_policy: Mapping[str, Any],
           policy_data: Mapping[str, Any], variables: Mapping[str, str],
           source: str) -> tuple[str, str]:
    """(proposed policy as TOML, diff against the current policy)."""
    # Every other section is kept as written (templates unexpanded), in file order.
    head = [f"version = {raw_policy.get('version', 1)}", ""]
    for section, table in raw_policy.items():
        if section not in ("version", "extensions") and isinstance(table, dict):
            emit_table(head, section, table)
    text = [f"# Proposed by `python -m sdk_guard learn` from {source}.",
            "# Review every line; risky grants are comments with the reason.",
            "\n".join(head).rstrip(), ""]
    diff: list[str] = []
    data_dir = variables.get("data") or policy_data.get("host", {}).get("data")
    data_dir = os.path.realpath(data_dir) if data_dir else None
    home = variables.get("home") or os.path.expanduser("~")
    raw_exts = raw_policy.get("extensions", {})
    for name, prop in proposals.items():
        lines = _lines_for(prop)
        text += lines + [""]
        current = _current_lines(name, raw_exts.get(name, {}),
                                 policy_data["extensions"][name], data_dir, home)
        diff += difflib.unified_diff(_plain(current), _plain(lines),
                                     f"current {name}", f"proposed {name}", lineterm="", n=1)
    return "\n".join(text).rstrip() + "\n", "\n".join(diff) + ("\n" if diff else "")


def summary(proposals: Mapping[str, Proposal]) -> list[str]:
    out = []
    for name, prop in proposals.items():
        risky = [g for g in prop.grants if g.risk]
        out.append(f"{name}: {prop.records} records, {len(prop.active())} grants proposed, "
                   f"{len(risky)} risky left as comments, {len(prop.refused)} refused")
    return out


def load_sidecar(trail: str | os.PathLike[str]) -> dict[str, Any]:
    from ._learn_mode import sidecar
    p = Path(sidecar(trail))
    if not p.exists():
        return {}
    try:
        loaded: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
        return loaded
    except ValueError:
        return {}
