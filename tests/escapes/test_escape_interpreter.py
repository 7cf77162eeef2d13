"""Escapes through the interpreter itself: the import system, forged code and globals,
serialisers, frames and hooks."""
from __future__ import annotations

from _support.escape_tree import Env, attack, denied

HOST_DB = "import hostapp.db, importlib, pickle, gc, inspect, traceback"

IMPORTS = r'''
def run_read_private_module_from_sys_modules():
    return _sys().modules["hostapp.db"].PASSWORD
def run_alias_private_module_under_new_name():
    _sys().modules["innocent"] = _sys().modules["hostapp.db"]
    import innocent
    return innocent.PASSWORD
def run_alias_private_module_under_allowed_name():
    _sys().modules["json"] = _sys().modules["hostapp.db"]
    import json
    return json.PASSWORD
def run_alias_private_module_as_sdk_attribute():
    import sdk
    sdk.db = _sys().modules["hostapp.db"]
    from sdk import db
    return db.PASSWORD
def run_importlib_import_module():
    return _mod("importlib").import_module("hostapp.secretcfg").TOKEN
def run_remove_finder():
    meta = _sys().meta_path
    meta[:] = [f for f in meta if type(f).__name__ != "_GuardFinder"]
    import hostapp.db
def run_clear_meta_path():
    _sys().meta_path.clear()
    import socket
def run_rebind_builtins_import():
    b = _mod("builtins")
    __builtins__["__import__"] = b.__import__
    import hostapp.db
    return hostapp.db.PASSWORD
def run_rebind_interpreter_import():
    _mod("builtins").__import__ = lambda *a, **k: None
    import hostapp.db
def run_import_posixsubprocess():
    import _posixsubprocess
'''
EXTRA_HOST = {"hostapp/secretcfg.py": "TOKEN = 'cfg-token'\n"}


def test_private_host_module_objects_are_readable_through_sys_modules(env: Env) -> None:
    # Not blocked: the import policy governs import statements, not the object graph.
    r = attack(env, IMPORTS, ["read_private_module_from_sys_modules",
                              "alias_private_module_under_allowed_name"], host_setup=HOST_DB)
    assert r["read_private_module_from_sys_modules"]["value"] == "'db-password'"
    assert r["alias_private_module_under_allowed_name"]["value"] == "'db-password'"


def test_aliasing_a_private_module_under_a_new_name_is_denied(env: Env) -> None:
    r = attack(env, IMPORTS, ["alias_private_module_under_new_name",
                              "alias_private_module_as_sdk_attribute"], host_setup=HOST_DB)
    assert denied(r["alias_private_module_under_new_name"], "import")
    assert denied(r["alias_private_module_as_sdk_attribute"], "import")
    assert r["alias_private_module_as_sdk_attribute"]["target"] == "hostapp.db"


def test_importlib_import_module_of_a_private_module_is_denied(env: Env) -> None:
    # importlib.import_module imports in Python (importlib._bootstrap) and raises no
    # "import" audit event; the guard checks it itself.
    (env.host_dir / "hostapp" / "secretcfg.py").write_text("TOKEN = 'cfg-token'\n")
    r = attack(env, IMPORTS, ["importlib_import_module"], host_setup=HOST_DB)
    assert denied(r["importlib_import_module"], "import")
    assert r["importlib_import_module"]["target"] == "hostapp.secretcfg"


def test_removing_or_clearing_the_finder_still_checks_imports(env: Env) -> None:
    for name, target in (("remove_finder", "hostapp.db"), ("clear_meta_path", "socket")):
        r = attack(env, IMPORTS, [name])
        assert denied(r[name], "import") and r[name]["target"] == target, r


def test_editing_the_extensions_builtins_import(env: Env) -> None:
    # Partly: a first import still raises the "import" audit event the hook checks;
    # a module already in sys.modules raises none, so the interpreter's __import__
    # put back into the extension's own __builtins__ returns it.
    r = attack(env, IMPORTS, ["rebind_builtins_import"])
    assert denied(r["rebind_builtins_import"], "import")
    r = attack(env, IMPORTS, ["rebind_builtins_import"], host_setup=HOST_DB)
    assert r["rebind_builtins_import"]["outcome"] == "ok"


