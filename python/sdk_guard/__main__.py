"""``python -m sdk_guard``: check, version, probe, explain, audit, media, egress, actions,
approvals, run, learn."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# Each subcommand lives in sdk_guard._cli_<name> and provides
# register(subparsers) -> None; the parser it adds sets func(args) -> int.
COMMANDS = ("check", "version", "probe", "explain", "audit", "media", "egress", "actions",
            "approvals", "run", "learn")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sdk_guard",
                                     description="sdk_guard policy and audit tools")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"sdk_guard._cli_{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # File names arrive as str with surrogate escapes and records may hold any text:
    # whatever is printed, the streams show it escaped instead of raising.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as a shell tool does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
