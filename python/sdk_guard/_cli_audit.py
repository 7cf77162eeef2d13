"""``python -m sdk_guard audit FILE``: filter, follow and summarise a JSONL audit trail."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

DENIALS = ("deny", "would_deny", "refused")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FOLLOW_POLL = 0.2


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "audit", help="filter, follow and summarise a JSONL audit trail",
        description="Read audit records written by sdk_guard.audit.JsonlSink. Filters combine "
                    "with AND; a repeated filter matches any of its values.")
    p.add_argument("files", nargs="+", metavar="FILE", help="JSONL audit file(s)")
    p.add_argument("--principal", action="append", help="principal (extension) name")
    p.add_argument("--capability", action="append",
                   help="capability, e.g. net.connect; 'net.*' matches a family")
    p.add_argument("--decision", action="append",
                   help="deny, allow, would_deny, approved, refused (or audit's open/dropped/sink_failed)")
    p.add_argument("--layer", action="append", help="guard, landlock, seccomp, egress, audit, media")
    p.add_argument("--span", action="append", metavar="ID",
                   help="a span id: matches events inside that span, at any depth")
    p.add_argument("--user", action="append")
    p.add_argument("--org", action="append")
    p.add_argument("--since", metavar="TIME",
                   help="ISO 8601 time (UTC if no offset) or a duration ago: 30s, 15m, 2h, 1d")
    p.add_argument("--until", metavar="TIME", help="as --since")
    p.add_argument("--follow", "-f", action="store_true",
                   help="keep reading records appended to the (last) file, across rotation")
    p.add_argument("--summary", action="store_true",
                   help="a table of denials per principal x capability instead of records")
    p.add_argument("--json", action="store_true",
                   help="records as JSON lines; with --summary, the table as one JSON object")
    p.set_defaults(func=run)


def parse_time(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """An aware UTC datetime from ISO 8601 or a relative duration such as 15m."""
    now = now or dt.datetime.now(dt.UTC)
    m = _RELATIVE.match(text.strip())
    if m:
        return now - dt.timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"cannot read time {text!r}: use ISO 8601 (2026-11-28T22:01:02Z) or 30s/15m/2h/1d"
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _record_time(rec: dict[str, Any]) -> dt.datetime | None:
    ts = rec.get("ts")
    if not isinstance(ts, str):
        return None
    try:
        return parse_time(ts)
    except argparse.ArgumentTypeError:
        return None


class Filter:
    def __init__(self, args: argparse.Namespace) -> None:
        self.principal = set(args.principal or ())
        self.capability = list(args.capability or ())
        self.decision = set(args.decision or ())
        self.layer = set(args.layer or ())
        self.span = set(args.span or ())
        self.user = set(args.user or ())
        self.org = set(args.org or ())
        self.since = parse_time(args.since) if args.since else None
        self.until = parse_time(args.until) if args.until else None

    def _cap_ok(self, cap: Any) -> bool:
        if not self.capability:
            return True
        if not isinstance(cap, str):
            return False
        return any(cap == c or (c.endswith(".*") and cap.startswith(c[:-1])) for c in self.capability)

    def _span_ok(self, rec: dict[str, Any]) -> bool:
        if not self.span:
            return True
        ids = set(rec.get("span_path") or ())
        span = rec.get("span")
        if isinstance(span, dict):
            ids.update(v for v in span.values() if v)
        if rec.get("span_id"):
            ids.add(rec["span_id"])
        return bool(ids & self.span)

    def __call__(self, rec: dict[str, Any]) -> bool:
        if self.principal and rec.get("principal") not in self.principal:
            return False
        if self.decision and rec.get("decision") not in self.decision:
            return False
        if self.layer and rec.get("layer") not in self.layer:
            return False
        if self.user and rec.get("user") not in self.user:
            return False
        if self.org and rec.get("org") not in self.org:
            return False
        if not self._cap_ok(rec.get("capability")) or not self._span_ok(rec):
            return False
        if self.since or self.until:
            t = _record_time(rec)
            if t is None or (self.since and t < self.since) or (self.until and t > self.until):
                return False
        return True


class Reader:
    """Parses lines; counts what it had to skip and the drops the trail reports."""

    def __init__(self) -> None:
        self.bad_lines = 0
        self.dropped = 0

    def parse(self, line: str) -> dict[str, Any] | None:
        if not line.strip():
            return None
        try:
            rec = json.loads(line)
        except ValueError:
            self.bad_lines += 1
            return None
        if not isinstance(rec, dict):
            self.bad_lines += 1
            return None
        if rec.get("decision") == "dropped" and isinstance(rec.get("dropped"), int):
            self.dropped += rec["dropped"]
        return rec

    def read(self, path: str) -> Iterator[dict[str, Any]]:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.endswith("\n"):
                    # A process killed mid-write leaves at most one unterminated line.
                    self.bad_lines += 1
                    continue
                rec = self.parse(line)
                if rec is not None:
                    yield rec

    def follow(self, path: str) -> Iterator[dict[str, Any]]:
        """Yields records appended to PATH from its current end, forever."""
        f = open(path, encoding="utf-8", errors="replace")
        f.seek(0, os.SEEK_END)
        ino = os.fstat(f.fileno()).st_ino
        pending = ""
        try:
            while True:
                chunk = f.readline()
                if chunk:
                    pending += chunk
                    if pending.endswith("\n"):
                        rec = self.parse(pending)
                        pending = ""
                        if rec is not None:
                            yield rec
                    continue
                time.sleep(_FOLLOW_POLL)
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    continue
                if st.st_ino != ino:
                    # Rotated: the old name now points at a fresh file.
                    f.close()
                    f = open(path, encoding="utf-8", errors="replace")
                    ino = os.fstat(f.fileno()).st_ino
                    pending = ""
        finally:
            f.close()


def _fmt(rec: dict[str, Any]) -> str:
    raw = rec.get("span")
    span: dict[str, Any] = raw if isinstance(raw, dict) else {}
    ids = " ".join(f"{k}={v}" for k, v in span.items() if v)
    who = " ".join(f"{k}={rec[k]}" for k in ("user", "org") if rec.get(k))
    extra = ""
    if rec.get("decision") == "dropped":
        extra = f" dropped={rec.get('dropped')} seq={rec.get('first_seq')}..{rec.get('last_seq')}"
    return (f"{rec.get('seq', '?'):>6} {rec.get('ts', '?')} {rec.get('layer', '?'):<8} "
            f"{rec.get('decision', '?'):<10} {rec.get('principal') or '-':<12} "
            f"{rec.get('capability', '?'):<14} {rec.get('target') or '-'}"
            f"{'  rule=' + rec['rule'] if rec.get('rule') else ''}"
            f"{'  ' + ids if ids else ''}{'  ' + who if who else ''}{extra}").rstrip()


def summarise(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Denials per principal x capability, plus totals."""
    table: Counter[tuple[str, str]] = Counter()
    # Denials raised inside a library's code (the record's "library": the innermost
    # library frame), grouped so a library's own swallowed probes read as what they
    # are: "library" -> "principal capability" -> count.
    libs: dict[str, Counter[str]] = {}
    total = 0
    for rec in records:
        total += 1
        if rec.get("decision") in DENIALS:
            table[(rec.get("principal") or "-", rec.get("capability") or "-")] += 1
            lib = rec.get("library")
            if isinstance(lib, str) and lib:
                libs.setdefault(lib, Counter())[
                    f"{rec.get('principal') or '-'} {rec.get('capability') or '-'}"] += 1
    principals = sorted({p for p, _ in table})
    caps = sorted({c for _, c in table})
    return {"records": total, "denials": sum(table.values()),
            "capabilities": caps,
            "principals": {p: {c: table[(p, c)] for c in caps if table[(p, c)]} for p in principals},
            "libraries": {lib: dict(sorted(c.items())) for lib, c in sorted(libs.items())}}


