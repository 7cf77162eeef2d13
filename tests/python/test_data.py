"""Scoped models on SQLite and on a real PostgreSQL: every read, update, delete and
insert path of the scoped API stays inside the request's organization."""
from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import String, delete, func, select, text, update
from sqlalchemy.orm import Mapped, aliased, make_transient_to_detached, mapped_column

import sdk_guard as sg
from _support import postgres
from sdk_guard.data import Storage
from sdk_guard.errors import GuardError, PolicyError, PolicyViolation


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[postgres.Cluster]:
    yield from postgres.start()


class Models:
    def __init__(self, store: Storage) -> None:
        Base = store.base("acme")

        class Invoice(Base):
            __tablename__ = "invoices"
            id: Mapped[int] = mapped_column(primary_key=True)
            org_id: Mapped[str] = mapped_column(String(128))
            amount: Mapped[int]

        class Note(Base):
            __tablename__ = "notes"
            __sdk_guard_scope__ = "user"
            id: Mapped[int] = mapped_column(primary_key=True)
            org_id: Mapped[str] = mapped_column(String(128))
            user_id: Mapped[str] = mapped_column(String(128))
            body: Mapped[str] = mapped_column(String(200))

        Beta = store.base("beta")

        class Secret(Beta):
            __tablename__ = "secrets"
            id: Mapped[int] = mapped_column(primary_key=True)
            org_id: Mapped[str] = mapped_column(String(128))
            value: Mapped[str] = mapped_column(String(64))

        self.Invoice, self.Note, self.Secret = Invoice, Note, Secret
        self.store = store


def _seed(m: Models) -> None:
    for org, user, amounts in (("o-1", "u-1", (10, 20)), ("o-2", "u-2", (30, 40))):
        with sg.request(user=user, org=org):
            with m.store.session("acme") as s:
                s.add_all([m.Invoice(amount=a) for a in amounts])
                s.add(m.Note(body=f"note of {user}"))
                s.commit()
    with sg.request(user="u-1b", org="o-1"):
        with m.store.session("acme") as s:
            s.add(m.Note(body="note of u-1b"))
            s.commit()


@pytest.fixture(params=["sqlite", "postgresql", "psycopg2"])
def models(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Models]:
    if request.param == "sqlite":
        store = Storage(f"sqlite:///{tmp_path / 'ext.db'}")
    else:
        cluster = request.getfixturevalue("pg_cluster")
        db = postgres.new_database(cluster)
        url, admin = cluster.url("sg_app", db), cluster.url("sg_owner", db)
        if request.param == "psycopg2":
            # Another driver: the seal goes out as set_config() with a bound parameter
            # (the one-message BEGIN + SET LOCAL path is psycopg 3's).
            pytest.importorskip("psycopg2", reason="psycopg2 is not installed "
                                "(requirements-dev.txt installs psycopg2-binary)")
            url, admin = (u.replace("+psycopg:", "+psycopg2:") for u in (url, admin))
        store = Storage(url, admin_url=admin)
    m = Models(store)
    store.create_all()
    _seed(m)
    yield m
    store.dispose()


def _all_rows(m: Models) -> list[tuple[str, int]]:
    """Every invoice row as the database holds it, read by each org in turn."""
    rows = []
    for org in ("o-1", "o-2"):
        with sg.request(user="auditor", org=org), m.store.session("acme") as s:
            rows += [(i.org_id, i.amount) for i in s.scalars(select(m.Invoice))]
    return sorted(rows)


def test_reads_see_only_the_request_org(models: Models) -> None:
    Invoice = models.Invoice
    with sg.request(user="u-1", org="o-1"), models.store.session("acme") as s:
        assert sorted(i.amount for i in s.scalars(select(Invoice))) == [10, 20]
        assert s.scalar(select(func.count(Invoice.id))) == 2
        assert s.scalar(select(func.sum(Invoice.amount))) == 30
        a = aliased(Invoice)
        joined = s.execute(select(Invoice.amount, a.amount).join(a, a.id != Invoice.id)).all()
        assert sorted(joined) == [(10, 20), (20, 10)]
        assert sorted(s.scalars(select(a.amount))) == [10, 20]
    with sg.request(user="u-2", org="o-2"), models.store.session("acme") as s:
        other_ids = [i.id for i in s.scalars(select(Invoice))]
    with sg.request(user="u-1", org="o-1"), models.store.session("acme") as s:
        assert all(s.get(Invoice, i) is None for i in other_ids)
        assert s.scalars(select(Invoice).where(Invoice.id.in_(other_ids))).all() == []


