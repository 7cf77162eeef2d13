"""Kernel egress per backend, as root, in network namespaces these tests create.

Each test runs a supervisor in a fresh netns (tests/_support/netns.py run_netns); the worker is a
forked child or a program spawned into its cgroup as ``nobody``.  Only loopback
addresses inside that namespace are ever contacted.
"""
from __future__ import annotations

import pytest

from _support.netns import need_tool, run_netns

BACKENDS = ["nft", "iptables", "bpf"]
NETFILTER = ["nft", "iptables"]
FAST_MS = 200.0
# netfilter answers a denied TCP connect with a reset; cgroup BPF fails the call.
DENY = {"nft": "ECONNREFUSED", "iptables": "ECONNREFUSED", "bpf": "EPERM"}
DENY_ERRNO = {"nft": 111, "iptables": 111, "bpf": 1}


def _need(backend: str) -> None:
    if backend != "bpf":
        need_tool("nft" if backend == "nft" else "iptables")


@pytest.mark.parametrize("backend", BACKENDS)
def test_worker_reaches_only_allowed_tcp_destinations_v4_v6_and_mapped(backend: str) -> None:
    _need(backend)
    out = run_netns(f"""
    tcp_server(8080); tcp_server(8081)
    def job():
        r = {{
          "v4": attempt(socket.AF_INET, ("10.200.0.2", 8080)),
          "v6": attempt(socket.AF_INET6, ("fd20::2", 8080)),
          "mapped": attempt(socket.AF_INET6, ("::ffff:10.200.0.2", 8080)),
          "deny_port": attempt(socket.AF_INET, ("10.200.0.2", 8081)),
          "deny_host": attempt(socket.AF_INET, ("10.200.0.3", 8080)),
          "deny_host6": attempt(socket.AF_INET6, ("fd20::3", 8080)),
          "deny_mapped": attempt(socket.AF_INET6, ("::ffff:10.200.0.3", 8080)),
          "deny_mapped_port": attempt(socket.AF_INET6, ("::ffff:10.200.0.2", 8081)),
          "uid": os.getuid(),
        }}
        open("/tmp/egress-test-%d.json" % os.getppid(), "w").write(json.dumps(r))
    w = egress.Worker(spec={{"backend": "{backend}",
                             "connect": ["10.200.0.2:8080", "[fd20::2]:8080"]}}, target=job)
    rep = w.start()
    OUT["report"] = rep.as_dict()
    OUT["rc"] = w.wait(30)
    p = "/tmp/egress-test-%d.json" % os.getpid()
    OUT["r"] = json.load(open(p)); os.unlink(p)
    # Without rules the same destinations are reachable: the denials are the rules'.
    OUT["unconfined"] = {{"deny_port": attempt(socket.AF_INET, ("10.200.0.2", 8081)),
                         "deny_host": attempt(socket.AF_INET, ("10.200.0.3", 8080))}}
    """)
    rep, r = out["report"], out["r"]
    assert rep["egress"] == backend and rep["backends"][backend]["status"] == "active"
    assert rep["self_test"]["canary"] == "passed" and rep["self_test"]["canary_packets"] >= 1
    assert out["rc"] == 0 and r["uid"] == 65534
    for name in ("v4", "v6", "mapped"):
        assert r[name][0] == "ok", (name, r[name])
    for name in ("deny_port", "deny_host", "deny_host6", "deny_mapped", "deny_mapped_port"):
        assert r[name][0] in ("ECONNREFUSED", "EPERM"), (name, r[name])
        assert r[name][1] <= FAST_MS, (name, r[name])
    assert out["unconfined"]["deny_port"][0] == "ok" and out["unconfined"]["deny_host"][0] == "ok"


