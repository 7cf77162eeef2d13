"""[egress] policy section, rule compilation, honest reports without privileges, CLI."""
from __future__ import annotations

import json
import os
import re

import pytest

from _support.netns import need_tool, run_netns
from sdk_guard import PolicyError
from sdk_guard.egress import _nft
from sdk_guard.egress._spec import compile_rules, parse_spec, spec_from_policy
from sdk_guard.policy import Policy

BASE = {"version": 1, "extensions": {"acme": {
    "package": "acme", "net": {"connect": ["10.0.0.5:5432", "[fd00::1]:443",
                                           "api.example.test:443", "10.1.0.0/16:1000-2000"]}}}}


@pytest.mark.parametrize(("section", "key"), [
    ({"connect": ["10.0.0.5"]}, "egress.connect[0]"),
    ({"connect": "10.0.0.5:1"}, "egress.connect"),
    ({"connect_udp": ["fd00::1:53"]}, "egress.connect_udp[0]"),
    ({"connect_tcp": ["10.0.0.1/8:80"]}, "egress.connect_tcp[0]"),
    ({"backend": "pf"}, "egress.backend"),
    ({"on_tamper": "ignore"}, "egress.on_tamper"),
    ({"dns": ["resolver.example"]}, "egress.dns[0]"),
    ({"dns": ["10.0.0.0/8:53"]}, "egress.dns[0]"),
    ({"require": ["landlock"]}, "egress.require[0]"),
    ({"conect": []}, "egress.conect"),
])
def test_bad_egress_section_is_a_policy_error_naming_the_key(section: dict, key: str) -> None:
    with pytest.raises(PolicyError) as exc:
        Policy.from_dict({"version": 1, "egress": section})
    assert exc.value.key == key


def test_egress_defaults_to_the_union_of_the_extensions_net_connect() -> None:
    spec = spec_from_policy(Policy.from_dict(BASE))
    rules, pinned, unresolved = compile_rules(spec, resolve=lambda n: ["10.9.9.9", "fd00::9"])
    got = {(r.describe(), r.source) for r in rules}
    assert ("tcp:10.0.0.5:5432", "extensions.acme.net.connect[0]") in got
    assert ("udp:10.0.0.5:5432", "extensions.acme.net.connect[0]") in got
    assert ("tcp:[fd00::1]:443", "extensions.acme.net.connect[1]") in got
    assert ("tcp:10.1.0.0/16:1000-2000", "extensions.acme.net.connect[3]") in got
    # The name is resolved once and its addresses pinned (and listed).
    assert pinned == {"api.example.test": ["10.9.9.9", "fd00::9"]} and not unresolved
    assert ("tcp:10.9.9.9:443", "extensions.acme.net.connect[2]") in got
    assert ("tcp:[fd00::9]:443", "extensions.acme.net.connect[2]") in got


def test_egress_section_replaces_the_default_and_maps_v4_mapped_rules_to_v4() -> None:
    pol = Policy.from_dict({**BASE, "egress": {
        "connect_tcp": ["[::ffff:10.2.0.0/112]:80"], "dns": ["10.0.0.53", "[fd00::53]:5353"]}})
    rules, _, _ = compile_rules(spec_from_policy(pol), resolve=lambda n: [])
    got = sorted(r.describe() for r in rules)
    assert got == ["tcp:10.0.0.53:53", "tcp:10.2.0.0/16:80", "tcp:[fd00::53]:5353",
                   "udp:10.0.0.53:53", "udp:[fd00::53]:5353"]


def test_unresolvable_name_is_reported_and_not_allowed() -> None:
    def fail(name: str) -> list[str]:
        raise OSError(-2, "Name or service not known")
    rules, pinned, unresolved = compile_rules(parse_spec({"connect": ["nowhere.test:80"]}),
                                              resolve=fail)
    assert rules == [] and pinned == {} and "nowhere.test" in unresolved


def test_nft_ruleset_maps_rules_one_to_one_to_interval_set_elements() -> None:
    rules, _, _ = compile_rules(parse_spec({"connect_tcp": ["10.0.0.0/8:*", "[fd00::1]:80-90"],
                                            "connect_udp": ["10.0.0.1:53"]}))
    from sdk_guard.egress._cgroup import Group
    text = _nft.ruleset("sdk_guard_1_x", Group("/sys/fs/cgroup/unified", "1-x"), rules,
                        23808, 0x55)
    assert "10.0.0.0/8 . tcp . 0-65535" in text and "10.0.0.1 . udp . 53" in text
    assert "fd00::1 . tcp . 80-90" in text
    assert 'socket cgroupv2 level 2 "unified/sdk_guard/1-x"' in text
    assert text.index("@allow4 accept") < text.index("log group 23808") < text.index(
        "reject with tcp reset\n    drop")
    with pytest.raises(_nft.BackendError, match="under /sys/fs/cgroup"):
        _nft.cgroup_path(Group("/mnt/cg2", "1-x"))