def render_summary(summary: dict[str, Any], out: TextIO) -> None:
    caps: list[str] = summary["capabilities"]
    rows = summary["principals"]
    if not rows:
        out.write(f"no denials in {summary['records']} matching records\n")
        return
    width = max([len("principal")] + [len(p) for p in rows])
    cols = [max(len(c), 5) for c in caps]
    out.write("principal".ljust(width) + "  " + "  ".join(c.rjust(w) for c, w in zip(caps, cols, strict=True))
              + "  " + "total".rjust(5) + "\n")
    for p, counts in rows.items():
        cells = "  ".join(str(counts.get(c, 0) or "-").rjust(w) for c, w in zip(caps, cols, strict=True))
        out.write(p.ljust(width) + "  " + cells + "  " + str(sum(counts.values())).rjust(5) + "\n")
    out.write(f"{summary['denials']} denials in {summary['records']} matching records\n")
    libs: dict[str, dict[str, int]] = summary.get("libraries") or {}
    if libs:
        out.write("raised inside library code (library: principal capability count):\n")
        for lib, counts in libs.items():
            cells = ", ".join(f"{k} {n}" for k, n in counts.items())
            out.write(f"  {lib}: {cells}\n")


def run(args: argparse.Namespace) -> int:
    try:
        keep = Filter(args)
    except argparse.ArgumentTypeError as exc:
        print(f"sdk_guard audit: {exc}", file=sys.stderr)
        return 2
    reader = Reader()
    out = sys.stdout

    def emit(rec: dict[str, Any]) -> None:
        out.write((json.dumps(rec, separators=(",", ":")) if args.json else _fmt(rec)) + "\n")

    matched: list[dict[str, Any]] = []
    try:
        for path in args.files:
            for rec in reader.read(path):
                if keep(rec):
                    if args.summary:
                        matched.append(rec)
                    else:
                        emit(rec)
    except OSError as exc:
        print(f"sdk_guard audit: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    if args.summary:
        summary = summarise(matched)
        summary["dropped"] = reader.dropped
        if args.json:
            out.write(json.dumps(summary, sort_keys=True) + "\n")
        else:
            render_summary(summary, out)
    _warn(reader)
    if args.follow:
        out.flush()
        try:
            for rec in reader.follow(args.files[-1]):
                if keep(rec):
                    emit(rec)
                    out.flush()
        except KeyboardInterrupt:
            pass
        _warn(reader)
    return 0


def _warn(reader: Reader) -> None:
    if reader.dropped:
        print(f"sdk_guard audit: warning: the trail reports {reader.dropped} dropped record(s)",
              file=sys.stderr)
    if reader.bad_lines:
        print(f"sdk_guard audit: warning: skipped {reader.bad_lines} unreadable or incomplete line(s)",
              file=sys.stderr)
        reader.bad_lines = 0
