"""``python -m sdk_guard version``: package, extension and interpreter versions."""
from __future__ import annotations

import argparse
import json
import platform
import sys
import sysconfig


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
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"sdk_guard {info['sdk_guard']}")
    print(f"_guard    {info['_guard']} ({info['_guard_path']})")
    print(f"python    {info['python']} ({info['implementation']}, {info['platform']})")
    print(f"free-threaded build: {'yes' if info['free_threaded'] else 'no'}"
          f" (GIL {'enabled' if info['gil_enabled'] else 'disabled'})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "version", help="print sdk_guard, _guard and Python versions",
        description="Print the sdk_guard package version, the compiled _guard extension's "
                    "version and path, the Python version, and whether this is a "
                    "free-threaded build.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run)
