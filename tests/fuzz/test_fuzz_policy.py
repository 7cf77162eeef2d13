"""Policy loading under structure-aware generation.

Policies are generated from the schema's own keys with values drawn from every
kind a TOML/JSON document can hold (and a few only a dict can: tuples, non-string
keys, deep and huge values), mutated around valid examples.  Properties: loading
either succeeds or raises exactly one PolicyError whose key is a dotted path and
whose message prints; a policy that loads round-trips through ``data`` (from_dict
and the ``check`` command's TOML) to the same data and spec.
"""
from __future__ import annotations

import json
import tomllib
from typing import Any

from conftest import scaled
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sdk_guard import PolicyError
from sdk_guard._toml import to_toml
from sdk_guard.policy import Policy

KEYS = ["version", "guard", "host", "extensions", "lockdown", "audit", "mode", "trusted",
        "public", "private", "hints", "data", "acme", "package", "path", "imports", "allow",
        "deny", "fs", "read", "write", "net", "connect", "bind", "resolve", "process",
        "spawn", "signal", "native", "introspection", "dynamic_code", "threads", "approve",
        "sinks", "type", "logger", "level", "deny_level", "ring_capacity", "overflow_wait",
        "spans", "maxlen", "max_bytes", "backups", "flush", "fsync", "connect_tcp",
        "bind_tcp", "scope", "seccomp", "require", "subinterpreters", "unattributed",
        "fs.read", "net.connect", "imports.allow"]
INTERESTING = ["{data}/x", "{{x}}", "/tmp/{{y}}", "{tmp}/{{a}}/b", "/tmp/\ud800", "/a\0b",
               "1.2.3.4:80", "::1:1", "[::1:1]:80", "[::1]:80", "0X7.:*", "x:" + "9" * 5000,
               "a.b:*", "10.0.0.0/8:5432", "@pure", "@text", "json", "sdk.*", "*", "enforce",
               "monitor", "all", "deny", "allow", "jsonl", "logging", "memory", "INFO",
               "/tmp/a", "{prefix}", "{home}/x", "{data!r}", "{", "}", "{0}", "errno", "trap",
               "landlock", "seccomp", "signal", "abstract_unix_socket", "net.connect",
               "api.example.com", "\x1b[31m", "ac\u202eme", ""]

def huge_int() -> int:
    """An integer beyond int()'s default 4300-digit str limit (built lazily: Hypothesis
    reprs sampled values, and this one has no repr)."""
    return 10 ** 5000


leaf = st.one_of(
    st.none(), st.booleans(),
    st.integers(-2 ** 70, 2 ** 70), st.sampled_from([0, 1, 80, 65535, 65536]),
    st.builds(huge_int),
    st.floats(allow_nan=True), st.text(max_size=8), st.sampled_from(INTERESTING),
)
keys = st.one_of(st.sampled_from(KEYS), st.sampled_from([1, None, ("a",), "", "\ud800"]))
# Small recursive values: generation, not loading, is the cost of this suite.
tree = st.recursive(leaf, lambda c: st.one_of(st.lists(c, max_size=3),
                                              st.dictionaries(keys, c, max_size=3)),
                    max_leaves=6)


