"""Scoped storage vs plain SQLAlchemy, side by side in one run (ratios, never timed
assertions).  Goal (issue 14): scoped <= 1.10x plain.

Both sides use the same model shape, engine and statements; the plain side writes the
org filter and the org column by hand (what a careful multi-tenant app does), the
scoped side lets sdk_guard.data add them.  So the ratio is the price of the central
enforcement: the request-context lookup, the statement-shape check (cached per
statement shape), with_loader_criteria, the storage_mutation span and the flush
checks; on PostgreSQL also SET LOCAL of the request's seal, sent with each
transaction's BEGIN (no extra round trip), and row-level security evaluated by the
server.  On PostgreSQL both sides share one pooled connection, so one server process
serves both.

  query    one session, SELECT ... WHERE amount > ? LIMIT 10 (10 rows), per query
  insert   session.add() + commit() of one row, per row
  handler  a request handler: open a session, 3 queries + 1 insert + commit, close

Timed: each of the rounds runs 40 operations of each side, the two a moment apart and
in alternating order, after a gc.collect(); **ratio** is the median of the rounds'
paired ratios, **best** the best round of each side, **cpu** the median paired ratio of
this process's CPU time.  The **control** row pairs the plain insert with itself: its
distance from 1.00x is the noise of this run's ratios.

PostgreSQL runs in a throwaway cluster on a Unix socket (as the tests do); it is
skipped, with the reason printed, only when the server binaries are absent.  There the
table adds **server** (the session backends' CPU time, from /proc/PID/schedstat, per
operation: plain -> scoped) and **total** (client + server CPU ratio), and says which
seal check the policies call (the C extension in pg/ where the server has it, else
plpgsql; --seal-check picks).

Usage: python bench/bench_data.py [--rounds 40] [--quick] [--json] [--backend sqlite|postgresql]
       python bench/bench_data.py --instructions [--backend ...]   (instructions per
       operation under callgrind: the client's, and on PostgreSQL the session backend's,
       deterministic where wall time on a shared VM is not)
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests"))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import String, select  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column  # noqa: E402

import sdk_guard as sg  # noqa: E402
from sdk_guard.data import Storage  # noqa: E402

ORG = "o-1"


def build(url: str, admin_url: str | None, seal_check: str = "auto") -> dict[str, Any]:
    store = Storage(url, admin_url=admin_url, seal_check=seal_check)
    Base = store.base("bench")

    class Scoped(Base):
        __tablename__ = "items"
        id: Mapped[int] = mapped_column(primary_key=True)
        org_id: Mapped[str] = mapped_column(String(128))
        amount: Mapped[int]

    class PlainBase(DeclarativeBase):
        pass

    class Plain(PlainBase):
        __tablename__ = "plain_items"
        id: Mapped[int] = mapped_column(primary_key=True)
        org_id: Mapped[str] = mapped_column(String(128))
        amount: Mapped[int]

    store.create_all()
    admin = sa.create_engine(admin_url or url)
    PlainBase.metadata.create_all(admin)
    if admin_url:
        with admin.begin() as c:
            c.exec_driver_sql(f"GRANT ALL ON plain_items TO {sa.engine.make_url(url).username}")
            c.exec_driver_sql("GRANT USAGE, SELECT ON SEQUENCE plain_items_id_seq TO "
                              f"{sa.engine.make_url(url).username}")
    admin.dispose()
    # On PostgreSQL both sides share the storage's engine, so one pooled connection,
    # one server process, serves both: two backends would each land wherever the
    # scheduler puts them, on the client's core or the other one, and one backend's
    # latency moves a lot between runs (docs/data.md).  The engine is a plain
    # create_engine(url) with a connect-time check; the scoped behaviour comes from the
    # ScopedSession only.
    plain_engine = store._engine("bench") if admin_url else sa.create_engine(url)
    with sg.request(user="u-1", org=ORG):
        with store.session("bench") as s:
            s.add_all([Scoped(amount=i) for i in range(200)])
            s.commit()
    with sg.request(user="u-2", org="o-2"):
        with store.session("bench") as s:
            s.add_all([Scoped(amount=i) for i in range(200)])
            s.commit()
    with Session(plain_engine) as s:
        s.add_all([Plain(org_id=o, amount=i) for o in (ORG, "o-2") for i in range(200)])
        s.commit()
    return {"store": store, "Scoped": Scoped, "Plain": Plain, "plain_engine": plain_engine}


def workloads(env: dict[str, Any]) -> dict[str, tuple[Callable[[int], None],
                                                       Callable[[int], None]]]:
    store, Scoped, Plain, pe = env["store"], env["Scoped"], env["Plain"], env["plain_engine"]

    def q_scoped(n: int) -> None:
        with sg.request(user="u-1", org=ORG), store.session("bench") as s:
            for _ in range(n):
                assert len(s.scalars(select(Scoped).where(Scoped.amount > 100).limit(10))
                           .all()) == 10

    def q_plain(n: int) -> None:
        with Session(pe) as s:
            for _ in range(n):
                assert len(s.scalars(select(Plain).where(Plain.org_id == ORG,
                                                         Plain.amount > 100).limit(10))
                           .all()) == 10

    def i_scoped(n: int) -> None:
        with sg.request(user="u-1", org=ORG), store.session("bench") as s:
            for i in range(n):
                s.add(Scoped(amount=1000 + i))
                s.commit()

    def i_plain(n: int) -> None:
        with Session(pe) as s:
            for i in range(n):
                s.add(Plain(org_id=ORG, amount=1000 + i))
                s.commit()

    def h_scoped(n: int) -> None:
        with sg.request(user="u-1", org=ORG):
            for i in range(n):
                with store.session("bench") as s:
                    for _ in range(3):
                        s.scalars(select(Scoped).where(Scoped.amount > 100).limit(10)).all()
                    s.add(Scoped(amount=5000 + i))
                    s.commit()

    def h_plain(n: int) -> None:
        for i in range(n):
            with Session(pe) as s:
                for _ in range(3):
                    s.scalars(select(Plain).where(Plain.org_id == ORG, Plain.amount > 100)
                              .limit(10)).all()
                s.add(Plain(org_id=ORG, amount=5000 + i))
                s.commit()

    return {"query": (q_scoped, q_plain), "insert": (i_scoped, i_plain),
            "handler": (h_scoped, h_plain)}


def _timed(fn: Callable[[int], None], n: int,
           server: Callable[[], float]) -> tuple[float, float, float]:
    """Wall, this process's CPU and the server's CPU per operation of N calls of FN,
    after a gc.collect() (each side starts with none of the other's garbage)."""
    gc.collect()
    c0, t0, s0 = time.process_time(), time.perf_counter(), server()
    fn(n)
    c1, t1, s1 = time.process_time(), time.perf_counter(), server()
    return (t1 - t0) / n, (c1 - c0) / n, (s1 - s0) / n


def measure(env: dict[str, Any], rounds: int, n: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    wl = workloads(env)
    # The control pairs the plain insert with itself, measured exactly as the others:
    # its ratio would be 1.00 on a quiet machine, so how far it lands from 1.00 is the
    # noise of one run's ratios on this one.
    wl["control"] = (wl["insert"][1], wl["insert"][1])
    for name, (scoped, plain) in wl.items():
        scoped(max(1, n // 10))     # warm caches (compiled statements, lambda analysis)
        plain(max(1, n // 10))
        ts: list[float] = []
        tp: list[float] = []
        cs: list[float] = []
        cp: list[float] = []
        sp: list[float] = []
        ss: list[float] = []
        server = env.get("server_cpu") or (lambda: 0.0)
        for r in range(rounds):
            # Interleaved, so drift hits both sides alike, and in alternating order, so
            # whatever the first of a pair leaves behind (caches, a frequency step)
            # falls on each side equally.
            if r % 2 == 0:
                pw, pc, ps = _timed(plain, n, server)
                sw, sc, s_s = _timed(scoped, n, server)
            else:
                sw, sc, s_s = _timed(scoped, n, server)
                pw, pc, ps = _timed(plain, n, server)
            tp.append(pw)
            ts.append(sw)
            cp.append(pc)
            cs.append(sc)
            sp.append(ps)
            ss.append(s_s)
        # Each round pairs the two sides a moment apart, so the ratio within a round
        # cancels a slow period of the machine that covers both; the median of those
        # paired ratios is the headline.  The best round of each side is printed too:
        # on a quiet machine it agrees, on a noisy one its two minimums can come from
        # different periods.  CPU time of this process (SQLAlchemy, sdk_guard, the
        # driver, SQLite itself) leaves out, on PostgreSQL, the server and the waits.
        med = statistics.median
        out[name] = {"plain_us": med(tp) * 1e6, "scoped_us": med(ts) * 1e6,
                     "ratio": med(b / a for a, b in zip(tp, ts, strict=True)),
                     "best_ratio": min(ts) / min(tp),
                     "cpu_ratio": med(b / a for a, b in zip(cp, cs, strict=True))}
        if "server_cpu" in env:
            out[name].update(
                server_plain_us=med(sp) * 1e6, server_scoped_us=med(ss) * 1e6,
                total_cpu_ratio=med((c + s_) / (a + b) for a, b, c, s_
                                    in zip(cp, sp, cs, ss, strict=True)))
    return out


def _server_cpu(admin: Any) -> Callable[[], float]:
    """CPU seconds the session role's backends have used (schedstat: nanoseconds on
    CPU), for the server's share of each operation."""
    def total() -> float:
        pids = [r[0] for r in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE usename = 'sg_app'")]
        ns = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/schedstat") as f:
                    ns += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass
        return ns / 1e9
    return total


def run_postgresql(results: dict[str, Any], rounds: int, n: int, seal_check: str) -> None:
    try:
        from _support import postgres
        cluster_gen = postgres.start()
        cluster = next(cluster_gen)
    except BaseException as exc:  # noqa: BLE001 - pytest.skip raises a BaseException subclass
        results["postgresql"] = {"skipped": str(exc)}
        return
    try:
        db = postgres.new_database(cluster)
        env = build(cluster.url("sg_app", db), cluster.url("sg_owner", db), seal_check)
        admin = cluster.admin(db)
        env["server_cpu"] = _server_cpu(admin)
        results["postgresql"] = measure(env, rounds, n)
        results["postgresql_seal_check"] = env["store"].seal_check
        admin.close()
        env["store"].dispose()
    finally:
        cluster_gen.close()


def _callgrind_child(url: str, admin_url: str | None, workload: str, side: str,
                     n: int) -> None:
    """Runs N operations of one side of WORKLOAD through ctypes, so that callgrind's
    --toggle-collect=_ctypes_callproc counts the loop's instructions and nothing else
    (interpreter start, imports, set-up, the warm-up)."""
    import ctypes
    env = build(url, admin_url)
    scoped, plain = workloads(env)[workload]
    fn = scoped if side == "scoped" else plain
    fn(max(1, n // 10))
    ctypes.CFUNCTYPE(None)(lambda: fn(n))()
    env["store"].dispose()


def _instructions(url: str, admin_url: str | None, n: int) -> dict[str, dict[str, float]]:
    """Client instructions per operation, plain and scoped, under callgrind: the same
    count on every run (to about 1%), where wall and CPU time on a shared VM move by
    tens of percent.  The database server's work is not in it (see server/total)."""
    import os
    import subprocess
    out: dict[str, dict[str, float]] = {}
    for name in ("query", "insert", "handler"):
        ops = n if name != "handler" else max(1, n // 4)
        row: dict[str, float] = {}
        for side in ("plain", "scoped"):
            with tempfile.NamedTemporaryFile(suffix=".callgrind") as f:
                cmd = ["valgrind", "--tool=callgrind", "--toggle-collect=_ctypes_callproc",
                       f"--callgrind-out-file={f.name}", os.path.realpath(sys.executable),
                       __file__, "--callgrind-child", url, admin_url or "", name, side,
                       str(ops)]
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
                text = Path(f.name).read_text()
            total = next(int(line.split()[1]) for line in text.splitlines()
                         if line.startswith(("summary:", "totals:")))
            row[side] = total / ops
        row["ratio"] = row["scoped"] / row["plain"]
        out[name] = row
    return out


# Operations each server-side run does before the measured ones (both runs alike).
_SERVER_WARM = 10


def _server_child(url: str, admin_url: str, workload: str, side: str, ops: int) -> None:
    """Runs _SERVER_WARM + OPS operations of one side of WORKLOAD on the storage's
    pooled connection and prints its server process's pid.  That backend exits when
    the storage is disposed, and callgrind then writes its count."""
    env = build(url, admin_url)
    scoped, plain = workloads(env)[workload]
    fn = scoped if side == "scoped" else plain
    with env["store"]._engine("bench").connect() as c:
        pid = c.connection.dbapi_connection.info.backend_pid
    fn(_SERVER_WARM)
    fn(ops)
    env["store"].dispose()
    print(pid)


def _callgrind_total(path: Path, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text().splitlines():
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
        time.sleep(0.2)
    raise RuntimeError(f"callgrind wrote no totals to {path} within {timeout:.0f} s")


def _server_instructions(n: int) -> dict[str, dict[str, float]]:
    """Instructions per operation of the PostgreSQL backend that serves the session,
    plain and scoped.  The server runs under callgrind, counting inside PostgresMain
    only (a backend's life after its fork); each side runs twice in a fresh database,
    with OPS and with 3 x OPS operations after the same warm-up, and the difference is
    divided by 2 x OPS, so the backend's start, the set-up and the warm-up cancel."""
    import os
    import pwd
    import subprocess

    from _support import postgres
    out_dir = Path(tempfile.mkdtemp(prefix="sdkg-cg-"))
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(out_dir, pw.pw_uid, pw.pw_gid)
    wrapper = ("valgrind", "--tool=callgrind", "--toggle-collect=PostgresMain",
               f"--callgrind-out-file={out_dir}/cg.%p")
    cluster_gen = postgres.start(server_wrapper=wrapper, options="-c autovacuum=off")
    cluster = next(cluster_gen)
    out: dict[str, dict[str, float]] = {}
    try:
        for name in ("query", "insert", "handler"):
            ops = n if name != "handler" else max(1, n // 4)
            row: dict[str, float] = {}
            for side in ("plain", "scoped"):
                totals = []
                for k in (ops, 3 * ops):
                    db = postgres.new_database(cluster)
                    res = subprocess.run(
                        [sys.executable, __file__, "--server-child",
                         cluster.url("sg_app", db), cluster.url("sg_owner", db), name,
                         side, str(k)], check=True, capture_output=True, text=True)
                    pid = int(res.stdout.split()[-1])
                    totals.append(_callgrind_total(out_dir / f"cg.{pid}"))
                row[side] = (totals[1] - totals[0]) / (2 * ops)
            out[name] = row
    finally:
        cluster_gen.close()
        import shutil
        shutil.rmtree(out_dir, ignore_errors=True)
    return out


def _main_instructions(backends: list[str], n: int) -> int:
    import shutil
    if shutil.which("valgrind") is None:
        print("--instructions needs valgrind (apt-get install valgrind)")
        return 1
    results: dict[str, Any] = {}
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = _instructions(f"sqlite:///{tmp}/bench.db", None, n)
    if "postgresql" in backends:
        try:
            from _support import postgres
            cluster_gen = postgres.start()
            cluster = next(cluster_gen)
        except BaseException as exc:  # noqa: BLE001 - pytest.skip is a BaseException
            results["postgresql"] = {"skipped": str(exc)}
        else:
            try:
                db = postgres.new_database(cluster)
                results["postgresql"] = _instructions(cluster.url("sg_app", db),
                                                      cluster.url("sg_owner", db), n)
            finally:
                cluster_gen.close()
            server = _server_instructions(max(20, n // 4))
            for name, srow in server.items():
                results["postgresql"][name].update(server_plain=srow["plain"],
                                                   server_scoped=srow["scoped"])
    print(f"{'backend':<11} {'workload':<8} {'plain instr/op':>15} {'scoped instr/op':>16} "
          f"{'ratio':>6}   (client instructions, callgrind; goal <= 1.10x)")
    for backend, rows in results.items():
        if "skipped" in rows:
            print(f"{backend:<11} skipped: {rows['skipped']}")
            continue
        for name, r in rows.items():
            line = (f"{backend:<11} {name:<8} {r['plain']:>15,.0f} {r['scoped']:>16,.0f} "
                    f"{r['ratio']:>5.3f}x")
            if "server_plain" in r:
                total = (r["scoped"] + r["server_scoped"]) / (r["plain"] + r["server_plain"])
                line += (f"   server {r['server_plain']:,.0f} -> {r['server_scoped']:,.0f} "
                         f"({r['server_scoped'] / r['server_plain']:.3f}x), "
                         f"client + server {total:.3f}x")
            print(line)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), action="append",
                    help="run only this backend (repeatable; default: both)")
    ap.add_argument("--seal-check", choices=("auto", "native", "plpgsql"), default="auto",
                    help="PostgreSQL's seal check (Storage(seal_check=...))")
    ap.add_argument("--instructions", action="store_true",
                    help="count instructions per operation under valgrind's callgrind "
                         "instead of timing: the client's and, on PostgreSQL, the "
                         "session backend's (deterministic; about ten minutes)")
    ap.add_argument("--callgrind-child", nargs=5, help=argparse.SUPPRESS)
    ap.add_argument("--server-child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.server_child:
        url, admin_url, workload, side, ops = args.server_child
        _server_child(url, admin_url, workload, side, int(ops))
        return 0
    if args.callgrind_child:
        url, admin_url, workload, side, ops = args.callgrind_child
        _callgrind_child(url, admin_url or None, workload, side, int(ops))
        return 0
    if args.instructions:
        return _main_instructions(args.backend or ["sqlite", "postgresql"],
                                  40 if args.quick else 200)
    backends = args.backend or ["sqlite", "postgresql"]
    n = 10 if args.quick else 40
    results: dict[str, Any] = {}
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            env = build(f"sqlite:///{tmp}/bench.db", None)
            results["sqlite"] = measure(env, args.rounds, n)
            env["store"].dispose()
    if "postgresql" in backends:
        run_postgresql(results, args.rounds, n, args.seal_check)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'backend':<11} {'workload':<8} {'plain us/op':>12} {'scoped us/op':>13} "
          f"{'ratio':>6} {'best':>6} {'cpu':>6}   (medians of {args.rounds} paired rounds; "
          "goal <= 1.10x)")
    for backend, rows in results.items():
        if backend == "postgresql_seal_check":
            continue
        if "skipped" in rows:
            print(f"{backend:<11} skipped: {rows['skipped']}")
            continue
        for name, r in rows.items():
            print(f"{backend:<11} {name:<8} {r['plain_us']:>12.1f} {r['scoped_us']:>13.1f} "
                  f"{r['ratio']:>5.2f}x {r['best_ratio']:>5.2f}x {r['cpu_ratio']:>5.2f}x"
                  + (f"   server {r['server_plain_us']:.1f} -> {r['server_scoped_us']:.1f} us,"
                     f" total {r['total_cpu_ratio']:.2f}x" if "total_cpu_ratio" in r else "")
                  + ("   (plain insert against itself: this run's noise)"
                     if name == "control" else ""))
        if backend == "postgresql":
            print(f"{'':<11} seal check: {results.get('postgresql_seal_check')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
