"""Fixture tree and child runner for the Process Guard behaviour tests.

The tree (under a test's tmp_path):

    src/hostapp/__init__.py, hostapp/db.py   the host's private runtime (trusted, private)
    src/hostapp_sdk.py                        the public SDK (trusted, public): does file,
                                              network, process and dynamic-code work on an
                                              extension's behalf
    src/extlib.py                             a third-party-style library (neither host
                                              nor extension: transparent, the caller is
                                              charged)
    plugins/acme/__init__.py                  the extension package (principal "acme")
    data/                                     files the policy lets acme read/write
    outside/                                  files outside acme's policy

The child script runs with ``src`` on sys.path, installs the policy, imports acme through
the guard and runs BODY.  BODY records outcomes with ``attempt(name, fn, *args)`` (a host
function: whatever FN does is charged to the innermost extension frame, so
``attempt(n, acme.call, os.listdir, p)`` charges acme while ``attempt(n, os.listdir, p)``
is host code).  The child prints one JSON dict: every attempt's outcome plus ``_audit``,
the audit records delivered to a MemorySink.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from .child import run_program_json, write_tree

# The same operations in the SDK (host code) and in extlib (library code), so each
# test can compare who is charged for one operation reached either way.
_OPERATIONS = '''
def read_text(path):
    with open(path) as f:
        return f.read()

def write_text(path, text):
    with open(path, "w") as f:
        f.write(text)
    return len(text)

def listdir(path):
    return sorted(os.listdir(path))

def connect(addr):
    s = socket.create_connection(addr, timeout=5)
    s.close()
    return True

def resolve(name):
    return socket.getaddrinfo(name, 80)[0][4][0]

def run(argv):
    return subprocess.run(argv, capture_output=True, text=True).returncode
'''

HOSTAPP_SDK = '''
"""The host's public SDK: the supported way for an extension to reach files, the
network and processes."""
import os
import socket
import subprocess
import sys

from hostapp import db as _db   # the SDK's own use of the private runtime

''' + _OPERATIONS + '''

def frame_name():
    return sys._getframe(0).f_code.co_name

def evaluate(src):
    return eval(src, {})

def query(sql):
    from hostapp import db
    return db.query(sql)
'''

HOSTAPP = {
    "hostapp/__init__.py": '"""The host runtime (private to the host)."""\n',
    "hostapp/db.py": "def query(sql):\n    return 'rows for ' + sql\n",
}

EXTLIB = '''
"""A third-party-style library: neither host nor extension code."""
import os
import socket
import subprocess
import sys

''' + _OPERATIONS + '''

def system(cmd):
    return os.system(cmd)

def call(fn, *args, **kwargs):
    return fn(*args, **kwargs)
'''

ACME = '''
"""The extension under test."""

def call(fn, *args, **kwargs):
    """Runs FN from extension code: whatever FN does is charged to acme."""
    return fn(*args, **kwargs)

def collect(fn, *args, **kwargs):
    """Calls FN from extension code and drains the iterator it returns there."""
    return list(fn(*args, **kwargs))

def work(out=None):
    """A thread target that is extension code."""
    if out is not None:
        out.append("ran")
'''

# The child program is tests/_support/children/guard_body.py: it sets up the globals
# the docstring above names, installs the policy and runs BODY.  A body run with
# install=False that edits POLICY first installs it with this:
INSTALL = """
guard = sg.install(sg.Policy.from_dict(POLICY))
acme = guard.import_extension("acme")
if "beta" in POLICY["extensions"]:
    beta = guard.import_extension("beta")