@pytest.mark.parametrize("backend", BACKENDS)
def test_worker_udp_sendto_and_connect_send_are_denied_and_dns_only_to_resolver(
        backend: str) -> None:
    _need(backend)
    out = run_netns(f"""
    dns_server("10.200.0.53"); dns_server("10.200.0.54")
    def job():
        r = {{
          "udp_sendto": udp_send(socket.AF_INET, ("10.200.0.2", 9999)),
          "udp_connect_send": udp_send(socket.AF_INET, ("10.200.0.2", 9999), True),
          "udp6_sendto": udp_send(socket.AF_INET6, ("fd20::2", 9999)),
          "udp_mapped": udp_send(socket.AF_INET6, ("::ffff:10.200.0.2", 9999)),
          "udp_allowed": udp_send(socket.AF_INET, ("10.200.0.2", 5000)),
          "dns_allowed": dns_query("10.200.0.53"),
          "dns_other": dns_query("10.200.0.54"),
        }}
        open("/tmp/egress-test-%d.json" % os.getppid(), "w").write(json.dumps(r))
    w = egress.Worker(spec={{"backend": "{backend}", "connect_udp": ["10.200.0.2:5000"],
                             "dns": ["10.200.0.53"]}}, target=job)
    OUT["report"] = w.start().as_dict()
    w.wait(30)
    p = "/tmp/egress-test-%d.json" % os.getpid()
    OUT["r"] = json.load(open(p)); os.unlink(p)
    OUT["unconfined_dns_other"] = dns_query("10.200.0.54")
    """)
    r = out["r"]
    assert out["report"]["egress"] == backend
    for name in ("udp_sendto", "udp_connect_send", "udp6_sendto", "udp_mapped"):
        assert r[name] == "EPERM", (name, r[name])
    assert r["udp_allowed"] == "sent"
    assert r["dns_allowed"] == "10.200.0.99"
    assert r["dns_other"] == "EPERM"
    assert out["unconfined_dns_other"] == "10.200.0.99"


@pytest.mark.parametrize("backend", BACKENDS)
def test_worker_raw_icmp_fastopen_and_mptcp_are_refused(backend: str) -> None:
    _need(backend)
    out = run_netns(f"""
    tcp_server(8080); tcp_server(8081)
    def job():
        r = {{}}
        # As nobody: no CAP_NET_RAW, so no raw or packet socket at all.
        for name, args in (("raw", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),
                           ("packet", (socket.AF_PACKET, socket.SOCK_RAW, 0))):
            try:
                socket.socket(*args).close(); r[name] = "created"
            except OSError as e:
                r[name] = errno.errorcode[e.errno]
        # ICMP echo through a ping socket, allowed by ping_group_range for this test.
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
            s.sendto(b"\\x08\\x00\\x00\\x00\\x00\\x01\\x00\\x01", ("10.200.0.2", 0))
            r["icmp"] = "sent"
        except OSError as e:
            r["icmp"] = errno.errorcode[e.errno]
        # TCP Fast Open connects inside sendto(): the hooks still see it.
        for name, fam, dst in (("tfo", socket.AF_INET, ("10.200.0.2", 8081)),
                               ("tfo_mapped", socket.AF_INET6, ("::ffff:10.200.0.2", 8081))):
            s = socket.socket(fam)
            try:
                s.sendto(b"GET", socket.MSG_FASTOPEN, dst); r[name] = "sent"
            except OSError as e:
                r[name] = errno.errorcode[e.errno]
        r["mptcp_denied"] = attempt(socket.AF_INET, ("10.200.0.2", 8081), proto=262)
        r["mptcp_allowed"] = attempt(socket.AF_INET, ("10.200.0.2", 8080), proto=262)
        open("/tmp/egress-test-%d.json" % os.getppid(), "w").write(json.dumps(r))
    sh("sysctl -qw net.ipv4.ping_group_range='0 2147483647' net.ipv4.tcp_fastopen=3")
    w = egress.Worker(spec={{"backend": "{backend}", "connect": ["10.200.0.2:8080"]}},
                      target=job)
    OUT["report"] = w.start().as_dict()
    w.wait(30)
    p = "/tmp/egress-test-%d.json" % os.getpid()
    OUT["r"] = json.load(open(p)); os.unlink(p)
    """)
    r = out["r"]
    assert r["raw"] == "EPERM" and r["packet"] == "EPERM"
    assert r["icmp"] == "EPERM"
    assert r["tfo"] == DENY[backend] and r["tfo_mapped"] == DENY[backend]
    if r["mptcp_allowed"][0] in ("ENOPROTOOPT", "EPROTONOSUPPORT"):
        pytest.skip("MPTCP is not enabled on this kernel")
    if backend == "bpf":            # sock_create refuses MPTCP sockets altogether
        assert r["mptcp_allowed"][0] == "EPERM" and r["mptcp_denied"][0] == "EPERM"
        return
    assert r["mptcp_allowed"][0] == "ok"
    assert r["mptcp_denied"][0] in ("ECONNREFUSED", "EPERM") and r["mptcp_denied"][1] <= FAST_MS


