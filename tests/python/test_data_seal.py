"""PostgreSQL row-level security keyed on a seal the database verifies (#14): code that
reaches the raw psycopg connection by walking objects cannot claim another
organization, whatever it sets, and what it can still do is shown here too.

The extension probes run in one child process with the guard installed (audit hooks
cannot be removed); each test below asserts one part of what the child saw."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sdk_guard as sg
from _support import postgres
from sdk_guard.data import Storage

EXTENSION = r'''
import contextvars
import time

from sdk_guard import _guard

_stash = {}


def _raw(s, model, select):
    s.scalars(select(model)).all()            # the transaction is open, its seal set
    return s.connection().connection.dbapi_connection


def _try(cur, sql, *args):
    """Runs SQL inside a savepoint: rows, a row count, or the error's class name."""
    cur.execute("SAVEPOINT probe")
    try:
        cur.execute(sql, args or None)
        res = [list(r) for r in cur.fetchall()] if cur.description else cur.rowcount
        cur.execute("RELEASE SAVEPOINT probe")
        return res
    except Exception as e:
        cur.execute("ROLLBACK TO SAVEPOINT probe")
        return type(e).__name__


def _rows(cur):
    return _try(cur, "SELECT org_id, amount FROM acme__invoices ORDER BY amount")


def _set_seal(cur, seal):
    cur.execute("SELECT set_config('sdk_guard.seal', %s, true)", (seal,))


def _writes(cur):
    return {"update": _try(cur, "UPDATE acme__invoices SET amount = -1"),
            "delete": _try(cur, "DELETE FROM acme__invoices"),
            "insert_o2": _try(cur, "INSERT INTO acme__invoices (org_id, amount) "
                                   "VALUES ('o-2', 666)"),
            "insert_o1": _try(cur, "INSERT INTO acme__invoices (org_id, amount) "
                                   "VALUES ('o-1', 666)")}


def forge(open_session, model, select):
    out = {}
    with open_session() as s:
        raw = _raw(s, model, select)
        cur = raw.cursor()
        own = _try(cur, "SELECT current_setting('sdk_guard.seal')")[0][0]
        out["own_org"] = own.split("/")[2]
        out["own_rows"] = _rows(cur)
        # The key before the seal: a plain setting any role may set.
        cur.execute("SELECT set_config('sdk_guard.org', 'o-2', true)")
        out["org_setting_rows"] = _rows(cur)
        # The own seal with the org swapped (its MAC no longer matches) ...
        parts = own.split("/")
        parts[2] = "o-2"
        _set_seal(cur, "/".join(parts))
        out["swapped_rows"] = _rows(cur)
        out["swapped_writes"] = _writes(cur)
        # ... with another key id, and made up from scratch.
        parts = own.split("/")
        parts[1] = "0" * 16
        _set_seal(cur, "/".join(parts))
        out["unknown_key_rows"] = _rows(cur)
        _set_seal(cur, f"v1/{own.split('/')[1]}/o-2//{raw.info.backend_pid}/"
                       f"9999999999/{'0' * 64}")
        out["made_up_rows"] = _rows(cur)
        out["made_up_writes"] = _writes(cur)
        # The own seal with one field malformed: no row, and no error either (the
        # fields are checked before the expiry is cast).
        out["malformed_rows"] = {}
        for i, val in ((5, "abc"), (5, "0" + own.split("/")[5]), (5, "9" * 19), (5, ""),
                       (5, "-1"), (4, "0" + own.split("/")[4]), (4, " " + own.split("/")[4]),
                       (6, own.split("/")[6].upper()), (6, own.split("/")[6][:63])):
            parts = own.split("/")
            parts[i] = val
            _set_seal(cur, "/".join(parts))
            out["malformed_rows"][f"{i}:{val}"] = _rows(cur)
        _set_seal(cur, f"v1/{own.split('/')[1]}/o-2//{raw.info.backend_pid}/"
                       f"9999999999/{'0' * 64}")
        # What the database's own functions say for the forged seal.
        out["current_org"] = _try(cur, "SELECT sdk_guard.current_org()")[0][0]
        # The owner's key table, functions, policies and role are out of reach.
        out["read_keys"] = _try(cur, "SELECT key_id, ipad, opad FROM sdk_guard.seal_keys")
        out["plant_key"] = _try(cur, "INSERT INTO sdk_guard.seal_keys (key_id, ipad, opad) "
                                     "VALUES ('aaaaaaaaaaaaaaaa', %s, %s)",
                                b"6" * 64, b"\\" * 64)
        out["replace_function"] = _try(
            cur, "CREATE OR REPLACE FUNCTION sdk_guard.current_org() RETURNS text "
                 "LANGUAGE sql STABLE AS $$ SELECT 'o-2' $$")
        out["disable_rls"] = _try(cur, "ALTER TABLE acme__invoices DISABLE ROW LEVEL SECURITY")
        out["drop_policy"] = _try(cur, "DROP POLICY sdk_guard_scope ON acme__invoices")
        out["set_role_owner"] = _try(cur, "SET ROLE sg_owner")
        # Replayed on another connection (another server process): refused.
        pooled = s.get_bind().raw_connection()
        other = pooled.dbapi_connection
        try:
            ocur = other.cursor()
            out["pids_differ"] = other.info.backend_pid != raw.info.backend_pid
            _set_seal(ocur, own)
            out["replayed_rows"] = _rows(ocur)
            out["replayed_writes"] = _writes(ocur)
            other.rollback()
            # A seal minted for that connection inside this request works, for o-1 only.
            minted = _guard.seal(s.sdk_guard_store._seal_label, other.info.backend_pid, 60)
            out["minted_org"] = minted.split("/")[2]
            _set_seal(ocur, minted)
            out["minted_rows"] = _rows(ocur)
            other.rollback()
        finally:
            pooled.close()
        s.rollback()
        # Kept for the expiry probe and the pool-reuse probe below.
        _stash["raw"], _stash["seal"] = raw, own
    return out


