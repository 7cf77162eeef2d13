"""Hostile policy input: every bad policy is one PolicyError naming the dotted key.

Each case here was once a different exception (AttributeError, TypeError,
RecursionError, ValueError, UnicodeError) or was wrongly accepted.  Nothing is
installed, so the tests run in-process.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sdk_guard import PolicyError
from sdk_guard._lockdown_spec import parse_spec
from sdk_guard.audit import _config as sg_audit
from sdk_guard.policy import Policy


def ext(**fields: Any) -> dict[str, Any]:
    return {"version": 1, "extensions": {"acme": {"package": "acme", **fields}}}


def deep_list(depth: int) -> list[Any]:
    d: list[Any] = []
    for _ in range(depth):
        d = [d]
    return d


def self_containing() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["mode"] = d
    return d


# (description, policy dict, dotted key the error must name)
BAD_DICTS: list[tuple[str, dict[str, Any], str]] = [
    ("5000-digit port in a rule", ext(**{"net.connect": ["1.2.3.4:" + "9" * 5000]}),
     "extensions.acme.net.connect[0]"),
    ("5000-digit version", {"version": 10 ** 5000}, "version"),
    ("5000-digit lockdown port", {"version": 1, "lockdown": {"net": {"connect_tcp": [10 ** 5000]}}},
     "lockdown.net.connect_tcp[0]"),
    ("lone surrogate in fs.read", ext(**{"fs.read": ["/tmp/\ud800"]}), "extensions.acme.fs.read[0]"),
    ("lone surrogate after a template", ext(**{"fs.read": ["{tmp}/\udcff"]}),
     "extensions.acme.fs.read[0]"),
    ("lone surrogate in path", ext(path="\ud800"), "extensions.acme.path"),
    ("lone surrogate in host.data", {"version": 1, "host": {"data": "/\ud800"}}, "host.data"),
    ("lone surrogate in a hint", {"version": 1, "host": {"hints": {"a": "\ud800"}}},
     "host.hints.a"),
    ("lone surrogate in lockdown.fs.read", {"version": 1, "lockdown": {"fs": {"read": ["/\ud800"]}}},
     "lockdown.fs.read[0]"),
    ("lone surrogate in a sink path",
     {"version": 1, "audit": {"sinks": [{"type": "jsonl", "path": "/tmp/\ud800"}]}},
     "audit.sinks[0].path"),
    ("lone surrogate in an extension name",
     {"version": 1, "extensions": {"\ud800": {"package": "x"}}}, "extensions"),
    ("NUL in a sink path", {"version": 1, "audit": {"sinks": [{"type": "jsonl", "path": "/a\0b"}]}},
     "audit.sinks[0].path"),
    ("NUL in a logger name",
     {"version": 1, "audit": {"sinks": [{"type": "logging", "logger": "a\0b"}]}},
     "audit.sinks[0].logger"),
    ("unhashable sink type", {"version": 1, "audit": {"sinks": [{"type": ["x"]}]}},
     "audit.sinks[0].type"),
    ("non-string key in [host]", {"version": 1, "host": {1: 2}}, "host"),
    ("non-string key in [guard]", {"version": 1, "guard": {1: 2}}, "guard"),
    ("non-string key in host.hints", {"version": 1, "host": {"hints": {1: "x"}}}, "host.hints"),
    ("non-string extension name", {"version": 1, "extensions": {1: {"package": "a"}}},
     "extensions"),
    ("nesting 100000 deep", {"version": 1, "guard": deep_list(100_000)}, "guard"),
    ("a structure that contains itself", {"version": 1, "guard": self_containing()}, "guard"),
]


@pytest.mark.parametrize("d,key", [(d, k) for _, d, k in BAD_DICTS],
                         ids=[name for name, _, _ in BAD_DICTS])
def test_bad_policy_dict_is_one_policy_error_naming_the_key(d: dict[str, Any], key: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.from_dict(d, variables={"data": "/srv/d"})
    assert info.value.key == key or info.value.key.startswith((key + ".", key + "[")), \
        info.value.key
    str(info.value).encode("ascii", "backslashreplace")      # printable
    json.dumps(str(info.value))


def test_bad_variables_are_policy_errors() -> None:
    for variables in ({"data": "/a\0b"}, {"data": "/\ud800"}, 3, {"x y": "/a"}, {"data": 5}):
        with pytest.raises(PolicyError):
            Policy.from_dict({"version": 1}, variables=variables)  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix,content", [
    (".toml", b"version = 1\n# \xff\xfe\n"),
    (".json", b'{"version": 1, "x": "\xff"}'),
    (".toml", b"version = 1\nguard = " + b"[" * 100_000 + b"]" * 100_000 + b"\n"),
    (".json", b'{"version": 1, "guard": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    (".json", b'{"version": ' + b"1" * 5000 + b"}"),
    (".toml", b"version = " + b"1" * 5000 + b"\n"),
], ids=["non-utf8-toml", "non-utf8-json", "deep-toml", "deep-json", "huge-int-json",
        "huge-int-toml"])
def test_unusable_policy_file_is_a_policy_error(tmp_path: Path, suffix: str,
                                                content: bytes) -> None:
    f = tmp_path / f"p{suffix}"
    f.write_bytes(content)
    with pytest.raises(PolicyError) as info:
        Policy.from_file(f)
    assert info.value.key == ""
    assert str(f) in str(info.value)


def test_non_utf8_policy_error_says_where(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_bytes(b"version = 1\n\n# caf\xe9\n")
    with pytest.raises(PolicyError, match=r"byte 0xe9 at offset 18, line 3"):
        Policy.from_toml(f)


def test_escaped_braces_round_trip_through_data() -> None:
    d = ext(**{"fs.read": ["/tmp/{{x}}"], "path": "/opt/{{p}}"})
    d["host"] = {"data": "/srv/{{d}}"}
    d["lockdown"] = {"fs": {"read": ["/tmp/{{x}}", "{data}/y"]}}
    d["audit"] = {"sinks": [{"type": "jsonl", "path": "{data}/{{a}}.jsonl"}]}
    p = Policy.from_dict(d)
    again = Policy.from_dict(p.data)
    assert again.data == p.data
    assert again.to_spec() == p.to_spec()
    assert p.to_spec()["extensions"][0]["fs_read"] == ["/tmp/{x}"]
    assert p.lockdown_spec()["fs.read"] == ["/tmp/{x}", "/srv/{d}/y"]


def test_host_data_holding_a_literal_data_brace_round_trips() -> None:
    p = Policy.from_dict({"version": 1, "host": {"data": "/srv/{{data}}"}})
    assert Policy.from_dict(p.data).data == p.data


def test_lockdown_spec_accepts_escaped_braces() -> None:
    spec = parse_spec({"fs": {"read": ["/tmp/{{x}}", "{tmp}/{{y}}"]}})
    assert spec["fs.read"][0] == "/tmp/{x}"
    assert spec["fs.read"][1].endswith("/{y}")
    with pytest.raises(PolicyError) as info:
        parse_spec({"fs": {"read": ["/tmp/{x}"]}})
    assert info.value.key == "lockdown.fs.read[0]"


def test_lockdown_spec_refuses_surrogates_and_huge_ports() -> None:
    with pytest.raises(PolicyError) as info:
        parse_spec({"fs": {"read": ["/\udcff"]}})
    assert info.value.key == "lockdown.fs.read[0]"
    with pytest.raises(PolicyError) as info:
        parse_spec({"net": {"bind_tcp": [-(10 ** 5000)]}})
    assert info.value.key == "lockdown.net.bind_tcp[0]"


def test_audit_config_refuses_nul_and_surrogates_directly() -> None:
    for entry, key in (({"type": "jsonl", "path": "/a\0"}, "audit.sinks[0].path"),
                       ({"type": "logging", "logger": "x\0"}, "audit.sinks[0].logger"),
                       ({"type": "logging", "logger": "\udc80"}, "audit.sinks[0].logger"),
                       ({"type": "jsonl", "path": "/tmp/{bogus}"}, "audit.sinks[0].path"),
                       ({"type": "jsonl", "path": "/tmp/{"}, "audit.sinks[0].path")):
        with pytest.raises(PolicyError) as info:
            sg_audit.parse_config({"sinks": [entry]})
        assert info.value.key == key


def test_audit_sink_path_escapes_expand_to_literal_braces(tmp_path: Path) -> None:
    cfg = sg_audit.parse_config({"sinks": [{"type": "jsonl", "path": "{data}/{{a}}.jsonl"}]})
    assert sg_audit._expand(cfg["sinks"][0]["path"], {"data": str(tmp_path)},
                            "audit.sinks[0].path") == f"{tmp_path}/{{a}}.jsonl"
