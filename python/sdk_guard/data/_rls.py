"""PostgreSQL row-level security keyed on a seal the database verifies (docs/data.md).

The scoped tables' policies compare ``org_id`` (and ``user_id``) with
``sdk_guard.current_org()`` / ``sdk_guard.current_user_id()``.  Those return what the
transaction's ``sdk_guard.seal`` setting says only if the seal verifies:

    v1/<key id>/<org>/<user>/<backend pid>/<expiry>/<hex HMAC-SHA256 of the rest>

- the key id names a key the owner registered (``sdk_guard.seal_keys``, which only the
  owner can read; ``seal_scope()`` reads it as SECURITY DEFINER);
- the MAC matches, computed with PostgreSQL's built-in ``sha256()`` from the stored
  HMAC pads (no extension needed, so it works wherever ``CREATE FUNCTION`` does);
- the backend pid is this connection's (a seal is useless on any other connection);
- the expiry is after the transaction's start (``now()``), so a transaction that
  began in time runs to its end, and a seal is refused once it has expired.

Otherwise they return NULL and the policies match no row.  The seal itself is made in
C by ``sdk_guard._guard.seal()`` from the live request context; Python never holds the
process key (each database's derived key passes through once, to ``install``).
Each policy expression calls ``seal_scope()`` in one uncorrelated subquery, so
PostgreSQL verifies the seal once per expression and statement, not once per row, and
once for org and user together.

Where the server has the ``sdk_guard_seal`` extension (``pg/``, C), the policies
compare with its ``seal_org_native()``/``seal_user_native()`` instead: the same check,
a C call that compares bytes once the seal is verified, and a verification that holds
across transactions until the key table changes (its trigger ``seal_keys_changed``,
installed here; docs/data.md).  ``SEAL_CHECKS`` names the choices
``Storage(seal_check=...)`` takes.
"""
from __future__ import annotations

import io
import time
from typing import Any, Final

from .. import _guard
from ..errors import GuardError

SCHEMA: Final = "sdk_guard"
GUC_SEAL: Final = "sdk_guard.seal"
SET_SEAL_SQL: Final = f"SELECT set_config('{GUC_SEAL}', %s, true)"
DEFAULT_TTL: Final = 60
EXTENSION: Final = "sdk_guard_seal"
# auto: the C extension where the server has it, else plpgsql (Storage.seal_check says
# which); native: the extension or a GuardError; plpgsql: never the extension.
SEAL_CHECKS: Final = ("auto", "native", "plpgsql")
# The extension's functions the session role calls (sdk_guard_seal 1.1).
NATIVE_FUNCTIONS: Final = ("seal_scope_native", "seal_org_native", "seal_user_native")
# Any constant: serialises concurrent create_all() calls of several processes, which
# would otherwise race on CREATE OR REPLACE FUNCTION ("tuple concurrently updated").
_INSTALL_LOCK: Final = 0x5D6_5EA1

