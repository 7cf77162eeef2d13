"""Escapes aimed at running a command: each test checks the marker file a `touch` would
create, never the extension's own report of success."""
from __future__ import annotations

import json

from _support.escape_tree import Env, attack, attack_proc, denied

SPAWN = r'''
def run_subclass_popen():
    return _sub("Popen")(["touch", __MARKER__]).wait()
def run_wrap_close_globals_system():
    return _sub("_wrap_close").__init__.__globals__["system"](CMD)
def run_builtin_importer_posix():
    B = _sub("BuiltinImporter")
    posix = B.create_module(B.find_spec("posix"))
    return posix.system(CMD)
def run_loader_posix():
    # the loader behind a built-in module's __loader__ / __spec__
    return _mod("sys").__loader__.load_module("posix").system(CMD)
'''


def test_subclass_walks_to_process_functions_are_denied(env: Env) -> None:
    r = attack(env, SPAWN, ["subclass_popen", "wrap_close_globals_system",
                            "builtin_importer_posix", "loader_posix"],
               host_setup="import subprocess")
    for name in ("subclass_popen", "wrap_close_globals_system", "builtin_importer_posix",
                 "loader_posix"):
        assert denied(r[name], "process.spawn"), (name, r[name])
    assert not env.marker.exists()


FORK_EXEC = r'''
def run_fork_exec():
    os = _mod("os")
    r, w = os.pipe()
    pid = _mod("_posixsubprocess").fork_exec(
        [b"/usr/bin/touch", __MARKER__.encode()], [b"/usr/bin/touch"], True, (w,), None,
        None, -1, -1, -1, -1, -1, -1, r, w, True, False, -1, None, None, None, -1, None,
        False)
    os.close(w)
    err = b""
    while True:
        chunk = os.read(r, 200)
        if not chunk:
            break
        err += chunk
    return (os.waitpid(pid, 0)[1], err)
'''


def test_posixsubprocess_fork_exec_is_not_seen_by_the_guard(env: Env) -> None:
    # _posixsubprocess.fork_exec raises no audit event: reached through sys.modules it
    # runs a command.
    r = attack(env, FORK_EXEC, ["fork_exec"], host_setup="import subprocess")
    assert r["fork_exec"]["outcome"] == "ok"
    assert env.marker.exists()


def test_posixsubprocess_fork_exec_exec_is_refused_by_landlock(env: Env) -> None:
    r = attack(env, FORK_EXEC, ["fork_exec"], host_setup="import subprocess",
               lockdown=env.landlock())
    assert r["fork_exec"]["outcome"] == "ok"
    # the forked child's execve failed with EACCES and reported it on the error pipe
    assert "OSError:d:" in r["fork_exec"]["value"], r    # errno 13, in hex
    assert not env.marker.exists()


CTYPES_HOST_FN = r'''
def run_host_function_pointer():
    return _mod("__main__").HOST_SYSTEM(CMD.encode())
def run_resolve_new_symbol():
    return _mod("ctypes").CDLL(None).system(CMD.encode())
'''
HOST_CTYPES = "import ctypes\nHOST_SYSTEM = ctypes.CDLL(None).system"


def test_ctypes_function_pointer_made_by_the_host_is_not_seen_by_the_guard(env: Env) -> None:
    # Resolving a symbol is audited (ctypes.dlopen/dlsym); calling a function pointer
    # that already exists is not.
    r = attack(env, CTYPES_HOST_FN, ["resolve_new_symbol"], host_setup=HOST_CTYPES)
    assert denied(r["resolve_new_symbol"], "native")
    assert not env.marker.exists()
    r = attack(env, CTYPES_HOST_FN, ["host_function_pointer"], host_setup=HOST_CTYPES)
    assert r["host_function_pointer"] == {"outcome": "ok", "value": "0"}
    assert env.marker.exists()


def test_ctypes_function_pointer_exec_is_refused_by_landlock(env: Env) -> None:
    r = attack(env, CTYPES_HOST_FN, ["host_function_pointer"], host_setup=HOST_CTYPES,
               lockdown=env.landlock())
    assert r["host_function_pointer"]["outcome"] == "ok"
    assert r["host_function_pointer"]["value"] != "0"     # sh could not be executed
    assert not env.marker.exists()


