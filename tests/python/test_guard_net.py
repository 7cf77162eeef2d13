"""Process Guard, net.connect / net.bind / net.resolve (loopback only): addresses are
normalised before matching, names are learnt on resolution, AF_UNIX goes through
fs.write and other families are refused."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _support import guard_tree as gk

LISTEN = r'''
import socket, hostapp_sdk, extlib

def listener(family=socket.AF_INET, host="127.0.0.1", kind=socket.SOCK_STREAM):
    s = socket.socket(family, kind)
    s.bind((host, 0))
    if kind == socket.SOCK_STREAM:
        s.listen(16)
    return s, s.getsockname()[1]

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p

L1, P1 = listener()          # allowed
L2, P2 = listener()          # not in the policy
U1, PU = listener(kind=socket.SOCK_DGRAM)
PB = free_port()             # net.bind allows this one
R["ports"] = [P1, P2, PU, PB]

SOCKS = []

def sock(family=socket.AF_INET, kind=socket.SOCK_STREAM):
    """A fresh socket made by the host; its methods are called from extension code
    with acme.call(sock().connect, addr), so the C call is charged to acme."""
    s = socket.socket(family, kind)
    s.settimeout(5)
    SOCKS.append(s)
    return s

import faulthandler
faulthandler.dump_traceback_later(40, exit=True)
'''

IP_BODY = LISTEN + r'''
acme_pol = POLICY["extensions"]["acme"]
acme_pol["net.connect"] = [f"127.0.0.1:{P1}", f"127.0.0.1:{PU}",
                           f"127.0.0.0/8:{P2 + 1000 if P2 < 60000 else 1}", f"[::1]:{P1}",
                           f"127.0.0.3:{P2 + 2000 if P2 < 60000 else 100}"
                           f"-{P2 + 2005 if P2 < 60000 else 105}"]
acme_pol["net.bind"] = [f"127.0.0.1:{PB}"]
''' + gk.INSTALL + r'''
# The socket helpers are host code: run them from the extension so it is charged.
attempt("connect_allowed", acme.call, sock().connect, ("127.0.0.1", P1))
attempt("connect_denied", acme.call, sock().connect, ("127.0.0.1", P2))
attempt("connect_ex_allowed", acme.call, sock().connect_ex, ("127.0.0.1", P1))
attempt("connect_ex_denied", acme.call, sock().connect_ex, ("127.0.0.1", P2))
attempt("sendto_allowed", acme.call, sock(kind=socket.SOCK_DGRAM).sendto, b"x", ("127.0.0.1", PU))
attempt("sendto_denied", acme.call, sock(kind=socket.SOCK_DGRAM).sendto, b"x", ("127.0.0.1", P2))
attempt("bind_allowed", acme.call, sock().bind, ("127.0.0.1", PB))
attempt("bind_denied", acme.call, sock().bind, ("127.0.0.1", free_port()))
attempt("bind_any_denied", acme.call, sock().bind, ("", PB))
for form in ("127.1", "0x7f.1", "2130706433", "0177.0.0.1", "127.0.1"):
    attempt("form_allowed_" + form, acme.call, sock().connect, (form, P1))
    attempt("form_denied_" + form, acme.call, sock().connect, (form, P2))
attempt("mapped_allowed", acme.call, sock(socket.AF_INET6).connect, ("::ffff:127.0.0.1", P1))
attempt("mapped_denied", acme.call, sock(socket.AF_INET6).connect, ("::ffff:127.0.0.1", P2))
attempt("v6_loopback_allowed", acme.call, sock(socket.AF_INET6).connect, ("::1", P1))
attempt("unspecified_connect", acme.call, sock().connect, ("0.0.0.0", P2))
# CIDR 127.0.0.0/8 on one port: any loopback address is allowed (nothing listens there)
CP = P2 + 1000 if P2 < 60000 else 1
attempt("cidr_allowed", acme.call, sock().connect, ("127.0.0.9", CP))
attempt("cidr_wrong_port", acme.call, sock().connect, ("127.0.0.9", CP + 1))
RP = P2 + 2000 if P2 < 60000 else 100
attempt("range_low", acme.call, sock().connect, ("127.0.0.3", RP))
attempt("range_high", acme.call, sock().connect, ("127.0.0.3", RP + 5))
attempt("range_above", acme.call, sock().connect, ("127.0.0.3", RP + 6))
attempt("range_below", acme.call, sock().connect, ("127.0.0.3", RP - 1))
# host, library, SDK
attempt("host_connect_any", sock().connect, ("127.0.0.1", P2))
attempt("lib_connect_denied", acme.call, extlib.connect, ("127.0.0.1", P2))
attempt("lib_connect_allowed", acme.call, extlib.connect, ("127.0.0.1", P1))
attempt("sdk_connect", acme.call, hostapp_sdk.connect, ("127.0.0.1", P2))
# resolution: literals need no name service; names need a rule
attempt("resolve_literal", acme.call, socket.getaddrinfo, "127.0.0.1", P1)
attempt("resolve_unknown_name", acme.call, socket.getaddrinfo, "localhost", 80)
attempt("gethostbyname_unknown", acme.call, socket.gethostbyname, "localhost")
attempt("lib_resolve", acme.call, extlib.resolve, "localhost")
attempt("sdk_resolve", acme.call, hostapp_sdk.resolve, "localhost")
attempt("host_resolve", socket.gethostbyname, "localhost")
# families other than INET/INET6/UNIX
attempt("netlink_bind", acme.call, sock(socket.AF_NETLINK, socket.SOCK_RAW).bind, (0, 0))
attempt("netlink_sendto", acme.call, sock(socket.AF_NETLINK, socket.SOCK_RAW).sendto, b"x", (0, 0))
attempt("host_netlink_bind", sock(socket.AF_NETLINK, socket.SOCK_RAW).bind, (0, 0))
# malformed addresses never crash and are not allowed
attempt("bad_addr_str", acme.call, sock().connect, "127.0.0.1")
attempt("bad_port", acme.call, sock().connect, ("127.0.0.1", 70000))
attempt("bad_host_type", acme.call, sock().connect, (127, P1))
'''


@pytest.fixture(scope="module")
def ip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("netip")
    return gk.run(base, IP_BODY, install=False)


def test_extension_connects_to_allowed_address(ip: dict[str, Any]) -> None:
    assert gk.assert_allowed(ip, "connect_allowed") is None
    assert gk.assert_allowed(ip, "connect_ex_allowed") == 0
    assert gk.assert_allowed(ip, "sendto_allowed") == 1
    assert gk.assert_allowed(ip, "lib_connect_allowed") is True


def test_extension_cannot_connect_outside_net_connect(ip: dict[str, Any]) -> None:
    p2 = ip["ports"][1]
    out = gk.assert_denied(ip, "connect_denied", "net.connect", target=f"127.0.0.1:{p2}")
    assert f'add "127.0.0.1:{p2}" to extensions.acme.net.connect' in out["msg"]
    gk.assert_denied(ip, "connect_ex_denied", "net.connect")
    gk.assert_denied(ip, "sendto_denied", "net.connect")


def test_bind_needs_net_bind(ip: dict[str, Any]) -> None:
    assert gk.assert_allowed(ip, "bind_allowed") is None
    gk.assert_denied(ip, "bind_denied", "net.bind")
    gk.assert_denied(ip, "bind_any_denied", "net.bind")


@pytest.mark.parametrize("form", ["127.1", "0x7f.1", "2130706433", "0177.0.0.1", "127.0.1"])
def test_ipv4_shorthand_forms_are_normalised(ip: dict[str, Any], form: str) -> None:
    assert gk.assert_allowed(ip, "form_allowed_" + form) is None
    gk.assert_denied(ip, "form_denied_" + form, "net.connect")


def test_ipv4_mapped_ipv6_matches_the_ipv4_rule(ip: dict[str, Any]) -> None:
    assert gk.assert_allowed(ip, "mapped_allowed") is None
    gk.assert_denied(ip, "mapped_denied", "net.connect")


def test_ipv6_literal_rule(ip: dict[str, Any]) -> None:
    # Nothing listens on ::1 (the listeners are IPv4): allowed by policy, refused by
    # the kernel.
    out = ip["v6_loopback_allowed"]
    assert out["ok"] or out["type"] == "ConnectionRefusedError", out


def test_connect_to_unspecified_address_is_matched_as_loopback(ip: dict[str, Any]) -> None:
    p2 = ip["ports"][1]
    gk.assert_denied(ip, "unspecified_connect", "net.connect", target=f"0.0.0.0:{p2}")


def test_cidr_rule_matches_the_network_on_its_port_only(ip: dict[str, Any]) -> None:
    out = ip["cidr_allowed"]
    assert not out["ok"] and out["type"] == "ConnectionRefusedError", out
    gk.assert_denied(ip, "cidr_wrong_port", "net.connect")


def test_port_range_rule_covers_its_ends_only(ip: dict[str, Any]) -> None:
    for name in ("range_low", "range_high"):
        assert ip[name]["type"] == "ConnectionRefusedError", ip[name]
    gk.assert_denied(ip, "range_above", "net.connect")
    gk.assert_denied(ip, "range_below", "net.connect")


def test_host_network_access_is_not_mediated(ip: dict[str, Any]) -> None:
    assert gk.assert_allowed(ip, "host_connect_any") is None
    assert gk.assert_allowed(ip, "host_resolve") == "127.0.0.1"
    assert gk.assert_allowed(ip, "host_netlink_bind") is None


def test_library_connect_is_charged_to_the_extension(ip: dict[str, Any]) -> None:
    gk.assert_denied(ip, "lib_connect_denied", "net.connect")
    gk.assert_denied(ip, "lib_resolve", "net.resolve", target="localhost")


def test_extension_calling_sdk_network_functions_is_allowed(ip: dict[str, Any]) -> None:
    assert gk.assert_allowed(ip, "sdk_connect") is True
    assert gk.assert_allowed(ip, "sdk_resolve") == "127.0.0.1"


def test_resolving_a_name_not_in_policy_is_denied(ip: dict[str, Any]) -> None:
    gk.assert_allowed(ip, "resolve_literal")
    gk.assert_denied(ip, "resolve_unknown_name", "net.resolve", target="localhost")
    gk.assert_denied(ip, "gethostbyname_unknown", "net.resolve", target="localhost")


def test_other_socket_families_are_refused(ip: dict[str, Any]) -> None:
    out = gk.assert_denied(ip, "netlink_bind", "net.bind", target="family 16")
    assert "AF_INET" in out["msg"]
    gk.assert_denied(ip, "netlink_sendto", "net.connect", target="family 16")


def test_malformed_addresses_fail_closed(ip: dict[str, Any]) -> None:
    # The interpreter parses the address before it raises the audit event, so these
    # never reach the hook: they fail with the interpreter's own error, never connect.
    for name in ("bad_addr_str", "bad_port", "bad_host_type"):
        assert ip[name]["ok"] is False, ip[name]
        assert ip[name]["type"] in ("OverflowError", "TypeError", "PolicyViolation"), ip[name]


NAME_BODY = LISTEN + r'''
acme_pol = POLICY["extensions"]["acme"]
acme_pol["net.connect"] = [f"localhost:{P1}"]
acme_pol["fs.write"] = [os.path.join(DATA, "out")]
''' + gk.INSTALL + r'''
attempt("ip_before_resolve", acme.call, sock().connect, ("127.0.0.1", P1))
attempt("name_connect", acme.call, sock().connect, ("localhost", P1))
attempt("name_other_port", acme.call, sock().connect, ("localhost", P2))
attempt("resolve_allowed_name", acme.call, socket.getaddrinfo, "localhost", P1)
attempt("ip_after_resolve", acme.call, sock().connect, ("127.0.0.1", P1))
attempt("ip_after_resolve_other_port", acme.call, sock().connect, ("127.0.0.1", P2))
attempt("resolve_other_name", acme.call, socket.gethostbyname, "ip6-localhost")

# AF_UNIX: reached through the filesystem, so fs.write decides
def unix_server(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(8)
    return s

unix = lambda: sock(socket.AF_UNIX)

S_IN = unix_server(os.path.join(DATA, "out", "in.sock"))
S_OUT = unix_server(os.path.join(OUTSIDE, "out.sock"))
S_ABS = unix_server("\0sdk-guard-test-%d" % os.getpid())
attempt("unix_connect_allowed", acme.call, unix().connect, os.path.join(DATA, "out", "in.sock"))
attempt("unix_connect_denied", acme.call, unix().connect, os.path.join(OUTSIDE, "out.sock"))
attempt("unix_connect_bytes_denied", acme.call, unix().connect,
        os.fsencode(os.path.join(OUTSIDE, "out.sock")))
attempt("unix_bind_denied", acme.call, unix().bind, os.path.join(OUTSIDE, "new.sock"))
attempt("unix_abstract_denied", acme.call, unix().connect, "\0sdk-guard-test-%d" % os.getpid())
attempt("unix_abstract_bytes_denied", acme.call, unix().connect, b"\0sdk-guard-test-%d" % os.getpid())
attempt("host_unix_abstract", unix().connect, "\0sdk-guard-test-%d" % os.getpid())
'''


@pytest.fixture(scope="module")
def names(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    base = tmp_path_factory.mktemp("netname")
    return gk.run(base, NAME_BODY, install=False), base


def test_allowed_name_connects_and_its_learnt_ip_is_allowed_after_resolve(names: Any) -> None:
    r, _ = names
    p1, p2 = r["ports"][:2]
    gk.assert_denied(r, "ip_before_resolve", "net.connect", target=f"127.0.0.1:{p1}")
    assert gk.assert_allowed(r, "name_connect") is None
    gk.assert_denied(r, "name_other_port", "net.connect")
    gk.assert_allowed(r, "resolve_allowed_name")
    assert gk.assert_allowed(r, "ip_after_resolve") is None
    gk.assert_denied(r, "ip_after_resolve_other_port", "net.connect",
                     target=f"127.0.0.1:{p2}")


def test_name_not_in_policy_cannot_be_resolved(names: Any) -> None:
    r, _ = names
    out = gk.assert_denied(r, "resolve_other_name", "net.resolve", target="ip6-localhost")
    assert "extensions.acme.net.resolve" in out["msg"]


def test_unix_socket_path_needs_fs_write(names: Any) -> None:
    r, base = names
    assert gk.assert_allowed(r, "unix_connect_allowed") is None
    gk.assert_denied(r, "unix_connect_denied", "fs.write",
                     target=str(base / "outside" / "out.sock"))
    gk.assert_denied(r, "unix_connect_bytes_denied", "fs.write")
    gk.assert_denied(r, "unix_bind_denied", "fs.write")


def test_abstract_unix_socket_is_denied(names: Any) -> None:
    r, _ = names
    for name in ("unix_abstract_denied", "unix_abstract_bytes_denied"):
        out = gk.assert_denied(r, name, "net.connect")
        assert "abstract" in out["msg"]
    assert gk.assert_allowed(r, "host_unix_abstract") is None