def test_insert_is_stamped_and_a_foreign_org_insert_is_refused(models: Models) -> None:
    with sg.request(user="u-1", org="o-1"), models.store.session("acme") as s:
        inv = models.Invoice(amount=99)
        s.add(inv)
        s.commit()
        assert inv.org_id == "o-1"
        s.add(models.Invoice(amount=1, org_id="o-2"))
        with pytest.raises(PolicyViolation) as ei:
            s.commit()
        assert ei.value.capability == "storage" and "o-2" in str(ei.value)
        s.rollback()
        with pytest.raises(PolicyViolation):
            s.execute(sa.insert(models.Invoice).values(amount=5, org_id="o-2"))

        class Agreeable(str):          # says "equal" to everything
            def __eq__(self, other: object) -> bool:
                return True

            def __ne__(self, other: object) -> bool:
                return False

            __hash__ = str.__hash__

        s.add(models.Invoice(amount=7, org_id=Agreeable("o-2")))
        with pytest.raises(PolicyViolation):
            s.commit()
        s.rollback()
    assert ("o-2", 1) not in _all_rows(models) and ("o-2", 5) not in _all_rows(models)
    assert ("o-2", 7) not in _all_rows(models)
    assert ("o-1", 99) in _all_rows(models)


def test_bulk_update_and_delete_stay_inside_the_request_org(models: Models) -> None:
    Invoice = models.Invoice
    with sg.request(user="u-1", org="o-1"), models.store.session("acme") as s:
        res = s.execute(update(Invoice).values(amount=Invoice.amount + 1))
        assert res.rowcount == 2
        s.commit()
    assert _all_rows(models) == [("o-1", 11), ("o-1", 21), ("o-2", 30), ("o-2", 40)]
    with sg.request(user="u-1", org="o-1"), models.store.session("acme") as s:
        assert s.execute(delete(Invoice)).rowcount == 2
        s.commit()
    assert _all_rows(models) == [("o-2", 30), ("o-2", 40)]
    with sg.request(user="u-1", org="o-1"), models.store.session("acme") as s:
        with pytest.raises(PolicyViolation):
            s.execute(update(Invoice).values(org_id="o-1"))
    assert _all_rows(models) == [("o-2", 30), ("o-2", 40)]


def test_loaded_rows_cannot_move_org_and_forged_objects_cannot_write_other_rows(
        models: Models) -> None:
    Invoice = models.Invoice
    with sg.request(user="u-2", org="o-2"), models.store.session("acme") as s:
        victim = s.scalars(select(Invoice).where(Invoice.amount == 30)).one().id
    with sg.request(user="u-1", org="o-1"):
        with models.store.session("acme") as s:
            mine = s.scalars(select(Invoice).where(Invoice.amount == 10)).one()
            mine.org_id = "o-2"
            with pytest.raises(PolicyViolation):
                s.flush()
        with models.store.session("acme") as s:
            forged = Invoice(id=victim, org_id="o-1", amount=0)
            make_transient_to_detached(forged)
            s.add(forged)
            forged.amount = 1
            with pytest.raises(PolicyViolation):
                s.commit()
        with models.store.session("acme") as s:
            ghost = Invoice(id=victim, org_id="o-1", amount=30)
            make_transient_to_detached(ghost)
            s.add(ghost)
            s.delete(ghost)
            with pytest.raises(PolicyViolation):
                s.commit()
        with models.store.session("acme") as s:
            s.merge(Invoice(id=victim, amount=7))   # finds no row: an insert stamped o-1
            with pytest.raises(sa.exc.IntegrityError):   # with o-2's primary key
                s.commit()
    assert _all_rows(models) == [("o-1", 10), ("o-1", 20), ("o-2", 30), ("o-2", 40)]