THREADS = r'''
def run_thread_target_is_system():
    t = _mod("threading").Thread(target=_mod("os").system, args=(CMD,))
    t.start()
    t.join()
def run_raw_start_new_thread():
    _mod("_thread").start_new_thread(_mod("os").system, (CMD,))
def run_unwrapped_starter():
    # a C function's __self__: for the checked starter, an index, not the original
    orig = _mod("threading")._start_new_thread.__self__
    orig(_mod("os").system, (CMD,))
    return repr(orig)
def run_own_thread_spawns():
    box = []
    def target():
        try:
            _mod("os").system(CMD)
            box.append("ran")
        except PermissionError as e:
            box.append(type(e).__name__)
    t = _mod("threading").Thread(target=target)
    t.start()
    t.join()
    return box
'''


def test_threads_running_library_functions_are_denied(env: Env) -> None:
    # A thread evil starts runs as evil whatever its target (threads = true by
    # default): it starts, and os.system in it -- with no Python frame at all for
    # _thread.start_new_thread -- is evil's process.spawn, denied.
    p = attack_proc(env, THREADS, ["thread_target_is_system", "raw_start_new_thread",
                                   "own_thread_spawns"],
                    host_setup="import threading", host_after="import time; time.sleep(0.5)")
    r = json.loads(p.stdout.splitlines()[-1])
    assert r["thread_target_is_system"]["outcome"] == "ok"
    assert r["raw_start_new_thread"]["outcome"] == "ok"
    assert r["own_thread_spawns"]["value"] == "['PolicyViolation']"
    assert p.stderr.count("may not use process.spawn") >= 2, p.stderr
    assert "guard.unattributed" not in p.stderr, p.stderr
    assert not env.marker.exists()
    # Without threads, none of them starts.
    r = attack(env, THREADS, ["thread_target_is_system", "raw_start_new_thread"],
               ext=env.ext_policy(threads=False), host_setup="import threading")
    assert denied(r["thread_target_is_system"], "threads")
    assert denied(r["raw_start_new_thread"], "threads")
    assert not env.marker.exists()


def test_checked_thread_starter_does_not_expose_the_original(env: Env) -> None:
    # The checked starter's __self__ is an index into a table the C side keeps, not the
    # interpreter's own starter, so there is nothing unchecked to call through it -- even
    # with guard.unattributed = "allow", where an unchecked thread could otherwise spawn.
    r = attack(env, THREADS, ["unwrapped_starter"], host_setup="import threading",
               host_after="import time; time.sleep(0.5)", guard={"unattributed": "allow"})
    assert r["unwrapped_starter"]["outcome"] == "error"
    assert not env.marker.exists()


CALLBACKS = r'''
def run_atexit_system():
    _mod("atexit").register(_mod("os").system, CMD)
def run_weakref_finalize_at_exit():
    class Holder:
        pass
    global KEEP
    KEEP = Holder()
    _mod("weakref").finalize(KEEP, _mod("os").system, CMD)
'''


def test_atexit_callback_running_os_system_is_denied(env: Env) -> None:
    p = attack_proc(env, CALLBACKS, ["atexit_system"], host_setup="import atexit")
    # registering is not mediated; running it at exit, with no frame on the stack, is
    assert json.loads(p.stdout.splitlines()[-1])["atexit_system"]["outcome"] == "ok"
    assert "PolicyViolation" in p.stderr and "guard.unattributed" in p.stderr
    assert not env.marker.exists()


def test_weakref_finalize_with_a_c_callable_is_denied(env: Env) -> None:
    p = attack_proc(env, CALLBACKS, ["weakref_finalize_at_exit"], host_setup="import weakref")
    assert json.loads(p.stdout.splitlines()[-1])["weakref_finalize_at_exit"]["outcome"] == "ok"
    assert "PolicyViolation" in p.stderr and "guard.unattributed" in p.stderr
    assert not env.marker.exists()


