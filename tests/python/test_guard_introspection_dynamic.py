"""Process Guard, introspection and dynamic_code: decided by the direct caller, so a
library using frames or exec for its own mechanics keeps working while the extension
asking directly is denied."""
from __future__ import annotations

from typing import Any

import pytest

from _support import guard_tree as gk

FILES = {
    "plugins/acme/shapes.py": '''
from dataclasses import dataclass, field
from collections import namedtuple
import logging

@dataclass(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: list = field(default_factory=list)

Pair = namedtuple("Pair", "a b")

def make():
    logging.getLogger("acme").warning("made")
    return [Point(1, 2).x, Pair(3, 4).b]
''',
}

BODY = r'''
import gc, inspect, logging, marshal, pickle, types, extlib, hostapp_sdk
import importlib
shapes = importlib.import_module("acme.shapes")
def f():
    return 1
def tb():
    try:
        raise ValueError
    except ValueError as e:
        return e.__traceback__
TB = tb()
# introspection
attempt("getframe", acme.call, sys._getframe)
attempt("current_frames", acme.call, sys._current_frames)
attempt("settrace", acme.call, sys.settrace, None)
attempt("setprofile", acme.call, sys.setprofile, None)
attempt("gc_get_objects", acme.call, gc.get_objects)
attempt("gc_get_referrers", acme.call, gc.get_referrers, f)
attempt("tb_frame", acme.call, getattr, TB, "tb_frame")
attempt("addaudithook", acme.call, sys.addaudithook, lambda *a: None)
attempt("inspect_currentframe", acme.call, inspect.currentframe)
attempt("host_getframe", lambda: sys._getframe().f_code.co_name)
attempt("sdk_getframe", acme.call, hostapp_sdk.frame_name)
attempt("beta_getframe", lambda: beta.call(sys._getframe).f_code.co_name)
attempt("beta_gc", lambda: len(beta.call(gc.get_objects)) > 0)
# a library using frames / exec for its own mechanics
attempt("logging_from_ext", acme.call, logging.getLogger("acme").warning, "hi %s", 1)
attempt("dataclass_namedtuple", shapes.make)
# dynamic code
attempt("exec", acme.call, exec, "x = 1", {})
attempt("eval", acme.call, eval, "1 + 1")
attempt("compile", acme.call, compile, "1", "<s>", "eval")
attempt("code_replace", acme.call, f.__code__.replace, co_consts=(None, 2))
attempt("function_new", acme.call, types.FunctionType, f.__code__, {})
attempt("marshal_loads", acme.call, marshal.loads, marshal.dumps(f.__code__))
class Thing:
    pass
DUMPED = pickle.dumps(Thing())
attempt("pickle_loads_class", acme.call, pickle.loads, DUMPED)
attempt("pickle_loads_plain", acme.call, pickle.loads, pickle.dumps([1, "a"]))
attempt("host_exec", lambda: eval("2 + 2"))
attempt("sdk_eval", acme.call, hostapp_sdk.evaluate, "3 + 3")
attempt("beta_exec", beta.call, eval, "4 + 4")
CODE = beta.call(compile, "1", "<b>", "eval")
beta.call(eval, CODE)
attempt("beta_code_tagged", sg._guard.code_owner, CODE)
HOOKED = []
attempt("addaudithook_quiet", acme.call, sys.addaudithook, lambda e, a: HOOKED.append(e))
sys._getframe()
R["extension_hook_ran"] = len(HOOKED)
# a library asked to exec is its own direct caller (allowed); what the code does is
# still charged to the extension by the full stack walk
attempt("lib_exec", acme.call, extlib.call, eval, "5 + 5")
attempt("lib_exec_spawn", acme.call, extlib.call, exec,
        "import os; os.system('/bin/true')", {})
'''


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("introdyn")
    pol = gk.policy(base, beta={"introspection": True, "dynamic_code": True},
                    **{"imports.allow": gk.DEFAULT_IMPORTS + ["logging"]})
    return gk.run(base, BODY, pol=pol, files=FILES)


@pytest.mark.parametrize("name", ["getframe", "current_frames", "settrace", "setprofile",
                                  "gc_get_objects", "gc_get_referrers", "tb_frame",
                                  "inspect_currentframe"])
def test_extension_cannot_introspect_without_introspection(r: dict[str, Any],
                                                           name: str) -> None:
    out = gk.assert_denied(r, name, "introspection")
    assert "set extensions.acme.introspection = true" in out["msg"]


def test_extension_audit_hook_is_not_added(r: dict[str, Any]) -> None:
    # sys.addaudithook swallows an Exception from the hooks it asks (CPython design):
    # the extension gets None, its hook is never added, and the denial is recorded.
    assert gk.assert_allowed(r, "addaudithook_quiet") is None
    assert r["extension_hook_ran"] == 0
    denials = [a for a in r["_audit"] if a["target"] == "sys.addaudithook"]
    assert denials and all(a["decision"] == "deny" and a["principal"] == "acme"
                           and a["capability"] == "introspection" for a in denials), denials


def test_frame_from_traceback_names_the_attribute(r: dict[str, Any]) -> None:
    assert r["tb_frame"]["target"] == "traceback.tb_frame"


def test_introspection_flag_allows_frames_and_gc(r: dict[str, Any]) -> None:
    assert gk.assert_allowed(r, "beta_getframe") == "call"
    assert gk.assert_allowed(r, "beta_gc") is True


def test_host_and_sdk_introspection_are_not_mediated(r: dict[str, Any]) -> None:
    assert gk.assert_allowed(r, "host_getframe") == "<lambda>"
    assert gk.assert_allowed(r, "sdk_getframe") == "frame_name"


def test_logging_dataclass_and_namedtuple_work_in_extension_code(r: dict[str, Any]) -> None:
    gk.assert_allowed(r, "logging_from_ext")
    assert gk.assert_allowed(r, "dataclass_namedtuple") == [1, 4]


@pytest.mark.parametrize("name", ["exec", "eval", "compile", "code_replace", "function_new",
                                  "marshal_loads", "pickle_loads_class"])
def test_extension_cannot_make_code_without_dynamic_code(r: dict[str, Any], name: str) -> None:
    out = gk.assert_denied(r, name, "dynamic_code")
    assert "set extensions.acme.dynamic_code = true" in out["msg"]


def test_pickle_denial_names_the_class(r: dict[str, Any]) -> None:
    assert r["pickle_loads_class"]["target"] == "pickle.find_class __main__.Thing"


def test_pickle_of_plain_data_needs_no_dynamic_code(r: dict[str, Any]) -> None:
    assert gk.assert_allowed(r, "pickle_loads_plain") == [1, "a"]


def test_dynamic_code_flag_allows_and_tags_the_code(r: dict[str, Any]) -> None:
    assert gk.assert_allowed(r, "beta_exec") == 8
    # code an extension compiles and runs is that extension's code
    assert gk.assert_allowed(r, "beta_code_tagged") == "beta"


def test_host_and_sdk_dynamic_code_are_not_mediated(r: dict[str, Any]) -> None:
    assert gk.assert_allowed(r, "host_exec") == 4
    assert gk.assert_allowed(r, "sdk_eval") == 6


def test_library_exec_is_allowed_but_what_it_runs_is_charged(r: dict[str, Any]) -> None:
    # Documented decision: dynamic_code is judged by the direct caller (here extlib).
    assert gk.assert_allowed(r, "lib_exec") == 10
    gk.assert_denied(r, "lib_exec_spawn", "process.spawn")