def test_user_scoped_model_filters_by_user_too(models: Models) -> None:
    with sg.request(user="u-1", org="o-1"), models.store.session("acme") as s:
        assert [n.body for n in s.scalars(select(models.Note))] == ["note of u-1"]
        assert s.execute(update(models.Note).values(body="x")).rowcount == 1
        s.commit()
    with sg.request(user="u-1b", org="o-1"), models.store.session("acme") as s:
        assert [n.body for n in s.scalars(select(models.Note))] == ["note of u-1b"]


def test_no_request_context_means_nothing_read_or_written(models: Models) -> None:
    with pytest.raises(PolicyViolation) as ei:
        with models.store.session("acme"):
            pass
    assert ei.value.capability == "request"
    with sg.request(user="u-1", org="o-1"):
        cm = models.store.session("acme")
        s = cm.__enter__()
    # the request ended: the session it opened refuses to read or write
    with pytest.raises(PolicyViolation):
        s.scalars(select(models.Invoice)).all()
    s.add(models.Invoice(amount=1000))
    with pytest.raises(PolicyViolation):
        s.commit()
    cm.__exit__(None, None, None)
    with sg.request(user="u-2", org="o-2"):
        with pytest.raises(PolicyViolation):     # a session of o-1 inside an o-2 request
            s.scalars(select(models.Invoice)).all()
    assert (("o-1", 1000) not in _all_rows(models))


def test_statement_shapes_the_org_filter_cannot_reach_are_refused(models: Models) -> None:
    Invoice = models.Invoice
    a = aliased(Invoice)
    shapes = [
        select(func.count()).select_from(Invoice),
        select(Invoice.amount).join(a, a.id != Invoice.id),
        select(func.count(Invoice.id)).where(
            Invoice.id.in_(select(Invoice.id).scalar_subquery())),
        select(func.count()).select_from(select(Invoice).subquery()),
        select(func.count()).select_from(select(Invoice.id).cte()),
        sa.union_all(select(Invoice.id), select(Invoice.id)),
        select(sa.literal(1)).where(select(Invoice.id).exists()),
        update(Invoice).where(Invoice.id.in_(select(Invoice.id))).values(amount=0),
    ]
    with sg.request(user="u-1", org="o-1"), models.store.session("acme") as s:
        for stmt in shapes:
            with pytest.raises(PolicyViolation) as ei:
                s.execute(stmt)
            assert ei.value.capability == "storage"
    assert _all_rows(models) == [("o-1", 10), ("o-1", 20), ("o-2", 30), ("o-2", 40)]


def test_text_core_and_other_extensions_statements_are_refused(models: Models) -> None:
    with sg.request(user="u-1", org="o-1"), models.store.session("acme") as s:
        with pytest.raises(PolicyViolation):
            s.execute(text("SELECT * FROM acme__invoices"))
        with pytest.raises(PolicyViolation):
            s.execute(select(models.Invoice.__table__))
        with pytest.raises(PolicyViolation):
            s.execute(select(models.Secret))
        with pytest.raises(PolicyViolation):
            s.bulk_save_objects([models.Invoice(amount=1)])
        with pytest.raises(PolicyViolation):
            s.bulk_insert_mappings(models.Invoice, [{"amount": 1, "org_id": "o-2"}])
        with pytest.raises(PolicyViolation):
            s.bulk_update_mappings(models.Invoice, [{"id": 1, "amount": 0}])
        with pytest.raises(PolicyViolation):     # bulk UPDATE by primary key
            s.execute(update(models.Invoice), [{"id": 1, "amount": 0}, {"id": 3, "amount": 0}])
    assert _all_rows(models) == [("o-1", 10), ("o-1", 20), ("o-2", 30), ("o-2", 40)]