@pytest.mark.parametrize("backend", BACKENDS)
def test_worker_threads_children_and_forked_sockets_are_confined(backend: str) -> None:
    _need(backend)
    out = run_netns(f"""
    tcp_server(8080); tcp_server(8081)
    PROG = textwrap.dedent('''
    import errno, json, os, socket, subprocess, sys, threading
    def attempt(port):
        s = socket.socket(); s.settimeout(2)
        try:
            s.connect(("10.200.0.2", port)); return "ok"
        except OSError as e:
            return errno.errorcode.get(e.errno, "timeout")
    r = {{}}
    t = threading.Thread(target=lambda: r.update(thread_denied=attempt(8081), thread_allowed=attempt(8080)))
    t.start(); t.join()
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(wr, json.dumps([attempt(8081), attempt(8080)]).encode()); os._exit(0)
    os.waitpid(pid, 0)
    r["fork_denied"], r["fork_allowed"] = json.loads(os.read(rd, 1000))
    c = subprocess.run([sys.executable, "-c", "import socket; s=socket.socket(); s.settimeout(2); "
                        "print(s.connect_ex(('10.200.0.2', 8081)))"], capture_output=True, text=True)
    r["subprocess_denied_errno"] = int(c.stdout)
    print(json.dumps(r))
    ''')
    w = egress.Worker(spec={{"backend": "{backend}", "connect": ["10.200.0.2:8080"]}},
                      argv=[WORKER_PY, \"-c\", PROG], stdout=subprocess.PIPE)
    OUT["report"] = w.start().as_dict()
    OUT["r"] = json.loads(w._proc.stdout.read())
    w.wait(30)
    """)
    r = out["r"]
    assert out["report"]["egress"] == backend
    assert r["thread_allowed"] == "ok" and r["fork_allowed"] == "ok"
    assert r["thread_denied"] == DENY[backend] and r["fork_denied"] == DENY[backend]
    assert r["subprocess_denied_errno"] == DENY_ERRNO[backend]