_INSTALL_SQL: Final = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.seal_keys (
        key_id text PRIMARY KEY,
        ipad bytea NOT NULL CHECK (length(ipad) = 64),
        opad bytea NOT NULL CHECK (length(opad) = 64),
        registered_at timestamptz NOT NULL DEFAULT now())""",
    f"REVOKE ALL ON {SCHEMA}.seal_keys FROM PUBLIC",
    f"""CREATE OR REPLACE FUNCTION {SCHEMA}.seal_scope() RETURNS text[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $fn$
    DECLARE
        seal text := current_setting('{GUC_SEAL}', true);
        part text[];
        k_ipad bytea;
        k_opad bytea;
    BEGIN
        IF seal IS NULL OR length(seal) > 600 THEN
            RETURN NULL;
        END IF;
        part := string_to_array(seal, '/');
        -- No regular expressions here: they were half of the cost.  The pid must be
        -- the decimal text of pg_backend_pid() and the MAC must equal the lowercase hex
        -- of the one computed below, which says all the old patterns said; the expiry
        -- is 1-18 digits, no leading zero, before it is cast.
        IF cardinality(part) <> 7 OR part[1] <> 'v1' OR part[3] = ''
           OR part[5] <> pg_backend_pid()::text OR length(part[7]) <> 64
           OR length(part[6]) NOT BETWEEN 1 AND 18 OR left(part[6], 1) = '0'
           OR ltrim(part[6], '0123456789') <> '' THEN
            RETURN NULL;
        END IF;
        IF part[6]::bigint <= extract(epoch FROM now()) THEN
            RETURN NULL;
        END IF;
        SELECT ipad, opad INTO k_ipad, k_opad FROM {SCHEMA}.seal_keys
         WHERE key_id = part[2];
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        IF encode(sha256(k_opad || sha256(k_ipad || convert_to(
               left(seal, length(seal) - 65), 'UTF8'))), 'hex') <> part[7] THEN
            RETURN NULL;
        END IF;
        RETURN ARRAY[part[3], nullif(part[4], '')];
    END
    $fn$""",
    f"""CREATE OR REPLACE FUNCTION {SCHEMA}.current_org() RETURNS text
    LANGUAGE sql STABLE AS $fn$ SELECT ({SCHEMA}.seal_scope())[1] $fn$""",
    f"""CREATE OR REPLACE FUNCTION {SCHEMA}.current_user_id() RETURNS text
    LANGUAGE sql STABLE AS $fn$ SELECT ({SCHEMA}.seal_scope())[2] $fn$""",
    f"REVOKE ALL ON FUNCTION {SCHEMA}.seal_scope() FROM PUBLIC",
)


def policy_condition(org_column: str, user_column: str | None, native: bool = False) -> str:
    """The USING/WITH CHECK expression of a scoped table's policy.

    plpgsql: one uncorrelated subquery per expression, so PostgreSQL runs it once per
    statement as an InitPlan and ``seal_scope()`` verifies the seal once for org and
    user together (calling ``current_org()`` and ``current_user_id()`` would verify
    it twice).

    NATIVE (the C extension): a direct comparison with ``seal_org_native()`` (and
    ``seal_user_native()``).  An InitPlan's set-up costs the server more than a C
    call that compares bytes: the statements the scoped API sends always carry the
    same ``org_id = $n`` criterion, so the planner folds the two equalities into
    ``org_id = $n`` for the scan plus a one-time ``seal_org_native() = $n`` filter,
    evaluated once per statement.  WITH CHECK calls it once per row an INSERT or
    UPDATE writes, and a statement without that criterion (raw SQL) once per row it
    reads: a few hundred instructions each once the transaction's seal is verified
    (docs/data.md, "Cost")."""
    if native:
        cond = f"{org_column} = {SCHEMA}.seal_org_native()"
        if user_column is not None:
            cond += f" AND {user_column} = {SCHEMA}.seal_user_native()"
        return cond
    scope = f"{SCHEMA}.seal_scope() AS s"
    if user_column is None:
        return f"{org_column} = (SELECT s[1] FROM {scope})"
    return f"({org_column}, {user_column}) = (SELECT s[1], s[2] FROM {scope})"


def install(conn: Any, role: str, label: str, ttl: int) -> None:
    """Creates the seal schema, key table and functions, and registers this process's
    key for database LABEL.  CONN is an owner connection inside a transaction (a
    SQLAlchemy Connection); ROLE is the session role (already quoted)."""
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_INSTALL_LOCK})")
    for stmt in _INSTALL_SQL:
        conn.exec_driver_sql(stmt)
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {role}")
    conn.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION {SCHEMA}.seal_scope() TO {role}")
    owner = conn.exec_driver_sql(
        "SELECT pg_get_userbyid(nspowner) = current_user FROM pg_namespace "
        f"WHERE nspname = '{SCHEMA}'").scalar()
    if not owner:
        raise GuardError(f"PostgreSQL storage: schema {SCHEMA} belongs to another role "
                         f"than the owner url's; its owner could replace the key table. "
                         f"Drop it, or connect admin_url as its owner")
    key_id, ipad, opad = _guard.seal_register(label)
    if ipad is not None and opad is not None:
        # COPY, not INSERT: a COPY's rows are not in statement logs (log_statement =
        # 'mod' prints an INSERT's parameters), and the pads are as good as the key.
        raw = conn.connection.dbapi_connection
        sql = f"COPY {SCHEMA}.seal_keys (key_id, ipad, opad) FROM STDIN"
        with raw.cursor() as cur:
            if hasattr(cur, "copy"):                    # psycopg 3
                with cur.copy(sql) as cp:
                    cp.write_row((key_id, ipad, opad))
            else:                                       # psycopg2: COPY's text format
                if not key_id.isalnum() or not key_id.isascii():
                    raise GuardError(f"PostgreSQL storage: unexpected key id {key_id!r}")
                row = f"{key_id}\t\\\\x{ipad.hex()}\t\\\\x{opad.hex()}\n"
                cur.copy_expert(sql, io.StringIO(row))
    known = conn.exec_driver_sql(f"SELECT count(*) FROM {SCHEMA}.seal_keys "
                                 "WHERE key_id = %(k)s", {"k": key_id}).scalar()
    if not known:
        raise GuardError(f"PostgreSQL storage: this process's seal key {key_id} for "
                         f"{label} was handed out earlier but is not in "
                         f"{SCHEMA}.seal_keys (that create_all() failed); restart the "
                         "process to make a new key")
    # The database checks the expiry against its own clock: a skew close to the ttl
    # would refuse every seal (no rows, no error), so it is refused here instead.
    server = conn.exec_driver_sql("SELECT extract(epoch FROM clock_timestamp())").scalar()
    skew = float(server) - time.time()
    if abs(skew) > ttl / 2:
        raise GuardError(f"PostgreSQL storage: the database clock is {skew:+.0f} s off "
                         f"this host's, more than half the seal ttl ({ttl} s); sync the "
                         "clocks (NTP) or pass a larger seal_ttl")


def install_native(conn: Any, role: str, mode: str) -> bool:
    """Makes the C seal check available to ROLE if MODE allows and the server has the
    extension; True when the policies should call it.  CONN is an owner connection in
    a transaction.  MODE "native" raises a GuardError naming what to install instead
    of falling back."""
    if mode == "plpgsql":
        return False
    row = conn.exec_driver_sql(
        "SELECT default_version, installed_version FROM pg_available_extensions "
        "WHERE name = %(n)s", {"n": EXTENSION}).first()
    why = None
    if row is None:
        why = (f"the server has no {EXTENSION} extension (build and install it on the "
               "database server: make -C pg install, see docs/data.md)")
    elif row[1] != row[0]:
        # Not installed in this database, or an older version (1.0 has no
        # seal_keys_changed): create or update it as the owner.
        what, sql = ((f"CREATE EXTENSION {EXTENSION}",
                      f"CREATE EXTENSION IF NOT EXISTS {EXTENSION} SCHEMA {SCHEMA}")
                     if row[1] is None else
                     (f"ALTER EXTENSION {EXTENSION} UPDATE (from {row[1]} to {row[0]})",
                      f"ALTER EXTENSION {EXTENSION} UPDATE"))
        nested = conn.begin_nested()
        try:
            conn.exec_driver_sql(sql)
        except Exception as exc:  # noqa: BLE001 - reported below, or raised in native mode
            nested.rollback()
            why = (f"{what} failed as the owner role: "
                   f"{str(getattr(exc, 'orig', exc)).strip()}")
        else:
            nested.commit()
    if why is None:
        for fn in NATIVE_FUNCTIONS:
            owner = conn.exec_driver_sql(
                "SELECT pg_get_userbyid(p.proowner) = current_user AND n.nspname = "
                f"'{SCHEMA}' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE p.oid = to_regprocedure(%(f)s)", {"f": f"{SCHEMA}.{fn}()"}).scalar()
            if not owner:
                why = (f"{SCHEMA}.{fn}() is missing or belongs to another role than the "
                       f"owner url's (CREATE EXTENSION {EXTENSION} as that role)")
                break
    if why is not None:
        if mode == "native":
            raise GuardError(f"PostgreSQL storage: seal_check='native' but {why}; or "
                             "pass seal_check='auto' to fall back to the plpgsql check")
        return False
    for fn in NATIVE_FUNCTIONS:
        conn.exec_driver_sql(f"REVOKE ALL ON FUNCTION {SCHEMA}.{fn}() FROM PUBLIC")
        conn.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION {SCHEMA}.{fn}() TO {role}")
    _install_keys_trigger(conn)
    return True


# The trigger that tells every backend's C check that the keys changed, so it can keep
# a verified seal's result across transactions (pg/sdk_guard_seal.c).  ENABLE ALWAYS:
# it fires under session_replication_role = replica too.  Without it the C check
# verifies each transaction's seal afresh, which is correct, only slower.
_KEYS_TRIGGER: Final = "seal_keys_changed"
# Its pg_trigger.tgtype: AFTER ... FOR EACH STATEMENT on INSERT, DELETE, UPDATE and
# TRUNCATE (catalog/pg_trigger.h: 1<<2 | 1<<3 | 1<<4 | 1<<5).
_TRIGGER_TYPE: Final = 4 | 8 | 16 | 32


def _install_keys_trigger(conn: Any) -> None:
    present = conn.exec_driver_sql(
        "SELECT t.tgenabled = 'A' AND t.tgtype = %(type)s AND t.tgqual IS NULL "
        "AND t.tgfoid = to_regprocedure(%(f)s) FROM pg_trigger t "
        "WHERE t.tgrelid = to_regclass(%(t)s) AND t.tgname = %(n)s",
        {"type": _TRIGGER_TYPE, "f": f"{SCHEMA}.seal_keys_changed()",
         "t": f"{SCHEMA}.seal_keys", "n": _KEYS_TRIGGER}).scalar()
    if present:
        return
    t = f"{SCHEMA}.seal_keys"
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_KEYS_TRIGGER} ON {t}")
    conn.exec_driver_sql(f"CREATE TRIGGER {_KEYS_TRIGGER} AFTER INSERT OR UPDATE OR DELETE "
                         f"OR TRUNCATE ON {t} FOR EACH STATEMENT EXECUTE FUNCTION "
                         f"{SCHEMA}.seal_keys_changed()")
    conn.exec_driver_sql(f"ALTER TABLE {t} ENABLE ALWAYS TRIGGER {_KEYS_TRIGGER}")


def check_role(conn: Any) -> str | None:
    """Why the session role could read the keys (a problem), or None."""
    row = conn.exec_driver_sql(
        f"SELECT has_table_privilege(current_user, '{SCHEMA}.seal_keys', "
        "'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER'), "
        "pg_has_role(current_user, c.relowner, 'MEMBER'), "
        "pg_has_role(current_user, n.nspowner, 'MEMBER'), "
        f"has_schema_privilege(current_user, '{SCHEMA}', 'CREATE') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE c.oid = '{SCHEMA}.seal_keys'::regclass").one()
    if any(row):
        return (f"can read or write {SCHEMA}.seal_keys, act as its owner or its schema's, "
                f"or create objects in schema {SCHEMA}, so it could make or plant seals "
                "for any org")
    return None
