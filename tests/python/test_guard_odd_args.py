"""Every mediated audit event, raised by extension code with arguments the guard cannot
understand, is refused or raises: the interpreter never crashes, no call returns NULL
without an exception (SystemError), and no extension code runs inside the hook (where
its own operations would not be mediated)."""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

from _support import guard_tree as gk
from _support.child import ROOT, run_child_json


def mediated_events() -> list[str]:
    """The names in events.c's events[] table, plus one for the ctypes.* prefix rule."""
    src = (ROOT / "src" / "_guard" / "events.c").read_text()
    table = src[src.index("static const ev_entry events[]"):]
    table = table[:table.index("{NULL, 0, 0, 0, 0, 0}")]
    names = re.findall(r'\{"([^"]+)", H_', table)
    assert len(names) > 80, names
    return names + ["ctypes.odd_event"]


# Extension code (loaded by the guard's loader, so tagged acme): string values are
# absolute paths outside acme's policy (a relative one would name a file in the cwd,
# which acme may read), and every hook the
# interpreter might call while the guard looks at an argument tries to read a file
# outside acme's policy and records it if that worked.
ODD = '''
import os

SECRET = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
                      "outside", "secret.txt")
LEAKS = []


def _sneak(where):
    try:
        with open(SECRET) as f:
            f.read()
    except BaseException:
        return
    LEAKS.append(where)


class Sneaky:
    def __repr__(self):
        _sneak("repr")
        raise RuntimeError("repr")

    def __str__(self):
        _sneak("str")
        raise RuntimeError("str")

    def __format__(self, spec):
        _sneak("format")
        raise RuntimeError("format")

    def __fspath__(self):
        _sneak("fspath")
        raise RuntimeError("fspath")

    def __index__(self):
        _sneak("index")
        raise RuntimeError("index")

    def __int__(self):
        _sneak("int")
        raise RuntimeError("int")

    def __getattr__(self, name):
        _sneak("getattr " + name)
        raise AttributeError(name)

    def __eq__(self, other):
        _sneak("eq")
        raise RuntimeError("eq")

    def __hash__(self):
        _sneak("hash")
        raise RuntimeError("hash")

    def __len__(self):
        _sneak("len")
        raise RuntimeError("len")

    def __iter__(self):
        _sneak("iter")
        raise RuntimeError("iter")

    def __call__(self, *a, **k):
        _sneak("call")
        raise RuntimeError("call")


class SneakyStr(str):
    def __repr__(self):
        _sneak("str repr")
        raise RuntimeError("repr")

    def __str__(self):
        _sneak("str str")
        raise RuntimeError("str")

    def __format__(self, spec):
        _sneak("str format")
        raise RuntimeError("format")

    def __hash__(self):
        _sneak("str hash")
        raise RuntimeError("hash")

    def __eq__(self, other):
        _sneak("str eq")
        raise RuntimeError("eq")

    def __fspath__(self):
        _sneak("str fspath")
        raise RuntimeError("fspath")


class SneakyInt(int):
    def __index__(self):
        _sneak("int index")
        raise RuntimeError("index")

    def __repr__(self):
        _sneak("int repr")
        raise RuntimeError("repr")

    def __str__(self):
        _sneak("int str")
        raise RuntimeError("str")


class SneakyBytes(bytes):
    def __repr__(self):
        _sneak("bytes repr")
        raise RuntimeError("repr")

    def __str__(self):
        _sneak("bytes str")
        raise RuntimeError("str")


class _FakeModule(type):
    @property
    def __module__(cls):
        _sneak("type __module__")
        return "pathlib"


class FakePath(metaclass=_FakeModule):
    def __fspath__(self):
        _sneak("fake fspath")
        return "/"


class PathlibLookalike:
    __module__ = "pathlib"

    def __fspath__(self):
        _sneak("lookalike fspath")
        return "/"


def odd_values():
    deep = ()
    for _ in range(100000):
        deep = (deep,)
    deep_list = []
    for _ in range(100000):
        deep_list = [deep_list]
    return [
        None, 0.5, object(), [], {}, (), Sneaky(), SneakyStr("/odd"), SneakyStr(SECRET),
        SneakyInt(3), SneakyBytes(b"/odd"), FakePath(), PathlibLookalike(),
        2 ** 100, -2 ** 100, 10 ** 5000, -5, 2 ** 31, -2 ** 31 - 1,
        b"a\\x00b", "a\\x00b", "/\\udcff", "/\\ud800", "/" + "x" * 70000, b"/" * 70000,
        (Sneaky(), Sneaky()), ((None,), (1, (2, (3,)))), deep, deep_list,
        ("\\ud800", 80), (b"\\xff\\xfe", 2 ** 70), (Sneaky(), SneakyInt(80)),
        (SneakyStr("127.0.0.1"), 80),
    ]


def arg_shapes():
    vals = odd_values()
    shapes = [()]
    shapes += [(v,) for v in vals]
    shapes += [(v, v) for v in vals]
    shapes += [(Sneaky(), v, None, v, Sneaky()) for v in vals]
    shapes += [(None, None, None, None, None, None)]
    return shapes
'''

