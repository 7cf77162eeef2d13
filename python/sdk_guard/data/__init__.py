"""Scoped models: storage for extensions where the tenant filter cannot be forgotten.

The host builds one :class:`Storage` and hands each extension its declarative base::

    store = Storage("sqlite:///var/lib/app/ext.db")          # or postgresql+psycopg://...
    Base = store.base("acme")                                  # extension "acme"

    class Invoice(Base):                                       # extension code
        __tablename__ = "invoices"                             # stored as acme__invoices
        id: Mapped[int] = mapped_column(primary_key=True)
        org_id: Mapped[str] = mapped_column(String(128))       # required: scoped by org
        amount: Mapped[int]

    store.create_all()                                         # host, at startup
    with sg.request(user="u-1", org="o-1"):
        with store.session("acme") as s:                       # extension code
            s.add(Invoice(amount=5)); s.commit()               # org_id stamped "o-1"
            s.scalars(select(Invoice)).all()                   # only o-1's rows

Every ORM SELECT, UPDATE and DELETE the session runs gets the request's org (and, for
models with ``__sdk_guard_scope__ = "user"``, its user) as criteria through
``with_loader_criteria``; every insert is stamped; a session outside a request context
refuses to run anything.  Writes run inside a ``storage_mutation`` span.

The database enforces the same rule a second time where it can: on PostgreSQL through
row-level security keyed on a seal of the request's org (``SET LOCAL sdk_guard.seal``
at the start of each transaction; the seal is signed in C with a key
only C holds, each database's derived key passing through Python once at
``create_all()``, and is verified by the database, see ``_rls``), ``FORCE ROW LEVEL
SECURITY`` and a role that owns nothing; on SQLite through an authorizer that refuses
ATTACH, PRAGMA writes, schema changes and other extensions' tables.  docs/data.md
lists what each backend guarantees.
"""
from __future__ import annotations

import importlib
import inspect
import re
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Final

try:
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy.orm import DeclarativeBase, Session, with_loader_criteria
except ImportError as exc:          # pragma: no cover - exercised only without the extra
    raise ImportError("sdk_guard.data needs SQLAlchemy 2: pip install 'sdk-guard[data]' "
                      f"({exc})") from None

from sqlalchemy.sql import visitors
from sqlalchemy.sql.selectable import Alias, CompoundSelect, Join, Select

from .. import _guard, audit, context
from ..errors import GuardError, PolicyError, PolicyViolation
from . import _rls

__all__ = ["Storage", "ScopedSession", "ORG_COLUMN", "USER_COLUMN"]

ORG_COLUMN: Final = "org_id"
USER_COLUMN: Final = "user_id"
SCOPES: Final = ("org", "user")
# Extension names and table names become SQL identifiers: a small, safe alphabet, and
# no "__" inside names so "<extension>__<table>" has exactly one reading.
_EXT_NAME: Final = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
_TABLE_NAME: Final = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
_MAX_IDENT: Final = 63          # PostgreSQL's identifier limit
_SET_SCOPE_SQL: Final = _rls.SET_SEAL_SQL
_SET_LOCAL_SEAL: Final = f"; SET LOCAL {_rls.GUC_SEAL} = ".encode()
# libpq drivers: the seal binds to the server pid libpq knows (connection.info).
_PG_DRIVERS: Final = ("psycopg", "psycopg2")


def _deny(ext: str, what: str, reason: str, rule: str) -> PolicyViolation:
    seq = audit.emit("app", "storage", "deny", principal=ext, target=what, rule=rule,
                     extra={"reason": reason})
    return PolicyViolation(f"storage for extension {ext!r}: {what}: {reason}", principal=ext,
                           capability="storage", target=what, rule=rule, event_id=seq)


def _require_own(extension: str, what: str) -> None:
    """Refuse when extension code other than EXTENSION is on the stack: host SDK code
    serving an extension acts for that extension (docs/design.md, attribution), so the
    innermost extension frame is whose storage this is."""
    if not _guard.is_installed():
        return
    f = sys._getframe(2)
    while f is not None:
        owner = _guard.code_owner(f.f_code)
        if owner is not None:
            if owner != extension:
                raise _deny(owner, what, f"extension {owner!r} cannot use extension "
                            f"{extension!r}'s storage", "data.extension")
            return
        f = f.f_back  # type: ignore[assignment]


class ScopedSession(Session):
    """The session an extension gets: bound to one extension and the request's org."""

    sdk_guard_ext: str
    sdk_guard_org: str
    sdk_guard_user: str | None
    sdk_guard_store: Storage

    def flush(self, objects: Any = None) -> None:
        """Flush inside a storage_mutation span (when there is anything to write)."""
        new, deleted = self._new, self._deleted
        modified = self.identity_map.check_modified()
        if not new and not deleted and not modified:
            return super().flush(objects)   # clean (every autoflush of a read)
        if len(new) == 1 and not deleted and not modified:
            name = _table_name(next(iter(new)))     # one add(): the common write
        else:
            tables = _pending_tables(self)
            if not tables:
                return super().flush(objects)
            name = ",".join(tables)
        with audit.span("storage_mutation", "flush " + name, extension=self.sdk_guard_ext):
            return super().flush(objects)

    # Paths that write without the flush or execute hooks: refused.
    def bulk_save_objects(self, *a: Any, **k: Any) -> None:
        raise _deny(self.sdk_guard_ext, "bulk_save_objects", "bypasses the org stamp; use "
                    "add()/add_all()", "data.bulk")

    def bulk_insert_mappings(self, *a: Any, **k: Any) -> None:
        raise _deny(self.sdk_guard_ext, "bulk_insert_mappings", "bypasses the org stamp; "
                    "use add()/add_all()", "data.bulk")

    def bulk_update_mappings(self, *a: Any, **k: Any) -> None:
        raise _deny(self.sdk_guard_ext, "bulk_update_mappings", "bypasses the org filter; "
                    "use update(Model).where(...)", "data.bulk")


