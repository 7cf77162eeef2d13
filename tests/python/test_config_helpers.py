"""Every policy section parser phrases the same mistake the same way (the shared
validators in sdk_guard._config), and names the dotted key."""
from __future__ import annotations

from typing import Any

import pytest

from sdk_guard import Policy, PolicyError
from sdk_guard._config.templates import Templates, escape_braces
from sdk_guard._config.validate import boolean, integer, number, str_list
from sdk_guard._lockdown_spec import parse_spec

BASE: dict[str, Any] = {"version": 1, "extensions": {"acme": {"package": "acme"}}}


def error(section: str, value: object) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        Policy.from_dict({**BASE, section: value})
    return info.value


@pytest.mark.parametrize(("section", "value", "key", "known"), [
    ("guard", {"mdoe": "enforce"}, "guard.mdoe", "mode"),
    ("host", {"trusted_": []}, "host.trusted_", "trusted"),
    ("media", {"max_byte": 1}, "media.max_byte", "max_bytes"),
    ("egress", {"conect": []}, "egress.conect", "connect"),
    ("actions", {"a.b": {"require": []}}, "actions.a.b.require", "requires"),
    ("lockdown", {"fs": {"reed": []}}, "lockdown.fs.reed", "fs.read"),
    ("lockdown", {"seccmp": "errno"}, "lockdown.seccmp", "seccomp"),
])
def test_an_unknown_key_is_reported_alike_in_every_section(
        section: str, value: object, key: str, known: str) -> None:
    exc = error(section, value)
    assert exc.key == key
    assert exc.message.startswith(f'unknown key; did you mean "{known}"? known keys here: ')


@pytest.mark.parametrize(("section", "value", "key"), [
    ("guard", "enforce", "guard"),
    ("host", ["x"], "host"),
    ("media", "on", "media"),
    ("egress", 1, "egress"),
    ("actions", {"a.b": "approval"}, "actions.a.b"),
    ("lockdown", ["fs"], "lockdown"),
    ("lockdown", {"net": 443}, "lockdown.net"),
])
def test_a_section_that_is_not_a_table_is_reported_alike(section: str, value: object,
                                                         key: str) -> None:
    exc = error(section, value)
    assert exc.key == key and exc.message.startswith(f"must be a table ([{key}] or {{...}})")


@pytest.mark.parametrize(("section", "value", "key"), [
    ("host", {"trusted": "myapp"}, "host.trusted"),
    ("media", {"mint": "acme"}, "media.mint"),
    ("egress", {"connect": "10.0.0.5:1"}, "egress.connect"),
    ("lockdown", {"fs": {"read": "/usr"}}, "lockdown.fs.read"),
    ("lockdown", {"scope": "signal"}, "lockdown.scope"),
])
def test_a_string_where_a_list_belongs_is_reported_alike(section: str, value: object,
                                                         key: str) -> None:
    exc = error(section, value)
    assert exc.key == key
    assert exc.message.startswith("must be a list of strings such as [")
    assert exc.message.endswith("not a string")


@pytest.mark.parametrize(("section", "value", "key"), [
    ("media", {"types": ["image/png", ""]}, "media.types[1]"),
    ("egress", {"dns": [""]}, "egress.dns[0]"),
    ("lockdown", {"fs": {"write": ["/srv", ""]}}, "lockdown.fs.write[1]"),
])
def test_an_empty_string_in_a_list_that_needs_one_names_the_item(
        section: str, value: object, key: str) -> None:
    exc = error(section, value)
    assert exc.key == key and exc.message.startswith("is empty; write a string such as ")


@pytest.mark.parametrize(("section", "value", "key"), [
    ("guard", {"mode": "strict"}, "guard.mode"),
    ("egress", {"backend": "pf"}, "egress.backend"),
    ("egress", {"require": ["landlock"]}, "egress.require[0]"),
    ("lockdown", {"seccomp": "deny"}, "lockdown.seccomp"),
    ("lockdown", {"tmp": True}, "lockdown.tmp"),
    ("lockdown", {"require": ["seccomp", "selinux"]}, "lockdown.require[1]"),
])
def test_a_value_outside_its_choices_lists_them(section: str, value: object,
                                                key: str) -> None:
    exc = error(section, value)
    assert exc.key == key and exc.message.startswith('must be "')


