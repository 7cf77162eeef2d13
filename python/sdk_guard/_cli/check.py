"""``python -m sdk_guard check POLICY``: validate a policy and print it resolved."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from .._toml import to_toml
from ..errors import PolicyError
from ..policy import Policy, read_document
from ._common import Subparsers, add_command, add_var_option, fail, parse_vars, show


def _schema_problems(path: str) -> list[str] | None:
    """Schema errors of the raw document at PATH; None if jsonschema is missing."""
    from .._schema import schema_errors
    doc = read_document(path)
    try:
        return schema_errors(doc)
    except ImportError:
        return None


def _run(args: argparse.Namespace) -> int:
    if args.schema:
        from .._schema import policy_schema_text
        print(policy_schema_text(), end="")
        return 0
    if args.policy is None:
        return fail("check: name a POLICY file (or --schema)", 2)
    try:
        variables = parse_vars(args.var)
    except ValueError as exc:
        return fail(f"check: {exc}", 2)
    try:
        policy = Policy.from_file(args.policy, variables=variables or None)
    except PolicyError as exc:
        return fail(f"{args.policy}: invalid policy: {exc}", 1)
    except OSError as exc:
        return fail(f"{args.policy}: cannot read policy: {exc.strerror or exc}", 1)
    problems = _schema_problems(args.policy)
    if problems is None:
        print(f"{args.policy}: JSON Schema not checked (jsonschema is not installed: "
              "pip install sdk-guard[schema])", file=sys.stderr)
    elif problems:
        # Policy accepted what the schema refuses: a bug in one of the two, never hidden.
        for p in problems:
            print(f"{args.policy}: schema: {p}", file=sys.stderr)
        return 1
    doc = {"policy": policy.data, "spec": policy.to_spec()} if args.json and args.spec else policy.data
    return show(doc, _resolved(args.policy, policy), as_json=args.json, default=str)


def _resolved(path: str, policy: Policy) -> Iterator[str]:
    yield f"# {path}: valid; resolved (templates expanded, paths resolved)"
    yield to_toml(policy.data).removesuffix("\n")


def register(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers, "check", _run, help="validate a policy file and print it resolved",
        description="Validate POLICY (.toml or .json).  A valid policy is printed with "
                    "defaults filled in, templates expanded and paths resolved; an invalid "
                    "one prints the offending key and the fix on stderr and exits 1.  The file is "
                    "also checked against the JSON Schema (check --schema prints it).")
    p.add_argument("policy", nargs="?", help="policy file (.toml or .json)")
    p.add_argument("--schema", action="store_true",
                   help="print the policy file's JSON Schema (for editors) and exit")
    p.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    p.add_argument("--spec", action="store_true",
                   help="with --json, also print the flat spec the Process Guard installs")
    add_var_option(p)
