"""Start-up module of the test suite's child interpreters: tees every audit record the
child produces to the suite's JSONL file, which ``_support.schema_plugin`` checks
against the audit event schema when the session ends.

``schema_plugin`` puts this directory on ``PYTHONPATH`` and names the file in
``SUITE_AUDIT_TEE`` (an empty value turns the tee off for one child).  An interpreter
that has a ``sitecustomize`` of its own still runs it.

The tee is an ordinary ``audit.JsonlSink``, attached through the public API, and it
keeps out of the child's way:

* It is attached when the child attaches its first sink, right after that sink
  (``audit.add_sink``): the writer thread starts when it would have started anyway,
  and records queued before go to the child's sink as they would.
* Where ``install()`` attaches the default log sink (``audit.attach_default_sink``),
  the default attached is a ``DefaultLogSink`` that also tees: it logs what the
  default logs, and the child's first ``add_sink`` replaces it as usual.
* ``audit.sinks()`` and the ``"sinks"`` list of ``audit.stats()`` do not show the tee.
* A child that never attaches a sink has its queued records written at exit (on
  3.11; later versions start no thread at shutdown, so there they go unchecked).
* A record delivered while one tee takes over from the other may be missed: the
  check covers nearly every record, and the child's sinks every one.

Nothing is imported here: the hooks go in when the child itself imports
``sdk_guard.audit`` (a one-shot finder wraps that module's loader).
"""
from __future__ import annotations

import atexit
import functools
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

TEE_ENV = "SUITE_AUDIT_TEE"
TEE_NAME = "suite-audit-tee"
AUDIT_MODULE = "sdk_guard.audit"
_HERE = os.path.dirname(os.path.abspath(__file__))


def _default_with_tee(audit: Any, tee: Any) -> Any:
    """A DefaultLogSink (same class name, same logging) that also writes every record
    to TEE (which it does not close: the tee outlives it)."""

    class DefaultLogSink(audit.DefaultLogSink):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.tee = tee

        def write(self, record: dict[str, Any]) -> None:
            self.tee.write(record)
            super().write(record)

        def end_batch(self) -> None:
            self.tee.end_batch()
            super().end_batch()

    return DefaultLogSink()


class _Tee:
    """The tee of one process and the wrapped public functions of its audit module."""

    def __init__(self, audit: Any, path: str) -> None:
        self.audit = audit
        # Opened now, at the import, as a child's own early sinks are: a Landlock
        # domain applied later (lockdown() before install()) cannot keep it out.
        self.jsonl = audit.JsonlSink(path, flush="batch", name=TEE_NAME)
        self.sink: Any = None       # the tee as a sink, once a sink of the child's is attached
        self.add_sink: Callable[[Any], Any] = audit.add_sink
        self.sinks: Callable[[], tuple[Any, ...]] = audit.sinks
        self.stats: Callable[[], dict[str, Any]] = audit.stats

    def _attach(self) -> None:
        if self.sink is None:
            self.sink = self.jsonl
            self.add_sink(self.sink)

    def install(self) -> None:
        audit = self.audit
        tee = self

        @functools.wraps(self.add_sink)
        def add_sink(sink: Any) -> Any:
            out = tee.add_sink(sink)      # replaces a default (and its tee) as usual
            tee._attach()
            return out

        @functools.wraps(audit.attach_default_sink)
        def attach_default_sink() -> bool:
            if any(s is not tee.sink for s in tee.sinks()):
                return False
            tee.add_sink(_default_with_tee(audit, tee.jsonl))
            return True

        @functools.wraps(self.sinks)
        def sinks() -> tuple[Any, ...]:
            return tuple(s for s in tee.sinks() if s is not tee.sink)

        @functools.wraps(self.stats)
        def stats() -> dict[str, Any]:
            out = tee.stats()
            out["sinks"] = [s for s in out["sinks"] if s.get("name") != TEE_NAME]
            return out

        audit.add_sink = add_sink
        audit.attach_default_sink = attach_default_sink
        audit.sinks = sinks
        audit.stats = stats
        # Registered after the audit module's own handler, so it runs before it.
        atexit.register(self.at_exit)

    def at_exit(self) -> None:
        """A child that attached no sink still has its records queued: write them."""
        if self.sink is not None or tee_is_default(self.sinks()):
            return
        try:
            self._attach()
            self.audit.flush()
        except RuntimeError:
            pass  # no new thread at interpreter shutdown (3.12+): those records go unchecked


def tee_is_default(sinks: tuple[Any, ...]) -> bool:
    return any(getattr(s, "tee", None) is not None for s in sinks)


class _AttachAfterExec(importlib.abc.Loader):
    """Runs the real loader, then installs the tee in the module it made."""

    def __init__(self, inner: importlib.abc.Loader, path: str) -> None:
        self._inner = inner
        self._path = path

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        _Tee(module, self._path).install()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _TeeOnImport(importlib.abc.MetaPathFinder):
    """One-shot finder: steps aside at the first import of sdk_guard.audit."""

    def __init__(self, path: str) -> None:
        self._path = path

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname != AUDIT_MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _AttachAfterExec(spec.loader, self._path)
        return spec


def _run_shadowed_sitecustomize() -> None:
    """This module shadows any sitecustomize later on sys.path; run that one too."""
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


def _install() -> None:
    path = os.environ.get(TEE_ENV)
    if not path:
        return
    audit = sys.modules.get(AUDIT_MODULE)
    if audit is not None:
        _Tee(audit, path).install()
    else:
        sys.meta_path.insert(0, _TeeOnImport(path))


_run_shadowed_sitecustomize()
_install()