BODY = '''
import sys
os.chdir(DATA)                      # None as a path means the cwd: allowed for reading
from acme import odd
EVENTS = json.loads({events!r})
# Arguments that do mean something: None as a path (the cwd, inside fs.read), a None
# host (no name service) and sendmsg without an address (a connected socket).
FS = {{"open", "os.listdir", "os.scandir", "os.chdir", "os.listxattr", "os.getxattr",
       "os.walk", "os.fwalk", "glob.glob", "glob.glob/2", "pathlib.Path.glob",
       "pathlib.Path.rglob", "shutil.copyfile", "shutil.copymode", "shutil.copystat",
       "shutil.copytree", "shutil.unpack_archive", "shutil.make_archive", "mmap.__new__"}}
RESOLVE = {{"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"}}

def meaningful(ev, args):
    if ev in FS and args and args[0] is None and all(a is None for a in args[:4]):
        return True
    if ev in RESOLVE and args and args[0] is None:
        return True
    return ev == "socket.sendmsg" and len(args) > 1 and args[1] is None

allowed, errors, calls = [], [], 0
for ev in EVENTS:
    for shape in odd.arg_shapes():
        calls += 1
        try:
            acme.call(sys.audit, ev, *shape)
        except SystemError as exc:
            errors.append([ev, repr(exc)[:200]])
        except BaseException:
            pass
        else:
            if not meaningful(ev, shape):
                allowed.append([ev, [type(a).__name__ for a in shape]])
R["calls"] = calls
R["allowed"] = allowed[:200]
R["system_errors"] = errors[:50]
R["leaks"] = sorted(set(odd.LEAKS))
print(json.dumps(R, default=repr))
'''


def test_odd_event_arguments_fail_closed_and_never_run_extension_code(tmp_path: Any) -> None:
    events = mediated_events()
    body = textwrap.dedent(BODY).format(events=json.dumps(events))
    r = gk.run(tmp_path, body, files={"plugins/acme/odd.py": textwrap.dedent(ODD)},
               timeout=300, report=False)
    assert r["calls"] > 1000
    assert r["system_errors"] == [], r["system_errors"]
    assert r["leaks"] == [], r["leaks"]
    assert r["allowed"] == [], r["allowed"]


def test_mediated_event_table_is_parsed() -> None:
    events = mediated_events()
    assert "open" in events and "socket.connect" in events and "import" in events
    assert len(events) == len(set(events))
    assert Path(ROOT / "src" / "_guard" / "events.c").is_file()


# Extension code that asks for an allowed module by a name that is a private one to
# whoever else looks at it.
ALIAS = '''
import importlib


class Sliced(str):
    """Checks as "json"; importlib.import_module slices it into the private module."""
    def __getitem__(self, key):
        return "hostapp.db"


class Hashed(str):
    """Checks as "json"; finds the private module's sys.modules entry."""
    def __hash__(self):
        return hash("hostapp.db")

    def __eq__(self, other):
        return other == "hostapp.db" or str.__eq__(self, other)


def via_import_module():
    return importlib.import_module(Sliced("json")).__name__


def via_dunder_import():
    return __import__(Hashed("json")).__name__


def with_nul():
    return __import__("json\\x00hostapp").__name__
'''

ALIAS_BODY = '''
import hostapp_sdk                  # the host has loaded hostapp.db
from acme import alias
attempt("import_module", alias.via_import_module)
attempt("dunder_import", alias.via_dunder_import)
attempt("nul", alias.with_nul)
attempt("plain_json", acme.call, __import__, "json")
'''


def test_extension_cannot_import_private_module_through_str_subclass_name(tmp_path: Any) -> None:
    r = gk.run(tmp_path, ALIAS_BODY, files={"plugins/acme/alias.py": textwrap.dedent(ALIAS)})
    for name in ("import_module", "dunder_import"):
        out = r[name]
        assert out.get("value") != "hostapp.db", (name, out)
    assert r["nul"]["ok"] is False, r["nul"]
    assert gk.assert_allowed(r, "plain_json") is not None


BINDINGS = r'''
import json
import sdk_guard._guard as g
R = {}

class Shrinks:
    """An int-like that empties the list being parsed when asked for its value."""
    def __init__(self, victim):
        self.victim = victim
    def __index__(self):
        self.victim.clear()
        return 1

def attempt(name, fn, *a, **k):
    try:
        fn(*a, **k)
        R[name] = "ok"
    except Exception as exc:
        R[name] = type(exc).__name__

attempt("build_kw_mode", g.SeccompProgram, mode="bogus")
prog = g.SeccompProgram("errno")
args = []
args += [Shrinks(args), 2, 3, 4, 5, 6]
attempt("simulate_shrinking_args", prog.simulate, 0, args)
ports = []
ports += [(Shrinks(ports), 1)] + [(n, 1) for n in range(2, 50)]
attempt("ruleset_shrinking_ports", g.Ruleset, 1, (1, 0, 0), [], ports)
attempt("install_unknown_approve", g.install,
        {"extensions": [{"name": "a", "package": "a", "approve": ["bogus"]}]},
        violation=PermissionError, import_error=ImportError, guard_error=RuntimeError,
        finder=None)
attempt("install_bad_net_rule", g.install,
        {"extensions": [{"name": "a", "package": "a", "net_connect": ["nope"]}]},
        violation=PermissionError, import_error=ImportError, guard_error=RuntimeError,
        finder=None)
attempt("audit_wait_nan", g.audit_wait, float("nan"))
print(json.dumps(R))
'''


def test_bindings_survive_odd_arguments() -> None:
    r = run_child_json(BINDINGS)
    assert r["build_kw_mode"] == "ValueError", r
    assert r["simulate_shrinking_args"] in ("ok", "ValueError", "TypeError"), r
    assert r["ruleset_shrinking_ports"] in ("ok", "OSError", "TypeError"), r
    assert r["install_unknown_approve"] == "ValueError", r
    assert r["install_bad_net_rule"] == "ValueError", r
    assert r["audit_wait_nan"] == "ValueError", r