def test_interleaved_asyncio_requests_of_two_orgs_never_see_each_others_rows(
        models: Models) -> None:
    seen: dict[str, set[str]] = {"o-1": set(), "o-2": set()}

    async def handler(org: str, n: int) -> None:
        with sg.request(user=f"u-{org}", org=org):
            for i in range(n):
                # Each await lets another org's task run between two operations of
                # this one (SQLite allows one writer: no await inside a write).
                with models.store.session("acme") as s:
                    s.add(models.Invoice(amount=1000 + i))
                    s.commit()
                    await asyncio.sleep(0)
                    seen[org] |= {inv.org_id for inv in s.scalars(select(models.Invoice))}
                    s.rollback()
                    await asyncio.sleep(0)
                    s.execute(update(models.Invoice).where(models.Invoice.amount == 1000 + i)
                              .values(amount=2000 + i))
                    s.commit()
                    await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(handler(org, 8) for org in ("o-1", "o-2", "o-1", "o-2")))

    asyncio.run(main())
    assert seen == {"o-1": {"o-1"}, "o-2": {"o-2"}}
    rows = _all_rows(models)
    assert sum(1 for o, a in rows if o == "o-1" and a >= 2000) == 16
    assert sum(1 for o, a in rows if o == "o-2" and a >= 2000) == 16


def test_model_without_org_column_is_a_policy_error_naming_the_model(tmp_path: Path) -> None:
    store = Storage(f"sqlite:///{tmp_path / 'x.db'}")
    Base = store.base("acme")
    with pytest.raises(PolicyError) as ei:
        class Unscoped(Base):
            __tablename__ = "loose"
            id: Mapped[int] = mapped_column(primary_key=True)
    assert ei.value.key == "data.acme.Unscoped" and "org_id" in str(ei.value)
    with pytest.raises(PolicyError) as ei:
        class NoUser(Base):
            __tablename__ = "nouser"
            __sdk_guard_scope__ = "user"
            id: Mapped[int] = mapped_column(primary_key=True)
            org_id: Mapped[str] = mapped_column(String(128))
    assert ei.value.key == "data.acme.NoUser" and "user_id" in str(ei.value)
    with pytest.raises(PolicyError) as ei:
        class BadName(Base):
            __tablename__ = "x; drop table y"
            id: Mapped[int] = mapped_column(primary_key=True)
    assert ei.value.key == "data.acme.BadName.__tablename__"
    with pytest.raises(PolicyError) as ei:
        class Renamed(Base):           # org_id column under another attribute name
            __tablename__ = "renamed"
            id: Mapped[int] = mapped_column(primary_key=True)
            tenant: Mapped[str] = mapped_column("org_id", String(128))
    assert ei.value.key == "data.acme.Renamed.org_id" and "tenant" in str(ei.value)
    with pytest.raises(ValueError):
        store.base("Bad-Name")


def test_sqlite_authorizer_refuses_attach_pragma_writes_and_other_extensions_tables(
        tmp_path: Path) -> None:
    m = Models(Storage(f"sqlite:///{tmp_path / 'ext.db'}"))
    m.store.create_all()
    _seed(m)
    raw = m.store.engine_for("acme").raw_connection()
    try:
        cur = raw.cursor()
        assert len(cur.execute("SELECT * FROM acme__invoices").fetchall()) == 4
        for sql in (f"ATTACH DATABASE '{tmp_path / 'other.db'}' AS other",
                    "PRAGMA journal_mode = DELETE", "PRAGMA writable_schema = ON",
                    "SELECT * FROM beta__secrets", "CREATE TABLE acme__new (x)",
                    "DROP TABLE acme__invoices", "DELETE FROM beta__secrets"):
            with pytest.raises(sqlite3.DatabaseError, match="not authorized|prohibited"):
                cur.execute(sql)
    finally:
        raw.close()
        m.store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def async_models(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Models]:
    pytest.importorskip("greenlet", reason="async sessions need greenlet "
                        "(requirements-dev.txt installs it)")
    if request.param == "sqlite":
        pytest.importorskip("aiosqlite", reason="async SQLite needs aiosqlite "
                            "(requirements-dev.txt installs it)")
        store = Storage(f"sqlite:///{tmp_path / 'ext.db'}")
    else:
        cluster = request.getfixturevalue("pg_cluster")
        db = postgres.new_database(cluster)
        store = Storage(cluster.url("sg_app", db), admin_url=cluster.url("sg_owner", db))
    m = Models(store)
    store.create_all()
    _seed(m)
    yield m
    store.dispose()