def cannot_mint_or_register(label):
    out = {}
    seal = _guard.seal(label, 4242, 60)
    out["mint_org"] = seal.split("/")[2]
    out["mint_ttl_too_long"] = _attempt(lambda: _guard.seal(label, 4242, 100000))
    out["register"] = _attempt(lambda: _guard.seal_register(label))

    def forged_request():
        for var in contextvars.copy_context():
            if var.name == "sdk_guard.request":
                var.set(("live", ("u-2", "o-2", frozenset(), frozenset())))
        return _attempt(lambda: _guard.seal(label, 4242, 60))
    out["forged_request"] = contextvars.copy_context().run(forged_request)

    def own_request():
        import sdk_guard
        with sdk_guard.request(user="u-2", org="o-2"):
            return _guard.seal(label, 4242, 60)
    out["open_request"] = _attempt(own_request)
    _stash["context"] = contextvars.copy_context()
    return out


def _attempt(fn):
    try:
        return ["returned", str(fn())]
    except Exception as e:
        return [type(e).__name__, getattr(e, "capability", None)]


def seal_in_stashed_context(label):
    return _attempt(lambda: _stash["context"].run(lambda: _guard.seal(label, 4242, 60)
                                                  .split("/")[2]))


def replay_stashed_seal_after_the_request(ttl):
    raw, seal = _stash["raw"], _stash["seal"]
    cur = raw.cursor()
    out = {}
    _set_seal(cur, seal)                         # within its ttl, same connection
    out["within_ttl_rows"] = _rows(cur)
    raw.rollback()
    _set_seal(cur, seal)                         # a transaction begun in time ...
    time.sleep(ttl + 1.5)
    out["transaction_begun_in_time_rows"] = _rows(cur)    # ... runs to its end
    raw.rollback()
    _set_seal(cur, seal)                         # a new one after the expiry
    out["expired_rows"] = _rows(cur)
    out["expired_writes"] = _writes(cur)
    raw.rollback()
    return out


def use_stashed_connection():
    """Runs on a pooled connection kept from an earlier session, while another
    request's transaction is using it."""
    return _rows(_stash["raw"].cursor())
'''

CHILD = r'''
import json, sys, threading
sys.path[:0] = [sys.argv[3], sys.argv[3] + "/.."]  # test_data, and _support for it
import sdk_guard as sg
from sqlalchemy import select
from sdk_guard.data import Storage
from test_data import Models, _seed
TTL = 2
store = Storage(sys.argv[1], admin_url=sys.argv[2], seal_ttl=TTL, seal_check=sys.argv[5],
                engine_options={"pool_size": 2, "max_overflow": 0, "pool_use_lifo": True})
m = Models(store)
store.create_all()
_seed(m)
guard = sg.install(sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
    "package": "acme", "path": sys.argv[4],
    "imports": {"allow": ["sdk_guard", "sdk_guard.*", "contextvars", "time"]}}}}))
acme = guard.import_extension("acme")
label = store._seal_label
out = {"seal_check": store.seal_check}
with sg.request(user="u-1", org="o-1"):
    out["forge"] = acme.forge(lambda: store.session("acme"), m.Invoice, select)