class Storage:
    """Scoped storage for extensions on one database (SQLite or PostgreSQL).

    ``url`` is what extension sessions connect with.  On PostgreSQL it must be a role
    that owns none of the tables and is neither superuser nor BYPASSRLS (row-level
    security would not apply to it); ``admin_url`` is the owner that creates tables and
    policies.  On SQLite both default to ``url``.  ``seal_ttl`` (seconds, 1 to
    ``_guard.SEAL_TTL_MAX``) is how long after a PostgreSQL transaction's seal was made
    the database still accepts it for a new transaction.  ``seal_check`` picks how
    PostgreSQL verifies seals: ``"auto"`` uses the C extension ``sdk_guard_seal`` where
    the server has it and plpgsql otherwise, ``"native"`` requires the extension,
    ``"plpgsql"`` never uses it; after ``create_all()`` the ``seal_check`` attribute
    says which one the policies call (``"native"`` or ``"plpgsql"``).
    """

    def __init__(self, url: str, *, admin_url: str | None = None,
                 engine_options: dict[str, Any] | None = None,
                 seal_ttl: int = _rls.DEFAULT_TTL, seal_check: str = "auto") -> None:
        self.url = sa.engine.make_url(url)
        self.backend = self.url.get_backend_name()
        if self.backend not in ("sqlite", "postgresql"):
            raise GuardError(f"sdk_guard.data supports sqlite and postgresql, not "
                             f"{self.backend!r}")
        self._engine_options = dict(engine_options or {})
        self._admin_url = sa.engine.make_url(admin_url) if admin_url else self.url
        if self.backend == "postgresql":
            for which, u in (("url", self.url), ("admin_url", self._admin_url)):
                if u.get_driver_name() not in _PG_DRIVERS:
                    raise GuardError(
                        f"sdk_guard.data on PostgreSQL: {which} uses the "
                        f"{u.get_driver_name()!r} driver; use psycopg 3 "
                        "(postgresql+psycopg://...) or psycopg2 (postgresql+psycopg2://"
                        "...): the seal needs the server pid libpq reports")
        if type(seal_ttl) is not int or not 1 <= seal_ttl <= _guard.SEAL_TTL_MAX:
            raise ValueError(f"seal_ttl={seal_ttl!r}: use whole seconds from 1 to "
                             f"{_guard.SEAL_TTL_MAX}")
        self._seal_ttl = seal_ttl
        if seal_check not in _rls.SEAL_CHECKS:
            raise ValueError(f"seal_check={seal_check!r}: use one of "
                             f"{', '.join(map(repr, _rls.SEAL_CHECKS))}")
        self._seal_mode = seal_check
        self.seal_check: str | None = None
        # Names the database the seal key is derived for (one key per database).
        self._seal_label = self.url.render_as_string(hide_password=True)
        self._bases: dict[str, type[Any]] = {}
        self._engines: dict[str, sa.Engine] = {}
        self._async_engines: dict[str, Any] = {}       # AsyncEngine, per extension
        self._lock = threading.Lock()
        self._created = False
        # Models declared with __sdk_guard_scope__ = "user".
        self._user_models: set[type] = set()
        self._tables: set[str] = set()
        self._plans: dict[Any, tuple[str | None, tuple[str, ...]]] = {}
        self._ext_criteria_cache: dict[str, tuple[Any, ...]] = {}
        self._criteria_cache: dict[type, tuple[Any, ...]] = {}

    # ---- declaring models ----------------------------------------------------------

    def base(self, extension: str) -> type[Any]:
        """The declarative base extension EXTENSION's models derive from."""
        if not isinstance(extension, str) or not _EXT_NAME.fullmatch(extension) \
                or len(extension) > 24:
            raise ValueError(f"extension name {extension!r}: use 1-24 lower-case letters, "
                             "digits and single underscores, starting with a letter")
        _require_own(extension, "Storage.base")
        with self._lock:
            if extension in self._bases:
                return self._bases[extension]
            store = self
            prefix = f"{extension}__"

            class ExtBase(DeclarativeBase):
                __abstract__ = True

                def __init_subclass__(cls, **kw: Any) -> None:
                    store._prefix_table(cls, extension, prefix)
                    super().__init_subclass__(**kw)
                    if "__table__" in cls.__dict__ and not cls.__dict__.get("__abstract__"):
                        store._check_model(cls, extension, prefix)
                    # A new model: the extension's criteria are rebuilt on next use.
                    store._ext_criteria_cache.pop(extension, None)

            ExtBase.__name__ = ExtBase.__qualname__ = f"{extension}_Base"
            ExtBase.sdk_guard_extension = extension
            self._bases[extension] = ExtBase
            return ExtBase

    def _prefix_table(self, cls: type, ext: str, prefix: str) -> None:
        name = cls.__dict__.get("__tablename__")
        if name is None:
            return
        if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name) \
                or len(prefix) + len(name) > _MAX_IDENT:
            raise PolicyError(f"data.{ext}.{cls.__name__}.__tablename__",
                              f"{name!r} is not a valid table name: use lower-case letters, "
                              "digits and single underscores (at most "
                              f"{_MAX_IDENT - len(prefix)} characters)")
        setattr(cls, "__tablename__", prefix + name)  # noqa: B010 (cls is typed as type)
        scope = cls.__dict__.get("__sdk_guard_scope__", "org")
        if scope not in SCOPES:
            raise PolicyError(f"data.{ext}.{cls.__name__}.__sdk_guard_scope__",
                              f"must be one of {', '.join(SCOPES)}, not {scope!r}")
        if scope == "user":
            self._user_models.add(cls)

    def _check_model(self, cls: type, ext: str, prefix: str) -> None:
        table = cls.__table__  # type: ignore[attr-defined]
        key = f"data.{ext}.{cls.__name__}"
        if not table.name.startswith(prefix):
            raise PolicyError(key, f"table {table.name!r} is not extension {ext!r}'s: its "
                                   f"tables are named {prefix}<name> (set __tablename__)")
        for col in table.columns:
            if not _TABLE_NAME.fullmatch(col.name) or len(col.name) > _MAX_IDENT:
                raise PolicyError(f"{key}.{col.name}", "column names are lower-case "
                                                       "letters, digits and single underscores")
        self._tables.add(table.name)
        needed = [ORG_COLUMN] + ([USER_COLUMN] if cls in self._user_models else [])
        for name in needed:
            col = table.columns.get(name)
            if col is None:
                raise PolicyError(key, f"model {cls.__name__} (table {table.name}) has no "
                                       f"{name} column, but its scope requires one; add "
                                       f"{name}: Mapped[str] = mapped_column(String(128))")
            if not isinstance(col.type, sa.String):
                raise PolicyError(f"{key}.{name}", f"{name} must be a String column, not "
                                                   f"{col.type}")
            # The stamp and the criteria use the attribute of that name: a column
            # mapped under another key would be written from that key instead.
            prop: Any = sa.inspect(cls).get_property_by_column(col)
            if prop.key != name:
                raise PolicyError(f"{key}.{name}", f"the {name} column must be mapped as "
                                                   f"attribute {name!r}, not {prop.key!r}")

    # ---- statement shapes the criteria provably cover ------------------------------

    def _plan(self, ext: str, state: Any) -> tuple[str | None, tuple[str, ...]]:
        """Applies EXT's criteria to the statement STATE runs and returns (problem,
        table names), cached per extension and statement shape.

        The criteria of every model of EXT go on every statement (a criterion for a
        model the statement does not use does nothing), so the optioned statement
        can be built before anything is known about it; its cache key, which
        SQLAlchemy memoizes and reuses for its compiled cache, keys the plan.

        The problem is None if with_loader_criteria reaches every scoped table the
        statement reads and all its models are EXT's.  SQLAlchemy applies the criteria
        to the ORM entities of the statement itself; a scoped table inside a subquery,
        CTE, UNION or EXISTS, or named only in select_from()/a join target without a
        column of it, is not reached, so such statements are refused rather than run
        unfiltered."""
        stmt = state.statement
        scoped = stmt.options(*self._ext_criteria(ext))
        state.statement = scoped
        try:
            ck = scoped._generate_cache_key()
        except Exception:               # noqa: BLE001 - uncacheable: plan every time
            ck = None
        key = (ext, ck.key) if ck is not None else None
        if key is not None:
            hit = self._plans.get(key)
            if hit is not None:
                return hit
        base = self._bases[ext]
        mappers = state.all_mappers
        problem = next((f"{m.class_.__name__} is not one of this extension's models"
                        for m in mappers if not issubclass(m.class_, base)), None)
        if problem is None:
            problem = self._shape_check(stmt)
        plan = (problem, tuple(sorted({m.local_table.name for m in mappers})))
        if key is not None:
            if len(self._plans) > 4096:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _ext_criteria(self, ext: str) -> tuple[Any, ...]:
        cached = self._ext_criteria_cache.get(ext)
        if cached is not None:
            return cached
        # Built once per extension (registry.mappers builds a set on every access);
        # ExtBase.__init_subclass__ drops it when the extension declares a model.
        opts: list[Any] = []
        for m in sorted(self._bases[ext].registry.mappers, key=lambda m: m.class_.__name__):
            opts += self._criteria(m.class_)
        self._ext_criteria_cache[ext] = built = tuple(opts)
        return built

    def _criteria(self, cls: type) -> tuple[Any, ...]:
        opts = self._criteria_cache.get(cls)
        if opts is None:
            # Lambdas: SQLAlchemy re-applies them to each alias of the model (a fixed
            # expression would only match the model's own table).
            crit = [with_loader_criteria(cls, lambda c: c.org_id == sa.bindparam("sdk_guard_scope_org"),
                                         include_aliases=True)]
            if cls in self._user_models:
                crit.append(with_loader_criteria(
                    cls, lambda c: c.user_id == sa.bindparam("sdk_guard_scope_user"),
                    include_aliases=True))
            opts = self._criteria_cache[cls] = tuple(crit)
        return opts

    def _is_scoped(self, t: Any) -> bool:
        base = t.element if isinstance(t, Alias) else t
        name = getattr(base, "name", None)
        return isinstance(name, str) and name in self._tables

    def _reads_scoped(self, sel: Any) -> bool:
        if isinstance(sel, CompoundSelect):
            return any(self._reads_scoped(s) for s in sel.selects)
        froms = getattr(sel, "get_final_froms", None)
        return froms is not None and any(self._is_scoped(t) for f in froms()
                                         for t in _leaves(f))

    def _shape_check(self, stmt: Any) -> str | None:
        for el in visitors.iterate(stmt):
            if el is stmt:
                continue
            if isinstance(el, (Select, CompoundSelect)) and self._reads_scoped(el):
                return ("a scoped table inside a subquery, CTE, UNION or EXISTS is not "
                        "reached by the org filter; query the model directly")
        if isinstance(stmt, CompoundSelect):
            return "UNION/INTERSECT/EXCEPT over scoped tables is not supported"
        if isinstance(stmt, Select):
            covered = set()
            for d in stmt.column_descriptions:
                e = d.get("entity")
                if e is not None:
                    covered.add(sa.inspect(e).selectable._deannotate())
            for f in stmt.get_final_froms():
                for t in _leaves(f):
                    tt = t._deannotate()
                    if self._is_scoped(tt) and tt not in covered:
                        return (f"{getattr(tt, 'name', tt)} is read without selecting any "
                                "of its columns (select_from()/join target): select a "
                                "column of the model, e.g. func.count(Model.id)")
        return None

    def models(self, extension: str) -> list[type]:
        base = self._bases.get(extension)
        if base is None:
            return []
        return [m.class_ for m in base.registry.mappers]

    # ---- startup -------------------------------------------------------------------

    def create_all(self) -> None:
        """Validate every model and create the tables (and, on PostgreSQL, the
        row-level security policies and grants).  Host code, at startup."""
        _guard.require_host("Storage.create_all")
        # The owner engine carries the seal key's pads once: never echo or log its
        # parameters, whatever the host's engine options say.
        admin = sa.create_engine(self._admin_url, **{**self._engine_options, "echo": False,
                                                      "hide_parameters": True})
        try:
            if self.backend == "postgresql":
                self._install_seal(admin)
            for ext, base in self._bases.items():
                prefix = f"{ext}__"
                for mapper in base.registry.mappers:
                    self._check_model(mapper.class_, ext, prefix)
                base.metadata.create_all(admin)
                if self.backend == "postgresql":
                    self._install_rls(admin, base)
        finally:
            admin.dispose()
        if self.backend == "postgresql":
            self._check_role()
        self._created = True

    def _session_role(self) -> str:
        role = self.url.username
        if not role:
            raise GuardError("PostgreSQL storage: the session url names no role")
        return role

    def _install_seal(self, admin: sa.Engine) -> None:
        role = self._session_role()
        with admin.begin() as conn:
            quoted = conn.dialect.identifier_preparer.quote(role)
            _rls.install(conn, quoted, self._seal_label, self._seal_ttl)
            native = _rls.install_native(conn, quoted, self._seal_mode)
        self.seal_check = "native" if native else "plpgsql"

    def _install_rls(self, admin: sa.Engine, base: Any) -> None:
        role = self._session_role()
        with admin.begin() as conn:
            q = conn.dialect.identifier_preparer.quote
            for mapper in base.registry.mappers:
                table = mapper.class_.__table__
                t = q(table.name)
                cond = _rls.policy_condition(
                    ORG_COLUMN, USER_COLUMN if mapper.class_ in self._user_models else None,
                    native=self.seal_check == "native")
                conn.exec_driver_sql(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")
                conn.exec_driver_sql(f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY")
                conn.exec_driver_sql(f"DROP POLICY IF EXISTS sdk_guard_scope ON {t}")
                conn.exec_driver_sql(f"CREATE POLICY sdk_guard_scope ON {t} "
                                     f"USING ({cond}) WITH CHECK ({cond})")
                conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO {q(role)}")
                for col in table.columns:
                    if col.autoincrement is True or (col.primary_key and
                                                     isinstance(col.type, sa.Integer)):
                        seq = conn.exec_driver_sql(
                            "SELECT pg_get_serial_sequence(%(t)s, %(c)s)",
                            {"t": table.name, "c": col.name}).scalar()
                        if seq:
                            conn.exec_driver_sql(f"GRANT USAGE, SELECT ON SEQUENCE {seq} "
                                                 f"TO {q(role)}")

    def _check_role(self) -> None:
        """Row-level security does not apply to superusers, BYPASSRLS roles or (without
        FORCE) owners: refuse to run extension sessions as such a role."""
        eng = self._engine(None)
        with eng.connect() as conn:
            sup, bypass = conn.exec_driver_sql(
                "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
            ).one()
            owned = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_tables WHERE tableowner = current_user "
                "AND tablename = ANY(%(t)s)", {"t": sorted(self._tables)}).scalar()
            keys = _rls.check_role(conn)
        if sup or bypass:
            raise GuardError(f"PostgreSQL storage: role {self.url.username!r} is "
                             f"{'superuser' if sup else 'BYPASSRLS'}, so row-level security "
                             "would not apply to extension sessions; connect them as a "
                             "plain role and pass the owner as admin_url")
        if owned:
            raise GuardError(f"PostgreSQL storage: role {self.url.username!r} owns "
                             f"{owned} of the scoped tables; extension sessions must use a "
                             "role that owns none of them (pass the owner as admin_url)")
        if keys:
            raise GuardError(f"PostgreSQL storage: role {self.url.username!r} {keys}; "
                             "extension sessions must use a role that is not the owner "
                             "nor a member of it (pass the owner as admin_url)")

    # ---- sessions ------------------------------------------------------------------

    def _engine(self, ext: str | None) -> sa.Engine:
        key = ext or ""
        with self._lock:
            eng = self._engines.get(key)
            if eng is None:
                eng = sa.create_engine(self.url, **self._engine_options)
                if self.backend == "sqlite" and ext is not None:
                    event.listen(eng, "connect", _sqlite_authorizer(ext))
                if self.backend == "postgresql":
                    event.listen(eng, "connect", _check_backend_pid)
                self._engines[key] = eng
            return eng

    def _async_engine(self, ext: str) -> Any:
        """The AsyncEngine of EXT's async sessions: psycopg 3's async driver on
        PostgreSQL, aiosqlite on SQLite, with the same connect-time hooks as the sync
        engine (they run on its sync_engine)."""
        with self._lock:
            eng = self._async_engines.get(ext)
            if eng is not None:
                return eng
            try:
                importlib.import_module("greenlet")  # SQLAlchemy's asyncio, at run time
                from sqlalchemy.ext.asyncio import create_async_engine
                if self.backend == "sqlite":
                    importlib.import_module("aiosqlite")
                    url = self.url.set(drivername="sqlite+aiosqlite")
                else:
                    if self.url.get_driver_name() != "psycopg":
                        raise GuardError(
                            f"async sessions on PostgreSQL use psycopg 3 "
                            f"(postgresql+psycopg://...), not "
                            f"{self.url.get_driver_name()!r}")
                    url = self.url
                async_eng = create_async_engine(url, **self._engine_options)
            except ImportError as exc:
                raise GuardError(f"async sessions need SQLAlchemy's asyncio support "
                                 f"(greenlet) and, on SQLite, aiosqlite: pip install "
                                 f"'sdk-guard[data-async]' ({exc})") from None
            if self.backend == "sqlite":
                event.listen(async_eng.sync_engine, "connect", _sqlite_authorizer(ext))
            else:
                event.listen(async_eng.sync_engine, "connect", _check_backend_pid)
            self._async_engines[ext] = async_eng
            return async_eng

    def engine_for(self, extension: str) -> sa.Engine:
        """The engine extension sessions use (for benchmarks and tests; host code)."""
        return self._engine(extension)

    @contextmanager
    def session(self, extension: str, **kw: Any) -> Iterator[ScopedSession]:
        """A session for EXTENSION bound to the current request's org (and user)."""
        ctx = self._session_context(extension, "Storage.session")
        s = ScopedSession(bind=self._engine(extension), **kw)
        self._bind(s, extension, ctx)
        try:
            yield s
        finally:
            s.close()

    def _session_context(self, extension: str, what: str) -> context.RequestContext:
        """What session() and async_session() check before opening one; the request
        context the session is bound to."""
        if extension not in self._bases:
            raise GuardError(f"no models declared for extension {extension!r}; call "
                             "Storage.base(extension) first")
        _require_own(extension, what)
        if not self._created:
            raise GuardError("Storage.create_all() has not run: call it at startup")
        return context.require(f"storage session of {extension}", extension)

    def _bind(self, s: ScopedSession, extension: str, ctx: context.RequestContext) -> None:
        s.sdk_guard_ext = extension
        s.sdk_guard_org = ctx.org
        s.sdk_guard_user = ctx.user
        s.sdk_guard_store = self

    @asynccontextmanager
    async def async_session(self, extension: str, **kw: Any) -> AsyncIterator[Any]:
        """An ``AsyncSession`` for EXTENSION bound to the current request's org (and
        user).  Its sync session is a :class:`ScopedSession`, so every check of
        :meth:`session` applies to it; on PostgreSQL the seal goes out with a bound
        ``set_config`` after psycopg's own BEGIN (the one-message path would block the
        event loop).  Needs ``sdk-guard[data-async]``."""
        ctx = self._session_context(extension, "Storage.async_session")
        s = _scoped_async_session_class()(bind=self._async_engine(extension),
                                          sync_session_class=ScopedSession, **kw)
        sync: Any = s.sync_session
        self._bind(sync, extension, ctx)
        try:
            yield s
        finally:
            await s.close()

    def _take_engines(self) -> list[Any]:
        """Every engine made so far, sync then async, forgotten by this storage."""
        with self._lock:
            engines = [*self._engines.values(), *self._async_engines.values()]
            self._engines.clear()
            self._async_engines.clear()
        return engines

    def dispose(self) -> None:
        """Close the pools.  An async engine's connections belong to the event loop
        that opened them: call :meth:`dispose_async` on that loop instead; here they
        are only let go."""
        for eng in self._take_engines():
            if hasattr(eng, "sync_engine"):
                eng.sync_engine.dispose(close=False)
            else:
                eng.dispose()

    async def dispose_async(self) -> None:
        """Close every pool, the async ones on the running event loop."""
        for eng in self._take_engines():
            if hasattr(eng, "sync_engine"):
                await eng.dispose()
            else:
                eng.dispose()


_ASYNC_SESSION_CLASS: Any = None


def _through_storage(base: type, **extra: Any) -> type:
    """A subclass of BASE whose own coroutine methods are called through a frame of
    this module (see _scoped_async_session_class)."""
    def wrap(name: str) -> Any:
        method = getattr(base, name)

        async def call(self: Any, *args: Any, **kw: Any) -> Any:
            return await method(self, *args, **kw)

        call.__name__ = call.__qualname__ = name
        call.__doc__ = method.__doc__
        return call

    names = [n for n, v in vars(base).items() if inspect.iscoroutinefunction(v)]
    return type("Scoped" + base.__name__, (base,), {**{n: wrap(n) for n in names}, **extra})


def _scoped_async_session_class() -> Any:
    """AsyncSession whose coroutine methods, and those of its begin()/begin_nested()
    transactions, are called through a frame of this module.

    An AsyncSession runs the sync session in a greenlet, but the driver's own awaits
    (aiosqlite starting its connection thread and opening the file, say) run on the
    event loop's stack, where the frames are SQLAlchemy's and the extension's only:
    the guard would charge them to the extension (an unrelated fs.write grant, and a
    pooled connection's thread owned by whichever extension opened it).  With this
    module's frame in between they are the storage's work on the extension's behalf,
    as in a sync session, whose hooks are always on the stack (docs/design.md,
    attribution: a host frame inside an extension's call acts with host authority)."""
    global _ASYNC_SESSION_CLASS
    if _ASYNC_SESSION_CLASS is None:
        from sqlalchemy.ext.asyncio import AsyncSession
        from sqlalchemy.ext.asyncio.session import AsyncSessionTransaction
        tx = _through_storage(AsyncSessionTransaction)
        _ASYNC_SESSION_CLASS = _through_storage(
            AsyncSession, begin=lambda self: tx(self),
            begin_nested=lambda self: tx(self, nested=True))
    return _ASYNC_SESSION_CLASS


# Bound parameters the criteria compare against; their values come from the request
# context at execution, so the criteria objects are built once per model and the
# compiled statements stay in SQLAlchemy's cache.
_ORG_PARAM: Final = "sdk_guard_scope_org"
_USER_PARAM: Final = "sdk_guard_scope_user"


_item: Final = tuple.__getitem__


def _leaves(f: Any) -> Iterator[Any]:
    if isinstance(f, Join):
        yield from _leaves(f.left)
        yield from _leaves(f.right)
    else:
        yield f


# ---- the hooks every scoped session runs ------------------------------------------

def _request_matches(s: ScopedSession) -> context.RequestContext:
    # context.require() without its message built on every call: this runs on every
    # statement and flush (the context is a tuple the C side makes: user, org, ...).
    state, live = _guard.request_get()
    ctx: context.RequestContext = (
        live if state == "live" else context.require(f"storage of {s.sdk_guard_ext}",
                                                     s.sdk_guard_ext))
    if _item(ctx, 1) != s.sdk_guard_org or _item(ctx, 0) != s.sdk_guard_user:
        raise _deny(s.sdk_guard_ext, "session", f"this session belongs to org "
                    f"{s.sdk_guard_org!r}, the current request is org {ctx.org!r}; open "
                    "a session per request", "data.session")
    return ctx


@event.listens_for(ScopedSession, "do_orm_execute")
def _scope_statement(state: Any) -> Any:
    s: ScopedSession = state.session
    ctx = _request_matches(s)
    ext = s.sdk_guard_ext
    store = s.sdk_guard_store
    if not state.is_orm_statement:
        raise _deny(ext, "statement", "the scoped session runs ORM statements on the "
                    "extension's models only (no text() or Core table statements)",
                    "data.statement")
    problem, names = store._plan(ext, state)
    if problem is not None:
        raise _deny(ext, "statement", problem, "data.statement")
    if state.is_insert:
        raise _deny(ext, "insert statement", "ORM INSERT statements are not stamped with "
                    "the org; use session.add()/add_all()", "data.insert")
    if (state.is_update or state.is_delete) and state.is_executemany:
        raise _deny(ext, "bulk update by primary key", "bypasses the org filter; use "
                    "update(Model).where(...)", "data.bulk")
    if state.is_update:
        values = getattr(state.statement, "_values", None) or {}
        for k in values:
            name = getattr(k, "key", k)
            if name in (ORG_COLUMN, USER_COLUMN):
                raise _deny(ext, f"update of {name}", "rows cannot move to another "
                            "org or user", "data.update")
    params = state.parameters
    if params is None:
        state.parameters = {}
    elif isinstance(params, list):
        raise _deny(ext, "executemany", "a list of parameter sets is only accepted by "
                    "add_all()", "data.statement")
    elif _ORG_PARAM in params or _USER_PARAM in params:
        raise _deny(ext, "statement parameters", f"{_ORG_PARAM}/{_USER_PARAM} are set by "
                    "the storage from the request", "data.statement")
    scope = {_ORG_PARAM: ctx.org, _USER_PARAM: ctx.user}
    if state.is_update or state.is_delete:
        with audit.span("storage_mutation", f"{'update' if state.is_update else 'delete'} "
                        f"{','.join(names)}", extension=ext):
            return state.invoke_statement(params=scope)
    return state.invoke_statement(params=scope)


def _pending_states(s: ScopedSession) -> tuple[list[Any], list[Any], list[Any]]:
    """The states a flush would insert, update and delete, read from the session's own
    bookkeeping once (Session.new/dirty/deleted build an IdentitySet on every access)."""
    deleted = s._deleted
    return (list(s._new), [st for st in s._dirty_states if st not in deleted],
            list(deleted))


def _pending_tables(s: ScopedSession) -> list[str]:
    new, dirty, deleted = _pending_states(s)
    states = new + dirty + deleted
    if len(states) == 1:
        return [_table_name(states[0])]
    return sorted({_table_name(st) for st in states})


def _table_name(state: Any) -> str:
    name = getattr(state.mapper.local_table, "name", None)
    return name if isinstance(name, str) else state.class_.__name__


@event.listens_for(ScopedSession, "before_flush")
def _stamp_and_check(s: ScopedSession, flush_context: Any, instances: Any) -> None:
    ctx = _request_matches(s)
    store = s.sdk_guard_store
    ext = s.sdk_guard_ext
    base = store._bases[ext]
    user_models = store._user_models
    new, dirty, deleted = _pending_states(s)
    for st in (*new, *dirty, *deleted):
        if not issubclass(st.class_, base):
            raise _deny(ext, st.class_.__name__, "is not one of this extension's models",
                        "data.models")
    for st in new:
        _stamp(ext, st, ORG_COLUMN, ctx.org)
        if st.class_ in user_models:
            _stamp(ext, st, USER_COLUMN, ctx.user)
    if not dirty and not deleted:
        return
    for st in dirty:
        hist = st.attrs
        for col in (ORG_COLUMN, USER_COLUMN):
            if col in hist and hist[col].history.has_changes():
                raise _deny(ext, f"update of {col}", "rows cannot move to another org or "
                            "user", "data.update")
    # Objects the session did not load itself (made_transient_to_detached, merge of
    # forged state) could name another org's primary key: their rows are checked in
    # the database, inside this transaction, before anything is written.
    touched: dict[type, list[Any]] = {}
    for st in dirty + deleted:
        touched.setdefault(st.class_, []).append(st)
    for cls, states in touched.items():
        mapper: Any = sa.inspect(cls)
        pk_cols = mapper.primary_key
        keys = [tuple(mapper.primary_key_from_instance(st.obj())) for st in states]
        conds = [sa.and_(*[c == v for c, v in zip(pk_cols, k, strict=True)]) for k in keys]
        table = mapper.local_table
        where = sa.and_(sa.or_(*conds), table.c[ORG_COLUMN] == ctx.org)
        if cls in user_models:
            where = sa.and_(where, table.c[USER_COLUMN] == ctx.user)
        found = s.connection().execute(sa.select(sa.func.count()).select_from(table)
                                       .where(where)).scalar()
        if found != len(set(keys)):
            raise _deny(ext, f"write to {table.name}", "a row written or deleted is not "
                        "in the request's org", "data.scope")


def _stamp(ext: str, state: Any, col: str, value: str | None) -> None:
    """Set COL of the pending object to VALUE (the request's), or refuse another value.

    Read and written through SQLAlchemy's instrumentation (the state's dict and the
    attribute implementation), not the object's own __getattribute__/__setattr__, and
    compared as an exact str: a model or value of the extension's cannot answer for
    the stamp (a str subclass whose __ne__ says "equal")."""
    have = state.dict.get(col)
    what = f"insert {state.class_.__name__}"
    if have is None:
        if value is None:
            raise _deny(ext, what, f"the request has no {col.removesuffix('_id')} to stamp",
                        "data.insert")
        attr = state.manager.get(col)
        if attr is None:
            raise _deny(ext, what, f"{col} is not mapped under its own name", "data.insert")
        attr.impl.set(state, state.dict, value, None)
    elif type(have) is not str or have != value:
        raise _deny(ext, what, f"{col} {have!r} is not the request's ({value!r}); rows "
                    f"are stamped with the request's {col.removesuffix('_id')}",
                    "data.insert")


@event.listens_for(ScopedSession, "after_begin")
def _set_db_scope(s: ScopedSession, transaction: Any, connection: sa.Connection) -> None:
    if s.sdk_guard_store.backend != "postgresql":
        return
    # Straight to the driver: this runs once per transaction, and SQLAlchemy's
    # statement machinery would cost more than the statement.  Parameters are bound.
    # The seal names the live request's org (read in C, not from the session) and
    # this connection's server process; libpq knows its pid without a round trip.
    raw: Any = connection.connection.dbapi_connection
    store = s.sdk_guard_store
    # psycopg 3 (sync): the PGconn, no ConnectionInfo object.
    pgconn = getattr(raw, "pgconn", None)
    if pgconn is not None:
        seal = _guard.seal(store._seal_label, pgconn.backend_pid, store._seal_ttl)
        if _begin_with_scope(raw, pgconn, seal):
            return
    else:
        # An async session's connection is SQLAlchemy's adapter over the driver's
        # (psycopg 3's AsyncConnection); the session runs in a greenlet, so the
        # one-message BEGIN goes out on the event loop through await_only().
        driver = getattr(raw, "driver_connection", raw)
        seal = _guard.seal(store._seal_label, driver.info.backend_pid, store._seal_ttl)
        apg = getattr(driver, "pgconn", None)
        if apg is not None and _is_psycopg_async(driver):
            from sqlalchemy.util import await_only
            if await_only(_begin_with_scope_async(driver, apg, seal)):
                return
    cur = raw.cursor()
    try:
        cur.execute(_SET_SCOPE_SQL, (seal,))
    finally:
        cur.close()


def _check_backend_pid(dbapi_conn: Any, record: Any) -> None:
    """A seal names the server process libpq reports.  Behind a transaction-mode pooler
    (pgbouncer) libpq reports the pooler's pid, every seal would be refused and every
    query would return nothing: refuse the connection instead, once, when it opens."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute("SELECT pg_backend_pid()")
        server_pid = cur.fetchone()[0]
    finally:
        cur.close()
    dbapi_conn.rollback()
    libpq_pid = getattr(dbapi_conn, "driver_connection", dbapi_conn).info.backend_pid
    if server_pid != libpq_pid:
        dbapi_conn.close()
        raise GuardError(
            f"PostgreSQL storage: libpq reports backend pid {libpq_pid} "
            f"but the server process is {server_pid} (a transaction-mode pooler such as "
            "pgbouncer?): row-level security seals bind to the server process, so every "
            "query would see no rows; connect directly or through a session-mode pooler")


def _begin_with_scope(dbapi: Any, pgconn: Any, seal: str) -> bool:
    """Send psycopg's own BEGIN and ``SET LOCAL sdk_guard.seal`` as one message (one
    round trip instead of two: psycopg would otherwise wait for its BEGIN before
    sending the statement).  SET LOCAL is a utility statement: unlike ``SELECT
    set_config(...)`` the server neither plans nor executes a query for it.  SET takes
    no bound parameters, so the value goes as a quoted literal.  False, with nothing
    sent, when DBAPI is not an idle psycopg 3 connection outside autocommit; the
    caller then runs ``set_config`` with a bound parameter."""
    query = _scope_query(dbapi, pgconn, seal)
    if query is None:
        return False
    _check_scope_result(dbapi, pgconn.exec_(query))
    return True


async def _begin_with_scope_async(dbapi: Any, pgconn: Any, seal: str) -> bool:
    """_begin_with_scope for psycopg's AsyncConnection: the same message, sent and
    read with psycopg's non-blocking generators on the running event loop.  Through
    the connection's own wait(), as psycopg's queries are: a task cancelled while it
    waits cancels the statement on the server and reads its results, so the pooled
    connection is not left with a command in progress."""
    query = _scope_query(dbapi, pgconn, seal)
    if query is None:
        return False
    from psycopg import generators
    pgconn.send_query(query)
    for res in await dbapi.wait(generators.execute(pgconn)):
        _check_scope_result(dbapi, res)
    return True


def _scope_query(dbapi: Any, pgconn: Any, seal: str) -> bytes | None:
    start = getattr(dbapi, "_get_tx_start_command", None)
    if start is None or dbapi.autocommit:
        return None
    pq = _psycopg_pq()
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return None
    # A seal is request identifiers (sdk_guard.context's alphabet), hex, digits and
    # '/' (checked in C): ASCII, with no quote or backslash, so quoting it needs no
    # escaping under either standard_conforming_strings, and every client encoding
    # PostgreSQL accepts encodes ASCII as ASCII.  Anything else goes through libpq.
    data = seal.encode("ascii")
    literal = (b"'" + data + b"'" if b"'" not in data and b"\\" not in data
               else pq.Escaping(pgconn).escape_literal(data))
    query: bytes = start() + _SET_LOCAL_SEAL + literal
    return query


def _check_scope_result(dbapi: Any, res: Any) -> None:
    if res.status != _psycopg_pq().ExecStatus.COMMAND_OK:
        msg = (res.error_message or b"").decode(dbapi.info.encoding, "replace").strip()
        raise GuardError(f"PostgreSQL storage: setting the request's scope failed: {msg}")


def _is_psycopg_async(driver: Any) -> bool:
    from psycopg import AsyncConnection
    return isinstance(driver, AsyncConnection)


def _psycopg_pq() -> Any:
    """psycopg.pq, imported on first use (psycopg is only needed on PostgreSQL)."""
    global _PQ
    if _PQ is None:
        from psycopg import pq
        _PQ = pq
    return _PQ


_PQ: Any = None


# ---- SQLite authorizer --------------------------------------------------------------

def _sqlite_authorizer(ext: str) -> Any:
    import sqlite3
    prefix = f"{ext}__"
    ok, deny = sqlite3.SQLITE_OK, sqlite3.SQLITE_DENY
    table_ops = {sqlite3.SQLITE_READ, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_INSERT,
                 sqlite3.SQLITE_DELETE}
    allowed_ops = table_ops | {
        sqlite3.SQLITE_SELECT, sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT,
        sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE, sqlite3.SQLITE_PRAGMA}
    internal = ("sqlite_sequence",)
    # Read-only pragmas the driver and SQLAlchemy issue themselves.
    read_pragmas = {"table_info", "table_xinfo", "index_list", "index_info",
                    "foreign_key_list", "database_list", "read_uncommitted"}

    def authorize(action: int, arg1: str | None, arg2: str | None, db: str | None,
                  source: str | None) -> int:
        if action not in allowed_ops:
            return deny                  # ATTACH, DETACH, CREATE/DROP/ALTER, VACUUM ...
        if action in table_ops:
            if arg1 is None or arg1.startswith(prefix) or arg1 in internal:
                return ok if db in (None, "main") else deny
            return deny
        if action == sqlite3.SQLITE_PRAGMA:
            return ok if arg2 is None and arg1 in read_pragmas else deny
        return ok

    def on_connect(dbapi_conn: Any, record: Any) -> None:
        driver = getattr(dbapi_conn, "driver_connection", dbapi_conn)
        if driver is dbapi_conn:
            dbapi_conn.set_authorizer(authorize)
            return
        # An async session's aiosqlite connection: set on its own thread, awaited
        # from the greenlet SQLAlchemy runs connect hooks in.
        from sqlalchemy.util import await_only
        await_only(driver.set_authorizer(authorize))

    return on_connect
