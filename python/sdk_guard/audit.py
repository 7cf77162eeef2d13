"""Audit trail: correlation spans, the writer thread and the sinks.

Every policy decision becomes one record (schema: ``schema/audit-event.json``).  The C
extension builds it, stamps the next ``seq`` and queues it in the audit ring; a writer
thread started by the first :func:`add_sink` takes records off the ring in ``seq``
order and hands each to every sink.  Nothing is lost silently: a full ring is counted
and reported as a ``dropped`` record, a sink that raises keeps its records in a
backlog and is retried, and every failure shows up in :func:`stats` and as an
``audit.sink`` record.

Spans
-----
``span(kind, name, **attrs)`` marks the action, task, model call or storage mutation
on whose behalf code runs.  Only host code opens a span (an extension calling it gets
PolicyViolation): a span names the user and org every record inside it carries.  The
span state lives in a context variable the C side owns (so asyncio tasks inherit it
and threads get it via :func:`bind`); its value is a SpanState only the C side can
make, from exact-str copies, so extension code can neither forge nor alter one.
``_guard.span_current()`` reads it as::

    (action_id, task_id, model_call_id, storage_mutation_id, user, org,
     span_path, innermost_span[, (otel_trace_id, otel_span_id)])

``span_path`` is the tuple of enclosing span ids, outermost first.  The C side reads
items 0-6 (and 8, the current OpenTelemetry span's ids, set by ``sdk_guard.otel``)
only when it records an event.
"""
from __future__ import annotations

import atexit
import collections
import contextvars
import functools
import json
import logging
import os
import random
import string
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar

from . import _guard
from .errors import PolicyError

__all__ = [
    "KINDS", "CallbackSink", "JournaldSink", "JsonlSink", "LoggingSink", "MemorySink",
    "OTelLogSink", "Sink", "Span", "SyslogSink",
    "add_sink", "bind", "configure", "current_span", "emit", "flush", "parse_config",
    "records", "remove_sink", "sinks", "span", "spawn_thread", "stats", "writer_paused",
]

Record = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])

KINDS: Final = ("action", "task", "model_call", "storage_mutation")
_KIND_INDEX: Final = {k: i for i, k in enumerate(KINDS)}
_ID_PREFIX: Final = {"action": "a", "task": "t", "model_call": "m", "storage_mutation": "s"}

# Records a failing sink keeps for retry; beyond this they are counted as lost.
SINK_BACKLOG_MAX: Final = 10_000
# Lines a batch-mode JsonlSink joins into one write.
JSONL_BATCH_MAX: Final = 1024
_REPORT_INTERVAL: Final = 1.0
_WAIT_POLL: Final = 0.25

_ids = random.Random(int.from_bytes(os.urandom(16), "little"))


# ---- spans -------------------------------------------------------------------------

class Span:
    """One open span.  ``id`` looks like ``a-3f09c2e1b7aa`` (kind letter, 48 random bits)."""

    __slots__ = ("id", "kind", "name", "attrs", "parent", "user", "org")

    def __init__(self, kind: str, name: str, attrs: dict[str, Any], parent: Span | None,
                 user: str | None, org: str | None) -> None:
        self.id = f"{_ID_PREFIX[kind]}-{_ids.getrandbits(48):012x}"
        self.kind = kind
        self.name = name
        self.attrs = attrs
        self.parent = parent
        self.user = user
        self.org = org

    def chain(self) -> list[Span]:
        """This span and its ancestors, innermost first."""
        out: list[Span] = []
        sp: Span | None = self
        while sp is not None:
            out.append(sp)
            sp = sp.parent
        return out

    def __repr__(self) -> str:
        return f"<Span {self.kind} {self.name!r} {self.id}>"