out["no_request"] = acme._attempt(lambda: acme._guard.seal(label, 4242, 60))
with sg.request(user="u-1", org="o-1"):
    out["mint"] = acme.cannot_mint_or_register(label)
    with sg.request(user="u-2", org="o-2"):
        out["context_inside_other_request"] = acme.seal_in_stashed_context(label)
out["context_after_its_request"] = acme.seal_in_stashed_context(label)
out["expiry"] = acme.replay_stashed_seal_after_the_request(TTL)

# Another request's transaction on the connection the extension kept.
busy, done = threading.Event(), threading.Event()
def other_request():
    with sg.request(user="u-2", org="o-2"), store.session("acme") as s:
        s.scalars(select(m.Invoice)).all()
        out["same_connection"] = (s.connection().connection.dbapi_connection
                                  is acme._stash["raw"])
        busy.set()
        done.wait(30)
t = threading.Thread(target=other_request)
t.start()
busy.wait(30)
out["snatched_rows"] = acme.use_stashed_connection()
done.set()
t.join()
with sg.request(user="u-2", org="o-2"), store.session("acme") as s:
    out["o2_after"] = sorted(i.amount for i in s.scalars(select(m.Invoice)))
with sg.request(user="u-1", org="o-1"), store.session("acme") as s:
    out["o1_after"] = sorted(i.amount for i in s.scalars(select(m.Invoice)))