@pytest.mark.parametrize(("section", "value", "key"), [
    ("extensions", {"acme": {"package": "acme", "native": "yes"}}, "extensions.acme.native"),
    ("actions", {"a.b": {"approval": "yes"}}, "actions.a.b.approval"),
])
def test_a_non_boolean_flag_is_reported_alike(section: str, value: object, key: str) -> None:
    exc = error(section, value)
    assert exc.key == key and exc.message.startswith("must be true or false, not a string")


def test_actions_unknown_key_still_says_why_only_two_keys_exist() -> None:
    exc = error("actions", {"a.b": {"allow": ["x"]}})
    assert exc.message.endswith("(the policy can only tighten an action)")


def test_numbers_refuse_booleans_nan_infinity_and_out_of_range_values() -> None:
    for bad in (True, 0, 11, 1.5, "3", 1 << 200):
        with pytest.raises(PolicyError, match=r"^k: must be an integer from 1 to 10, not "):
            integer(bad, "k", 1, 10)
    assert integer(10, "k", 1, 10) == 10
    for bad in (False, float("nan"), float("inf"), -1, 3601, "1"):
        with pytest.raises(PolicyError, match=r"^k: must be a number of seconds from 0\.001"):
            number(bad, "k", 0.001, 3600, "seconds")
    assert number(2, "k", 0.001, 3600, "seconds") == 2.0
    with pytest.raises(PolicyError) as info:
        integer(1 << 200, "k", 1, 10)
    assert "<201-bit number>" in info.value.message


def test_str_list_names_the_offending_item() -> None:
    assert str_list(["a", ""], "k", '"a"') == ["a", ""]
    with pytest.raises(PolicyError) as info:
        str_list(["a", 3], "k", '"a"')
    assert info.value.key == "k[1]"
    with pytest.raises(PolicyError) as info:
        str_list(["a\0b"], "k", '"a"', non_empty=True)
    assert info.value.key == "k[0]" and "NUL" in info.value.message


def test_templates_expand_and_escaped_text_expands_back_to_itself() -> None:
    t = Templates({"data": "/srv/d"})
    assert t.expand("{data}/x", "k") == "/srv/d/x"
    literal = "/a/{weird}/b}"
    assert t.expand(escape_braces(literal), "k") == literal
    with pytest.raises(PolicyError) as info:
        Templates(None).expand("{data}/x", "fs.read[0]")
    assert info.value.key == "fs.read[0]" and "host.data" in info.value.message


def test_lockdown_ports_are_integers_in_the_tcp_range() -> None:
    for bad in (0, 65536, True, "443", 1 << 200):
        with pytest.raises(PolicyError) as info:
            parse_spec({"net": {"connect_tcp": [443, bad]}})
        assert info.value.key == "lockdown.net.connect_tcp[1]"
        assert info.value.message.startswith("must be an integer from 1 to 65535, not ")
    assert parse_spec({"net": {"connect_tcp": [1, 65535]}})["net.connect_tcp"] == [1, 65535]
    exc = error("lockdown", {"net.bind_tcp": 8080})
    assert exc.key == "lockdown.net.bind_tcp" and exc.message.startswith("must be a list")


def test_lockdown_spec_without_a_policy_says_how_to_get_data() -> None:
    with pytest.raises(PolicyError) as info:
        parse_spec({"fs": {"read": ["{data}/x"]}})
    assert info.value.key == "lockdown.fs.read[0]"
    assert "pass the Policy" in info.value.message and "variables=" not in info.value.message
    with pytest.raises(PolicyError) as info:
        Templates(None, unset_hint="say so").expand("{data}", "k")
    assert info.value.message.endswith("but no data directory is set; say so")


def test_a_huge_number_where_a_word_belongs_is_still_a_policy_error() -> None:
    # lockdown(spec=...) is not walked by Policy's 64-bit check first; the message must
    # still print (repr() of such a number raises ValueError).
    for section in ({"seccomp": 1 << 20000}, {"threads": 1 << 20000},
                    {1 << 20000: "errno"}):
        with pytest.raises(PolicyError) as info:
            parse_spec(section)
        assert "<20001-bit number>" in info.value.message
    with pytest.raises(PolicyError, match="<20001-bit number>"):
        boolean(1 << 20000, "k")
