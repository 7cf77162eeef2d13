"""``python -m sdk_guard run --policy P [--lockdown] [--allow-read PATH ...] script.py | -m module [args]``

Installs the guard (and, with ``--lockdown``, the kernel lockdown), then runs the
program as ``python`` would: ``sys.argv``, ``__main__``, ``sys.path[0]``, its exit
status and its traceback (without this command's own frames).  A bad policy stops
before any of the program runs, with the ``PolicyError`` text and exit status 2.
"""
from __future__ import annotations

import argparse
import os
import runpy
import sys
from types import TracebackType

from .._startup import EXIT_BAD_POLICY, describe_failure, start
from ._common import Subparsers, add_command, add_var_option, after_dashes, fail, parse_vars

_OWN_FILES = (os.path.abspath(__file__), os.path.abspath(runpy.__file__))


def _user_traceback(tb: TracebackType | None) -> TracebackType | None:
    """TB from the program's first frame on: python shows no runner frames either."""
    while tb is not None and (os.path.abspath(tb.tb_frame.f_code.co_filename) in _OWN_FILES
                              or tb.tb_frame.f_code.co_filename.startswith("<frozen runpy")):
        tb = tb.tb_next
    return tb


def _run(args: argparse.Namespace) -> int:
    program = after_dashes(args.program)
    if args.module is None and not program:
        return fail("run: name a script or -m MODULE to run", EXIT_BAD_POLICY)
    from .. import current_guard
    if current_guard() is not None:
        return fail("run: sdk_guard is already installed in this interpreter (SDK_GUARD_POLICY?); "
                    "unset SDK_GUARD_POLICY or set SDK_GUARD_DISABLE=1", EXIT_BAD_POLICY)
    script = ""
    try:
        variables = parse_vars(args.var)
        if args.module is None:
            script = os.path.abspath(program[0])
            if not os.path.exists(script):
                return fail(f"run: can't open file {program[0]!r}: no such file", EXIT_BAD_POLICY)
            # python puts the script's directory first on the import path.
            sys.path[0] = os.path.dirname(script)
        else:
            # python -m puts the current directory first.
            sys.path[0] = os.getcwd()
        start(args.policy, lockdown=args.lockdown, allow_read=args.allow_read,
              variables=variables)
    except Exception as exc:
        return fail(f"sdk_guard run: {args.policy}: {describe_failure(exc)}", EXIT_BAD_POLICY)

    try:
        if args.module is None:
            sys.argv = [program[0], *program[1:]]
            runpy.run_path(script, run_name="__main__")
        else:
            sys.argv = ["-m", *program]   # runpy sets argv[0] to the module's file
            runpy.run_module(args.module, run_name="__main__", alter_sys=True)
    except SystemExit:
        raise
    except BaseException as exc:  # as python does: the hook prints it, status 1
        tb = _user_traceback(exc.__traceback__)
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    return 0


def register(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers, "run", _run, help="install the guard from a policy, then run a script or module",
        usage="%(prog)s --policy P [--lockdown] [--allow-read PATH ...] "
              "(script.py | -m module) [args ...]",
        description="Install sdk_guard from POLICY (and with --lockdown its kernel "
                    "lockdown), then run the program as python would.  A bad policy "
                    "exits 2 before the program starts.")
    p.add_argument("--policy", required=True, help="policy file (.toml or .json)")
    p.add_argument("--lockdown", action="store_true",
                   help="also apply the policy's [lockdown] (Landlock + seccomp) first")
    p.add_argument("--allow-read", action="append", default=[], metavar="PATH",
                   help="with --lockdown: also let the process read PATH (repeatable)")
    add_var_option(p)
    p.add_argument("-m", dest="module", metavar="MODULE",
                   help="run library module MODULE as a script (the rest are its args)")
    p.add_argument("program", nargs=argparse.REMAINDER,
                   help="script.py and its arguments (or the module's arguments)")
