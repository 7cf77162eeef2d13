"""The sinks: where the writer thread delivers records, in ``seq`` order.

:class:`Sink` is the base (delivery counters, the backlog of records a failing sink
keeps for retry); :class:`JsonlSink`, :class:`LoggingSink`, :class:`DefaultLogSink`,
:class:`MemorySink` and :class:`CallbackSink` are the built-in ones.  The sinks for
existing collectors (OpenTelemetry, syslog, journald) are in ``_telemetry_sinks``,
imported only when first named.
"""
from __future__ import annotations

import collections
import logging
import os
from collections.abc import Callable
from typing import Any, Final

from ._record import Record, _dumps

# Records a failing sink keeps for retry; beyond this they are counted as lost.
SINK_BACKLOG_MAX: Final = 10_000
# Lines a batch-mode JsonlSink joins into one write.
JSONL_BATCH_MAX: Final = 1024


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

    def _failure_report(self, now: float, interval: float) -> dict[str, Any] | None:
        """What the writer reports as audit.sink sink_failed, when failures or losses
        changed since the last report and INTERVAL seconds have passed; else None."""
        state = (self.failures, self.lost)
        if state == self._reported or now - self._reported_at < interval:
            return None
        self._reported, self._reported_at = state, now
        return {"failures": self.failures, "lost": self.lost,
                "backlog": len(self._backlog), "error": self.last_error}


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
