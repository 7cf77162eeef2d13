"""Address classification and URL host parsing for the media fetcher, as tables.

Every special-purpose range the fetcher refuses has a row (with its first and last
address where the range is small enough to matter), every IPv6 form that embeds an
IPv4 address is refused whatever it embeds, and every odd IPv4 spelling a C resolver
or a browser would accept is refused by the host parser.
"""
from __future__ import annotations

import ipaddress

import pytest

from sdk_guard.media import AddressError, classify, parse_host

REFUSED = [
    # IPv4
    ("0.0.0.0", "unspecified"), ("0.255.255.255", "unspecified"),
    ("10.0.0.0", "private"), ("10.255.255.255", "private"),
    ("100.64.0.0", "cgnat"), ("100.127.255.255", "cgnat"),
    ("127.0.0.1", "loopback"), ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link_local"), ("169.254.0.1", "link_local"),
    ("172.16.0.1", "private"), ("172.31.255.255", "private"),
    ("192.0.0.8", "reserved"), ("192.0.2.1", "documentation"),
    ("192.31.196.1", "reserved"), ("192.52.193.1", "reserved"), ("192.88.99.1", "reserved"),
    ("192.168.0.1", "private"), ("192.168.255.255", "private"),
    ("192.175.48.1", "reserved"),
    ("198.18.0.1", "reserved"), ("198.19.255.255", "reserved"),
    ("198.51.100.7", "documentation"), ("203.0.113.9", "documentation"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"),
    # IPv6
    ("::", "unspecified"), ("::1", "loopback"),
    ("::ffff:127.0.0.1", "ipv4_mapped"), ("::ffff:8.8.8.8", "ipv4_mapped"),
    ("::127.0.0.1", "ipv4_compatible"), ("::8.8.8.8", "ipv4_compatible"),
    ("::ffff:0:808:808", "ipv4_translated"),
    ("64:ff9b::7f00:1", "nat64"), ("64:ff9b::808:808", "nat64"), ("64:ff9b:1::a00:1", "nat64"),
    ("100::1", "reserved"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo"),
    ("2001:2::1", "reserved"), ("2001:20::1", "reserved"),
    ("2001:db8::1", "documentation"), ("3fff::1", "documentation"),
    ("2002:7f00:1::1", "6to4"), ("2002:808:808::1", "6to4"),
    ("5f00::1", "reserved"),
    ("fc00::1", "private"), ("fd12:3456::1", "private"),
    ("fe80::1", "link_local"), ("febf::1", "link_local"), ("fec0::1", "link_local"),
    ("ff02::1", "multicast"), ("ff0e::1", "multicast"),
    ("4000::1", "reserved"), ("8000::1", "reserved"), ("1::1", "reserved"),
    ("fe80::1%eth0", "scoped"),
]

PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.0",
          "172.15.255.255", "172.32.0.0", "192.169.0.1", "198.17.255.255", "198.20.0.0",
          "223.255.255.254", "2606:4700:4700::1111", "2a00:1450:4001::200e",
          "2001:4860:4860::8888"]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_special_address_is_refused_with_its_range_named(address: str, why: str) -> None:
    assert classify(address) == why
    assert classify(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize("address", PUBLIC)
def test_public_unicast_address_is_accepted(address: str) -> None:
    assert classify(address) is None


def test_every_address_python_calls_non_global_is_refused() -> None:
    # The table is a floor: ipaddress's own registry (is_global) is checked as well.
    for net in ("192.0.0.0/29", "192.0.0.170/31", "2001:1::1/128", "2001:3::/32"):
        first = ipaddress.ip_network(net)[0]
        assert classify(first) is not None, net


ODD_SPELLINGS = [
    "2130706433",          # decimal 127.0.0.1
    "017700000001",        # octal
    "0x7f000001",          # hex
    "0x7f.0x0.0x0.0x1",    # hex per part
    "0177.0.0.1",          # octal first part
    "127.1",               # short form
    "127.0.1",
    "0x7f.1",
    "127.000.000.001",     # leading zeros (octal to inet_aton)
    "127.0.0.1.",          # trailing dot
    "169.254.43518",       # 169.254.169.254 short form
    "2852039166",          # 169.254.169.254 in decimal
    "0xA9FEA9FE",
    "134744072",           # 8.8.8.8 in decimal: refused too, the spelling is the problem
    "1.2.3.4.5",
    "256.0.0.1",
    "foo.0x10",            # WHATWG: last label numeric -> an IPv4 parse
    "foo.123",
]


@pytest.mark.parametrize("host", ODD_SPELLINGS)
def test_odd_ipv4_spelling_is_refused(host: str) -> None:
    with pytest.raises(AddressError) as exc:
        parse_host(host)
    assert exc.value.reason == "odd_ipv4"


@pytest.mark.parametrize(("host", "parsed"), [
    ("example.com", "example.com"), ("Example.COM", "example.com"),
    ("cdn.example.com.", "cdn.example.com."), ("bücher.de", "xn--bcher-kva.de"),
    ("8.8.8.8", ipaddress.ip_address("8.8.8.8")),
    ("127.0.0.1", ipaddress.ip_address("127.0.0.1")),
    ("::ffff:127.0.0.1", ipaddress.ip_address("::ffff:7f00:1")),
    ("0:0:0:0:0:ffff:7f00:1", ipaddress.ip_address("::ffff:7f00:1")),
])
def test_host_parses_to_a_name_or_a_canonical_address(host: str, parsed: object) -> None:
    assert parse_host(host) == parsed


@pytest.mark.parametrize("host", ["", "a..b", "-x.com", "x_.com" + "a" * 300, "a b.com",
                                  "exa%6dple.com", "fe80::1%25eth0", "fe80::1%eth0",
                                  "::ffff:zz"])
def test_malformed_host_is_refused(host: str) -> None:
    with pytest.raises(AddressError) as exc:
        parse_host(host)
    assert exc.value.reason in ("bad_host", "scoped")


def test_mapped_loopback_spelled_in_hex_is_still_refused() -> None:
    assert classify(parse_host("0:0:0:0:0:ffff:7f00:1")) == "ipv4_mapped"  # type: ignore[arg-type]