@st.composite
def valid_or(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A VALID value mostly, anything now and then: a policy has a dozen such points,
    so mostly-valid policies still reach the deep validators and the round trip, and
    each key's error path is still taken."""
    # Hypothesis favours boundary values (0 and the maximum), so a middle value
    # makes the odd branch rare.
    return draw(st.one_of(tree, st.sampled_from(INTERESTING))) if draw(st.integers(0, 24)) == 13 \
        else draw(valid)


PATHS = valid_or(st.sampled_from(["{data}/x", "/tmp/{{y}}", "{tmp}/{{a}}/b", "/usr",
                                  "{prefix}", "{home}/x", "/srv/x y", "/srv/{{data}}"]))
RULES = valid_or(st.sampled_from(["1.2.3.4:80", "[::1:1]:80", "[::1]:80", "a.b:*",
                                  "10.0.0.0/8:5432", "api.example.com:443", "127.1:1-9"]))
MODS = valid_or(st.sampled_from(["json", "pickle", "a.b", "sdk"]))
PATTERNS = valid_or(st.sampled_from(["@pure", "@text", "json", "sdk.*", "*", "pickle"]))


@st.composite
def policies(draw: st.DrawFn) -> dict[Any, Any]:
    ext: dict[Any, Any] = {"package": draw(valid_or(st.sampled_from(["acme", "x.y"])))}
    for group, subs, values in (("fs", ("read", "write"), PATHS),
                                ("net", ("connect", "bind"), RULES),
                                ("imports", ("allow", "deny"), PATTERNS)):
        if draw(st.booleans()):
            ext[group] = {sub: draw(valid_or(st.lists(values, max_size=3)))
                          for sub in subs if draw(st.booleans())}
    if draw(st.booleans()):
        ext["path"] = draw(valid_or(PATHS))
    for flag in draw(st.lists(st.sampled_from(["native", "threads", "process.spawn",
                                               "dynamic_code"]), max_size=2)):
        ext[flag] = draw(valid_or(st.booleans()))
    if draw(st.integers(0, 24)) == 13:
        ext[draw(keys)] = draw(tree)
    d: dict[Any, Any] = {"version": draw(valid_or(st.just(1)))}
    if draw(st.integers(0, 24)) == 13:
        d["version"] = draw(st.one_of(st.sampled_from([2, "1", True]), st.builds(huge_int)))
    name = draw(st.sampled_from(["acme", "a-b"]))
    d["extensions"] = {draw(keys) if draw(st.integers(0, 24)) == 13 else name: ext}
    if draw(st.booleans()):
        d["host"] = {"data": draw(valid_or(st.sampled_from(["/srv/d", "/srv/{{d}}"]))),
                     "trusted": draw(valid_or(st.lists(MODS, max_size=2)))}
    if draw(st.booleans()):
        d["guard"] = {"mode": draw(valid_or(st.sampled_from(["enforce", "monitor"])))}
    if draw(st.booleans()):
        d["lockdown"] = {"fs": {"read": draw(valid_or(st.lists(PATHS, max_size=3)))},
                         "net": {"connect_tcp": draw(valid_or(st.lists(
                             st.integers(-5, 70000), max_size=2)))}}
    if draw(st.booleans()):
        kind = draw(valid_or(st.sampled_from(["jsonl", "logging", "memory"])))
        sink: dict[Any, Any] = {"type": kind}
        field = {"jsonl": "path", "logging": "logger", "memory": "maxlen"}.get(
            kind if isinstance(kind, str) else "", "path")
        sink[field] = draw(valid_or(st.sampled_from(["{data}/a.jsonl", "/tmp/{{b}}.jsonl",
                                                     "app.audit"]) if field != "maxlen"
                                    else st.integers(-1, 10)))
        d["audit"] = {"sinks": [sink]}
    if draw(st.integers(0, 24)) == 13:
        d[draw(keys)] = draw(tree)
    return d


def check_error(exc: PolicyError) -> None:
    assert isinstance(exc.key, str)
    json.dumps(str(exc))
    str(exc).encode("utf-8", "backslashreplace")


def check_round_trip(p: Policy) -> None:
    again = Policy.from_dict(p.data)
    assert again.data == p.data
    assert again.to_spec() == p.to_spec()
    text = to_toml(p.data)
    assert Policy.from_dict(tomllib.loads(text)).data == p.data


@settings(max_examples=scaled(400))
@given(policies())
@example({"version": 1, "extensions": {"acme": {"package": "acme",
                                                 "fs": {"read": ["/tmp/{{x}}"]}}},
          "lockdown": {"fs": {"read": ["/tmp/{{x}}"]}},
          "audit": {"sinks": [{"type": "jsonl", "path": "/tmp/{{a}}.jsonl"}]}})
@example({"version": 1, "extensions": {"acme": {"package": "acme",
                                                 "net": {"connect": ["x:" + "9" * 5000]}}}})
@example({"version": 1, "host": {1: 2}})
def test_loading_a_generated_policy_is_a_policy_or_one_policy_error(d: dict[Any, Any]) -> None:
    try:
        p = Policy.from_dict(d, variables={"data": "/srv/d"})
    except PolicyError as exc:
        check_error(exc)
        return
    check_round_trip(p)


TOML_PIECES = [b"version = 1\n", b"[guard]\n", b'mode = "monitor"\n', b"[host]\n",
               b'data = "/srv/{{x}}"\n', b"[extensions.acme]\n", b'package = "acme"\n',
               b'fs.read = ["{data}/a", "/tmp/{{b}}"]\n', b'net.connect = ["::1:1"]\n',
               b"[lockdown]\n", b'fs.read = ["/usr"]\n', b"net.connect_tcp = [443]\n",
               b"[audit]\n", b'sinks = [{type = "jsonl", path = "{data}/a.jsonl"}]\n',
               b"x = [[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]\n",
               b"\xff\xfe", b"\x00", b'"\\ud800"', b"= = =\n", b"[[a]]\n", b"9" * 5000 + b"\n"]


@settings(max_examples=scaled(300))
@given(st.lists(st.one_of(st.sampled_from(TOML_PIECES), st.binary(max_size=20)), max_size=12))
def test_loading_generated_toml_bytes_is_a_policy_or_one_policy_error(
        tmp_path_factory: Any, pieces: list[bytes]) -> None:
    f = tmp_path_factory.mktemp("p") / "p.toml"
    f.write_bytes(b"".join(pieces))
    try:
        p = Policy.from_toml(f)
    except PolicyError as exc:
        check_error(exc)
        return
    check_round_trip(p)