def test_async_sessions_of_interleaved_requests_stay_in_their_org(
        async_models: Models) -> None:
    """Storage.async_session(): an AsyncSession over the same ScopedSession.  Requests
    of two orgs interleave on one event loop; each reads, inserts (stamped), updates
    and deletes only its own org's rows, and on PostgreSQL its transactions carry the
    request's seal."""
    m = async_models
    seen: dict[str, set[str]] = {"o-1": set(), "o-2": set()}
    seals: set[str] = set()

    async def handler(org: str, n: int) -> None:
        with sg.request(user=f"u-{org}", org=org):
            for i in range(n):
                async with m.store.async_session("acme") as s:
                    s.add(m.Invoice(amount=1000 + i))
                    await s.commit()
                    await asyncio.sleep(0)
                    rows = (await s.scalars(select(m.Invoice))).all()
                    seen[org] |= {inv.org_id for inv in rows}
                    await s.execute(update(m.Invoice).where(m.Invoice.amount == 1000 + i)
                                    .values(amount=2000 + i))
                    await s.commit()
                    if m.store.backend == "postgresql":
                        conn = await s.connection()
                        seal = (await conn.exec_driver_sql(
                            "SELECT current_setting('sdk_guard.seal', true)")).scalar()
                        seals.add(f"{org}:{seal.split('/')[2]}")
                    await asyncio.sleep(0)
                    await s.execute(delete(m.Invoice).where(m.Invoice.amount == 2000 + i))
                    await s.commit()

    async def main() -> None:
        await asyncio.gather(*(handler(org, 6) for org in ("o-1", "o-2", "o-1", "o-2")))
        await m.store.dispose_async()

    asyncio.run(main())
    assert seen == {"o-1": {"o-1"}, "o-2": {"o-2"}}
    if m.store.backend == "postgresql":
        assert seals == {"o-1:o-1", "o-2:o-2"}
    # the seed is intact and every row written was the writer's own, then deleted
    assert _all_rows(m) == [("o-1", 10), ("o-1", 20), ("o-2", 30), ("o-2", 40)]


def test_async_session_refuses_what_the_sync_session_refuses(async_models: Models) -> None:
    m = async_models

    async def outside() -> None:
        async with m.store.async_session("acme"):
            pass

    with pytest.raises(PolicyViolation):                 # no request
        asyncio.run(outside())

    async def cross() -> None:
        with sg.request(user="u-1", org="o-1"):
            async with m.store.async_session("acme") as s:
                s.add(m.Invoice(amount=5, org_id="o-2"))
                with pytest.raises(PolicyViolation):      # another org's stamp
                    await s.commit()
                await s.rollback()
                with pytest.raises(PolicyViolation):      # raw SQL through the session
                    await s.execute(text("SELECT * FROM acme__invoices"))
        await m.store.dispose_async()

    asyncio.run(cross())
    assert _all_rows(m) == [("o-1", 10), ("o-1", 20), ("o-2", 30), ("o-2", 40)]


@pytest.mark.parametrize("missing", ["greenlet", "aiosqlite"])
def test_async_session_without_its_extra_is_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    import sys
    store = Storage(f"sqlite:///{tmp_path / 'ext.db'}")
    Models(store)
    store.create_all()
    monkeypatch.setitem(sys.modules, missing, None)     # import raises ImportError

    async def go() -> None:
        with sg.request(user="u-1", org="o-1"):
            async with store.async_session("acme"):
                pass

    with pytest.raises(GuardError, match=r"sdk-guard\[data-async\]"):
        asyncio.run(go())
    store.dispose()


ASYNC_EXTENSION = r"""
import asyncio

from sqlalchemy import select


async def work(store, Invoice, amount):
    async with store.async_session("acme") as s:
        async with s.begin():                  # the first I/O: the pool connects here
            s.add(Invoice(amount=amount))
        rows = (await s.scalars(select(Invoice))).all()
        return sorted((r.org_id, r.amount) for r in rows)


async def callback_without_own_frames(store, victim):
    # run_sync() runs its callable in SQLAlchemy's greenlet, whose stack has no frame
    # of this extension: a library function handed in must not gain authority there.
    import functools
    import shutil
    async with store.async_session("acme") as s:
        try:
            await s.run_sync(functools.partial(shutil.rmtree, victim))
        except Exception as e:
            return type(e).__name__
        return "ran"
"""

