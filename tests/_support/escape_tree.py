"""Shared set-up for the escape corpus: a hostile extension `evil` loaded by a host
application `hostapp` (trusted, private; its public SDK is `sdk`) in a fresh child
interpreter, with a canary file outside the
extension's policy and a marker path a spawned command would create.

Each attack is a function `run_<name>()` in the extension's source.  The child installs
the guard, imports the extension, calls the named attacks in order and prints, per
attack, whether it returned ("ok", with a short repr of the value), was denied by the
guard ("denied", with capability and target) or failed otherwise ("error").  The test
then checks the side effect on disk itself, so an outcome is never taken on the
extension's word.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from .child import run_program, run_program_json, write_tree

SECRET = "TOPSECRET-canary"

# The child program is tests/_support/children/escape_attack.py.

# Every attack starts from what any code can reach without an import: the subclass
# walk to a stdlib class whose function globals hold `sys` (os._wrap_close).
PRELUDE = '''
def _sub(name):
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == name:
            return c
def _sys():
    return _sub("_wrap_close").__init__.__globals__["sys"]
def _mod(name):
    return _sys().modules[name]
CMD = "touch " + __MARKER__
'''

HOSTAPP = {
    "hostapp/__init__.py": """
        import os
        API_KEY = "host-api-key"
        def helper():
            return "host helper"
    """,
    "sdk/__init__.py": """
        def public_call():
            return "sdk ok"
    """,
    "hostapp/db.py": """
        PASSWORD = "db-password"
    """,
    "hostapp/settings.json": """
        {"db_password": "json-db-password"}
    """,
}


class Env:
    """Paths of one attack's sandbox under a pytest tmp_path."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.plugins = base / "plugins"
        self.host_dir = base / "host"
        self.allowed = base / "allowed"
        self.out = self.allowed / "out"
        self.secret = base / "secret.txt"
        self.marker = base / "marker"
        # The child's cwd: "" on sys.path makes lockdown grant it, so it holds nothing.
        self.cwd = base / "cwd"
        for d in (self.plugins, self.host_dir, self.out, self.cwd):
            d.mkdir(parents=True, exist_ok=True)
        (self.allowed / "ok.txt").write_text("allowed data")
        self.secret.write_text(SECRET)
        write_tree(self.host_dir, HOSTAPP)

    def ext_policy(self, **extra: Any) -> dict[str, Any]:
        ext: dict[str, Any] = {
            "package": "evil", "path": str(self.plugins),
            "imports": {"allow": ["@pure"]},
            "fs": {"read": [str(self.allowed)], "write": [str(self.out)]},
        }
        for k, v in extra.items():
            ext[k] = v
        return ext

    def landlock(self) -> dict[str, Any]:
        """A [lockdown] spec: the extension's and host's code and the allowed tree are
        readable, only the out/ directory writable; seccomp off (Landlock alone)."""
        return {"fs": {"read": [str(self.plugins), str(self.host_dir), str(self.allowed)],
                       "write": [str(self.out)]},
                "seccomp": "off", "require": ["landlock"]}

    def policy(self, ext: dict[str, Any] | None = None,
               guard: dict[str, Any] | None = None) -> dict[str, Any]:
        p: dict[str, Any] = {
            "version": 1,
            "host": {"trusted": ["hostapp", "sdk"], "public": ["sdk"],
                     "private": ["hostapp"], "hints": {"hostapp.db": "use sdk"}},
            "extensions": {"evil": ext if ext is not None else self.ext_policy()},
        }
        if guard:
            p["guard"] = guard
        return p


def _params(env: Env, source: str, calls: list[str], ext: dict[str, Any] | None,
            guard: dict[str, Any] | None, host_setup: str, host_after: str,
            lockdown: dict[str, Any] | None, extra_files: dict[str, str] | None) -> str:
    source = PRELUDE + source
    for token, value in (("__SECRET__", env.secret), ("__MARKER__", env.marker),
                         ("__ALLOWED__", env.allowed), ("__OUT__", env.out),
                         ("__BASE__", env.base)):
        source = source.replace(token, repr(str(value)))
    files = {"evil/__init__.py": source}
    files.update(extra_files or {})
    write_tree(env.plugins, files)
    return json.dumps({
        "host_dir": str(env.host_dir), "policy": env.policy(ext, guard), "calls": calls,
        "host_setup": host_setup, "host_after": host_after, "lockdown": lockdown,
    })


def attack(env: Env, source: str, calls: list[str], *, ext: dict[str, Any] | None = None,
           guard: dict[str, Any] | None = None, host_setup: str = "", host_after: str = "",
           lockdown: dict[str, Any] | None = None, extra_files: dict[str, str] | None = None,
           timeout: float = 60) -> dict[str, Any]:
    """Writes SOURCE as the extension `evil` (tokens __SECRET__, __MARKER__, __ALLOWED__,
    __OUT__, __BASE__ become string literals of those paths), runs CALLS in a guarded
    child; returns the per-attack outcomes (plus "import" for loading the extension)."""
    params = _params(env, source, calls, ext, guard, host_setup, host_after, lockdown,
                     extra_files)
    return run_program_json("escape_attack", params, cwd=str(env.cwd), timeout=timeout)


def attack_proc(env: Env, source: str, calls: list[str], *, ext: dict[str, Any] | None = None,
                guard: dict[str, Any] | None = None, host_setup: str = "",
                host_after: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Like attack(), returning the completed process: for attacks whose evidence is on
    stderr (callbacks run at exit, threads) or that end the child."""
    params = _params(env, source, calls, ext, guard, host_setup, host_after, None, None)
    return run_program("escape_attack", params, cwd=str(env.cwd), timeout=timeout)


def denied(r: dict[str, Any], capability: str | None = None) -> bool:
    return r["outcome"] == "denied" and (capability is None or r["capability"] == capability)
