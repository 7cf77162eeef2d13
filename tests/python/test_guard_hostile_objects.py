"""Objects supplied by extension code never run inside the hook, and audit state is
host-only.

Each class here once let extension code run while the hook decided (where its own
operations are not mediated) or forge the audit trail:
  - pathlib objects whose slots an extension replaced with str/list subclasses;
  - keys planted in dictionaries the hook reads, with the hash of a name it looks up;
  - the span context variable, settable to a forged tuple, and span attributes or
    emitted values whose __str__ the audit writer thread ran as host code;
  - sqlite3 URIs given as bytes or path objects, not read as URIs.
Everything that installs the guard runs in a child.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from _support import guard_tree as gk

# Extension code: every hook a hostile object offers tries to read a file outside
# acme's policy and records where it ran if that worked (inside the hook nothing is
# mediated, so a leak means extension code ran there).
HOSTILE = '''
import os, pathlib, shutil, glob, sqlite3, sys, threading

BASE = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SECRET = os.path.join(BASE, "outside", "secret.txt")
DATA = os.path.join(BASE, "data")
LEAKS = []


def _sneak(where):
    try:
        with open(SECRET) as f:
            f.read()
    except BaseException:
        return
    LEAKS.append(where)


class EvilStr(str):
    def __str__(self):
        _sneak("str.__str__")
        return str.__str__(self)

    def __eq__(self, other):
        _sneak("str.__eq__")
        return str.__eq__(self, other)

    def __hash__(self):
        return str.__hash__(self)

    def __fspath__(self):
        _sneak("str.__fspath__")
        return str.__str__(self)

    def encode(self, *args, **kwargs):
        _sneak("str.encode")
        return str.encode(self, *args, **kwargs)

    def __add__(self, other):
        _sneak("str.__add__")
        return str.__add__(self, other)


class EvilList(list):
    def __iter__(self):
        _sneak("list.__iter__")
        return list.__iter__(self)

    def __getitem__(self, i):
        _sneak("list.__getitem__")
        return list.__getitem__(self, i)

    def __len__(self):
        _sneak("list.__len__")
        return list.__len__(self)


def evil_path(slot, target):
    p = pathlib.PurePosixPath(target)
    str(p)                                  # cache _str so every slot is set
    value = getattr(p, slot)
    if isinstance(value, str):
        setattr(p, slot, EvilStr(value))
    elif isinstance(value, list):
        setattr(p, slot, EvilList(value))
    else:
        raise AssertionError(f"{slot} holds {type(value).__name__}")
    return p


def slots():
    """The pathlib slots this CPython uses to build a path's string."""
    if sys.version_info >= (3, 12):
        return ["_str", "_raw_paths", "_drv", "_root", "_tail_cached"]
    return ["_str", "_drv", "_root", "_parts"]


def use(op, p):
    if op == "walk":
        return list(os.walk(p))
    if op == "copyfile":
        return shutil.copyfile(p, os.path.join(DATA, "out", "copy.txt"))
    if op == "glob":
        return glob.glob(p)
    if op == "sqlite":
        return sqlite3.connect(p).close()
    if op == "listdir":
        return os.listdir(p)
    raise AssertionError(op)


class Colliding:
    """A key with the hash of NAME whose __eq__ runs extension code."""

    def __init__(self, name):
        self.name = name

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        _sneak("key.__eq__ " + self.name)
        return False


class Loud:
    def __str__(self):
        _sneak("value.__str__")
        return "loud"

    def __repr__(self):
        _sneak("value.__repr__")
        return "loud"


def plant(d, name):
    """Puts a Colliding(NAME) key in D ahead of NAME in its probe sequence: NAME is
    removed, the key planted, NAME put back, so a lookup of NAME meets the planted key
    first and compares with it."""
    value = d.pop(name)
    d[Colliding(name)] = None
    d[name] = value


