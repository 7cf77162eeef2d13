"""The writer: the one consumer of the audit ring.

The C side builds every record, stamps its ``seq`` and queues it in the ring; a
daemon thread started by the first :func:`add_sink` takes records off in ``seq``
order and hands each to every attached sink.  :func:`flush` delivers synchronously
under the same lock, so sinks see one order whoever delivers.  ``lockdown()`` stops
the thread around applying Landlock and seccomp (:func:`writer_paused`); a fork child
restarts its own.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from .. import _guard
from ._record import Record
from ._sinks import DefaultLogSink, MemorySink, Sink

_REPORT_INTERVAL: Final = 1.0
_WAIT_POLL: Final = 0.25


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

    def start(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        self.stopping = False
        _guard.set_audit_dispatcher(self.dispatch)
        self.active = True
        thread = threading.Thread(target=self.run, name="sdk_guard-audit", daemon=True)
        try:
            thread.start()
        except RuntimeError:
            # At interpreter shutdown (3.12+) no thread starts: nothing is active, and
            # what is queued stays in the ring for _at_exit / take_undelivered.
            _guard.set_audit_dispatcher(None)
            self.active = False
            raise
        self.thread = thread

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

    def deliver(self) -> None:
        """Hand everything queued to the sinks (caller holds the lock)."""
        while _guard.audit_deliver(4096):
            for sink in self.sinks:
                sink._end_batch()
        for sink in self.sinks:
            sink._end_batch()
        self._report_failures()

    def _report_failures(self) -> None:
        now = time.monotonic()
        for sink in self.sinks:
            report = sink._failure_report(now, _REPORT_INTERVAL)
            if report is not None:
                _guard.emit("audit", "audit.sink", "sink_failed", None, sink.name, None,
                            report)

    def after_fork_child(self) -> None:
        self.lock = threading.Lock()
        self.thread = None
        # What was queued at the fork (ring, backlogs, batch buffers) is the parent's
        # to deliver: the child writing it too put those records twice in the trail.
        _guard.take_undelivered()
        for sink in self.sinks:
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