@contextmanager
def span(kind: str, name: str, *, user: str | None = None, org: str | None = None,
         **attrs: Any) -> Iterator[Span]:
    """Open a span of KIND (action, task, model_call, storage_mutation) named NAME.

    Spans nest; ``user``/``org`` set here apply to everything inside unless an inner
    span sets its own.  While sinks are attached, opening a span records an
    ``audit.span`` event with its name, parent and attributes, so the parent chain of
    every id in the trail can be followed.
    """
    index = _KIND_INDEX.get(kind)
    if index is None:
        raise ValueError(f"span kind must be one of {', '.join(KINDS)}, not {kind!r}")
    outer = _guard.span_current()
    parent: Span | None = outer[7]
    user, org = _span_text(user, "user"), _span_text(org, "org")
    sp = Span(kind, name if type(name) is str else str.__str__(str(name)), attrs, parent,
              user if user is not None else outer[4], org if org is not None else outer[5])
    # Host-only, checked on the caller of span(); the C side copies what it keeps.
    token = _guard.span_enter(index, sp.id, sp, user, org)
    try:
        if _writer.active and _writer.record_spans:
            _guard.emit("audit", "audit.span", "open", target=sp.name, extra={
                "span_id": sp.id, "span_kind": kind, "span_name": sp.name,
                "parent": parent.id if parent is not None else None,
                "attrs": plain_copy(attrs)})
        yield sp
    finally:
        _guard.span_exit(token)


def _span_text(value: object, what: str) -> str | None:
    if value is None or type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    raise TypeError(f"span {what} must be a str or None, not {type(value).__name__}")


def _set_identity(user: str | None, org: str | None) -> object:
    """Make USER/ORG the identity of every record in this context until the returned
    token is passed to :func:`_reset_identity` (sdk_guard.context.request uses it).
    Host-only like span(): the C side copies them into a new span state."""
    return _guard.span_identity(user, org)


def _reset_identity(token: object) -> None:
    _guard.span_exit(token)


def current_span() -> Span | None:
    """The innermost open span in this context, or None."""
    innermost: Span | None = _guard.span_current()[7]
    return innermost


def bind(fn: F) -> F:
    """Return FN wrapped to run in a copy of the *current* context (spans, acting_as).

    Use it for thread pools and executors: ``pool.submit(audit.bind(work), x)``.  Each
    call gets its own copy, so one bound function may run in many threads at once.
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def bound(*args: Any, **kwargs: Any) -> Any:
        return ctx.copy().run(fn, *args, **kwargs)

    return bound  # type: ignore[return-value]


def spawn_thread(target: Callable[..., Any], *args: Any, name: str | None = None,
                 daemon: bool | None = None, **kwargs: Any) -> threading.Thread:
    """Start and return a thread running TARGET(*args, **kwargs) inside the current spans."""
    t = threading.Thread(target=bind(target), args=args, kwargs=kwargs, name=name,
                         daemon=daemon)
    t.start()
    return t


def emit(layer: str, capability: str, decision: str, *, principal: str | None = None,
         target: str | None = None, rule: str | None = None,
         extra: Mapping[str, Any] | None = None) -> int:
    """Record one event from Python (lockdown reports, approvals); returns its seq."""
    return _guard.emit(layer, capability, decision, principal, target, rule,
                       plain_copy(dict(extra)) if extra is not None else None)


# ---- sinks -------------------------------------------------------------------------

class Sink:
    """Receives records in ``seq`` order on the audit writer thread.

    Subclasses implement :meth:`write`; :meth:`end_batch` is called after each run of
    records.  A sink never has to be thread-safe: only the writer (or :func:`flush`,
    which excludes it) calls it.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name or type(self).__name__
        self.delivered = 0
        self.failures = 0
        self.lost = 0
        self.last_error: str | None = None
        self._backlog: collections.deque[Record] = collections.deque()
        self._reported = (0, 0)
        self._reported_at = 0.0

    def write(self, record: Record) -> None:
        raise NotImplementedError

    def end_batch(self) -> None:
        """Called after a run of records (batch-mode sinks write here)."""

    def close(self) -> None:
        """Release resources; called by :func:`remove_sink` and at exit."""

    def stats(self) -> dict[str, Any]:
        return {"name": self.name, "delivered": self.delivered, "failures": self.failures,
                "backlog": len(self._backlog), "lost": self.lost,
                "last_error": self.last_error}

    # The writer's side: a record the sink refused waits in the backlog, and later
    # records queue behind it, so the sink still sees seq order once it recovers.
    def _offer(self, record: Record) -> None:
        if self._backlog:
            self._keep(record)
            return
        try:
            self.write(record)
        except Exception as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._keep(record)
        else:
            self.delivered += 1

    def _keep(self, record: Record) -> None:
        if len(self._backlog) >= SINK_BACKLOG_MAX:
            self._backlog.popleft()
            self.lost += 1
        self._backlog.append(record)

    def _retry_backlog(self) -> None:
        # A record gets a second immediate try, so a sink that fails now and then
        # drains its backlog; two failures in a row wait for the next batch.
        failed_once = False
        while self._backlog:
            try:
                self.write(self._backlog[0])
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                if failed_once:
                    return
                failed_once = True
                continue
            failed_once = False
            self._backlog.popleft()
            self.delivered += 1

    def _forget_pending(self) -> None:
        """In a fork child: records this sink still held are the parent's to write."""
        self._backlog.clear()

    def _end_batch(self) -> None:
        try:
            self._retry_backlog()
            self.end_batch()
        except Exception as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"