store.dispose()
print(json.dumps(out))
'''

NOTHING = {"update": 0, "delete": 0, "insert_o2": "InsufficientPrivilege",
           "insert_o1": "InsufficientPrivilege"}


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[postgres.Cluster]:
    yield from postgres.start()


# Every attack runs against both seal checks: the C extension (pg/, installed on the
# server by scripts/install-deps) and the plpgsql function it stands in for.
@pytest.fixture(scope="module", params=["native", "plpgsql"])
def seen(request: pytest.FixtureRequest, pg_cluster: postgres.Cluster,
         tmp_path_factory: pytest.TempPathFactory) -> Any:
    from _support.child import run_child_json, write_tree
    if request.param == "native":
        postgres.require_seal_extension(pg_cluster)
    tmp = tmp_path_factory.mktemp("seal")
    write_tree(tmp / "plugins", {"acme/__init__.py": EXTENSION})
    db = postgres.new_database(pg_cluster)
    out = run_child_json(CHILD, args=[pg_cluster.url("sg_app", db),
                                      pg_cluster.url("sg_owner", db),
                                      str(Path(__file__).parent), str(tmp / "plugins"),
                                      request.param])
    assert out["seal_check"] == request.param
    return out


def test_raw_connection_setting_the_org_or_a_forged_seal_sees_and_changes_nothing(
        seen: Any) -> None:
    f = seen["forge"]
    assert f["own_org"] == "o-1"
    assert f["own_rows"] == [["o-1", 10], ["o-1", 20]]
    # The old key is ignored: still the request's org only.
    assert f["org_setting_rows"] == [["o-1", 10], ["o-1", 20]]
    for key in ("swapped", "unknown_key", "made_up"):
        assert f[f"{key}_rows"] == [], key
    assert f["swapped_writes"] == NOTHING
    assert f["made_up_writes"] == NOTHING
    assert f["current_org"] is None
    assert f["malformed_rows"] and all(r == [] for r in f["malformed_rows"].values()), \
        f["malformed_rows"]
    assert seen["o2_after"] == [30, 40]
    assert seen["o1_after"] == [10, 20]


def test_extension_cannot_read_or_plant_keys_nor_change_the_functions_policies_or_role(
        seen: Any) -> None:
    f = seen["forge"]
    assert f["read_keys"] == "InsufficientPrivilege"
    assert f["plant_key"] == "InsufficientPrivilege"
    assert f["replace_function"] == "InsufficientPrivilege"
    assert f["disable_rls"] == "InsufficientPrivilege"
    assert f["drop_policy"] == "InsufficientPrivilege"
    assert f["set_role_owner"] == "InsufficientPrivilege"


def test_a_seal_replayed_on_another_connection_is_refused(seen: Any) -> None:
    f = seen["forge"]
    assert f["pids_differ"] is True
    assert f["replayed_rows"] == []
    assert f["replayed_writes"] == NOTHING
    # The same connection with a seal made for it: the refusal was the pid's.
    assert f["minted_org"] == "o-1"
    assert f["minted_rows"] == [["o-1", 10], ["o-1", 20]]


def test_an_expired_seal_is_refused_and_a_transaction_begun_in_time_runs_to_its_end(
        seen: Any) -> None:
    e = seen["expiry"]
    assert e["transaction_begun_in_time_rows"] == [["o-1", 10], ["o-1", 20]]
    assert e["expired_rows"] == []
    assert e["expired_writes"] == NOTHING


def test_extension_cannot_mint_a_seal_for_another_org_nor_register_a_key(seen: Any) -> None:
    m = seen["mint"]
    assert m["mint_org"] == "o-1"                     # its own request's, no argument
    assert m["mint_ttl_too_long"][0] == "ValueError"
    assert m["register"] == ["PolicyViolation", "introspection"]
    assert m["forged_request"][0] == "PermissionError"
    assert m["open_request"] == ["PolicyViolation", "introspection"]
    assert seen["no_request"][0] == "PermissionError"
    # A context captured in a request is refused once that request has ended.
    assert seen["context_after_its_request"][0] == "PermissionError"


def test_not_guaranteed_a_seal_replayed_on_its_own_connection_within_its_ttl(
        seen: Any) -> None:
    """Documented limit: a seal taken from a connection works on that connection
    again, after its request ended, until it expires."""
    assert seen["expiry"]["within_ttl_rows"] == [["o-1", 10], ["o-1", 20]]


def test_not_guaranteed_code_holding_a_live_requests_context_acts_in_that_request(
        seen: Any) -> None:
    """Documented limit: a Context captured inside request o-1 still yields o-1's seal
    while o-1 is live, even when run inside request o-2."""
    assert seen["context_inside_other_request"] == ["returned", "o-1"]


def test_not_guaranteed_a_connection_kept_past_its_session_sees_the_next_requests_org(
        seen: Any) -> None:
    """Documented limit: the database trusts the transaction, not the caller; code that
    kept a pooled connection and uses it during another request's transaction acts
    in that transaction's org."""
    assert seen["same_connection"] is True
    assert seen["snatched_rows"] == [["o-2", 30], ["o-2", 40]]


def test_a_session_role_that_can_read_the_seal_keys_is_refused(
        pg_cluster: postgres.Cluster) -> None:
    from test_data import Models
    db = postgres.new_database(pg_cluster)
    with pg_cluster.admin() as conn:  # type: ignore[attr-defined]
        conn.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                     "'sg_member') THEN CREATE ROLE sg_member LOGIN IN ROLE sg_owner; "
                     "END IF; END $$")
    store = Storage(pg_cluster.url("sg_member", db), admin_url=pg_cluster.url("sg_owner", db))
    Models(store)
    with pytest.raises(sg.GuardError, match="seal_keys"):
        store.create_all()
    store.dispose()


def test_a_session_role_that_can_write_the_seal_keys_is_refused(
        pg_cluster: postgres.Cluster) -> None:
    """Planting a key of its own would let a role seal any org: write access to the key
    table is refused like read access."""
    from test_data import Models
    db = postgres.new_database(pg_cluster)
    store = Storage(pg_cluster.url("sg_app", db), admin_url=pg_cluster.url("sg_owner", db))
    Models(store)
    store.create_all()                      # the first start installs the key table
    store.dispose()
    with pg_cluster.admin(db) as conn:  # type: ignore[attr-defined]
        conn.execute("GRANT INSERT ON sdk_guard.seal_keys TO sg_app")
    again = Storage(pg_cluster.url("sg_app", db), admin_url=pg_cluster.url("sg_owner", db))
    Models(again)
    with pytest.raises(sg.GuardError, match="seal_keys"):
        again.create_all()
    again.dispose()


@pytest.mark.parametrize("check", ["native", "plpgsql"])
def test_a_deleted_seal_key_is_refused_from_the_next_transaction(
        pg_cluster: postgres.Cluster, check: str) -> None:
    """Revoking a key: once the owner deletes its row from sdk_guard.seal_keys, the
    seals made with it match no row from the next transaction on, with either check
    (the C check's reused verdicts end with any change to the keys)."""
    from sqlalchemy import select
    from test_data import Models, _seed
    if check == "native":
        postgres.require_seal_extension(pg_cluster)
    db = postgres.new_database(pg_cluster)
    store = Storage(pg_cluster.url("sg_app", db), admin_url=pg_cluster.url("sg_owner", db),
                    seal_check=check)
    m = Models(store)
    store.create_all()
    assert store.seal_check == check
    _seed(m)

    def amounts() -> list[int]:
        with sg.request(user="u-1", org="o-1"), store.session("acme") as s:
            return sorted(i.amount for i in s.scalars(select(m.Invoice)))

    assert amounts() == [10, 20]
    with pg_cluster.admin(db) as conn:  # type: ignore[attr-defined]
        assert conn.execute("DELETE FROM sdk_guard.seal_keys").rowcount == 1
    assert amounts() == []              # same pooled connection, next transaction
    store.dispose()


def _seeded_store(cluster: postgres.Cluster, **kw: Any) -> tuple[Storage, Any, str]:
    """A Storage on a fresh database with test_data's models and seed rows: the
    storage, the models and the database's name."""
    from test_data import Models, _seed
    db = postgres.new_database(cluster)
    store = Storage(cluster.url("sg_app", db), admin_url=cluster.url("sg_owner", db), **kw)
    m = Models(store)
    store.create_all()
    _seed(m)
    return store, m, db


def _native_store(cluster: postgres.Cluster) -> tuple[Storage, str]:
    postgres.require_seal_extension(cluster)
    store, _m, db = _seeded_store(cluster, seal_check="native")
    return store, db


def _one_seal_transactions(cluster: postgres.Cluster, store: Storage,
                           db: str) -> tuple[Any, Any]:
    """A raw connection as the session role and a function that runs one transaction
    with the same seal bytes every time, returning how many of o-1's invoices it sees.
    Clients make a fresh seal per transaction; bytes that repeat (within a second)
    are what lets the C check reuse its verdict."""
    import psycopg

    from sdk_guard import _guard
    conn = psycopg.connect(host=cluster.socket_dir, port=cluster.port, user="sg_app",
                           dbname=db)
    with sg.request(user="u-1", org="o-1"):
        seal = _guard.seal(store._seal_label, conn.info.backend_pid, 300)

    def visible() -> int:
        with conn.transaction():
            conn.execute("SELECT set_config('sdk_guard.seal', %s, true)", (seal,))
            row = conn.execute("SELECT count(*) FROM acme__invoices").fetchone()
            assert row is not None
            return int(row[0])
    return conn, visible


def test_a_verdict_kept_across_transactions_ends_with_any_change_to_the_keys(
        pg_cluster: postgres.Cluster) -> None:
    """The C check keeps a verified seal's result for later transactions with the same
    seal bytes, until the key table changes: every kind of change, by the owner or a
    superuser in replica mode (the trigger is ENABLE ALWAYS), refuses the same bytes
    from the next transaction; putting the key back accepts them again."""
    store, db = _native_store(pg_cluster)
    conn, visible = _one_seal_transactions(pg_cluster, store, db)
    assert visible() == 2 and visible() == 2
    owner = pg_cluster.admin(db)
    key = owner.execute("SELECT key_id, ipad, opad FROM sdk_guard.seal_keys").fetchone()

    def put_back(c: Any) -> None:
        c.execute("INSERT INTO sdk_guard.seal_keys (key_id, ipad, opad) "
                  "VALUES (%s, %s, %s)", key)

    changes = {
        "delete": lambda c: c.execute("DELETE FROM sdk_guard.seal_keys"),
        "truncate": lambda c: c.execute("TRUNCATE sdk_guard.seal_keys"),
        "replica_delete": lambda c: (c.execute("SET session_replication_role = replica"),
                                     c.execute("DELETE FROM sdk_guard.seal_keys"),
                                     c.execute("RESET session_replication_role")),
    }
    for name, change in changes.items():
        change(owner)
        assert visible() == 0, name
        assert visible() == 0, name
        put_back(owner)
        assert visible() == 2, name
        assert visible() == 2, name
    # Another key's pads under the same id: the MAC no longer matches.
    owner.execute("UPDATE sdk_guard.seal_keys SET ipad = opad, opad = ipad")
    assert visible() == 0
    owner.execute("UPDATE sdk_guard.seal_keys SET ipad = opad, opad = ipad")
    assert visible() == 2
    # A transaction whose snapshot predates a deletion takes in the invalidation
    # before it first checks the seal; what it decides then must not outlive it.
    import psycopg
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    with conn.transaction():
        conn.execute("SELECT 1")                      # the snapshot: the key is there
        owner.execute("DELETE FROM sdk_guard.seal_keys")
        conn.execute("SELECT count(*) FROM acme__notes")  # takes in the invalidation
        assert visible() in (0, 2)                    # (a nested transaction)
    conn.isolation_level = None
    assert visible() == 0
    put_back(owner)
    assert visible() == 2
    owner.close()
    conn.close()
    store.dispose()


def test_without_the_keys_trigger_the_c_check_verifies_every_transaction(
        pg_cluster: postgres.Cluster) -> None:
    """Where the trigger is missing or only ENABLE (not ALWAYS), nothing tells the C
    check that a key changed; it then never reuses a verdict across transactions, so a
    key deleted without any invalidation still counts from the next transaction."""
    store, db = _native_store(pg_cluster)
    conn, visible = _one_seal_transactions(pg_cluster, store, db)
    owner = pg_cluster.admin(db)
    assert owner.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = "
                         "'seal_keys_changed'").fetchone() == ("A",)
    key = owner.execute("SELECT key_id, ipad, opad FROM sdk_guard.seal_keys").fetchone()
    for how in ("ENABLE", "DISABLE", "DROP"):
        if how == "DROP":
            owner.execute("DROP TRIGGER seal_keys_changed ON sdk_guard.seal_keys")
        else:
            owner.execute(f"ALTER TABLE sdk_guard.seal_keys {how} TRIGGER seal_keys_changed")
        assert visible() == 2 and visible() == 2, how
        # A change whose invalidation never arrives: superuser, replica mode, with the
        # trigger ENABLE (origin only), disabled or gone.
        owner.execute("SET session_replication_role = replica")
        owner.execute("DELETE FROM sdk_guard.seal_keys")
        owner.execute("RESET session_replication_role")
        assert visible() == 0, how
        owner.execute("SET session_replication_role = replica")
        owner.execute("INSERT INTO sdk_guard.seal_keys (key_id, ipad, opad) "
                      "VALUES (%s, %s, %s)", key)
        owner.execute("RESET session_replication_role")
        assert visible() == 2, how
    owner.close()
    conn.close()
    store.dispose()


def test_an_older_seal_extension_is_updated_and_its_trigger_installed_at_startup(
        pg_cluster: postgres.Cluster) -> None:
    """A database with sdk_guard_seal 1.0 (no keys trigger) gets ALTER EXTENSION UPDATE
    and the trigger from create_all(), and its sessions use the C check."""
    from test_data import Models, _seed
    postgres.require_seal_extension(pg_cluster)
    db = postgres.new_database(pg_cluster)
    with pg_cluster.admin(db) as admin:  # type: ignore[attr-defined]
        admin.execute("SET ROLE sg_owner")
        admin.execute("CREATE SCHEMA sdk_guard")
        admin.execute("CREATE EXTENSION sdk_guard_seal VERSION '1.0' SCHEMA sdk_guard")
    store = Storage(pg_cluster.url("sg_app", db), admin_url=pg_cluster.url("sg_owner", db),
                    seal_check="native")
    m = Models(store)
    store.create_all()
    _seed(m)
    with pg_cluster.admin(db) as admin:  # type: ignore[attr-defined]
        assert admin.execute("SELECT extversion FROM pg_extension WHERE extname = "
                             "'sdk_guard_seal'").fetchone() == ("1.1",)
        assert admin.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = "
                             "'seal_keys_changed'").fetchone() == ("A",)
    from sqlalchemy import select
    with sg.request(user="u-1", org="o-1"), store.session("acme") as s:
        assert sorted(i.amount for i in s.scalars(select(m.Invoice))) == [10, 20]
    store.dispose()


def test_the_c_check_runs_once_per_statement_the_scoped_api_sends(
        pg_cluster: postgres.Cluster) -> None:
    """The native policies call seal_org_native() directly.  The scoped API's statements
    carry their own org_id = $n, so the planner checks the seal once per statement
    for the rows it reads, however many it scans; WITH CHECK runs once per row an
    INSERT or UPDATE writes, and a raw statement without that criterion checks each
    row it reads (counted by the server, track_functions = 'all').  Each check after
    the transaction's first compares the setting's bytes only."""
    from sqlalchemy import select, update
    store, db = _native_store(pg_cluster)
    with pg_cluster.admin() as admin:  # type: ignore[attr-defined]
        admin.execute(f"ALTER DATABASE {db} SET track_functions = 'all'")
    store.dispose()
    m = type("M", (), {c.__name__: c for c in store.models("acme")})

    def calls(s: Any) -> int:
        row = s.connection().exec_driver_sql(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions "
            "WHERE funcname = 'seal_org_native'").one()
        return int(row[0])

    with sg.request(user="u-1", org="o-1"), store.session("acme") as s:
        s.add_all([m.Invoice(amount=100 + i) for i in range(20)])  # type: ignore[attr-defined]
        s.flush()
        assert calls(s) == 20                     # WITH CHECK, one per row written
        before = calls(s)
        assert len(s.scalars(select(m.Invoice)).all()) == 22  # type: ignore[attr-defined]
        assert calls(s) - before == 1             # 24 rows in the table, one check
        before = calls(s)
        s.execute(update(m.Invoice).where(m.Invoice.amount > 100)  # type: ignore[attr-defined]
                  .values(amount=1))
        assert calls(s) - before == 1 + 19        # USING once, WITH CHECK per row written
        before = calls(s)
        raw = s.connection().exec_driver_sql("SELECT count(*) FROM acme__invoices").scalar()
        assert raw == 22
        assert calls(s) - before >= 24            # no org criterion: per row read
        s.rollback()
    store.dispose()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_each_transactions_seal_goes_out_in_the_message_that_begins_it(
        pg_cluster: postgres.Cluster, mode: str) -> None:
    """No extra round trip for the scope: the server's statement log shows each scoped
    transaction opened by one simple query, BEGIN then SET LOCAL of the seal, and no
    separate set_config() call, for sync and async (psycopg 3) sessions alike."""
    import asyncio
    import re

    from sqlalchemy import select
    store, m, db = _seeded_store(pg_cluster)
    with pg_cluster.admin() as conn:  # type: ignore[attr-defined]
        conn.execute(f"ALTER DATABASE {db} SET log_statement = 'all'")
    store.dispose()                     # new connections, which log every statement
    log = Path(pg_cluster.socket_dir) / "log"
    start = log.stat().st_size
    if mode == "sync":
        with sg.request(user="u-1", org="o-1"):
            for _ in range(3):
                with store.session("acme") as s:
                    assert sorted(i.amount for i in s.scalars(select(m.Invoice))) == [10, 20]
        store.dispose()
    else:
        async def run() -> None:
            with sg.request(user="u-1", org="o-1"):
                for _ in range(3):
                    async with store.async_session("acme") as s:
                        rows = (await s.scalars(select(m.Invoice))).all()
                        assert sorted(i.amount for i in rows) == [10, 20]
            await store.dispose_async()
        asyncio.run(run())
    text = log.read_bytes()[start:].decode("utf-8", "replace")
    begins = re.findall(r"statement: BEGIN; SET LOCAL sdk_guard\.seal = 'v1/[^']*'", text)
    assert len(begins) == 3, [ln for ln in text.splitlines() if "SET LOCAL" in ln]
    assert "set_config" not in text
    # Every statement on the extension's table ran in a transaction that message began
    # (the plain BEGINs in the log are SQLAlchemy's and the pid check's, at connect).
    opened, reads = None, 0
    for entry in re.split(r"\n(?=\S+ \S+ UTC \[\d+\] )", text):
        body = entry.partition("LOG:  ")[2]
        if body.startswith("statement: BEGIN"):
            opened = body
        elif "acme__invoices" in body:
            reads += 1
            assert opened is not None and opened.startswith(
                "statement: BEGIN; SET LOCAL sdk_guard.seal"), entry
    assert reads == 3


def test_a_task_cancelled_while_its_scope_is_sent_leaves_the_pooled_connection_usable(
        pg_cluster: postgres.Cluster) -> None:
    """An async session's BEGIN + seal message is awaited like psycopg's own queries:
    cancelling the task while the server has not answered cancels the statement and
    reads what is left, so the next request on that pooled connection works (and sees
    its own org's rows) instead of failing with "another command is already in
    progress".  The server process is stopped (SIGSTOP) so that the cancellation
    lands exactly while that message is in flight."""
    import asyncio
    import os
    import signal

    from sqlalchemy import select
    pytest.importorskip("greenlet", reason="async sessions need greenlet")
    store, m, _db = _seeded_store(pg_cluster)

    async def rows(org: str) -> list[tuple[str, int]]:
        with sg.request(user=f"u-{org}", org=org):
            async with store.async_session("acme") as s:
                got = (await s.scalars(select(m.Invoice))).all()
                return sorted((i.org_id, i.amount) for i in got)

    async def main() -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        with sg.request(user="u-1", org="o-1"):
            async with store.async_session("acme") as s:
                conn = await s.connection()
                raw = await conn.get_raw_connection()
                pid = raw.driver_connection.info.backend_pid
        loop = asyncio.get_running_loop()
        os.kill(pid, signal.SIGSTOP)
        loop.call_later(0.5, os.kill, pid, signal.SIGCONT)
        try:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(rows("o-1"), timeout=0.1)
        finally:
            os.kill(pid, signal.SIGCONT)
        after = await rows("o-2"), await rows("o-1")
        await store.dispose_async()
        return after

    assert asyncio.run(main()) == ([("o-2", 30), ("o-2", 40)], [("o-1", 10), ("o-1", 20)])
    store.dispose()


@pytest.mark.parametrize("bad", ["v1/o'; DROP TABLE acme__invoices; --",
                                 "v1/o\\'; DROP TABLE acme__invoices; --"])
def test_a_seal_with_a_quote_or_backslash_is_sent_as_one_quoted_literal(
        pg_cluster: postgres.Cluster, monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    """A seal's alphabet has no quote or backslash (checked in C), so the one-message
    BEGIN + SET LOCAL path quotes it plainly; should one ever carry either, libpq
    escapes it: the statement runs, sees no row (the seal does not verify) and the
    text after the quote is never SQL."""
    from sqlalchemy import select

    from sdk_guard import _guard
    store, m, _db = _seeded_store(pg_cluster)
    monkeypatch.setattr(_guard, "seal", lambda *a: bad)
    with sg.request(user="u-1", org="o-1"), store.session("acme") as s:
        assert s.scalars(select(m.Invoice)).all() == []
        seal = s.connection().exec_driver_sql(
            "SELECT current_setting('sdk_guard.seal')").scalar()
        assert seal == bad
    monkeypatch.undo()
    with sg.request(user="u-1", org="o-1"), store.session("acme") as s:
        assert sorted(i.amount for i in s.scalars(select(m.Invoice))) == [10, 20]
    store.dispose()


def test_the_key_pads_are_not_in_the_servers_statement_log(pg_cluster: postgres.Cluster) -> None:
    """With every statement logged (log_statement = 'all', parameters included), the
    registration leaves no 64-byte pad in the server log: it is sent as COPY data."""
    import re

    from test_data import Models
    db = postgres.new_database(pg_cluster)
    with pg_cluster.admin() as conn:  # type: ignore[attr-defined]
        conn.execute(f"ALTER DATABASE {db} SET log_statement = 'all'")
    log = Path(pg_cluster.socket_dir) / "log"
    start = log.stat().st_size
    store = Storage(pg_cluster.url("sg_app", db), admin_url=pg_cluster.url("sg_owner", db),
                    engine_options={"echo": True})
    Models(store)
    store.create_all()
    store.dispose()
    text = log.read_bytes()[start:].decode("utf-8", "replace")
    assert "sdk_guard.seal_keys" in text                  # the registration was logged
    assert re.search(r"\\x[0-9a-f]{128}", text) is None   # ... but no pad


def test_a_connection_whose_libpq_pid_is_not_the_servers_is_refused_when_it_opens(
        pg_cluster: postgres.Cluster) -> None:
    """Behind a transaction-mode pooler libpq reports the pooler's pid: every seal would
    be refused and every query would quietly return nothing.  The connection is refused
    instead (simulated: a psycopg connection that reports another pid)."""
    import psycopg

    class _Info:
        def __init__(self, info: Any) -> None:
            self._info = info
            self.backend_pid = info.backend_pid + 1

        def __getattr__(self, name: str) -> Any:
            return getattr(self._info, name)

    class PooledConnection(psycopg.Connection):  # type: ignore[type-arg]
        @property
        def info(self) -> Any:
            return _Info(super().info)

    db = postgres.new_database(pg_cluster)
    url = pg_cluster.url("postgres", db)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    store = Storage(url, engine_options={"creator": lambda: PooledConnection.connect(dsn)})
    with pytest.raises(sg.GuardError, match="transaction-mode pooler"):
        with store.engine_for("acme").connect():
            pass
    store.dispose()
    plain = Storage(url)
    with plain.engine_for("acme").connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    plain.dispose()


def test_seal_ttl_out_of_range_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="seal_ttl"):
        Storage("sqlite://", seal_ttl=0)
    with pytest.raises(ValueError, match="seal_ttl"):
        Storage("sqlite://", seal_ttl=sg._guard.SEAL_TTL_MAX + 1)


def test_an_unknown_seal_check_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="seal_check='c'.*'auto', 'native', 'plpgsql'"):
        Storage("sqlite://", seal_check="c")


def test_a_postgresql_driver_without_libpq_is_a_clear_error() -> None:
    from sdk_guard.errors import GuardError
    with pytest.raises(GuardError, match=r"url uses the 'pg8000' driver; use psycopg 3"):
        Storage("postgresql+pg8000://app@/db")
    with pytest.raises(GuardError, match=r"admin_url uses the 'asyncpg' driver"):
        Storage("postgresql+psycopg://app@/db", admin_url="postgresql+asyncpg://own@/db")
