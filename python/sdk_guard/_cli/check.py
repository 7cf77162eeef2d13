"""``python -m sdk_guard check POLICY``: validate a policy and print it resolved."""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import PolicyError
from .._toml import to_toml
from ..policy import Policy


def parse_vars(pairs: list[str]) -> dict[str, str]:
    """--var NAME=VALUE pairs as a dict; ValueError naming the pair and the fix."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--var {pair!r}: write NAME=VALUE, e.g. --var data=/srv/app")
        out[name] = value
    return out


def _schema_problems(path: str) -> list[str] | None:
    """Schema errors of the raw document at PATH; None if jsonschema is missing."""
    import tomllib
    from pathlib import Path

    from .._schema import schema_errors
    text = Path(path).read_text(encoding="utf-8")
    doc = json.loads(text) if path.lower().endswith(".json") else tomllib.loads(text)
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
        print("check: name a POLICY file (or --schema)", file=sys.stderr)
        return 2
    try:
        variables = parse_vars(args.var)
    except ValueError as exc:
        print(f"check: {exc}", file=sys.stderr)
        return 2
    try:
        policy = Policy.from_file(args.policy, variables=variables or None)
    except PolicyError as exc:
        print(f"{args.policy}: invalid policy: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{args.policy}: cannot read policy: {exc.strerror or exc}", file=sys.stderr)
        return 1
    problems = _schema_problems(args.policy)
    if problems is None:
        print(f"{args.policy}: JSON Schema not checked (jsonschema is not installed: "
              "pip install sdk-guard[schema])", file=sys.stderr)
    elif problems:
        # Policy accepted what the schema refuses: a bug in one of the two, never hidden.
        for p in problems:
            print(f"{args.policy}: schema: {p}", file=sys.stderr)
        return 1
    if args.json:
        doc = {"policy": policy.data, "spec": policy.to_spec()} if args.spec else policy.data
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(f"# {args.policy}: valid; resolved (templates expanded, paths resolved)")
        print(to_toml(policy.data), end="")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "check", help="validate a policy file and print it resolved",
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
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="set a template variable, e.g. --var data=/srv/app (repeatable)")
    p.set_defaults(func=_run)