def forge_spans_and_read():
    """Sets every span-looking context variable to a forged span tuple, then makes a
    denied read so a record carries whatever span state is current."""
    import contextvars
    forged = 0
    for var in list(contextvars.copy_context()):
        if "span" in var.name:
            var.set(("a-forged", None, None, None, "u-forged", "o-forged", (), None))
            forged += 1
    assert forged >= 1, "no span variable found to forge"
    return open(SECRET).read()


def open_span():
    from sdk_guard import audit
    with audit.span("action", "ext-span", user="u-ext"):
        return "opened"


def call(fn, *args, **kwargs):
    return fn(*args, **kwargs)
'''


def run(tmp_path: Path, body: str, **acme: Any) -> dict[str, Any]:
    pol = gk.policy(tmp_path, **acme)
    return gk.run(tmp_path, body, pol=pol, files={"plugins/acme/__init__.py": HOSTILE,
                                                  "data/sub/f.txt": "f\n"})


@pytest.mark.parametrize("op", ["walk", "copyfile", "glob", "sqlite", "listdir"])
def test_pathlib_slot_replaced_by_a_subclass_runs_no_extension_code(
        tmp_path: Path, op: str) -> None:
    target = {"copyfile": "in.txt", "sqlite": "out/x.db"}.get(op, "sub")
    result = run(tmp_path, f'''
        for slot in acme.slots():
            p = acme.evil_path(slot, os.path.join(DATA, {target!r}))
            attempt(slot, acme.use, {op!r}, p)
        R["leaks"] = list(acme.LEAKS)
    ''')
    assert result["leaks"] == [], result["leaks"]
    if op == "listdir":
        # os.listdir converts the path (in the extension's own, mediated context)
        # before its event, so the hook sees the converted str: nothing to refuse.
        return
    # The others raise their event with the pathlib object itself: refused.
    for slot in [k for k in result if k.startswith("_") and k != "_audit"]:
        out = result[slot]
        assert out["ok"] is False and out["violation"] is True, (slot, out)
        assert "pass str(path)" in out["msg"], (slot, out)


def test_pathlib_paths_with_built_in_slots_still_work(tmp_path: Path) -> None:
    result = run(tmp_path, '''
        import pathlib
        attempt("walk", acme.use, "walk", pathlib.PurePosixPath(DATA, "sub"))
        attempt("listdir", acme.use, "listdir", pathlib.Path(DATA) / "sub")
        attempt("sqlite", acme.use, "sqlite", pathlib.Path(DATA, "out", "x.db"))
        attempt("outside", acme.use, "listdir", pathlib.Path(OUTSIDE))
        R["leaks"] = list(acme.LEAKS)
    ''')
    assert result["leaks"] == []
    gk.assert_allowed(result, "walk")
    assert gk.assert_allowed(result, "listdir") == ["f.txt"]
    gk.assert_allowed(result, "sqlite")
    gk.assert_denied(result, "outside", "fs.read")


def test_key_colliding_with_name_in_host_globals_runs_no_extension_code(
        tmp_path: Path) -> None:
    result = run(tmp_path, '''
        import hostapp_sdk
        # Planted by the extension in the host SDK's module globals.
        acme.call(acme.plant, hostapp_sdk.__dict__, "__name__")
        attempt("sdk_read", acme.call, hostapp_sdk.read_text, os.path.join(DATA, "in.txt"))
        attempt("sdk_list", acme.call, hostapp_sdk.listdir, DATA)
        R["leaks"] = list(acme.LEAKS)
    ''')
    assert result["leaks"] == [], result["leaks"]
    for name in ("sdk_read", "sdk_list"):
        out = result[name]
        # Refused (the hook cannot read the module's name without the planted key's
        # __eq__) or allowed as the SDK's work: never extension code inside the hook.
        assert out["ok"] or out["violation"], (name, out)


def test_key_colliding_with_a_module_name_in_sys_modules_runs_no_extension_code(
        tmp_path: Path) -> None:
    result = run(tmp_path, '''
        import hostapp_sdk
        for name in ("os", "json", "acme", "hostapp_sdk", "sdk_guard", "importlib"):
            acme.call(acme.plant, sys.modules, name)
        attempt("import_json", acme.call, __import__, "json")
        attempt("import_os", acme.call, __import__, "os")
        attempt("read", acme.call, open, os.path.join(DATA, "in.txt"))
        attempt("sdk_read", acme.call, hostapp_sdk.read_text, os.path.join(DATA, "in.txt"))
        R["leaks"] = list(acme.LEAKS)
    ''')
    assert result["leaks"] == [], result["leaks"]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="Thread.__dict__ '_target' is read "
                    "by the hook on 3.12+ only (3.11 checks the starter's arguments)")
def test_key_colliding_with_target_in_a_thread_dict_runs_no_extension_code(
        tmp_path: Path) -> None:
    result = run(tmp_path, '''
        import threading
        def start():
            t = threading.Thread(target=acme.call, args=(len, "x"))
            acme.plant(t.__dict__, "_target")
            t.start()
            t.join()
        attempt("thread", acme.call, start)
        R["leaks"] = list(acme.LEAKS)
    ''')
    assert result["leaks"] == [], result["leaks"]


def test_span_state_is_not_reachable_from_the_extension_module(tmp_path: Path) -> None:
    result = run(tmp_path, '''
        from sdk_guard import _guard
        R["has_span_var"] = hasattr(_guard, "span_var")
        with audit.span("action", "host-action", user="u-host", org="o-host") as a:
            R["host_span"] = a.id
            attempt("forged", acme.forge_spans_and_read)
        attempt("ext_span", acme.open_span)
        attempt("ext_enter", acme.call, _guard.span_enter, 0, "a-x", None, "u-x", None)
    ''', **{"imports.allow": [*gk.DEFAULT_IMPORTS, "sdk_guard", "sdk_guard.*", "contextvars"]})
    assert result["has_span_var"] is False
    out = result["forged"]
    assert out["violation"] is True
    rec = gk.audit_for(result, out["event_id"])
    # The forged value reads as "no span", never as the forged user/org/action.
    assert rec["user"] != "u-forged" and rec["span"]["action"] != "a-forged", rec
    for name in ("ext_span", "ext_enter"):
        denied = result[name]
        assert denied["ok"] is False and denied["violation"] is True, (name, denied)
        assert denied["capability"] == "introspection", (name, denied)


def test_audit_writer_formats_only_copied_built_in_values(tmp_path: Path) -> None:
    result = run(tmp_path, '''
        import sdk_guard._guard as g
        with audit.span("action", "host-span", thing=acme.Loud(), nested={"k": [acme.Loud()]}):
            attempt("emit", acme.call, g.emit, "guard", "net.connect", "deny",
                    principal="acme", target=acme.Loud(), extra={"x": acme.Loud()})
            audit.flush()
        R["leaks"] = list(acme.LEAKS)
        R["span_attrs"] = [r.get("attrs") for r in MEM.records if r.get("decision") == "open"]
    ''')
    assert result["leaks"] == [], result["leaks"]
    assert all(isinstance(v, str) for a in result["span_attrs"] for v in a.values()
               if not isinstance(v, dict)), result["span_attrs"]


@pytest.mark.parametrize("form", ["bytes", "pathlib", "str"])
def test_sqlite3_uri_in_any_form_is_checked_as_a_uri(tmp_path: Path, form: str) -> None:
    result = run(tmp_path, f'''
        import pathlib, sqlite3
        uri = "file:" + os.path.join(OUTSIDE, "made.db") + "?mode=rwc"
        arg = {{"bytes": uri.encode(), "pathlib": pathlib.PurePosixPath(uri),
               "str": uri}}[{form!r}]
        # From inside fs.write, where a URI read as a relative file name is allowed.
        os.chdir(os.path.join(DATA, "out"))
        attempt("connect", acme.call, sqlite3.connect, arg, uri=True)
        R["created"] = os.path.exists(os.path.join(OUTSIDE, "made.db"))
    ''')
    assert result["created"] is False
    out = result["connect"]
    assert out["ok"] is False and out["violation"] is True, out
    assert out["capability"] == "fs.write", out