_UNPRIV = """
def unprivileged(how):
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            # The interpreter's stdlib may be unreadable to nobody (under /root):
            # load what the lazy imports need before dropping.
            import ctypes, encodings.ascii, encodings.latin_1, pwd, secrets, shutil, traceback
            import sdk_guard._probe, sdk_guard.egress._bpf, sdk_guard.egress._iptables
            if how == "nobody":
                os.setgroups([]); os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)
            else:
                import ctypes
                libc = ctypes.CDLL(None, use_errno=True)
                class H(ctypes.Structure):
                    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
                class D(ctypes.Structure):
                    _fields_ = [("eff", ctypes.c_uint32), ("perm", ctypes.c_uint32),
                                ("inh", ctypes.c_uint32)]
                h = H(0x20080522, 0); d = (D * 2)()
                assert libc.capget(ctypes.byref(h), d) == 0
                # CAP_NET_ADMIN (12), plus CAP_SYS_ADMIN (21) and CAP_BPF (39) unless
                # the case keeps them.
                drop = [12] if how == "no_cap_net_admin" else [12, 21, 39]
                for bit in drop:
                    d[bit // 32].eff &= ~(1 << bit % 32); d[bit // 32].perm &= ~(1 << bit % 32)
                assert libc.capset(ctypes.byref(h), d) == 0
            from sdk_guard._probe import probe
            r = {"probe": probe()["egress"]}
            w = egress.Worker(spec={"connect": []}, argv=[WORKER_PY, "-c", "print(7)"],
                              stdout=subprocess.PIPE)
            r["report"] = w.start().as_dict()
            r["worker_out"] = w._proc.stdout.read().decode().strip()
            r["rc"] = w.wait(10)
            try:
                egress.Worker(spec={"connect": []}, argv=[WORKER_PY, "-c", "print(7)"],
                              require=["egress"]).start()
                r["raised"] = None
            except egress.GuardError as e:
                r["raised"] = str(e)
            os.write(wr, json.dumps(r).encode())
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(0)
    os.close(wr)
    data = b""
    while chunk := os.read(rd, 65536):
        data += chunk
    os.waitpid(pid, 0)
    return json.loads(data)
"""


@pytest.mark.parametrize("how", ["nobody", "no_net_sys_bpf_caps"])
def test_unprivileged_supervisor_reports_none_with_exact_reasons_and_leaves_nothing(
        how: str) -> None:
    need_tool("nft")
    out = run_netns(_UNPRIV + f"""
OUT["r"] = unprivileged("{how}")
OUT["groups"] = groups()
OUT["rules"] = ruleset() + subprocess.run(["iptables-save"], capture_output=True,
                                         text=True).stdout
""")
    r = out["r"]
    rep = r["report"]
    assert rep["egress"] == "none" and rep["python_layer"].startswith("in force")
    reasons = {b: rep["backends"][b]["reason"] for b in ("nft", "iptables", "bpf")}
    if how == "nobody":
        assert "cannot create /sys/fs/cgroup" in reasons["nft"]
        assert "Permission denied" in reasons["nft"]
        assert not r["probe"]["can_apply"]
        assert "no write access" in r["probe"]["backends"]["nft"]["reason"]
    else:
        assert "Operation not permitted" in reasons["nft"]
        assert "CAP_NET_ADMIN" in reasons["nft"]
        assert r["probe"]["backends"]["nft"]["reason"] == "needs CAP_NET_ADMIN"
        assert "Operation not permitted" in reasons["bpf"] and "CAP_BPF" in reasons["bpf"]
        assert "CAP_BPF" in r["probe"]["backends"]["bpf"]["reason"]
    assert reasons["iptables"] and reasons["bpf"]
    assert all(reason in rep["reason"] for reason in reasons.values())
    # Best effort: the worker still ran (the Python layer remains); require refuses.
    assert r["worker_out"] == "7" and r["rc"] == 0
    def no_id(text: str) -> str:
        return re.sub(r"\d+-[0-9a-f]{8}", "ID", text)
    assert r["raised"] and "egress required" in r["raised"]
    assert no_id(reasons["nft"]) in no_id(r["raised"])
    assert out["groups"] == [] and "sdk_guard" not in out["rules"]


def test_cap_sys_admin_without_cap_net_admin_gets_the_bpf_backend() -> None:
    """netfilter needs CAP_NET_ADMIN; cgroup BPF is satisfied by CAP_SYS_ADMIN."""
    need_tool("nft")
    out = run_netns(_UNPRIV + """
OUT["r"] = unprivileged("no_cap_net_admin")
OUT["groups"] = groups()
""")
    rep, probe = out["r"]["report"], out["r"]["probe"]
    assert rep["egress"] == "bpf" and rep["scope"].startswith("cgroup")
    assert "CAP_NET_ADMIN" in rep["backends"]["nft"]["reason"]
    assert probe["backends"]["bpf"]["can_apply"] and not probe["backends"]["nft"]["can_apply"]
    assert out["r"]["raised"] is None and out["groups"] == []