def test_rebinding_the_interpreters_import_does_not_reach_extension_code(env: Env) -> None:
    r = attack(env, IMPORTS, ["rebind_interpreter_import", "import_posixsubprocess"])
    assert denied(r["rebind_interpreter_import"], "import")
    assert denied(r["import_posixsubprocess"], "import")


HIJACK = r'''
def run_replace_os_for_the_host():
    real = _mod("os")
    class FakeOS:
        def __getattr__(self, name):
            return getattr(real, name)
        def system(self, cmd):
            LOG.append(cmd)
            return real.system(cmd)
    _sys().modules["os"] = FakeOS()
LOG = []
'''
HOST_USES_OS = ("import os as hijacked\n"
                "out['host_type'] = {'outcome': 'ok', 'value': type(hijacked).__name__}\n"
                "out['host_system'] = outcome(lambda: hijacked.system('touch ' + "
                "os.environ['SG_MARKER']))\n")


def test_replacing_sys_modules_os_hijacks_the_host_but_spawns_stay_charged(env: Env) -> None:
    # Not blocked: the host's next `import os` gets the extension's object.  What the
    # fake does when the host calls it runs as extension code, so the spawn is denied.
    r = attack(env, HIJACK, ["replace_os_for_the_host"], host_after=HOST_USES_OS,
               host_setup=f"os.environ['SG_MARKER'] = {str(env.marker)!r}")
    assert r["host_type"]["value"] == "FakeOS"
    assert denied(r["host_system"], "process.spawn")
    assert not env.marker.exists()


CODE = r'''
def _host():
    h = _mod("hostapp")
    h.__dict__["CMD"] = CMD
    return h
def run_exec_with_forged_globals():
    exec("import os\nos.system(CMD)", {"__name__": "hostapp.x", "CMD": CMD,
                                       "__builtins__": _mod("builtins")})
def run_exec_in_host_globals():
    exec("os.system(CMD)", _host().__dict__)
def run_compile_with_host_filename():
    h = _host()
    exec(compile("os.system(CMD)", h.__file__, "exec"), h.__dict__)
def run_code_replace_with_host_identity():
    h = _host()
    def f():
        return os.system(CMD)
    c = f.__code__.replace(co_filename=h.__file__, co_name="helper")
    return type(f)(c, h.__dict__)()
def run_function_new_with_host_globals():
    h = _host()
    def f():
        return os.system(CMD)
    return type(f)(f.__code__, h.__dict__)()
def run_swap_host_function_code():
    h = _host()
    def f():
        return os.system(CMD)
    h.helper.__code__ = f.__code__
    return h.helper()
def run_marshal_code_into_host_function():
    h = _host()
    m = _mod("marshal")
    def f():
        return os.system(CMD)
    c = m.loads(m.dumps(f.__code__))
    return type(f)(c, h.__dict__)()
def run_pickle_reduce():
    os = _mod("os")
    class R:
        def __reduce__(self):
            return (os.system, (CMD,))
    return _mod("pickle").loads(_mod("pickle").dumps(R()))
def run_pickle_raw_global():
    data = b"cposix\nsystem\n(" + ("S" + repr(CMD) + "\n").encode() + b"tR."
    return _mod("pickle").loads(data)
'''
CODE_ATTACKS = ["exec_with_forged_globals", "exec_in_host_globals",
                "compile_with_host_filename", "code_replace_with_host_identity",
                "function_new_with_host_globals", "swap_host_function_code",
                "marshal_code_into_host_function", "pickle_reduce", "pickle_raw_global"]


def test_forged_code_and_globals_are_denied_without_dynamic_code(env: Env) -> None:
    r = attack(env, CODE, CODE_ATTACKS, host_setup=HOST_DB)
    # pickling os.system makes pickle import posix under the extension's __import__
    assert r["pickle_reduce"]["outcome"] == "error"
    assert "import of module 'posix' failed" in r["pickle_reduce"]["msg"]
    for name in CODE_ATTACKS:
        if name == "pickle_reduce":
            continue
        # dynamic_code (compile, exec, marshal, find_class) or introspection (reading a
        # function's __code__) stops each before anything runs
        assert denied(r[name]) and r[name]["capability"] in (
            "dynamic_code", "introspection"), (name, r[name])
    assert r["pickle_raw_global"]["capability"] == "dynamic_code"
    assert r["compile_with_host_filename"]["capability"] == "dynamic_code"
    assert not env.marker.exists()


