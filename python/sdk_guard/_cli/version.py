"""``python -m sdk_guard version``: package, extension and interpreter versions."""
from __future__ import annotations

import argparse
import platform
import sys
import sysconfig
from collections.abc import Iterator

from ._common import Subparsers, add_command, show


def versions() -> dict[str, object]:
    from .. import __version__, _guard
    gil_disabled = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    return {
        "sdk_guard": __version__,
        "_guard": getattr(_guard, "__version__", "unknown"),
        "_guard_path": getattr(_guard, "__file__", None),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "free_threaded": gil_disabled,
        "gil_enabled": is_gil_enabled() if is_gil_enabled is not None else True,
        "platform": f"{sys.platform}-{platform.machine()}",
    }


def _run(args: argparse.Namespace) -> int:
    info = versions()
    return show(info, _lines(info), as_json=args.json)


def _lines(info: dict[str, object]) -> Iterator[str]:
    yield f"sdk_guard {info['sdk_guard']}"
    yield f"_guard    {info['_guard']} ({info['_guard_path']})"
    yield f"python    {info['python']} ({info['implementation']}, {info['platform']})"
    yield (f"free-threaded build: {'yes' if info['free_threaded'] else 'no'}"
           f" (GIL {'enabled' if info['gil_enabled'] else 'disabled'})")


def register(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers, "version", _run, help="print sdk_guard, _guard and Python versions",
        description="Print the sdk_guard package version, the compiled _guard extension's "
                    "version and path, the Python version, and whether this is a "
                    "free-threaded build.")
    p.add_argument("--json", action="store_true", help="print JSON")