@pytest.mark.parametrize("backend", BACKENDS)
def test_denials_are_audit_records_with_destination_in_spans_and_counters_agree(
        backend: str) -> None:
    _need(backend)
    out = run_netns(f"""
    tcp_server(8081)
    N = 5
    def job():
        for i in range(N):
            attempt(socket.AF_INET, ("10.200.0.2", 8081))
        attempt(socket.AF_INET6, ("fd20::3", 8081))
        udp_send(socket.AF_INET, ("10.200.0.3", 7777))
    with audit.span("action", "run-job") as sp:
        w = egress.Worker(spec={{"backend": "{backend}", "connect": ["10.200.0.2:8080"]}},
                          target=job, principal="job-7")
        OUT["report"] = w.start().as_dict()
        OUT["span"] = sp.id
    w.wait(30)
    OUT["final"] = w.report.as_dict()["final"]
    OUT["records"] = egress_records()
    OUT["apply"] = egress_records("egress.apply")
    """)
    recs = out["records"]
    targets = [r["target"] for r in recs]
    assert targets.count("10.200.0.2:8081") == 5
    assert "[fd20::3]:8081" in targets and "10.200.0.3:7777" in targets
    assert len(recs) == 7
    for r in recs:
        assert r["principal"] == "job-7" and r["decision"] == "deny"
        assert r["span"]["action"] == out["span"]
        assert r["proto"] in ("tcp", "udp")
        assert r.get("uid", 65534) == 65534        # NFLOG: the socket owner's uid
    if backend == "bpf":            # one ring record per refused call, with pid and tid
        assert out["final"]["denied_calls"] == 7
        assert all(r["source_pid"] >= 1 and r["source_tid"] >= 1 for r in recs)
    else:
        assert out["final"]["denied_packets"] == 7
    if backend == "nft":        # the dynamic set of denied destinations, with counters
        by_dst = {(d["dst"], d["port"]): d["packets"] for d in out["final"]["denied"]}
        assert by_dst[("10.200.0.2", 8081)] == 5
    assert out["apply"][0]["decision"] == "allow"
    assert out["apply"][0]["report"]["egress"] == backend