def test_cli_egress_run_confines_the_command_and_cleanup_reports(tmp_path) -> None:
    need_tool("nft")
    pol = tmp_path / "p.toml"
    pol.write_text('version = 1\n[egress]\nbackend = "nft"\nconnect = ["10.200.0.2:8080"]\n')
    os.chmod(tmp_path, 0o755)
    out = run_netns(f"""
    tcp_server(8080); tcp_server(8081)
    cmd = [sys.executable, "-m", "sdk_guard", "egress", "run", "--require", "--policy",
           {str(pol)!r}, "--audit-jsonl", {str(tmp_path / "a.jsonl")!r}, "--",
           WORKER_PY, "-c", "import socket, sys; s = socket.socket(); "
           "a = s.connect_ex(('10.200.0.2', 8080)); b = socket.socket().connect_ex("
           "('10.200.0.2', 8081)); sys.exit(0 if (a, b) == (0, 111) else 1)"]
    res = subprocess.run(cmd, capture_output=True, text=True,
                         env={{**os.environ, "PYTHONPATH": PYPATH}})
    OUT["rc"] = res.returncode
    OUT["stderr"] = res.stderr
    c = subprocess.run([sys.executable, "-m", "sdk_guard", "egress", "cleanup"],
                       capture_output=True, text=True, env={{**os.environ, "PYTHONPATH": PYPATH}})
    OUT["cleanup"] = json.loads(c.stdout)
    """)
    assert out["rc"] == 0, out["stderr"]
    report = json.loads(out["stderr"].splitlines()[0])
    assert report["egress"] == "nft"
    recs = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    denials = [r for r in recs if r["layer"] == "egress" and r["capability"] == "net.connect"]
    assert [d["target"] for d in denials] == ["10.200.0.2:8081"]
    assert out["cleanup"] == {"tables": [], "chains": [], "groups": []}


def test_probe_egress_names_every_backend() -> None:
    from sdk_guard._probe import probe
    eg = probe()["egress"]
    assert set(eg["backends"]) == {"nft", "iptables", "bpf"}
    for b in eg["backends"].values():
        assert b["can_apply"] == (b["reason"] is None)
    assert eg["can_apply"] == any(b["can_apply"] for b in eg["backends"].values())


def test_bpf_programs_from_policy_rules_agree_with_the_reference_on_v4_v6_and_mapped() -> None:
    """The Python side's rule tuples, through the C builder and interpreter."""
    import ipaddress as ip
    import random
    import socket as so

    from sdk_guard import _guard
    from sdk_guard.egress._bpf import decode, rule_tuples

    c = _guard.egress_bpf_constants()
    rules, _, _ = compile_rules(parse_spec({
        "connect": ["10.200.0.2:8080", "[fd20::2]:8080", "10.9.0.0/16:1-1024"],
        "connect_udp": ["[::ffff:10.200.0.53]:53"]}))
    tuples = rule_tuples(rules)
    progs = {k: _guard.egress_bpf_build(c[k], tuples, 9) for k in ("KIND_ADDR4", "KIND_ADDR6")}
    rng = random.Random(7)
    hosts = ["10.200.0.2", "10.200.0.3", "10.9.255.1", "10.10.0.1", "10.200.0.53",
             "fd20::2", "fd20::3", "::ffff:10.200.0.2", "::ffff:10.9.0.9", "::ffff:10.200.0.54"]
    seen = {True: 0, False: 0}
    for _ in range(400):
        host = rng.choice(hosts)
        proto = rng.choice([so.IPPROTO_TCP, so.IPPROTO_UDP])
        port = rng.choice([53, 1, 1024, 1025, 8080, 8081])
        addr = ip.ip_address(host)
        v6 = addr.version == 6
        packed = addr.packed + b"\0" * (16 - len(addr.packed))
        kind = "KIND_ADDR6" if v6 else "KIND_ADDR4"
        ret, event = _guard.egress_bpf_simulate(
            progs[kind], c[kind], so.AF_INET6 if v6 else so.AF_INET,
            so.SOCK_STREAM if proto == so.IPPROTO_TCP else so.SOCK_DGRAM, proto, packed, port,
            (1234 << 32) | 1240)
        want = _guard.egress_bpf_decide(tuples, 6 if v6 else 4, proto, packed, port)
        assert bool(ret) == want, (host, proto, port)
        seen[want] += 1
        if not ret:
            ev = decode(event, c["EVENT_ADDR_OFFSET"])
            assert (ev["pid"], ev["tid"], ev["port"]) == (1234, 1240, port)
            assert ip.ip_address(ev["dst"]) == addr
    assert seen[True] > 20 and seen[False] > 20
    # Mapped destinations follow the v4 rules exactly.
    assert _guard.egress_bpf_decide(tuples, 6, so.IPPROTO_UDP,
                                    ip.ip_address("::ffff:10.200.0.53").packed, 53)
    assert not _guard.egress_bpf_decide(tuples, 6, so.IPPROTO_TCP,
                                        ip.ip_address("::ffff:10.200.0.53").packed, 53)


def test_missing_worker_program_is_refused_before_any_rule_is_applied() -> None:
    from sdk_guard import egress
    w = egress.Worker(spec={"connect": []}, argv=["no-such-program-sdk-guard"])
    with pytest.raises(FileNotFoundError):
        w.start()
    assert w.report is None
