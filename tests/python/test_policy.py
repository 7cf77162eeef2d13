"""Policy loading and validation (sdk_guard.policy) and the C matcher bindings.

Nothing here installs a hook, so the tests run in-process.
"""
from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sdk_guard import PolicyError, _guard
from sdk_guard.policy import CAPABILITIES, PRESETS, Policy

DATA = "/srv/app-data"


def base() -> dict[str, Any]:
    """A valid policy in the nested form TOML produces."""
    return {
        "version": 1,
        "guard": {"mode": "enforce"},
        "host": {
            "trusted": ["myapp", "sdk"],
            "public": ["sdk"],
            "private": ["myapp"],
            "hints": {"myapp.db": "use sdk.database instead"},
        },
        "extensions": {
            "acme": {
                "package": "acme",
                "imports": {"allow": ["sdk", "sdk.*", "@pure"], "deny": ["pickle"]},
                "fs": {"read": ["{data}/acme", "/usr/share/zoneinfo"],
                       "write": ["{data}/acme/out"]},
                "net": {"connect": ["127.0.0.1:8080", "api.example.com:443",
                                    "10.0.0.0/8:5432", "[::1]:8080"]},
                "approve": ["net.connect"],
            },
        },
    }


def load(d: dict[str, Any], **kw: Any) -> Policy:
    kw.setdefault("variables", {"data": DATA})
    return Policy.from_dict(d, **kw)


def ext(d: dict[str, Any]) -> dict[str, Any]:
    return d["extensions"]["acme"]


