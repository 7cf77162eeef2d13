"""``python -m sdk_guard``: check, version, probe, explain, audit, media, egress, actions,
approvals."""
from __future__ import annotations

import argparse
import importlib
import sys

# Each subcommand lives in sdk_guard._cli_<name> and provides
# register(subparsers) -> None; the parser it adds sets func(args) -> int.
COMMANDS = ("check", "version", "probe", "explain", "audit", "media", "egress", "actions",
            "approvals")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sdk_guard",
                                     description="sdk_guard policy and audit tools")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"sdk_guard._cli_{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
