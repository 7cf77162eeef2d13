"""OpenTelemetry: audit records carry the current trace and span ids.

With ``opentelemetry-api`` installed, :func:`enable_trace_ids` wraps OpenTelemetry's
runtime context (``sdk_guard.install`` calls :func:`enable_when_imported`, which does
it as soon as ``opentelemetry.context`` is imported, so a process that never uses
OpenTelemetry never imports it): whenever a context is
attached (``tracer.start_as_current_span``, ``context.attach``), the ids of its span
are written, as two hex strings, into item 8 of sdk_guard's span state, and the C
audit code copies them into every record as ``otel_trace_id`` and ``otel_span_id``.  The hook
itself never calls OpenTelemetry: the ids are computed when the context is attached,
outside the hook, and read back as an exact ``(str, str)`` tuple.

Records then sit next to the request's trace in any backend; ``OTelLogSink``
(``sdk_guard.audit``) ships them through the OpenTelemetry Logs API.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from . import _guard

__all__ = ["enable_trace_ids", "enable_when_imported", "trace_ids_enabled"]

_lock = threading.Lock()
_enabled = False
_EMPTY = (None, None, None, None, None, None, (), None)


_trace_api: tuple[Any, Any] | None = None     # (SpanContext, get_current_span) once loaded


def _ids_of(context: Any) -> tuple[str, str] | None:
    global _trace_api
    if _trace_api is None:
        # Without opentelemetry.trace (fully) loaded no span can be current; importing
        # it here could re-enter its own import (it imports opentelemetry.context).
        trace = sys.modules.get("opentelemetry.trace")
        span_context = getattr(trace, "SpanContext", None)
        get_current_span = getattr(trace, "get_current_span", None)
        if span_context is None or get_current_span is None:
            return None
        _trace_api = (span_context, get_current_span)
    span_context, get_current_span = _trace_api
    sc = get_current_span(context).get_span_context()
    if type(sc) is not span_context or not sc.is_valid:
        return None
    trace_id, span_id = sc.trace_id, sc.span_id
    if type(trace_id) is not int or type(span_id) is not int:
        return None
    return f"{trace_id:032x}", f"{span_id:016x}"


class _Token:
    __slots__ = ("inner", "ours")

    def __init__(self, inner: Any, ours: Any) -> None:
        self.inner = inner
        self.ours = ours


def _wrap(runtime: Any) -> Any:
    from opentelemetry.context.context import _RuntimeContext

    class GuardedRuntimeContext(_RuntimeContext):
        """OpenTelemetry's runtime context, also mirroring the span ids into
        sdk_guard's span state (one context variable set per attach)."""

        def attach(self, context: Any) -> Any:
            inner = runtime.attach(context)
            # The C side copies the pair into a new span state (host-only: this
            # method is sdk_guard's code, whoever attached the context).
            return _Token(inner, _guard.span_otel(_ids_of(context)))

        def get_current(self) -> Any:
            return runtime.get_current()

        def detach(self, token: Any) -> None:
            if isinstance(token, _Token):
                try:
                    _guard.span_exit(token.ours)
                except ValueError:
                    pass      # detached in another context: OpenTelemetry reports it
                runtime.detach(token.inner)
            else:
                runtime.detach(token)

    return GuardedRuntimeContext()


def enable_trace_ids() -> bool:
    """Mirror the current OpenTelemetry span's ids into audit records; returns False
    when opentelemetry-api is not installed.  Idempotent."""
    global _enabled
    with _lock:
        if _enabled:
            return True
        if importlib.util.find_spec("opentelemetry") is None \
                or importlib.util.find_spec("opentelemetry.context") is None:
            return False
        import opentelemetry.context as otel_context
        otel_context._RUNTIME_CONTEXT = _wrap(otel_context._RUNTIME_CONTEXT)
        # A span already current when this runs (e.g. install inside a request).
        current = otel_context.get_current()
        ids = _ids_of(current)
        if ids is not None:
            _guard.span_otel(ids)
        _enabled = True
        return True


def trace_ids_enabled() -> bool:
    return _enabled


class _EnableOnImport(importlib.abc.MetaPathFinder):
    """Finds opentelemetry.context like the path finder does, and enables trace ids
    right after the module has run; every other name is left to the other finders."""

    _NAME = "opentelemetry.context"

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self._NAME:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        run = getattr(loader, "exec_module", None)
        if run is None:
            return spec

        def exec_module(module: ModuleType) -> None:
            run(module)
            sys.modules[fullname] = module       # enable_trace_ids imports it by name
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            enable_trace_ids()

        spec.loader = _Loader(loader, exec_module)
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: Any, exec_module: Any) -> None:
        self._inner = inner
        self._exec = exec_module

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create = getattr(self._inner, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        self._exec(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def enable_when_imported() -> None:
    """Enable trace ids now if OpenTelemetry's context module is loaded, else as soon
    as it is (nothing when opentelemetry is not installed)."""
    if "opentelemetry.context" in sys.modules:
        enable_trace_ids()
        return
    if _enabled or importlib.util.find_spec("opentelemetry") is None:
        return
    if not any(isinstance(f, _EnableOnImport) for f in sys.meta_path):
        # After the guard's own finder, before the path finder that would find it.
        sys.meta_path.insert(1 if sys.meta_path else 0, _EnableOnImport())
