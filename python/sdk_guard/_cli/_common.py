"""What the subcommands share: adding a command, printing its result as JSON or text,
reporting a failure with its exit status, and the arguments several commands take."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Run: TypeAlias = Callable[[argparse.Namespace], int]

VAR_HELP = "set a template variable, e.g. --var data=/srv/app (repeatable)"


def add_command(subparsers: Subparsers, name: str, run: Run, **kwargs: Any) -> argparse.ArgumentParser:
    """The parser of subcommand NAME (KWARGS: help, description, usage); RUN(args)
    gives its exit status."""
    parser = subparsers.add_parser(name, **kwargs)
    parser.set_defaults(func=run)
    return parser


def add_group(subparsers: Subparsers, name: str, dest: str, **kwargs: Any) -> Subparsers:
    """Subcommand NAME made of subcommands of its own (KWARGS: help, description); one of
    them must be given, and args.DEST names it."""
    return subparsers.add_parser(name, **kwargs).add_subparsers(dest=dest, required=True)


def show(doc: object, lines: Iterable[str] = (), *, as_json: bool = True,
         indent: int | None = 2, sort_keys: bool = False,
         default: Callable[[Any], Any] | None = None) -> int:
    """Prints DOC as JSON, or with AS_JSON false the text LINES instead (pass a generator:
    the text is then only built when it is shown).  Returns 0, the exit status."""
    if as_json:
        print(json.dumps(doc, indent=indent, sort_keys=sort_keys, default=default))
    else:
        for line in lines:
            print(line)
    return 0


def fail(message: str, status: int) -> int:
    """Prints MESSAGE on stderr; returns STATUS, the exit status."""
    print(message, file=sys.stderr)
    return status


def add_var_option(parser: argparse.ArgumentParser, help_text: str = VAR_HELP) -> None:
    """--var NAME=VALUE, repeatable, into args.var (read it with parse_vars)."""
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help=help_text)


def parse_vars(pairs: list[str]) -> dict[str, str]:
    """--var NAME=VALUE pairs as a dict; ValueError naming the pair and the fix."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--var {pair!r}: write NAME=VALUE, e.g. --var data=/srv/app")
        out[name] = value
    return out


def after_dashes(rest: list[str]) -> list[str]:
    """A REMAINDER argument (the command a subcommand runs) without its leading --."""
    return rest[1:] if rest and rest[0] == "--" else list(rest)
