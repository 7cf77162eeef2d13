"""JSONL sink child: ``audit_jsonl_reopen.py LOG``.

Opens a JsonlSink on an existing LOG (whose last line may be incomplete) and records
one denial with target ``reopened``.
"""
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

audit.add_sink(audit.JsonlSink(sys.argv[1]))
_guard.emit("guard", "fs.read", "deny", target="reopened")
