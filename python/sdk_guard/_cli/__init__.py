"""``python -m sdk_guard``: the subcommands, one module each.

Each module's ``register(subparsers)`` adds its parser, which sets ``func(args) -> int``
(the exit status).  A new subcommand is a module in this package, imported below and
listed in COMMANDS (in the order ``--help`` shows them).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Protocol

from . import actions, approvals, audit, check, egress, explain, learn, media, probe, run, version
from ._common import Subparsers


class Command(Protocol):
    def register(self, subparsers: Subparsers) -> None: ...


COMMANDS: dict[str, Command] = {
    "check": check,
    "version": version,
    "probe": probe,
    "explain": explain,
    "audit": audit,
    "media": media,
    "egress": egress,
    "actions": actions,
    "approvals": approvals,
    "run": run,
    "learn": learn,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sdk_guard",
                                     description="sdk_guard policy and audit tools")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS.values():
        command.register(sub)
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
