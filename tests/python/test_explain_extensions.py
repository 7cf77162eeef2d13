"""``python -m sdk_guard explain POLICY`` says, per extension, what it may and may not do."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _support.child import child_env

POLICY = """
version = 1

[guard]
mode = "monitor"

[host]
trusted = ["app"]
public = ["app.sdk"]
private = ["app.db"]

[extensions.acme]
package = "acme"
imports.allow = ["@pure", "requests.*", "os"]
imports.deny = ["pickle"]
fs.read = ["/srv/acme"]
net.connect = ["api.example.com:443"]
process.spawn = true
threads = false
approve = ["net.connect"]
"""


def test_explain_says_what_each_extension_may_and_may_not_do(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text(POLICY)
    out = subprocess.run([sys.executable, "-m", "sdk_guard", "explain", str(tmp_path / "p.toml")],
                         env=child_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for sentence in (
            "Mode: monitor; NOTHING is refused",
            "## acme (package acme)",
            "May import: its own package acme; the host's public modules (app.sdk); @pure (",
            "any submodule of requests, os.",
            "May never import: pickle.",
            "May never import the host's private modules: app.db.",
            "May read files under: /srv/acme.",
            "May write files under: nothing (no files).",
            "May connect to: api.example.com:443.",
            "May not listen on any address.",
            "May: start processes (a child process runs unguarded).",
            "May not: send signals to processes; read or change the process environment; "
            "load native code (ctypes, cffi, .so files); "
            "inspect frames, walk the garbage collector or set trace hooks; run dynamically "
            "created code (exec, compile, pickle by name); start threads.",
            "Needs the host's approval, each time, for: net.connect.",
            "# lockdown plan for"):
        assert sentence in text, sentence