def test_forged_code_runs_as_the_extension_even_with_dynamic_code(env: Env) -> None:
    # With dynamic_code and introspection granted, code made by the extension is
    # tagged as its own, whatever __name__, co_filename or globals it claims.
    r = attack(env, CODE, CODE_ATTACKS, host_setup=HOST_DB,
               ext=env.ext_policy(dynamic_code=True, introspection=True))
    for name in CODE_ATTACKS:
        if name == "pickle_reduce":
            # pickling os.system re-imports posix under the extension's __import__
            assert r[name]["outcome"] == "error", r[name]
        elif name == "pickle_raw_global":
            assert denied(r[name], "import") and r[name]["target"] == "posix", r[name]
        else:
            assert denied(r[name], "process.spawn"), (name, r[name])
    assert not env.marker.exists()


INTROSPECTION = r'''
def run_gc_get_objects():
    return len(_mod("gc").get_objects())
def run_gc_get_referrers():
    return len(_mod("gc").get_referrers(CMD))
def run_traceback_frame():
    try:
        raise ValueError
    except ValueError as e:
        return e.__traceback__.tb_frame.f_back.f_globals["__name__"]
def run_generator_frame():
    def g():
        yield 1
    return g().gi_frame
def run_sys_getframe():
    return _sys()._getframe(1).f_globals["__name__"]
def run_inspect_currentframe():
    return _mod("inspect").currentframe().f_back.f_globals["__name__"]
def run_inspect_stack():
    return _mod("inspect").stack()[1].frame.f_globals["__name__"]
def run_traceback_walk_stack():
    return [f.f_code.co_name for f, _ in _mod("traceback").walk_stack(None)]
def run_current_frames():
    return list(_sys()._current_frames())
def run_settrace():
    _sys().settrace(lambda *a: None)
def run_setprofile():
    _sys().setprofile(lambda *a: None)
def run_addaudithook():
    def hook(event, args):
        CALLS.append(event)
    _sys().addaudithook(hook)
    open(__ALLOWED__ + "/ok.txt").close()
    return CALLS
CALLS = []
def run_function_globals():
    return _mod("hostapp").helper.__globals__["API_KEY"]
def run_object_getattribute_globals():
    return object.__getattribute__(_mod("hostapp").helper, "__globals__")["API_KEY"]
'''
DENIED_INTROSPECTION = ["gc_get_objects", "gc_get_referrers", "traceback_frame",
                        "generator_frame", "sys_getframe", "inspect_currentframe",
                        "inspect_stack", "traceback_walk_stack", "current_frames",
                        "settrace", "setprofile"]


def test_frames_gc_and_trace_hooks_are_denied(env: Env) -> None:
    r = attack(env, INTROSPECTION, DENIED_INTROSPECTION, host_setup=HOST_DB)
    for name in DENIED_INTROSPECTION:
        assert denied(r[name], "introspection"), (name, r[name])


def test_addaudithook_from_an_extension_is_not_added(env: Env) -> None:
    # The guard denies the sys.addaudithook event; CPython swallows that denial (it
    # drops any Exception there), so the call returns but the hook never runs.
    r = attack(env, INTROSPECTION, ["addaudithook"], host_setup=HOST_DB)
    assert r["addaudithook"] == {"outcome": "ok", "value": "[]"}


def test_function_globals_expose_host_module_state(env: Env) -> None:
    # Not blocked: __globals__ raises no audit event on 3.11, by attribute or by
    # object.__getattribute__.
    r = attack(env, INTROSPECTION, ["function_globals", "object_getattribute_globals"],
               host_setup=HOST_DB)
    assert r["function_globals"]["value"] == "'host-api-key'"
    assert r["object_getattribute_globals"]["value"] == "'host-api-key'"