def setp(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets the nested key PATH ("extensions.acme.fs.read") to VALUE."""
    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node = d
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return mutate


def delp(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node = d
        for p in parents:
            node = node[p]
        del node[last]
    return mutate


def add_ext(name: str, package: str) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        d["extensions"][name] = {"package": package}
    return mutate


A = "extensions/acme"
NET = "extensions/acme/net/connect"

# (id, mutation, expected PolicyError.key, a word the message must contain)
MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("version-missing", delp("version"), "version", "version = 1"),
    ("version-2", setp("version", 2), "version", "must be 1"),
    ("version-str", setp("version", "1"), "version", "must be 1"),
    ("version-bool", setp("version", True), "version", "must be 1"),
    ("unknown-top-key", setp("extension", {}), "extension", "extensions"),
    ("guard-not-table", setp("guard", "enforce"), "guard", "table"),
    ("guard-bad-mode", setp("guard/mode", "strict"), "guard.mode", '"enforce" or "monitor"'),
    ("guard-bad-audit", setp("guard/audit", "some"), "guard.audit", '"deny" or "all"'),
    ("guard-bad-unattributed", setp("guard/unattributed", "trust"), "guard.unattributed",
     '"deny" or "allow"'),
    ("guard-bad-subinterpreters", setp("guard/subinterpreters", True), "guard.subinterpreters",
     '"deny" or "allow"'),
    ("guard-unknown-key", setp("guard/level", 1), "guard.level", "unknown key"),
    ("host-unknown-key", setp("host/untrusted", []), "host.untrusted", "did you mean"),
    ("host-trusted-str", setp("host/trusted", "myapp"), "host.trusted", "list of strings"),
    ("host-trusted-item-int", setp("host/trusted", ["myapp", 3]), "host.trusted[1]", "string"),
    ("host-private-bad-module", setp("host/private", ["my-app"]), "host.private[0]",
     "identifiers"),
    ("host-hint-not-str", setp("host/hints", {"myapp.db": 5}), "host.hints.myapp.db", "string"),
    ("host-public-private-overlap", setp("host/public", ["sdk", "myapp.api"]), "host.public",
     "both public and private"),
    ("host-data-relative", setp("host/data", "data"), "host.data", "absolute"),
    ("extensions-not-table", setp("extensions", ["acme"]), "extensions", "table"),
    ("extension-not-table", setp(A, "acme"), "extensions.acme", "table"),
    ("extension-unknown-key", setp(f"{A}/network", []), "extensions.acme.network", "unknown key"),
    ("extension-unknown-group-key", setp(f"{A}/fs/exec", []), "extensions.acme.fs.exec",
     "unknown key"),
    ("extension-group-not-table", setp(f"{A}/fs", ["/tmp"]), "extensions.acme.fs", "table"),
    ("package-missing", delp(f"{A}/package"), "extensions.acme.package", 'package = "acme"'),
    ("package-empty", setp(f"{A}/package", ""), "extensions.acme.package", "empty"),
    ("package-not-identifier", setp(f"{A}/package", "acme-plugin"), "extensions.acme.package",
     "identifiers"),
    ("package-keyword", setp(f"{A}/package", "acme.class"), "extensions.acme.package",
     "identifiers"),
    ("package-not-str", setp(f"{A}/package", 7), "extensions.acme.package", "string"),
    ("package-overlap-sub", add_ext("sub", "acme.sub"), "extensions.sub.package", "overlaps"),
    ("package-overlap-same", add_ext("twin", "acme"), "extensions.twin.package", "overlaps"),
    ("package-under-trusted", setp(f"{A}/package", "sdk.plugins"), "extensions.acme.package",
     "host.trusted"),
    ("package-under-private",
     lambda d: (setp("host/private", ["myapp", "vendor"])(d), setp(f"{A}/package", "vendor.x")(d)),
     "extensions.acme.package", "host.private"),
    ("unknown-preset", setp(f"{A}/imports/allow", ["sdk", "@purest"]),
     "extensions.acme.imports.allow[1]", "@pure"),
    ("bad-module-pattern", setp(f"{A}/imports/deny", ["pickle", "os.*.path"]),
     "extensions.acme.imports.deny[1]", "pkg.*"),
    ("allow-private-module", setp(f"{A}/imports/allow", ["myapp.db"]),
     "extensions.acme.imports.allow[0]", "host.private"),
    ("data-unset", lambda d: None, "extensions.acme.fs.read[0]", "host.data"),
    ("unknown-template", setp(f"{A}/fs/read", ["{datadir}/x"]), "extensions.acme.fs.read[0]",
     "{data}"),
    ("fs-relative", setp(f"{A}/fs/read", ["/ok", "relative/dir"]), "extensions.acme.fs.read[1]",
     "absolute"),
    ("fs-tilde", setp(f"{A}/fs/write", ["~/out"]), "extensions.acme.fs.write[0]", "{home}"),
    ("fs-not-list", setp(f"{A}/fs/write", "/tmp"), "extensions.acme.fs.write", "list"),
    ("fs-nul", setp(f"{A}/fs/read", ["/tmp/a\0b"]), "extensions.acme.fs.read[0]", "NUL"),
    ("cidr-prefix-too-long", setp(NET, ["127.0.0.1:80", "h:1", "10.0.0.0/33:80"]),
     "extensions.acme.net.connect[2]", "0..32"),
    ("cidr-host-bits", setp(NET, ["10.0.0.5/8:5432"]), "extensions.acme.net.connect[0]",
     "10.0.0.0/8"),
    ("cidr-garbage", setp(NET, ["10.0.0.0/x:80"]), "extensions.acme.net.connect[0]", "prefix"),
    ("port-zero", setp(NET, ["api.example.com:0"]), "extensions.acme.net.connect[0]",
     "1..65535"),
    ("port-70000", setp(NET, ["api.example.com:70000"]), "extensions.acme.net.connect[0]",
     "1..65535"),
    ("port-missing", setp(NET, ["10.0.0.5"]), "extensions.acme.net.connect[0]",
     '"10.0.0.5:PORT"'),
    ("port-not-number", setp(NET, ["db:postgres"]), "extensions.acme.net.connect[0]", "number"),
    ("port-range-reversed", setp(NET, ["db:2000-1000"]), "extensions.acme.net.connect[0]",
     "1000-2000"),
    ("ipv6-without-brackets", setp(NET, ["::1:8080"]), "extensions.acme.net.connect[0]",
     "[::1]:8080"),
    ("octal-ambiguous-address", setp(NET, ["010.0.0.1:80"]), "extensions.acme.net.connect[0]",
     "octal"),
    ("bad-host-name", setp(NET, ["bad host:80"]), "extensions.acme.net.connect[0]",
     "host name"),
    ("connect-unspecified", setp(NET, ["0.0.0.0:80"]), "extensions.acme.net.connect[0]",
     "127.0.0.1:80"),
    ("bind-bad-port", setp("extensions/acme/net/bind", ["127.0.0.1:99999"]),
     "extensions.acme.net.bind[0]", "1..65535"),
    ("resolve-not-name", setp("extensions/acme/net/resolve", ["10.0.0.1"]),
     "extensions.acme.net.resolve[0]", "host name"),
    ("bool-as-int", setp(f"{A}/native", 1), "extensions.acme.native", "true or false"),
    ("bool-as-str", setp(f"{A}/threads", "yes"), "extensions.acme.threads", "true or false"),
    ("signal-not-bool", setp(f"{A}/process/signal", "no"), "extensions.acme.process.signal",
     "true or false"),
    ("approve-unknown-capability", setp(f"{A}/approve", ["net.connect", "network"]),
     "extensions.acme.approve[1]", "unknown capability"),
    ("approve-not-granted", setp(f"{A}/approve", ["process.spawn"]),
     "extensions.acme.approve[0]", "grants nothing"),
    ("approve-duplicate", setp(f"{A}/approve", ["net.connect", "net.connect"]),
     "extensions.acme.approve[1]", "twice"),
]


@pytest.mark.parametrize("mutate,key,word", [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_policy_raises_policy_error_naming_the_key(
        mutate: Callable[[dict[str, Any]], None], key: str, word: str) -> None:
    d = base()
    mutate(d)
    variables = None if key == "extensions.acme.fs.read[0]" and word == "host.data" \
        else {"data": DATA}
    with pytest.raises(PolicyError) as info:
        Policy.from_dict(d, variables=variables)
    assert info.value.key == key, str(info.value)
    assert word in info.value.message, str(info.value)
    assert str(info.value).startswith(key + ": ")
    assert isinstance(info.value, ValueError)


def test_there_are_at_least_25_malformed_variants() -> None:
    assert len(MALFORMED) >= 25
    assert len({m[0] for m in MALFORMED}) == len(MALFORMED)


def test_unset_data_error_says_how_to_set_it() -> None:
    with pytest.raises(PolicyError) as info:
        Policy.from_dict(base())
    assert 'host.data' in info.value.message and 'variables={"data"' in info.value.message


def test_delegated_sections_report_their_own_keys() -> None:
    d = base()
    d["lockdown"] = {"seccomp": "sometimes"}
    with pytest.raises(PolicyError) as info:
        load(d)
    assert info.value.key.startswith("lockdown")
    d = base()
    d["audit"] = {"bogus": 1}
    with pytest.raises(PolicyError) as info:
        load(d)
    assert info.value.key.startswith("audit")


def test_policy_must_be_a_table() -> None:
    with pytest.raises(PolicyError):
        Policy.from_dict(["version", 1])  # type: ignore[arg-type]


# ---- good policies ----------------------------------------------------------------

def test_defaults_are_filled_in() -> None:
    p = Policy.from_dict({"version": 1, "extensions": {"x": {"package": "x"}}})
    assert p.data["guard"] == {"mode": "enforce", "audit": "deny", "unattributed": "deny",
                               "subinterpreters": "deny"}
    assert p.extensions == ["x"]
    [e] = p.to_spec()["extensions"]
    assert e["imports_allow"] == [] and e["fs_read"] == [] and e["net_connect"] == []
    assert e["threads"] is True
    for flag in ("process_spawn", "process_signal", "native", "introspection", "dynamic_code"):
        assert e[flag] is False
    assert e["path"] is None and e["approve"] == []
    assert p.lockdown_spec() is None and p.audit_config() is None


def test_data_round_trips_through_from_dict() -> None:
    p = load(base())
    again = Policy.from_dict(p.data)
    assert again.data == p.data
    assert again.to_spec() == p.to_spec()
    json.dumps(p.data)                  # plain data


def test_literal_dotted_keys_equal_nested_tables() -> None:
    d = base()
    e = ext(d)
    flat = {"package": "acme", "imports.allow": e["imports"]["allow"],
            "imports.deny": e["imports"]["deny"], "fs.read": e["fs"]["read"],
            "fs.write": e["fs"]["write"], "net.connect": e["net"]["connect"],
            "approve": e["approve"]}
    d2 = copy.deepcopy(d)
    d2["extensions"]["acme"] = flat
    assert load(d2).data == load(d).data


def test_lockdown_and_audit_sections_are_delegated_and_round_trip() -> None:
    d = base()
    d["lockdown"] = {"fs": {"read": ["{prefix}"], "write": ["{data}"]}, "seccomp": "errno"}
    d["audit"] = {"sinks": [{"type": "memory"}]}
    p = load(d)
    spec = p.lockdown_spec()
    assert spec is not None and spec["seccomp"] == "errno"
    assert "{data}" not in json.dumps(spec, default=str)   # expanded by the policy's templates
    assert p.audit_config() is not None
    assert Policy.from_dict(p.data).data == p.data
    assert p.variables["data"] == DATA and p.variables["prefix"] == sys.prefix


def test_key_given_dotted_and_nested_is_an_error() -> None:
    d = base()
    ext(d)["fs.read"] = ["/tmp"]
    with pytest.raises(PolicyError) as info:
        load(d)
    assert info.value.key == "extensions.acme.fs.read"


TOML = """
version = 1

[guard]
mode = "monitor"
audit = "all"
unattributed = "allow"

[host]
trusted = ["myapp", "sdk"]
public  = ["sdk"]
private = ["myapp"]
hints   = { "myapp.db" = "use sdk.database instead" }
data = "{tmp}/sdk-guard-test-data"

[extensions.acme]
package = "acme"
path    = "plugins"
imports.allow = ["sdk", "sdk.*", "@pure", "json", "pathlib"]
imports.deny  = ["pickle"]
fs.read  = ["{data}/acme", "/usr/share/zoneinfo"]
fs.write = ["{data}/acme/out"]
net.connect = ["127.0.0.1:8080", "API.Example.com.:443", "10.0.0.0/8:5432", "[::1]:8080"]
net.bind    = ["0.0.0.0:9000-9010"]
net.resolve = ["Mirror.Example.org"]
process.spawn = false
process.signal = false
native = false
introspection = false
dynamic_code = false
threads = true
approve = ["net.connect", "net.resolve"]

[extensions.beta]
package = "beta.core"
fs.write = ["{home}/beta"]
process.spawn = true
"""


def test_design_example_loads_from_toml_text_and_file(tmp_path: Path) -> None:
    p = Policy.from_toml(TOML)
    assert p.extensions == ["acme", "beta"]
    assert p.data["guard"] == {"mode": "monitor", "audit": "all", "unattributed": "allow",
                               "subinterpreters": "deny"}
    data_dir = os.path.join(tempfile.gettempdir(), "sdk-guard-test-data")
    assert p.data["host"]["data"] == data_dir
    f = tmp_path / "policy.toml"
    f.write_text(TOML)
    pf = Policy.from_toml(f)
    # A relative extension path is relative to the policy file.
    assert pf.to_spec()["extensions"][0]["path"] == str((tmp_path / "plugins").resolve())
    assert Policy.from_file(f).data == pf.data
    assert Policy.from_toml(str(f)).data == pf.data


def test_to_spec_has_the_contract_shape() -> None:
    spec = Policy.from_toml(TOML).to_spec()
    assert set(spec) == {"mode", "audit", "unattributed", "subinterpreters", "trusted", "public", "private",
                         "hints", "extensions"}
    assert spec["mode"] == "monitor" and spec["audit"] == "all"
    assert spec["hints"] == {"myapp.db": "use sdk.database instead"}
    acme, beta = spec["extensions"]
    assert set(acme) == {"name", "package", "path", "imports_allow", "imports_deny", "fs_read",
                         "fs_write", "net_connect", "net_bind", "net_resolve",
                         "process_spawn", "process_signal", "native", "introspection",
                         "dynamic_code", "threads", "approve", "process_env"}
    assert acme["name"] == "acme" and acme["package"] == "acme"
    assert "@pure" not in acme["imports_allow"]
    assert {"json", "json.*", "_json", "re", "re.*", "sdk.*", "pathlib"} <= set(
        acme["imports_allow"])
    assert acme["imports_deny"] == ["pickle"]
    assert all(os.path.isabs(p) for p in acme["fs_read"] + acme["fs_write"])
    assert acme["net_connect"][1] == "API.Example.com.:443"
    # Names in net.connect are implicitly resolvable, lower-cased, trailing dot dropped.
    assert acme["net_resolve"] == ["mirror.example.org", "api.example.com"]
    assert acme["net_bind"] == ["0.0.0.0:9000-9010"]
    assert acme["approve"] == ["net.connect", "net.resolve"]
    assert beta["package"] == "beta.core" and beta["process_spawn"] is True
    assert beta["fs_write"] == [os.path.realpath(os.path.expanduser("~/beta"))]
    json.dumps(spec)


def test_json_policy_file(tmp_path: Path) -> None:
    f = tmp_path / "policy.json"
    f.write_text(json.dumps(base()))
    p = Policy.from_file(f, variables={"data": DATA})
    assert p.to_spec()["extensions"][0]["fs_read"][0] == os.path.realpath(DATA + "/acme")


def test_unknown_file_suffix_and_bad_syntax(tmp_path: Path) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text("version: 1")
    with pytest.raises(PolicyError, match=r"\.toml or \.json"):
        Policy.from_file(f)
    with pytest.raises(PolicyError, match="not valid TOML"):
        Policy.from_toml("version = = 1\n")
    g = tmp_path / "bad.json"
    g.write_text("{")
    with pytest.raises(PolicyError, match="not valid JSON"):
        Policy.from_file(g)


# ---- templates ----------------------------------------------------------------------

def test_templates_expand_home_tmp_prefix_and_data() -> None:
    d = base()
    ext(d)["fs"]["read"] = ["{home}/r", "{tmp}/r", "{prefix}/lib", "{data}/r"]
    spec = load(d).to_spec()["extensions"][0]
    assert spec["fs_read"] == [
        os.path.realpath(os.path.expanduser("~") + "/r"),
        os.path.realpath(tempfile.gettempdir() + "/r"),
        os.path.realpath(sys.prefix + "/lib"),
        os.path.realpath(DATA + "/r"),
    ]


def test_host_data_sets_the_data_template_and_variables_override_it() -> None:
    d = base()
    d["host"]["data"] = "/var/lib/app"
    assert Policy.from_dict(d).to_spec()["extensions"][0]["fs_read"][0] == \
        os.path.realpath("/var/lib/app/acme")
    over = Policy.from_dict(d, variables={"data": "/opt/other"})
    assert over.to_spec()["extensions"][0]["fs_read"][0] == os.path.realpath("/opt/other/acme")


def test_custom_variables_and_escaped_braces() -> None:
    d = base()
    ext(d)["fs"]["read"] = ["{site}/x", "/odd/{{dir}}"]
    spec = Policy.from_dict(d, variables={"data": DATA, "site": "/srv/site"}).to_spec()
    assert spec["extensions"][0]["fs_read"] == [os.path.realpath("/srv/site/x"),
                                                os.path.realpath("/odd/{dir}")]


def test_format_specs_in_templates_are_rejected() -> None:
    d = base()
    ext(d)["fs"]["read"] = ["{data!r}"]
    with pytest.raises(PolicyError) as info:
        load(d)
    assert info.value.key == "extensions.acme.fs.read[0]"


def test_symlinked_rule_directory_is_stored_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    d = base()
    ext(d)["fs"]["read"] = [str(tmp_path / "link" / "sub")]
    spec = load(d).to_spec()["extensions"][0]
    assert spec["fs_read"] == [str(real.resolve() / "sub")]
    # The hook resolves targets the same way, so a file reached through the link matches.
    target = _guard.path_resolve(str(tmp_path / "link" / "sub" / "f.txt"))
    assert _guard.path_match(spec["fs_read"], target)


# ---- presets --------------------------------------------------------------------------

def test_presets_expand_packages_to_their_subtree() -> None:
    pure = PRESETS["@pure"]
    for name in ("json", "re", "math", "datetime", "decimal", "collections", "itertools",
                 "functools", "typing", "dataclasses", "enum", "string", "textwrap", "uuid",
                 "hashlib", "base64", "_json", "_decimal", "_datetime"):
        assert name in pure
    assert "json.*" in pure and "collections.*" in pure and "re.*" in pure
    assert "math.*" not in pure
    for absent in ("os", "sys", "io", "pickle", "marshal", "ctypes", "subprocess", "socket",
                   "inspect", "copyreg", "importlib", "gc"):
        assert absent not in pure and absent + ".*" not in pure
    assert _guard.module_match(list(pure), "collections.abc")
    assert _guard.module_match(list(pure), "json.decoder")
    assert not _guard.module_match(list(pure), "jsonschema")
    assert "@text" in PRESETS and "html.*" in PRESETS["@text"]


def test_every_pure_member_imports_cleanly() -> None:
    import importlib
    for pat in PRESETS["@pure"]:
        name = pat[:-2] if pat.endswith(".*") else pat
        if name.startswith("_"):
            continue                    # version-specific accelerators may not exist
        importlib.import_module(name)


def test_capabilities_are_the_design_names() -> None:
    assert CAPABILITIES == ("import", "fs.read", "fs.write", "net.connect", "net.bind",
                            "net.resolve", "process.spawn", "process.signal", "native",
                            "introspection", "dynamic_code", "threads", "process.env")


# ---- the C matchers through their bindings ----------------------------------------------

@pytest.mark.parametrize("text,family,packed", [
    ("127.0.0.1", 4, b"\x7f\0\0\x01"),
    ("127.1", 4, b"\x7f\0\0\x01"),
    ("0x7f.1", 4, b"\x7f\0\0\x01"),
    ("2130706433", 4, b"\x7f\0\0\x01"),
    ("0177.0.0.1", 4, b"\x7f\0\0\x01"),
    ("::ffff:127.0.0.1", 4, b"\x7f\0\0\x01"),
    ("::127.0.0.1", 6, b"\0" * 12 + b"\x7f\0\0\x01"),   # IPv4-compatible stays IPv6
    ("::1:1", 6, b"\0" * 12 + b"\0\x01\0\x01"),
    ("[::1]", 6, b"\0" * 15 + b"\x01"),
    ("::", 6, b"\0" * 16),
])
def test_parse_ip_accepts_every_form_the_c_library_does(text: str, family: int,
                                                        packed: bytes) -> None:
    assert _guard.parse_ip(text) == (family, packed)


@pytest.mark.parametrize("text", ["localhost", "", "256.1.1.1", "1.2.3.4.5", "1:2", "[::1",
                                  "08.1.1.1", "1.2.3.4 "])
def test_parse_ip_returns_none_for_non_literals(text: str) -> None:
    assert _guard.parse_ip(text) is None


def test_parse_net_rule_shapes() -> None:
    assert _guard.parse_net_rule("10.0.0.0/8:5432") == ("ip", "10.0.0.0", 8, 5432, 5432)
    assert _guard.parse_net_rule("[::1]:1-9") == ("ip", "::1", 128, 1, 9)
    assert _guard.parse_net_rule("Api.Example.COM.:*") == ("name", "api.example.com", None, 0,
                                                           65535)
    with pytest.raises(ValueError, match="out of range"):
        _guard.parse_net_rule("h:0")
    with pytest.raises(ValueError, match="malformed"):
        _guard.parse_net_rule("h")
    with pytest.raises(ValueError):
        _guard.parse_net_rule("h:80\0x")
    with pytest.raises(TypeError):
        _guard.parse_net_rule(b"h:80")


def test_net_match_through_bindings() -> None:
    rules = ["127.0.0.1:8080", "10.0.0.0/8:5432", "api.example.com:443"]
    assert _guard.net_match(rules, "0x7f.1", 8080)
    assert _guard.net_match(rules, "::ffff:10.1.2.3", 5432)
    assert not _guard.net_match(rules, "11.0.0.1", 5432)
    assert _guard.net_match(rules, "API.example.com.", 443)
    assert not _guard.net_match(rules, "api.example.com", 80)
    with pytest.raises(ValueError):
        _guard.net_match(rules, "x", 70000)
    with pytest.raises(ValueError):
        _guard.net_match(["bad"], "x", 1)


def test_path_bindings(tmp_path: Path) -> None:
    assert _guard.path_normalize("a/../b//c/.", "/x") == "/x/b/c"
    assert _guard.path_normalize(b"/a/..") == "/"
    assert _guard.path_normalize(Path("/p/q/..")) == "/p"
    with pytest.raises(ValueError):
        _guard.path_normalize("rel")
    with pytest.raises(ValueError):
        _guard.path_normalize("/a\0b")
    with pytest.raises(ValueError):
        _guard.path_resolve("relative")
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to("d")
    assert _guard.path_resolve(str(tmp_path / "l" / "new")) == str(tmp_path.resolve() / "d" / "new")
    assert _guard.path_match(["/srv/data"], "/srv/data/x")
    assert not _guard.path_match(["/srv/data"], "/srv/database")
    assert _guard.module_match(["sdk.*"], "sdk.db") and not _guard.module_match(["sdk.*"], "sdk")
    assert _guard.module_match(["*"], "anything")
    with pytest.raises(ValueError):
        _guard.module_match(["a.*.b"], "a")
