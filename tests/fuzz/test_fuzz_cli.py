"""The CLI and the audit trail reader under generated input.

Trails are generated as JSONL whose records mix well-formed fields with every JSON
type in every field, unprintable and bidi text, deep nesting, over-long lines, torn
lines and raw bytes; the reader, every filter, the formatter and the summary must
take them without an exception, and what the text formatter prints holds no control
character.  Policy files for ``check``/``explain`` are generated as bytes.  The CLI
runs in-process through ``sdk_guard.__main__.main`` (a child per example would
spend the budget on interpreter start-up; test_cli_hostile.py runs the real
``python -m sdk_guard`` on the past failures).
"""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

from conftest import scaled
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sdk_guard.__main__ import main
from sdk_guard._cli import audit as cli_audit

FIELDS = ["seq", "ts", "layer", "principal", "capability", "target", "decision", "rule",
          "span", "span_path", "span_id", "user", "org", "dropped", "first_seq", "last_seq"]
TEXT = st.one_of(st.text(max_size=12), st.sampled_from([
    "\x1b[2J", "\x07", "a\nb", "\u202eevil", "\u2028", "\ud800", "\x9b31m", "deny", "allow",
    "acme", "net.connect", "2026-11-28T22:00:01Z", "9" * 80, "dropped", "open"]))
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                      st.floats(allow_nan=False), TEXT)
json_value = st.recursive(json_leaf, lambda c: st.one_of(
    st.lists(c, max_size=3), st.dictionaries(TEXT, c, max_size=3)), max_leaves=6)


@st.composite
def record_lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=40)) + b"\n"
    if kind == 1:
        return b"[" * draw(st.integers(1, 3000)) + b"\n"
    if kind == 2:
        return json.dumps(draw(json_value)).encode() + b"\n"
    rec: dict[str, Any] = {}
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=10)):
        rec[field] = draw(st.one_of(TEXT, json_value))
    line = json.dumps(rec, ensure_ascii=draw(st.booleans()))
    try:
        raw = line.encode("utf-8")
    except UnicodeEncodeError:
        raw = line.encode("utf-8", "surrogatepass")
    return raw + (b"" if kind == 3 else b"\n")


FLAGS = [["--json"], ["--summary"], ["--summary", "--json"], ["--principal", "acme"],
         ["--capability", "net.*"], ["--decision", "deny"], ["--span", "a-1"],
         ["--since", "1970-01-01"], ["--until", "99999999d"], ["--since", "9" * 30 + "s"],
         ["--user", "\ud800"], ["--layer", "guard", "--org", "o"]]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def run_main(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(args)
        except SystemExit as exc:       # argparse usage errors
            rc = int(exc.code or 0)
    return rc, out.getvalue(), err.getvalue()


@settings(max_examples=scaled(250))
@given(st.lists(record_lines(), max_size=12), st.sampled_from(FLAGS))
@example([b'{"seq": null, "target": "\\u001b[31m", "principal": ["p"], "decision": "deny"}\n'],
         ["--summary"])
@example([b'{"ts": "' + b"9" * 100 + b'", "span_path": 5, "span": [1]}\n'], ["--span", "a-1"])
def test_audit_cli_takes_any_trail(tmp_path_factory: Any, lines: list[bytes],
                                   flags: list[str]) -> None:
    trail = tmp_path_factory.mktemp("t") / "t.jsonl"
    trail.write_bytes(b"".join(lines))
    rc, out, err = run_main(["audit", str(trail), *flags])
    assert rc == 0, err
    assert "Traceback" not in err
    if "--json" not in flags:
        for line in out.splitlines():
            assert not CONTROL.search(line), ascii(line)


@settings(max_examples=scaled(150))
@given(st.lists(record_lines(), max_size=20))
def test_reader_filters_formatter_and_summary_take_any_record(
        tmp_path_factory: Any, lines: list[bytes]) -> None:
    trail = tmp_path_factory.mktemp("t") / "t.jsonl"
    trail.write_bytes(b"".join(lines))
    reader = cli_audit.Reader(max_line=4096)
    summary = cli_audit.Summary()
    ns = cli_audit.argparse.Namespace(
        principal=["acme"], capability=["net.*", "fs.read"], decision=["deny"],
        layer=None, span=["a-1"], user=None, org=None, since="1970-01-01", until=None)
    keep = cli_audit.Filter(ns)
    records = 0
    for rec in reader.read(str(trail)):
        records += 1
        keep(rec)
        assert "\n" not in cli_audit._fmt(rec)
        summary.add(rec)
    result = summary.result()
    json.dumps(result)
    assert result["records"] == records
    assert records + reader.unreadable <= len(lines)


POLICY_PIECES = [b"version = 1\n", b"[lockdown]\n", b'fs.read = ["/usr", "/tmp/{{x}}"]\n',
                 b'seccomp = "errno"\n', b'seccomp = "off"\n', b"net.connect_tcp = [443]\n",
                 b"[audit]\n", b'sinks = [{type = "jsonl", path = "/tmp/a.jsonl"}]\n',
                 b"[extensions.acme]\n", b'package = "acme"\n', b'fs.read = ["/tmp/\\ud800"]\n',
                 b"\xff", b"\x00", b"[[", b"9" * 5000, b'fs.read = ["/a\\u0000b"]\n']


@settings(max_examples=scaled(120))
@given(st.lists(st.one_of(st.sampled_from(POLICY_PIECES), st.binary(max_size=10)), max_size=10),
       st.sampled_from(["check", "explain"]), st.sampled_from([".toml", ".json", ".txt"]),
       st.sampled_from(["p", "p\udcff", "p\u202e"]))
def test_check_and_explain_take_any_policy_file(tmp_path_factory: Any, pieces: list[bytes],
                                                command: str, suffix: str, stem: str) -> None:
    path = Path(str(tmp_path_factory.mktemp("p")) + "/" + stem + suffix)
    with open(path, "wb") as f:
        f.write(b"".join(pieces))
    rc, _, err = run_main([command, str(path)])
    assert rc in (0, 1, 2), err
    assert "Traceback" not in err