"""

DEFAULT_IMPORTS = ["@pure", "extlib", "hostapp_sdk", "os", "sys", "socket", "shutil",
                   "io", "pathlib", "tempfile", "subprocess", "importlib", "mmap",
                   "sqlite3", "glob", "threading"]


def policy(base: Path, beta: dict[str, Any] | None = None, **acme: Any) -> dict[str, Any]:
    """The default policy for the tree at BASE; ACME entries override extensions.acme
    (use the flat dotted keys: ``**{"fs.read": [...]}``).  BETA, if given, adds a second
    extension "beta" (package beta, same defaults) with those overrides."""
    ext: dict[str, Any] = {
        "package": "acme",
        "path": str(base / "plugins"),
        "imports.allow": list(DEFAULT_IMPORTS),
        "fs.read": [str(base / "data")],
        "fs.write": [str(base / "data" / "out")],
    }
    ext.update(acme)
    exts = {"acme": ext}
    if beta is not None:
        exts["beta"] = dict(ext, package="beta")
        exts["beta"].update(beta)
    return {
        "version": 1,
        "host": {
            "trusted": ["hostapp", "hostapp_sdk"],
            "public": ["hostapp_sdk"],
            "private": ["hostapp"],
            "hints": {"hostapp.db": "use hostapp_sdk.query instead"},
        },
        "extensions": exts,
    }


def build(base: Path, extra: dict[str, str] | None = None) -> Path:
    """Writes the fixture tree under BASE (EXTRA: more files, relative to BASE, which may
    replace the defaults, e.g. "plugins/acme/__init__.py")."""
    files = {
        "src/hostapp_sdk.py": HOSTAPP_SDK,
        "src/extlib.py": EXTLIB,
        "plugins/acme/__init__.py": ACME,
        "plugins/beta/__init__.py": ACME,
        "data/in.txt": "inside\n",
        "data/out/.keep": "",
        "outside/secret.txt": "secret\n",
    }
    files.update({f"src/{k}": v for k, v in HOSTAPP.items()})
    files.update(extra or {})
    return write_tree(base, files)


def run(base: Path, body: str, *, pol: dict[str, Any] | None = None,
        files: dict[str, str] | None = None, install: bool = True,
        timeout: float = 60, report: bool = True) -> dict[str, Any]:
    """Builds the tree, runs BODY in a child after installing POL; returns its JSON
    (with REPORT false, BODY prints that JSON itself, and no ``_audit`` is added)."""
    build(base, files)
    pol = pol if pol is not None else policy(base)
    params = {"src": str(base / "src"), "base": str(base), "policy": pol,
              "install": install, "report": report, "body": textwrap.dedent(body)}
    result: dict[str, Any] = run_program_json("guard_body", json.dumps(params),
                                              cwd=str(base), timeout=timeout)
    return result


def audit_for(result: dict[str, Any], event_id: int) -> dict[str, Any]:
    """The audit record whose seq is EVENT_ID."""
    matches = [r for r in result["_audit"] if r.get("seq") == event_id]
    assert len(matches) == 1, (event_id, result["_audit"])
    return matches[0]


def assert_denied(result: dict[str, Any], name: str, capability: str, *,
                  principal: str = "acme", target: str | None = None,
                  rule: str | None = None, decision: str = "deny",
                  msg_key: str | None = None) -> dict[str, Any]:
    """NAME was refused by policy: a PolicyViolation with the fields filled in, a
    message naming the rule, and one audit record that says the same."""
    out = result[name]
    assert out["ok"] is False, (name, out)
    assert out["violation"] is True, (name, out)
    assert out["capability"] == capability, (name, out)
    assert out["principal"] == principal, (name, out)
    rule = rule if rule is not None else f"extensions.{principal}.{capability}"
    assert out["rule"] == rule, (name, out)
    assert (msg_key or rule) in out["msg"], (name, out)
    if target is not None:
        assert out["target"] == target, (name, out)
    rec = audit_for(result, out["event_id"])
    assert rec["decision"] == decision, rec
    assert rec["principal"] == principal, rec
    assert rec["capability"] == capability, rec
    assert rec["rule"] == rule, rec
    assert rec["target"] == out["target"], rec
    assert rec["layer"] == "guard", rec
    return out


def assert_allowed(result: dict[str, Any], name: str) -> Any:
    out = result[name]
    assert out["ok"] is True, (name, out)
    return out["value"]


def dumps(obj: Any) -> str:
    return json.dumps(obj)