SIGNALS = r'''
def run_lambda_handler():
    signal = _mod("signal")
    signal.signal(signal.SIGUSR1, lambda *a: _mod("os").system(CMD))
def run_library_handler():
    # os.makedirs(path, mode=signum, exist_ok=frame): library code, called by the
    # interpreter between two bytecodes of whatever frame runs when the signal lands.
    signal = _mod("signal")
    signal.signal(signal.SIGUSR1, _mod("functools").partial(_mod("os").makedirs,
                                                              __BASE__ + "/made"))
'''
RAISE_SIGNAL = ("import signal, time\n"
                "out['host_signal'] = outcome(lambda: os.kill(os.getpid(), signal.SIGUSR1))\n")


def test_signal_handler_of_extension_code_is_charged_to_the_extension(env: Env) -> None:
    r = attack(env, SIGNALS, ["lambda_handler"], host_setup="import signal, functools",
               host_after=RAISE_SIGNAL)
    assert denied(r["host_signal"], "process.spawn")
    assert not env.marker.exists()


def test_signal_handler_of_library_code_runs_as_the_host(env: Env) -> None:
    # Not blocked: the handler's frames are library code and the frame it interrupts
    # is the host's, so the mkdir outside fs.write is charged to the host.
    r = attack(env, SIGNALS, ["library_handler"], host_setup="import signal, functools",
               host_after=RAISE_SIGNAL)
    assert r["library_handler"]["outcome"] == "ok"
    assert r["host_signal"]["outcome"] == "ok"
    assert (env.base / "made").is_dir()


def test_signal_handler_of_library_code_is_refused_by_landlock(env: Env) -> None:
    r = attack(env, SIGNALS, ["library_handler"], host_setup="import signal, functools",
               host_after=RAISE_SIGNAL, lockdown=env.landlock())
    assert r["host_signal"]["outcome"] == "error"
    assert r["host_signal"]["errno"] == 13
    assert not (env.base / "made").exists()


ENVIRON = r'''
def run_poison_environ():
    _mod("os").environ["SG_INJECTED"] = "from-the-extension"
def run_poison_environ_data():
    _mod("os").environ._data[b"SG_INJECTED"] = b"from-the-extension"
'''
HOST_SPAWNS = ("import subprocess\n"
               "out['host_spawn'] = outcome(lambda: subprocess.run(['/bin/sh', '-c', "
               "'echo $SG_INJECTED > ' + os.environ['SG_MARKER']], check=True).returncode)\n")


def test_environment_poisoning_is_denied_and_never_reaches_the_hosts_children(env: Env) -> None:
    # os.environ[...] = v calls putenv (audited as os.putenv): changing what the host's
    # later child processes inherit (LD_PRELOAD, PATH, ...) needs process.env.
    # Editing os.environ's private dict skips putenv, and then the C environment that
    # children inherit is unchanged.
    r = attack(env, ENVIRON, ["poison_environ", "poison_environ_data"], host_after=HOST_SPAWNS,
               host_setup=f"os.environ['SG_MARKER'] = {str(env.marker)!r}")
    assert denied(r["poison_environ"], "process.env")
    assert r["poison_environ_data"]["outcome"] == "ok"
    assert r["host_spawn"]["outcome"] == "ok"
    assert env.marker.read_text().strip() == ""


def test_environment_poisoning_exec_is_refused_by_landlock(env: Env) -> None:
    r = attack(env, ENVIRON, ["poison_environ"], host_after=HOST_SPAWNS,
               host_setup=f"os.environ['SG_MARKER'] = {str(env.marker)!r}",
               lockdown=env.landlock())
    assert r["host_spawn"]["outcome"] == "error"
    assert r["host_spawn"]["errno"] == 13
    assert not env.marker.exists()


def test_posixsubprocess_fork_exec_exec_is_refused_by_seccomp(env: Env) -> None:
    spec = dict(env.landlock(), seccomp="errno", require=["seccomp"])
    r = attack(env, FORK_EXEC, ["fork_exec"], host_setup="import subprocess", lockdown=spec)
    assert r["fork_exec"]["outcome"] == "ok"
    # EPERM (1) from the filter, not Landlock's EACCES: seccomp is checked first
    assert "OSError:1:" in r["fork_exec"]["value"], r
    assert not env.marker.exists()