ASYNC_CHILD = r"""
import asyncio, json, os, sys
sys.path[:0] = [sys.argv[2], sys.argv[2] + "/.."]
import sdk_guard as sg
from sdk_guard.data import Storage
from test_data import Models, _seed
url, admin = sys.argv[1].split(" ") if " " in sys.argv[1] else (sys.argv[1], None)
store = Storage(url, admin_url=admin)
m = Models(store)
store.create_all()
_seed(m)
guard = sg.install(sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
    "package": "acme", "path": sys.argv[3],
    "imports": {"allow": ["asyncio", "sqlalchemy", "functools", "shutil"]}}}}))
acme = guard.import_extension("acme")
victim = sys.argv[3] + "/../victim"
os.makedirs(victim)

async def main():
    out = {}
    for org, user, amount in (("o-1", "u-1", 7), ("o-2", "u-2", 8)):
        with sg.request(user=user, org=org):
            out[org] = await acme.work(store, m.Invoice, amount)
    with sg.request(user="u-1", org="o-1"):
        out["callback"] = await acme.callback_without_own_frames(store, victim)
    out["victim"] = os.path.isdir(victim)
    await store.dispose_async()
    return out

print(json.dumps(asyncio.run(main())))
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_extension_uses_async_sessions_under_the_installed_guard(
        request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> None:
    """The natural policy of an extension that awaits its storage (it imports asyncio
    and sqlalchemy) is enough: what the driver does on the event loop for the session
    (aiosqlite's thread, opening the database) is the storage's doing, not the
    extension's.  That authority does not reach a callable the extension hands to
    run_sync(): a library function with no extension frame of its own is refused."""
    from _support.child import run_child_json, write_tree
    pytest.importorskip("greenlet", reason="async sessions need greenlet")
    pytest.importorskip("aiosqlite", reason="async SQLite needs aiosqlite")
    write_tree(tmp_path / "plugins", {"acme/__init__.py": ASYNC_EXTENSION})
    if backend == "sqlite":
        urls = f"sqlite:///{tmp_path / 'ext.db'}"
    else:
        cluster = request.getfixturevalue("pg_cluster")
        db = postgres.new_database(cluster)
        urls = f"{cluster.url('sg_app', db)} {cluster.url('sg_owner', db)}"
    out = run_child_json(ASYNC_CHILD, args=[urls, str(Path(__file__).parent),
                                            str(tmp_path / "plugins")])
    assert out == {"o-1": [["o-1", 7], ["o-1", 10], ["o-1", 20]],
                   "o-2": [["o-2", 8], ["o-2", 30], ["o-2", 40]],
                   "callback": "PolicyViolation", "victim": True}


def test_async_sessions_on_postgresql_need_psycopg_3(pg_cluster: postgres.Cluster) -> None:
    pytest.importorskip("greenlet", reason="async sessions need greenlet")
    db = postgres.new_database(pg_cluster)
    url, admin = (u.replace("+psycopg:", "+psycopg2:") for u in
                  (pg_cluster.url("sg_app", db), pg_cluster.url("sg_owner", db)))
    store = Storage(url, admin_url=admin)
    Models(store)
    store.create_all()

    async def go() -> None:
        with sg.request(user="u-1", org="o-1"):
            async with store.async_session("acme"):
                pass

    with pytest.raises(GuardError, match="psycopg 3"):
        asyncio.run(go())
    store.dispose()


def test_postgresql_raw_connection_cannot_cross_orgs(pg_cluster: postgres.Cluster) -> None:
    import psycopg
    db = postgres.new_database(pg_cluster)
    m = Models(Storage(pg_cluster.url("sg_app", db), admin_url=pg_cluster.url("sg_owner", db)))
    m.store.create_all()
    _seed(m)
    with sg.request(user="u-1", org="o-1"), m.store.session("acme") as s:
        s.scalars(select(m.Invoice)).all()                 # the transaction is open
        raw: Any = s.connection().connection.dbapi_connection   # walked down to psycopg
        cur = raw.cursor()
        cur.execute("SELECT org_id, amount FROM acme__invoices")
        assert sorted(cur.fetchall()) == [("o-1", 10), ("o-1", 20)]
        cur.execute("UPDATE acme__invoices SET amount = 0")
        assert cur.rowcount == 2
        cur.execute("DELETE FROM acme__invoices WHERE org_id = 'o-2'")
        assert cur.rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cur.execute("INSERT INTO acme__invoices (org_id, amount) VALUES ('o-2', 1)")
        s.rollback()
    # a pooled connection outside any request sees no rows at all
    raw2 = m.store.engine_for("acme").raw_connection()
    try:
        cur = raw2.cursor()
        cur.execute("SELECT count(*) FROM acme__invoices")
        assert cur.fetchone()[0] == 0
        cur.execute("UPDATE acme__invoices SET amount = 0")
        assert cur.rowcount == 0
    finally:
        raw2.close()
    assert _all_rows(m) == [("o-1", 10), ("o-1", 20), ("o-2", 30), ("o-2", 40)]
    m.store.dispose()


def test_postgresql_refuses_a_role_row_level_security_does_not_bind(
        pg_cluster: postgres.Cluster) -> None:
    db = postgres.new_database(pg_cluster)
    store = Storage(pg_cluster.url("sg_owner", db))     # the owner as the session role
    Models(store)
    with pytest.raises(sg.GuardError, match="owns"):
        store.create_all()
    store.dispose()
    store = Storage(pg_cluster.url("postgres", db), admin_url=pg_cluster.url("sg_owner", db))
    Models(store)
    with pytest.raises(sg.GuardError, match="superuser"):
        store.create_all()
    store.dispose()


def test_postgresql_extension_walking_to_the_raw_connection_under_the_guard_stays_in_its_org(
        pg_cluster: postgres.Cluster, tmp_path: Path) -> None:
    """Extension code under the installed guard walks from its session to the psycopg
    connection (plain attribute access, no audit event) and runs raw SQL: row-level
    security still keeps it inside the request's org."""
    from _support.child import run_program_json, write_tree
    db = postgres.new_database(pg_cluster)
    write_tree(tmp_path / "plugins", {
        "acme/__init__.py": """
            def walk_and_query(open_session, model, select):
                with open_session() as s:
                    s.scalars(select(model)).all()
                    raw = s.connection().connection.dbapi_connection
                    cur = raw.cursor()
                    cur.execute("SELECT org_id, amount FROM acme__invoices ORDER BY amount")
                    rows = [list(r) for r in cur.fetchall()]
                    cur.execute("UPDATE acme__invoices SET amount = -1")
                    changed = cur.rowcount
                    try:
                        cur.execute("INSERT INTO acme__invoices (org_id, amount) "
                                    "VALUES ('o-2', 666)")
                        planted = "inserted"
                    except Exception as e:
                        planted = type(e).__name__
                    s.rollback()
                    return {"rows": rows, "changed": changed, "planted": planted}
            """,
    })
    out = run_program_json("data_raw_connection", pg_cluster.url("sg_app", db),
                           pg_cluster.url("sg_owner", db), str(Path(__file__).parent),
                           str(tmp_path / "plugins"))
    assert out["rows"] == [["o-1", 10], ["o-1", 20]]
    assert out["changed"] == 2
    assert out["planted"] == "InsufficientPrivilege"
    assert out["o2"] == [30, 40]


def test_extension_cannot_open_another_extensions_storage_through_the_sdk(
        tmp_path: Path) -> None:
    from _support.child import run_program_json, write_tree
    write_tree(tmp_path / "plugins", {
        "acme/__init__.py": """
            def attempt(fn):
                try:
                    fn()
                    return "done"
                except PermissionError as e:
                    return [type(e).__name__, getattr(e, "capability", None)]

            def run(sdk_session, sdk_base, sdk_create_all):
                return {"other_session": attempt(lambda: sdk_session("beta").__enter__()),
                        "other_base": attempt(lambda: sdk_base("beta")),
                        "create_all": attempt(sdk_create_all),
                        "own_session": attempt(lambda: sdk_session("acme").__enter__())}
            """,
    })
    out = run_program_json("data_other_storage", str(tmp_path), str(Path(__file__).parent),
                           str(tmp_path / "plugins"))
    assert out["other_session"] == ["PolicyViolation", "storage"]
    assert out["other_base"] == ["PolicyViolation", "storage"]
    assert out["create_all"] == ["PolicyViolation", "introspection"]
    assert out["own_session"] == "done"


def test_every_write_runs_inside_a_storage_mutation_span(tmp_path: Path) -> None:
    from _support.child import run_program_json
    out = run_program_json("data_mutation_spans", str(tmp_path), str(Path(__file__).parent))
    assert out == [["action", "invoices.import", False, "o-1"],
                   ["storage_mutation", "flush acme__invoices", True, "o-1"],
                   ["storage_mutation", "update acme__invoices", True, "o-1"],
                   ["storage_mutation", "delete acme__invoices", True, "o-1"]]


def test_a_model_declared_after_the_first_query_is_filtered_too(models: Models) -> None:
    """The extension's criteria are built once and kept: a model declared later (a
    plugin loaded after startup) must still get its org filter."""
    with sg.request(user="u-1", org="o-1"), models.store.session("acme") as s:
        assert sorted(i.amount for i in s.scalars(select(models.Invoice))) == [10, 20]

    class Late(models.store.base("acme")):
        __tablename__ = "late"
        id: Mapped[int] = mapped_column(primary_key=True)
        org_id: Mapped[str] = mapped_column(String(128))
        n: Mapped[int]

    models.store.create_all()
    for org, n in (("o-1", 1), ("o-2", 2)):
        with sg.request(user="u", org=org), models.store.session("acme") as s:
            s.add(Late(n=n))
            s.commit()
    with sg.request(user="u-1", org="o-1"), models.store.session("acme") as s:
        assert [(r.org_id, r.n) for r in s.scalars(select(Late))] == [("o-1", 1)]
        assert s.scalar(select(func.count(Late.id))) == 1


def test_relationship_loads_are_filtered_by_org(tmp_path: Path) -> None:
    from sqlalchemy import ForeignKey
    from sqlalchemy.orm import relationship, selectinload
    store = Storage(f"sqlite:///{tmp_path / 'rel.db'}")
    Base = store.base("acme")

    class Order(Base):
        __tablename__ = "orders"
        id: Mapped[int] = mapped_column(primary_key=True)
        org_id: Mapped[str] = mapped_column(String(128))
        lines: Mapped[list[Line]] = relationship(back_populates="order")

    class Line(Base):
        __tablename__ = "lines"
        id: Mapped[int] = mapped_column(primary_key=True)
        org_id: Mapped[str] = mapped_column(String(128))
        order_id: Mapped[int] = mapped_column(ForeignKey("acme__orders.id"))
        sku: Mapped[str] = mapped_column(String(20))
        order: Mapped[Order] = relationship(back_populates="lines")

    store.create_all()
    with sg.request(user="u-1", org="o-1"), store.session("acme") as s:
        o = Order()
        s.add(o)
        s.add(Line(order=o, sku="mine"))
        s.commit()
        oid = o.id
    with sg.request(user="u-2", org="o-2"), store.session("acme") as s:
        s.add(Line(order_id=oid, sku="planted"))   # o-2 row pointing at o-1's order
        s.commit()
    with sg.request(user="u-1", org="o-1"):
        with store.session("acme") as s:
            lazy = [ln.sku for ln in s.get(Order, oid).lines]
        with store.session("acme") as s:
            eager = [ln.sku for o in s.scalars(select(Order).options(selectinload(Order.lines)))
                     for ln in o.lines]
        with store.session("acme") as s:
            joined = [r.sku for r in s.execute(select(Line.sku, Order.id).join(Line.order))]
            with pytest.raises(PolicyViolation):     # join target without its columns
                s.execute(select(Line.sku).join(Line.order))
    assert lazy == ["mine"] and eager == ["mine"] and joined == ["mine"]
    store.dispose()