class MemorySink(Sink):
    """Keeps records in a list (``maxlen``: keep only the newest)."""

    def __init__(self, maxlen: int | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self._records: collections.deque[Record] = collections.deque(maxlen=maxlen)

    def write(self, record: Record) -> None:
        self._records.append(record)

    @property
    def records(self) -> list[Record]:
        return list(self._records)

    def clear(self) -> None:
        self._records.clear()


class CallbackSink(Sink):
    """Calls FN(record) for every record."""

    def __init__(self, fn: Callable[[Record], Any], name: str | None = None) -> None:
        super().__init__(name or f"CallbackSink({getattr(fn, '__qualname__', fn)!s})")
        self._fn = fn

    def write(self, record: Record) -> None:
        self._fn(record)


class LoggingSink(Sink):
    """Logs each record as one JSON line; denials at WARNING, the rest at INFO.

    The record itself rides along as ``extra={"audit": record}`` for structured
    handlers.
    """

    def __init__(self, logger: logging.Logger | str = "sdk_guard.audit",
                 deny_level: int = logging.WARNING, level: int = logging.INFO,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.deny_level = deny_level
        self.level = level

    def write(self, record: Record) -> None:
        lvl = self.deny_level if record.get("decision") in ("deny", "refused", "dropped") else self.level
        if self.logger.isEnabledFor(lvl):
            self.logger.log(lvl, "%s", _dumps(record), extra={"audit": record})


_TYPE_NAME = type.__dict__["__name__"]


def opaque(value: object) -> str:
    """What the trail shows for a value that is not plain JSON data: its type's name,
    read through type's own descriptor -- never the value's __str__/__repr__ (nor a
    metaclass's __name__), which would run the value's code in the writer thread."""
    return f"<{_TYPE_NAME.__get__(type(value))}>"


def plain_copy(value: object, depth: int = 0) -> Any:
    """VALUE as exact built-in JSON data, copied: str/int/float/bool/None as they are
    (subclasses reduced to the built-in value), lists/tuples and str-keyed dicts copied
    item by item (keys that are not str left out), anything else (or anything nested
    past 16 levels) as opaque().  Reads no method the value's class could have
    replaced."""
    if value is None or type(value) in (bool, str, int, float):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if depth >= 16:
        return opaque(value)
    if isinstance(value, list):
        items: list[object] = [list.__getitem__(value, i) for i in range(list.__len__(value))]
        return [plain_copy(v, depth + 1) for v in items]
    if isinstance(value, tuple):
        return [plain_copy(tuple.__getitem__(value, i), depth + 1)
                for i in range(tuple.__len__(value))]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        # dict.items, not value.items: the dict's own storage, whatever a subclass says.
        for k, v in dict.items(value):
            if isinstance(k, str):          # other keys are left out, as the C copy does
                out[str.__str__(k)] = plain_copy(v, depth + 1)
        return out
    return opaque(value)


# The writer formats records the C side built from copied built-in values; a value
# that is anything else anyway is shown by its type name, never by calling into it.
_encoder = json.JSONEncoder(separators=(",", ":"), default=opaque)


class DefaultLogSink(LoggingSink):
    """What an operator sees with no sink configured: ``install()`` attaches one when
    no sink is attached, and the first ``add_sink()`` replaces it.  Only refusals
    (``deny``, ``would_deny``, ``refused``, ``dropped``) are logged, at WARNING, to
    the ``sdk_guard.audit`` logger (with no handler configured, logging's last-resort
    handler prints them to stderr), so monitor mode is useful without configuration."""

    _LOGGED = frozenset(("deny", "would_deny", "refused", "dropped"))

    def __init__(self) -> None:
        super().__init__("sdk_guard.audit", name="default-log")

    def write(self, record: Record) -> None:
        if record.get("decision") in self._LOGGED \
                and self.logger.isEnabledFor(logging.WARNING):
            self.logger.warning("%s", _dumps(record), extra={"audit": record})


def _dumps(record: Record) -> str:
    return _encoder.encode(record)


class JsonlSink(Sink):
    """One JSON object per line, appended with a single ``write`` per line (or batch).

    The file is opened ``O_APPEND`` here, at construction, and kept open: the sink keeps
    working after ``lockdown()`` forbids opening files.  A write is one system call, so
    a process killed mid-stream can leave at most its last line incomplete, never a
    torn line in the middle; reopening such a file starts on a fresh line.

    ``flush``: ``"line"`` writes every record at once; ``"batch"`` writes each run of
    records the writer takes off the ring (up to JSONL_BATCH_MAX lines) in one write.
    ``fsync``: fsync after every write.  ``max_bytes``: rotate to ``path.1`` ..
    ``path.<backups>`` before a write would pass the limit; if rotation fails (after
    lockdown renaming is denied) the sink keeps appending to the current file and
    counts ``rotation_failures``.
    """

    def __init__(self, path: str | os.PathLike[str], flush: str = "line", fsync: bool = False,
                 max_bytes: int | None = None, backups: int = 3, name: str | None = None) -> None:
        if flush not in ("line", "batch"):
            raise ValueError(f'flush must be "line" or "batch", not {flush!r}')
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError("max_bytes must be a positive number of bytes")
        if backups < 1:
            raise ValueError("backups must be at least 1")
        self.path = os.fspath(path)
        super().__init__(name or f"JsonlSink({self.path})")
        self.flush_mode = flush
        self.fsync = fsync
        self.max_bytes = max_bytes
        self.backups = backups
        self.rotations = 0
        self.rotation_failures = 0
        self._buf: list[bytes] = []
        self._tail = b""
        self._fd = -1
        self._open()

    def _open(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                os.write(fd, b"\n")
                size += 1
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._size = fd, size

    def write(self, record: Record) -> None:
        line = (_dumps(record) + "\n").encode()
        if self.flush_mode == "line":
            self._write(line)
        else:
            if len(self._buf) >= JSONL_BATCH_MAX:
                # Raises while the file refuses writes: RECORD is then not buffered,
                # and the sink's backlog keeps it behind the buffered lines.
                self.end_batch()
            self._buf.append(line)

    def end_batch(self) -> None:
        if self._buf:
            # Cleared only once written: a refused batch stays for the next attempt
            # (it used to be dropped here, its records already counted delivered).
            self._write(b"".join(self._buf))
            self._buf.clear()

    def _write(self, data: bytes) -> None:
        """Appends DATA after the tail of an earlier short write.  Raises only when none
        of DATA reached the file; once part of it has, the rest becomes the tail, which
        goes out before anything else, so no line is torn in the middle of the file."""
        tail = self._tail
        if (self.max_bytes is not None and self._size > 0 and not tail
                and self._size + len(data) > self.max_bytes and self.rotation_failures == 0):
            self._rotate()
        whole = tail + data if tail else data
        view = memoryview(whole)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as exc:
            done = len(whole) - len(view)
            self._size += done
            if done <= len(tail):
                self._tail = tail[done:]
                raise
            self._tail = bytes(view)
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc} (short write; the rest is retried)"
            return
        self._tail = b""
        self._size += len(whole)
        if self.fsync:
            os.fsync(self._fd)

    def _rotate(self) -> None:
        try:
            for i in range(self.backups - 1, 0, -1):
                src = f"{self.path}.{i}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{i + 1}")
            os.replace(self.path, f"{self.path}.1")
            old = self._fd
            self._open()
            os.close(old)
            self.rotations += 1
        except OSError as exc:
            self.rotation_failures += 1
            self.last_error = f"rotation: {type(exc).__name__}: {exc}"

    def close(self) -> None:
        try:
            self.end_batch()
            if self._tail:
                self._write(b"")
        except OSError as exc:
            self.lost += len(self._buf) + (1 if self._tail else 0)
            self.failures += 1
            self.last_error = f"close: {type(exc).__name__}: {exc}"
            self._buf.clear()
            self._tail = b""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _forget_pending(self) -> None:
        super()._forget_pending()
        self._buf.clear()
        self._tail = b""

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out.update(path=self.path, rotations=self.rotations,
                   rotation_failures=self.rotation_failures)
        return out


# ---- the writer --------------------------------------------------------------------

def _wait_os_thread_gone(tid: int | None, timeout: float | None) -> None:
    """join() returns before the OS thread has exited; lockdown() counts OS threads
    (/proc/self/task), so wait until the kernel has let this one go."""
    if tid is None or not os.path.isdir("/proc/self/task"):
        return
    deadline = time.monotonic() + (timeout if timeout is not None else 5.0)
    while os.path.exists(f"/proc/self/task/{tid}") and time.monotonic() < deadline:
        time.sleep(0.0005)


class _Writer:
    """The consumer of the audit ring: one daemon thread plus synchronous flushes.

    ``lock`` serialises deliveries (thread and flush) so sinks see seq order.  The
    audit hook never takes it: producers only touch the ring.
    """

    def __init__(self) -> None:
        self.sinks: tuple[Sink, ...] = ()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.stopping = False
        self.active = False
        self.record_spans = True
        self.tee: JsonlSink | None = None

    def start(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        self.stopping = False
        _guard.set_audit_dispatcher(self.dispatch)
        self.active = True
        self.thread = threading.Thread(target=self.run, name="sdk_guard-audit", daemon=True)
        self.thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        self.stopping = True
        _guard.audit_wake()
        t = self.thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
            _wait_os_thread_gone(t.native_id, timeout)
        self.thread = None

    def run(self) -> None:
        while not self.stopping:
            _guard.audit_wait(_WAIT_POLL)
            if self.stopping:
                break
            _drain_seccomp_traps()
            with self.lock:
                self.deliver()

    def dispatch(self, record: Record) -> None:
        for sink in self.sinks:
            sink._offer(record)
        if self.tee is not None:
            self.tee._offer(record)

    def deliver(self) -> None:
        """Hand everything queued to the sinks (caller holds the lock)."""
        while _guard.audit_deliver(4096):
            for sink in self.sinks:
                sink._end_batch()
        for sink in self.sinks:
            sink._end_batch()
        if self.tee is not None:
            self.tee._end_batch()
        self._report_failures()

    def _report_failures(self) -> None:
        now = time.monotonic()
        for sink in self.sinks:
            state = (sink.failures, sink.lost)
            if state != sink._reported and now - sink._reported_at >= _REPORT_INTERVAL:
                sink._reported, sink._reported_at = state, now
                _guard.emit("audit", "audit.sink", "sink_failed", None, sink.name, None, {
                    "failures": sink.failures, "lost": sink.lost,
                    "backlog": len(sink._backlog), "error": sink.last_error})

    def after_fork_child(self) -> None:
        self.lock = threading.Lock()
        self.thread = None
        # What was queued at the fork (ring, backlogs, batch buffers) is the parent's
        # to deliver: the child writing it too put those records twice in the trail.
        _guard.take_undelivered()
        for sink in (*self.sinks, *((self.tee,) if self.tee is not None else ())):
            sink._forget_pending()
        if self.active:
            self.active = False
            self.start()


_writer = _Writer()


def _drain_seccomp_traps() -> None:
    # Trap-mode seccomp denials wait in a signal-safe ring of their own; move them
    # into the audit stream whenever the writer wakes or someone flushes.  Keyed on
    # the filter, not the handler: drain() reports a handler that was replaced.
    seccomp = sys.modules.get("sdk_guard.seccomp")
    if seccomp is not None and seccomp.trap_installed():
        seccomp.drain()


def add_sink(sink: Sink) -> Sink:
    """Attach SINK (records queued before it was added are delivered to it too)."""
    if not isinstance(sink, Sink):
        raise TypeError(f"expected an sdk_guard.audit.Sink, got {type(sink).__name__}")
    with _writer.lock:
        # The default log sink stands in only while nothing else is attached.
        kept = tuple(s for s in _writer.sinks if not isinstance(s, DefaultLogSink))
        _writer.sinks = (*kept, sink)
    _writer.start()
    return sink


def attach_default_sink() -> bool:
    """Attach a DefaultLogSink if no sink is attached (install() calls this).  Returns
    whether one was attached."""
    with _writer.lock:
        if _writer.sinks:
            return False
        _writer.sinks = (DefaultLogSink(),)
    _writer.start()
    return True


def remove_sink(sink: Sink) -> None:
    """Flush to SINK, detach it and close it."""
    flush()
    with _writer.lock:
        _writer.sinks = tuple(s for s in _writer.sinks if s is not sink)
    sink.close()


def sinks() -> tuple[Sink, ...]:
    return _writer.sinks


def flush(timeout: float = 10.0) -> bool:
    """Deliver every queued record (and any pending ``dropped`` report) now.

    Returns False if the writer was busy in a blocking sink for TIMEOUT seconds.
    """
    _drain_seccomp_traps()
    if not _writer.active:
        return True
    if not _writer.lock.acquire(timeout=timeout):
        return False
    try:
        _writer.deliver()
    finally:
        _writer.lock.release()
    return True


def records() -> list[Record]:
    """Flush, then return every record held by the attached MemorySinks, by seq."""
    flush()
    out = [r for s in _writer.sinks if isinstance(s, MemorySink) for r in s.records]
    out.sort(key=lambda r: r["seq"])
    return out


def stats() -> dict[str, Any]:
    """Ring counters (seq, drops, fill) and per-sink delivery/failure counts."""
    out: dict[str, Any] = dict(_guard.audit_counters())
    out["sinks"] = [s.stats() for s in _writer.sinks]
    return out


@contextmanager
def writer_paused() -> Iterator[None]:
    """Stop the writer thread for the duration (records queue meanwhile).

    ``lockdown()`` uses it so the process has a single OS thread when a Landlock
    domain or seccomp filter is applied; the restarted writer inherits both.
    """
    was_active = _writer.active
    if was_active:
        flush()
        _writer.stop()
        _guard.set_audit_dispatcher(None)
        _writer.active = False
    try:
        yield
    finally:
        if was_active:
            _writer.start()


def _at_exit() -> None:
    tee = _writer.tee
    if tee is not None and not _writer.active:
        for record in _guard.take_undelivered():
            tee._offer(record)
        tee._end_batch()
    if _writer.active:
        flush(timeout=5.0)
        _writer.stop(timeout=1.0)
        with _writer.lock:
            _writer.deliver()
            for sink in _writer.sinks:
                sink.close()
        _guard.set_audit_dispatcher(None)
        _writer.active = False


atexit.register(_at_exit)
os.register_at_fork(after_in_child=_writer.after_fork_child)


# ---- policy [audit] section ---------------------------------------------------------

_PLACEHOLDERS: Final = ("{data}", "{home}", "{tmp}", "{prefix}")
_SINK_KEYS: Final = {
    "jsonl": {"type", "path", "flush", "fsync", "max_bytes", "backups"},
    "logging": {"type", "logger", "level", "deny_level"},
    "memory": {"type", "maxlen"},
}
_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _expect(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise PolicyError(key, msg)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_text(value: str, key: str) -> None:
    """A NUL or a lone surrogate reaches no file system, logger or terminal intact."""
    _expect("\0" not in value, key, "contains a NUL character; remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PolicyError(key, f"{ascii(value)[:80]} contains a lone surrogate, which is not "
                               "a character; write valid Unicode") from None


def _placeholder_fields(value: str, key: str) -> list[tuple[str, str | None]]:
    """(literal, placeholder name or None) pieces of VALUE; a literal brace is doubled."""
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise PolicyError(key, f"{value!r}: {exc}; a literal brace is doubled ({{{{ or }}}})"
                          ) from None
    out: list[tuple[str, str | None]] = []
    for literal, field, spec, conv in parsed:
        _expect(field is None or (not spec and not conv and f"{{{field}}}" in _PLACEHOLDERS),
                key, f"unknown placeholder in {value!r}; use one of {', '.join(_PLACEHOLDERS)} "
                     "(a literal brace is doubled)")
        out.append((literal, field))
    return out


def _check_path(value: Any, key: str) -> str:
    _expect(isinstance(value, str) and value.strip() != "", key,
            'must be a non-empty path string, e.g. "{data}/audit.jsonl"')
    _check_text(value, key)
    _placeholder_fields(value, key)
    return str(value)


def _parse_sink(entry: Any, key: str) -> dict[str, Any]:
    _expect(isinstance(entry, Mapping), key,
            'must be a table such as {type = "jsonl", path = "{data}/audit.jsonl"}')
    kind = entry.get("type")
    _expect(isinstance(kind, str) and kind in _SINK_KEYS, f"{key}.type",
            f"must be one of {', '.join(sorted(_SINK_KEYS))}, not {kind!r}")
    for k in entry:
        _expect(isinstance(k, str) and k in _SINK_KEYS[kind], f"{key}.{k}",
                f"unknown key for a {kind} sink; allowed: {', '.join(sorted(_SINK_KEYS[kind]))}")
    out: dict[str, Any] = {"type": kind}
    if kind == "jsonl":
        _expect("path" in entry, f"{key}.path", 'is required, e.g. path = "{data}/audit.jsonl"')
        out["path"] = _check_path(entry["path"], f"{key}.path")
        flush_mode = entry.get("flush", "line")
        _expect(isinstance(flush_mode, str) and flush_mode in ("line", "batch"), f"{key}.flush",
                f'must be "line" or "batch", not {flush_mode!r}')
        out["flush"] = flush_mode
        fsync = entry.get("fsync", False)
        _expect(isinstance(fsync, bool), f"{key}.fsync", "must be true or false")
        out["fsync"] = fsync
        max_bytes = entry.get("max_bytes")
        _expect(max_bytes is None or (_is_int(max_bytes) and max_bytes > 0), f"{key}.max_bytes",
                "must be a positive number of bytes")
        out["max_bytes"] = max_bytes
        backups = entry.get("backups", 3)
        _expect(_is_int(backups) and 1 <= backups <= 100, f"{key}.backups",
                "must be a whole number from 1 to 100")
        out["backups"] = backups
    elif kind == "logging":
        logger = entry.get("logger", "sdk_guard.audit")
        _expect(isinstance(logger, str) and logger != "", f"{key}.logger",
                'must be a logger name, e.g. "sdk_guard.audit"')
        _check_text(logger, f"{key}.logger")
        out["logger"] = logger
        for lk, default in (("level", "INFO"), ("deny_level", "WARNING")):
            lv = entry.get(lk, default)
            _expect(isinstance(lv, str) and lv.upper() in _LEVELS, f"{key}.{lk}",
                    f"must be one of {', '.join(_LEVELS)}, not {lv!r}")
            out[lk] = lv.upper()
    else:
        maxlen = entry.get("maxlen")
        _expect(maxlen is None or (_is_int(maxlen) and maxlen > 0), f"{key}.maxlen",
                "must be a positive whole number")
        out["maxlen"] = maxlen
    return out


def parse_config(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a policy's ``[audit]`` section; returns it normalised with defaults.

    Raises PolicyError naming the dotted key (``audit.sinks[0].path``) and the fix.
    """
    section = {} if section is None else section
    _expect(isinstance(section, Mapping), "audit", "must be a table")
    allowed = {"sinks", "ring_capacity", "overflow_wait", "spans"}
    for k in section:
        _expect(isinstance(k, str) and k in allowed, f"audit.{k}",
                f"unknown key; allowed: {', '.join(sorted(allowed))}")
    raw_sinks = section.get("sinks", [])
    _expect(isinstance(raw_sinks, list), "audit.sinks",
            'must be a list of tables, e.g. sinks = [{type = "jsonl", path = "{data}/audit.jsonl"}]')
    out: dict[str, Any] = {
        "sinks": [_parse_sink(e, f"audit.sinks[{i}]") for i, e in enumerate(raw_sinks)]}
    cap = section.get("ring_capacity")
    cap_max = _guard.AUDIT_RING_MAX_CAPACITY
    _expect(cap is None or (_is_int(cap) and 1 <= cap <= cap_max), "audit.ring_capacity",
            f"must be a whole number from 1 to {cap_max} "
            f"(default {_guard.AUDIT_RING_DEFAULT_CAPACITY})")
    out["ring_capacity"] = cap
    wait = section.get("overflow_wait")
    wait_max = _guard.AUDIT_OVERFLOW_WAIT_MAX
    _expect(wait is None or (isinstance(wait, (int, float)) and not isinstance(wait, bool)
                             and 0 <= wait <= wait_max), "audit.overflow_wait",
            f"must be a number of seconds from 0 to {wait_max:g} "
            f"(default {_guard.AUDIT_OVERFLOW_WAIT_DEFAULT})")
    out["overflow_wait"] = float(wait) if wait is not None else None
    spans = section.get("spans", True)
    _expect(isinstance(spans, bool), "audit.spans", "must be true or false")
    out["spans"] = spans
    return out


def _expand(path: str, placeholders: Mapping[str, str], key: str) -> str:
    values = {"home": os.path.expanduser("~"), "tmp": tempfile.gettempdir(),
              "prefix": sys.prefix}
    values.update({k.strip("{}"): os.fspath(v) for k, v in placeholders.items()})
    out: list[str] = []
    for literal, field in _placeholder_fields(path, key):
        out.append(literal)
        if field is not None:
            _expect(field in values, key, f"{{{field}}} is not defined here; pass {field}=... "
                    "to configure() or use an absolute path")
            out.append(values[field])
    return "".join(out)


def configure(config: Mapping[str, Any], placeholders: Mapping[str, str] | None = None
              ) -> list[Sink]:
    """Apply a section returned by :func:`parse_config`: ring settings, then sinks.

    PLACEHOLDERS maps ``data`` (and optionally home/tmp/prefix) to directories for
    ``{data}``-style paths.  Returns the sinks it added.
    """
    if config.get("ring_capacity") is not None or config.get("overflow_wait") is not None:
        if config.get("ring_capacity") is not None:
            flush()
        _guard.audit_configure(capacity=config.get("ring_capacity"),
                               overflow_wait=config.get("overflow_wait"))
    _writer.record_spans = bool(config.get("spans", True))
    made: list[Sink] = []
    for i, entry in enumerate(config.get("sinks", [])):
        kind = entry["type"]
        if kind == "jsonl":
            path = _expand(entry["path"], placeholders or {}, f"audit.sinks[{i}].path")
            made.append(JsonlSink(path, flush=entry["flush"], fsync=entry["fsync"],
                                  max_bytes=entry["max_bytes"], backups=entry["backups"]))
        elif kind == "logging":
            made.append(LoggingSink(entry["logger"], level=getattr(logging, entry["level"]),
                                    deny_level=getattr(logging, entry["deny_level"])))
        else:
            made.append(MemorySink(maxlen=entry["maxlen"]))
    for sink in made:
        add_sink(sink)
    return made


_TELEMETRY_SINKS: Final = ("JournaldSink", "OTelLogSink", "SyslogSink")
if TYPE_CHECKING:
    from ._telemetry_sinks import JournaldSink, OTelLogSink, SyslogSink


def __getattr__(name: str) -> Any:
    # Sinks for existing collectors (OpenTelemetry, syslog, journald) live in their
    # own module, imported on first use: logging.handlers and socket are not free, and
    # most processes never use them.
    if name in _TELEMETRY_SINKS:
        from . import _telemetry_sinks
        return getattr(_telemetry_sinks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
