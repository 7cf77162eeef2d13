"""``python -m sdk_guard explain POLICY``: what the policy lets each extension do, and
what lockdown() would enforce, for review.

Prints, per extension, what it may and may not do in plain sentences; then the seccomp
program the policy's ``[lockdown] seccomp`` mode compiles to, as labelled assembly with
the syscall names it denies, then the Landlock rules the policy would add.  Nothing is
installed.
"""
from __future__ import annotations

import argparse

from ..errors import GuardError, PolicyError
from ..landlock import describe_landlock, describe_ruleset
from ..policy import PRESETS, Policy
from ._common import Subparsers, add_command, fail

_FLAGS = (
    ("process.spawn", "start processes (a child process runs unguarded)"),
    ("process.signal", "send signals to processes"),
    ("process.env", "read or change the process environment"),
    ("native", "load native code (ctypes, cffi, .so files)"),
    ("introspection", "inspect frames, walk the garbage collector or set trace hooks"),
    ("dynamic_code", "run dynamically created code (exec, compile, pickle by name)"),
    ("threads", "start threads"),
)


def _listing(items: list[str], none: str) -> str:
    return ", ".join(items) if items else none


def extension_sentences(policy: Policy) -> list[str]:
    """Per extension, what it may and may not do, as plain sentences."""
    data = policy.data
    host = data["host"]
    enforce = data["guard"]["mode"] == "enforce"
    out = [f"# what each extension may do under {policy.source or 'this policy'}", "",
           ("Mode: enforce; anything not listed is refused with PolicyViolation and "
            "recorded." if enforce else
            "Mode: monitor; NOTHING is refused: what is not listed is only recorded as "
            "would_deny.")]
    public = host["public"]
    for name, ext in data["extensions"].items():
        origin = (f"distribution {ext['distribution']}, package {ext['package']}"
                  if ext.get("distribution") else f"package {ext['package']}")
        if ext.get("path"):
            origin += f", imported from {ext['path']}"
        out += ["", f"## {name} ({origin})"]
        allow = []
        for pat in ext["imports"]["allow"]:
            if pat in PRESETS:
                allow.append(f"{pat} ({len(PRESETS[pat])} side-effect-free modules)")
            elif pat.endswith(".*"):
                allow.append(f"any submodule of {pat[:-2]}")
            elif pat == "*":
                allow.append("ANY module")
            else:
                allow.append(pat)
        sentence = f"May import: its own package {ext['package']}"
        if public:
            sentence += f"; the host's public modules ({', '.join(public)})"
        sentence += f"; {_listing(allow, 'nothing else')}."
        out.append(sentence)
        if ext["imports"]["deny"]:
            out.append(f"May never import: {', '.join(ext['imports']['deny'])}.")
        if host["private"]:
            out.append(f"May never import the host's private modules: "
                       f"{', '.join(host['private'])}.")
        out.append(f"May read files under: {_listing(ext['fs']['read'], 'nothing (no files)')}.")
        out.append(f"May write files under: {_listing(ext['fs']['write'], 'nothing (no files)')}.")
        out.append(f"May connect to: {_listing(ext['net']['connect'], 'nothing (no network)')}.")
        if ext["net"]["bind"]:
            out.append(f"May listen on: {', '.join(ext['net']['bind'])}.")
        else:
            out.append("May not listen on any address.")
        if ext["net"]["resolve"]:
            out.append(f"May resolve host names: {', '.join(ext['net']['resolve'])} "
                       "(and those in net.connect).")
        flat = {"process.spawn": ext["process"]["spawn"],
                "process.signal": ext["process"]["signal"],
                "process.env": ext["process"].get("env", False),
                **{k: ext[k] for k in ("native", "introspection", "dynamic_code", "threads")}}
        may = [what for key, what in _FLAGS if flat[key]]
        may_not = [what for key, what in _FLAGS if not flat[key]]
        if may:
            out.append(f"May: {'; '.join(may)}.")
        if may_not:
            out.append(f"May not: {'; '.join(may_not)}.")
        if ext["approve"]:
            out.append(f"Needs the host's approval, each time, for: "
                       f"{', '.join(ext['approve'])}.")
        if ext.get("distribution"):
            out.append("Its entry points load through Guard.load_entry_points"
                       + ("; one failing stops loading." if ext.get("required")
                          else "; one failing is reported and the others still load."))
    return out


def _run(args: argparse.Namespace) -> int:
    from .. import seccomp
    try:
        policy = Policy.from_file(args.policy)
        spec = policy.lockdown_spec()
    except (PolicyError, OSError) as e:
        return fail(f"explain: {args.policy}: {e}", 2)
    mode = spec.get("seccomp", "errno") if isinstance(spec, dict) else "errno"
    out = extension_sentences(policy) + [""]
    out += [f"# lockdown plan for {args.policy}", "", f"## seccomp (lockdown.seccomp = {mode!r})"]
    if mode == "off":
        out.append("  off: no seccomp program would be installed")
    else:
        try:
            out += seccomp.explain_lines(mode, args.arch)
        except (ValueError, GuardError) as e:
            out.append(f"  unavailable: {e}")
    out += ["", "## Landlock"]
    out += [f"  {line}" for line in describe_landlock(spec)]
    if args.lockdown:
        out += ["", "## Landlock ruleset, in full"]
        out += [f"  {line}" for line in describe_ruleset(policy)]
    print("\n".join(out))
    return 0


def register(subparsers: Subparsers) -> None:
    p = add_command(subparsers, "explain", _run,
                    help="say what each extension may and may not do, "
                         "and show the seccomp program and Landlock rules a policy's "
                         "lockdown would install")
    p.add_argument("policy", metavar="POLICY", help="policy file (TOML or JSON)")
    p.add_argument("--arch", choices=("x86_64", "aarch64"), default=None,
                   help="assemble for this architecture instead of the running one")
    p.add_argument("--lockdown", action="store_true",
                   help="also print the full effective Landlock ruleset, runtime grants "
                        "included, each with its reason")