@pytest.mark.parametrize("backend", BACKENDS)
def test_worker_exit_removes_rules_and_group(backend: str) -> None:
    _need(backend)
    out = run_netns(f"""
    w = egress.Worker(spec={{"backend": "{backend}", "connect": []}},
                      argv=[WORKER_PY, \"-c\", "import os; os.fork(); import time; time.sleep(60)"])
    rep = w.start()
    OUT["during_groups"] = groups()
    OUT["during_rules"] = "sdk_guard" in ruleset() + subprocess.run(
        ["iptables-save"], capture_output=True, text=True).stdout or "SDKG" in subprocess.run(
        ["iptables-save"], capture_output=True, text=True).stdout
    if "{backend}" == "bpf":
        from sdk_guard import _guard
        fd = os.open(rep.as_dict()["cgroup"], os.O_RDONLY)
        c = _guard.egress_bpf_constants()
        OUT["during_rules"] = len(_guard.egress_bpf_query(fd, c["CGROUP_INET4_CONNECT"])) == 1
        os.close(fd)
    w._proc.kill()       # the worker's child (a grandchild) is still in the group
    t = time.perf_counter(); w.wait(30); OUT["close_s"] = time.perf_counter() - t
    OUT["after_groups"] = groups()
    OUT["after_rules"] = ruleset() + subprocess.run(
        ["iptables-save"], capture_output=True, text=True).stdout
    """)
    assert len(out["during_groups"]) == 1 and out["during_rules"]
    assert out["after_groups"] == []
    assert "sdk_guard" not in out["after_rules"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_supervisor_crash_keeps_worker_confined_and_next_start_cleans_up(backend: str) -> None:
    _need(backend)
    out = run_netns(f"""
    tcp_server(8081)
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        # The supervisor: starts a long-lived worker, then dies without cleaning up.
        w = egress.Worker(spec={{"backend": "{backend}", "connect": []}},
                          argv=[WORKER_PY, \"-c\", "import time; time.sleep(120)"])
        w.start()
        os.write(wr, json.dumps([w.pid, w.report.as_dict()["cgroup"]]).encode())
        os.kill(os.getpid(), 9)
    os.close(wr)
    wpid, cg = json.loads(os.read(rd, 4000))
    os.waitpid(pid, 0)
    OUT["worker_alive"] = os.path.exists("/proc/%d" % wpid)
    # The rules outlive the supervisor: a process in the orphaned group is still denied.
    probe = subprocess.run([sys.executable, "-c", "import socket; s=socket.socket(); "
                            "s.settimeout(2); print(s.connect_ex(('10.200.0.2', 8081)))"],
                           preexec_fn=lambda: open(cg + "/cgroup.procs", "w").write("0"),
                           capture_output=True, text=True)
    OUT["orphan_errno"] = int(probe.stdout)
    OUT["removed"] = egress.cleanup()
    OUT["worker_alive_after"] = os.path.exists("/proc/%d/status" % wpid) and \\
        "Z" not in open("/proc/%d/status" % wpid).read().split("State:")[1][:4]
    OUT["group_exists"] = os.path.exists(cg)
    OUT["rules"] = ruleset() + subprocess.run(["iptables-save"], capture_output=True,
                                             text=True).stdout
    OUT["cg"] = cg
    """)
    assert out["worker_alive"] and out["orphan_errno"] == DENY_ERRNO[backend]
    assert out["cg"] in out["removed"]["groups"]
    if backend != "bpf":            # bpf programs belong to the group and go with it
        assert out["removed"]["tables"] or out["removed"]["chains"]
    assert not out["worker_alive_after"] and not out["group_exists"]
    assert "sdk_guard" not in out["rules"]


def test_canary_fails_closed_when_the_cgroup_match_matches_nothing() -> None:
    need_tool("nft")
    out = run_netns("""
    from sdk_guard.egress import _nft
    real = _nft.ruleset
    # A wrong level loads fine and never matches: exactly the silent fail-open.
    _nft.ruleset = lambda t, g, *a: real(t, g, *a).replace(
        f"level {g.level} ", f"level {g.level + 1} ")
    w = egress.Worker(spec={"backend": "nft", "connect": []},
                      argv=[WORKER_PY, "-c", "pass"])
    OUT["report"] = w.start().as_dict()
    w.wait(10)
    OUT["groups"] = groups()
    OUT["rules"] = ruleset()
    try:
        egress.Worker(spec={"backend": "nft", "connect": [], "require": ["egress"]},
                      argv=[WORKER_PY, "-c", "pass"]).start()
        OUT["raised"] = None
    except egress.GuardError as e:
        OUT["raised"] = str(e)
    """)
    rep = out["report"]
    assert rep["egress"] == "none"
    assert "self-test failed" in rep["backends"]["nft"]["reason"]
    assert out["groups"] == [] and "sdk_guard" not in out["rules"]
    assert out["raised"] and "self-test failed" in out["raised"]


def test_each_worker_gets_a_fresh_group_and_its_own_self_test() -> None:
    need_tool("nft")
    out = run_netns("""
    tcp_server(8081)
    seen = []
    for _ in range(2):
        w = egress.Worker(spec={"backend": "nft", "connect": []},
                          argv=[WORKER_PY, \"-c\", "import socket; s=socket.socket(); "
                           "s.settimeout(2); raise SystemExit(s.connect_ex(('10.200.0.2', 8081)))"])
        rep = w.start().as_dict()
        seen.append([rep["cgroup"], rep["self_test"]["canary"], w.wait(10)])
    OUT["seen"] = seen
    """)
    (cg1, t1, rc1), (cg2, t2, rc2) = out["seen"]
    assert cg1 != cg2 and t1 == t2 == "passed" and rc1 == rc2 == 111


@pytest.mark.parametrize("backend", NETFILTER)
@pytest.mark.parametrize("on_tamper", ["reapply", "kill"])
def test_flushed_ruleset_is_detected_and_reapplied_or_worker_killed(
        on_tamper: str, backend: str) -> None:
    need_tool("nft")
    _need(backend)
    out = run_netns(f"""
    tcp_server(8081)
    PROG = textwrap.dedent('''
    import socket, sys, time
    for line in sys.stdin:
        s = socket.socket(); s.settimeout(2)
        print(s.connect_ex(("10.200.0.2", 8081)), flush=True)
    ''')
    w = egress.Worker(spec={{"backend": "{backend}", "connect": [], "on_tamper": "{on_tamper}"}},
                      argv=[WORKER_PY, \"-c\", PROG], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      tamper_interval=0.5)
    w.start()
    def ask():
        w._proc.stdin.write(b"go\\n"); w._proc.stdin.flush()
        return w._proc.stdout.readline().decode().strip()
    OUT["before"] = ask()
    sh("nft flush ruleset")
    deadline = time.time() + 5
    while not w.tamper_events and time.time() < deadline:
        time.sleep(0.02)
    OUT["events"] = list(w.tamper_events)
    if "{on_tamper}" == "reapply":
        OUT["after"] = ask()
        OUT["table_back"] = "sdk_guard" in ruleset() or "SDKG" in ruleset()
    else:
        OUT["rc"] = w._proc.wait(5)
    w.close()
    OUT["records"] = egress_records("egress.tamper")
    """)
    assert out["before"] == "111"
    assert out["events"] and "gone" in out["events"][0]["what"]
    assert out["records"] and out["records"][0]["decision"] == "deny"
    if on_tamper == "reapply":
        assert out["events"][0]["action"] == "reapplied"
        assert out["after"] == "111" and out["table_back"]
    else:
        assert out["events"][0]["action"] == "killed" and out["rc"] == -9


def test_detached_bpf_program_is_detected_and_reattached() -> None:
    out = run_netns('''
    tcp_server(8081)
    from sdk_guard import _guard
    PROG = (
        "import socket, sys\\n"
        "for line in sys.stdin:\\n"
        "    s = socket.socket(); s.settimeout(2)\\n"
        "    print(s.connect_ex(('10.200.0.2', 8081)), flush=True)\\n")
    w = egress.Worker(spec={"backend": "bpf", "connect": [], "on_tamper": "reapply"},
                      argv=[WORKER_PY, "-c", PROG], stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, tamper_interval=0.2)
    w.start()
    def ask():
        w._proc.stdin.write(b"go\\n"); w._proc.stdin.flush()
        return w._proc.stdout.readline().decode().strip()
    OUT["before"] = ask()
    b = w._backend
    fd, attach, pid = b._progs[0]                      # connect4, as another root could
    _guard.egress_bpf_detach(b._cg_fd, fd, attach)
    deadline = time.time() + 5
    while not w.tamper_events and time.time() < deadline:
        time.sleep(0.02)
    OUT["events"] = list(w.tamper_events)
    OUT["after"] = ask()
    w.close()
    OUT["records"] = egress_records("egress.tamper")
    ''')
    assert out["before"] == "1"
    assert out["events"] and "detached" in out["events"][0]["what"]
    assert out["events"][0]["action"] == "reapplied" and out["after"] == "1"
    assert out["records"] and out["records"][0]["action"] == "reapplied"


def test_names_are_resolved_once_and_pinned_and_a_root_worker_is_warned_about() -> None:
    need_tool("nft")
    out = run_netns('''
    tcp_server(8080)
    def job():
        r = {"name_v4": attempt(socket.AF_INET, ("127.0.0.1", 8080)),
             "other_port": attempt(socket.AF_INET, ("127.0.0.1", 8081))}
        open("/tmp/egress-test-%d.json" % os.getppid(), "w").write(json.dumps(r))
    w = egress.Worker(spec={"backend": "nft", "connect": ["localhost:8080"]}, target=job,
                      user=None)
    OUT["report"] = w.start().as_dict()
    w.wait(30)
    p = "/tmp/egress-test-%d.json" % os.getpid()
    OUT["r"] = json.load(open(p)); os.unlink(p)
    ''')
    rep, r = out["report"], out["r"]
    assert "127.0.0.1" in rep["pinned"]["localhost"]
    assert {"rule": "tcp:127.0.0.1:8080", "source": "egress.connect[0]"} in rep["rules"]
    assert r["name_v4"][0] == "ok" and r["other_port"][0] == "ECONNREFUSED"
    assert rep["worker"]["uid"] == 0
    assert any("uid 0" in w for w in rep["warnings"])
