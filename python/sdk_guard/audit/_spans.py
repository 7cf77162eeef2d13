"""Correlation spans: on whose behalf code runs.

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

import contextvars
import functools
import os
import random
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar

from .. import _guard
from ._record import plain_copy
from ._writer import _writer

F = TypeVar("F", bound=Callable[..., Any])

KINDS: Final = ("action", "task", "model_call", "storage_mutation")
_KIND_INDEX: Final = {k: i for i, k in enumerate(KINDS)}
_ID_PREFIX: Final = {"action": "a", "task": "t", "model_call": "m", "storage_mutation": "s"}


_ids = random.Random(int.from_bytes(os.urandom(16), "little"))


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


class span:  # noqa: N801 - a function-like context manager: audit.span(...)
    """Open a span of KIND (action, task, model_call, storage_mutation) named NAME.

    Spans nest; ``user``/``org`` set here apply to everything inside unless an inner
    span sets its own.  While sinks are attached, opening a span records an
    ``audit.span`` event with its name, parent and attributes, so the parent chain of
    every id in the trail can be followed.

    A class rather than a ``@contextmanager`` generator: a storage_mutation span opens
    on every flush, and the generator machinery cost more than the span itself.
    Arguments are checked when the span is entered, as they were by the generator.
    """

    __slots__ = ("_args", "_token")

    def __init__(self, kind: str, name: str, *, user: str | None = None,
                 org: str | None = None, **attrs: Any) -> None:
        self._args = (kind, name, user, org, attrs)
        self._token: object = None

    def __enter__(self) -> Span:
        if self._token is not None:
            raise RuntimeError("this span() is already open; call span() again")
        kind, name, user, org, attrs = self._args
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
        except BaseException:
            _guard.span_exit(token)
            raise
        self._token = token
        return sp

    def __exit__(self, *exc: object) -> None:
        token, self._token = self._token, None
        if token is not None:
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
