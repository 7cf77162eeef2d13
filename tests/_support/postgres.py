"""A throwaway PostgreSQL cluster for the data-layer tests: initdb + pg_ctl in a
temporary directory, listening on a Unix socket only (no TCP), stopped at the end.

Two login roles: ``sg_owner`` owns the test databases and their tables (it creates the
row-level security policies); ``sg_app`` owns nothing and is neither superuser nor
BYPASSRLS, so row-level security applies to it.  The tests are skipped only when the
server binaries are absent, and say so.
"""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Cluster:
    socket_dir: str
    port: int

    def url(self, role: str, db: str) -> str:
        return f"postgresql+psycopg://{role}@/{db}?host={self.socket_dir}&port={self.port}"

    def admin(self, db: str = "postgres") -> object:
        import psycopg
        return psycopg.connect(host=self.socket_dir, port=self.port, user="postgres",
                               dbname=db, autocommit=True)


def _bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _as_server_user(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: run them as the postgres account.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def start(server_wrapper: tuple[str, ...] = (), options: str = "") -> Iterator[Cluster]:
    """A cluster for the duration of the generator.  SERVER_WRAPPER runs the server
    under another program (``bench/bench_data.py --instructions`` counts the
    backends' instructions under valgrind); OPTIONS are more ``-c name=value``."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed; "
                    "scripts/install-deps installs Debian's postgresql package")
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres account to run the "
                        "server as (Debian's postgresql package creates it)")
    base = tempfile.mkdtemp(prefix="sdkg-pg-")
    os.chmod(base, 0o755)
    if os.geteuid() == 0:
        os.chown(base, pw.pw_uid, pw.pw_gid)
    data = os.path.join(base, "data")
    port = 5432
    subprocess.run(_as_server_user([f"{bindir}/initdb", "-D", data, "-U", "postgres",
                                    "--auth=trust", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True, timeout=120)
    opts = f"-k {base} -c listen_addresses='' -p {port} -F -c fsync=off {options}"
    server: list[str] = []
    if server_wrapper:
        script = os.path.join(base, "postgres")
        with open(script, "w") as f:
            f.write("#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in server_wrapper)
                    + f" {shlex.quote(bindir)}/postgres \"$@\"\n")
        os.chmod(script, 0o755)
        server = ["-p", script]
    subprocess.run(_as_server_user([f"{bindir}/pg_ctl", "-D", data, *server, "-o", opts,
                                    "-l", os.path.join(base, "log"), "-w", "-t",
                                    "300" if server_wrapper else "60", "start"]),
                   check=True, capture_output=True, timeout=360)
    cluster = Cluster(base, port)
    try:
        with cluster.admin() as conn:   # type: ignore[attr-defined]
            conn.execute("CREATE ROLE sg_owner LOGIN")
            conn.execute("CREATE ROLE sg_app LOGIN NOSUPERUSER NOBYPASSRLS")
        yield cluster
    finally:
        subprocess.run(_as_server_user([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate",
                                        "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


_counter = itertools.count()


def new_database(cluster: Cluster) -> str:
    name = f"t{os.getpid()}_{next(_counter)}"
    with cluster.admin() as conn:   # type: ignore[attr-defined]
        conn.execute(f"CREATE DATABASE {name} OWNER sg_owner")
    return name


def pg_bindir_present() -> bool:
    return _bindir() is not None


__all__ = ["Cluster", "start", "new_database", "Path"]


def has_seal_extension(cluster: Cluster) -> bool:
    """Whether the server can load sdk_guard's C seal check (pg/)."""
    conn = cluster.admin()
    try:
        return conn.execute("SELECT 1 FROM pg_available_extensions "
                            "WHERE name = 'sdk_guard_seal'").fetchone() is not None
    finally:
        conn.close()


def require_seal_extension(cluster: Cluster) -> None:
    """Skip, saying why, where the server cannot load the C seal check; fail instead
    where SDK_GUARD_REQUIRE_SEAL_EXTENSION=1 (.ci/run sets it: scripts/install-deps
    builds the extension there, so its absence is a failed build, not a missing
    feature)."""
    if has_seal_extension(cluster):
        return
    why = ("the server has no sdk_guard_seal extension (pg/; scripts/install-deps builds "
           "and installs it where PostgreSQL's server headers are)")
    if os.environ.get("SDK_GUARD_REQUIRE_SEAL_EXTENSION") == "1":
        pytest.fail(why + ", and SDK_GUARD_REQUIRE_SEAL_EXTENSION=1 requires it")
    pytest.skip(why)
