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
from typing import Any, BinaryIO, TextIO

from ._common import Subparsers, add_command, fail

DENIALS = ("deny", "would_deny", "refused")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FOLLOW_POLL = 0.2


def register(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers, "audit", run, help="filter, follow and summarise a JSONL audit trail",
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


def parse_time(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """An aware UTC datetime from ISO 8601 or a relative duration such as 15m."""
    now = now or dt.datetime.now(dt.UTC)
    m = _RELATIVE.match(text.strip())
    if m:
        try:
            return now - dt.timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])
        except (OverflowError, ValueError):
            # Further back than datetime reaches: every record is newer.
            return dt.datetime.min.replace(tzinfo=dt.UTC)
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"cannot read time {_printable(text)}: use ISO 8601 (2026-11-28T22:01:02Z) or "
            "30s/15m/2h/1d") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _record_time(rec: dict[str, Any]) -> dt.datetime | None:
    ts = rec.get("ts")
    if not isinstance(ts, str) or len(ts) > 64:
        return None
    try:
        return parse_time(ts)
    except argparse.ArgumentTypeError:
        return None


# A record is written by a JsonlSink, but the trail is a file anyone may have edited:
# every field is read through these, which return a str or nothing, so a null, a
# number, a list or a table where a string belongs can neither crash a filter nor a
# formatter.
def _text(rec: dict[str, Any], key: str) -> str | None:
    value = rec.get(key)
    return value if isinstance(value, str) else None


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e"
                          r"\u2066-\u2069\ud800-\udfff]")
_MAX_SHOWN = 512


def _printable(value: Any) -> str:
    """VALUE as one line of inert text: control characters (terminal escapes, newlines,
    bidi overrides) and lone surrogates shown escaped, long values cut."""
    if not isinstance(value, str):
        try:
            value = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            value = f"<{type(value).__name__}>"
    if len(value) > _MAX_SHOWN:
        value = value[:_MAX_SHOWN] + f"...(+{len(value) - _MAX_SHOWN} chars)"
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace")
                            .decode("ascii"), value)


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

    def _cap_ok(self, cap: str | None) -> bool:
        if not self.capability:
            return True
        if cap is None:
            return False
        return any(cap == c or (c.endswith(".*") and cap.startswith(c[:-1])) for c in self.capability)

    def _span_ok(self, rec: dict[str, Any]) -> bool:
        if not self.span:
            return True
        path = rec.get("span_path")
        ids = {v for v in path if isinstance(v, str)} if isinstance(path, list) else set()
        span = rec.get("span")
        if isinstance(span, dict):
            ids.update(v for v in span.values() if isinstance(v, str) and v)
        span_id = _text(rec, "span_id")
        if span_id:
            ids.add(span_id)
        return bool(ids & self.span)

    def __call__(self, rec: dict[str, Any]) -> bool:
        for wanted, key in ((self.principal, "principal"), (self.decision, "decision"),
                            (self.layer, "layer"), (self.user, "user"), (self.org, "org")):
            if wanted and _text(rec, key) not in wanted:
                return False
        if not self._cap_ok(_text(rec, "capability")) or not self._span_ok(rec):
            return False
        if self.since or self.until:
            t = _record_time(rec)
            if t is None or (self.since and t < self.since) or (self.until and t > self.until):
                return False
        return True


#: The longest line read as a record.  A JsonlSink record is a few hundred bytes; a
#: longer line is counted as unreadable and skipped in bounded chunks, so one huge line
#: costs no more memory than this.
MAX_LINE = 1 << 20


class Reader:
    """Parses lines; counts what it had to skip and the drops the trail reports.

    Memory is bounded by MAX_LINE whatever the file holds: lines are read in binary
    with a length limit, never whole."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self.bad_lines = 0
        self.unreadable = 0          # all unreadable lines seen (bad_lines resets on warning)
        self.oversized = 0
        self.dropped = 0
        self._open_oversized = False     # the last skipped line had no end yet

    def _bad(self) -> None:
        self.bad_lines += 1
        self.unreadable += 1

    def parse(self, line: str | bytes) -> dict[str, Any] | None:
        if not line.strip():
            return None
        if isinstance(line, bytes):
            line = line.decode("utf-8", errors="replace")
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            self._bad()
            return None
        if not isinstance(rec, dict):
            self._bad()
            return None
        dropped = rec.get("dropped")
        if (rec.get("decision") == "dropped" and isinstance(dropped, int)
                and not isinstance(dropped, bool) and 0 <= dropped < 1 << 63):
            self.dropped += dropped
        return rec

    def _lines(self, f: BinaryIO) -> Iterator[bytes | None]:
        """Complete lines of F up to its current end; None for a line longer than
        max_line (skipped), and a trailing unterminated piece is returned as is."""
        while True:
            line = f.readline(self.max_line + 1)
            if not line:
                return
            if len(line) > self.max_line and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):
                    line = f.readline(self.max_line)
                self._open_oversized = not line
                yield None
                continue
            yield line

    def read(self, path: str) -> Iterator[dict[str, Any]]:
        with open(path, "rb") as f:
            for line in self._lines(f):
                if line is None:
                    self.oversized += 1
                    self._bad()
                    continue
                if not line.endswith(b"\n"):
                    # A process killed mid-write leaves at most one unterminated line.
                    self._bad()
                    continue
                rec = self.parse(line)
                if rec is not None:
                    yield rec

    def follow(self, path: str, poll: float = _FOLLOW_POLL) -> Iterator[dict[str, Any]]:
        """Yields records appended to PATH from its current end, forever.

        Rotation by rename (a new file takes the name): the rest of the old file is read
        first, then the new one from its start.  Rotation by copytruncate (the same file
        cut to zero): noticed as the file being shorter than what was read, and read
        again from its start."""
        f = open(path, "rb")
        f.seek(0, os.SEEK_END)
        ino = os.fstat(f.fileno()).st_ino
        pending = b""
        skipping = False

        def drain() -> Iterator[dict[str, Any]]:
            nonlocal pending, skipping
            for line in self._lines(f):
                if line is None:
                    pending, skipping = b"", self._open_oversized
                    self.oversized += 1
                    self._bad()
                    continue
                if skipping:
                    # The tail of a line that already passed max_line.
                    skipping = not line.endswith(b"\n")
                    continue
                pending += line
                if len(pending) > self.max_line:
                    pending, skipping = b"", not line.endswith(b"\n")
                    self.oversized += 1
                    self._bad()
                    continue
                if pending.endswith(b"\n"):
                    rec = self.parse(pending)
                    pending = b""
                    if rec is not None:
                        yield rec

        try:
            while True:
                yield from drain()
                time.sleep(poll)
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    continue
                if st.st_ino != ino:
                    yield from drain()         # what was appended before the rename
                    f.close()
                    f = open(path, "rb")
                    ino = os.fstat(f.fileno()).st_ino
                    pending, skipping = b"", False
                elif st.st_size < f.tell():
                    f.seek(0)                  # truncated in place
                    pending, skipping = b"", False
        finally:
            f.close()


def _fmt(rec: dict[str, Any]) -> str:
    raw = rec.get("span")
    span: dict[str, Any] = raw if isinstance(raw, dict) else {}
    ids = " ".join(f"{_printable(k)}={_printable(v)}" for k, v in span.items() if v)
    who = " ".join(f"{k}={_printable(rec[k])}" for k in ("user", "org") if rec.get(k))
    extra = ""
    if rec.get("decision") == "dropped":
        extra = (f" dropped={_printable(rec.get('dropped'))} "
                 f"seq={_printable(rec.get('first_seq'))}..{_printable(rec.get('last_seq'))}")

    def show(key: str, default: str) -> str:
        value = rec.get(key)
        return default if value is None or value == "" else _printable(value)

    rule = f"  rule={_printable(rec['rule'])}" if rec.get("rule") else ""
    return (f"{show('seq', '?'):>6} {show('ts', '?')} {show('layer', '?'):<8} "
            f"{show('decision', '?'):<10} {show('principal', '-'):<12} "
            f"{show('capability', '?'):<14} {show('target', '-')}"
            f"{rule}{'  ' + ids if ids else ''}{'  ' + who if who else ''}{extra}").rstrip()


#: The most distinct principal x capability cells a summary keeps; further ones are
#: counted under "(other)", so a trail of made-up names cannot grow the table without
#: bound.
MAX_CELLS = 10_000
_OTHER = "(other)"


class Summary:
    """Denials per principal x capability, counted as records stream past."""

    def __init__(self, max_cells: int = MAX_CELLS) -> None:
        self.max_cells = max_cells
        self.table: Counter[tuple[str, str]] = Counter()
        # Denials raised inside a library's code (the record's "library": the innermost
        # library frame), grouped so a library's own swallowed probes read as what they
        # are: "library" -> "principal capability" -> count (bounded like the table).
        self.libs: dict[str, Counter[str]] = {}
        self.lib_cells = 0
        self.total = 0

    def add(self, rec: dict[str, Any]) -> None:
        self.total += 1
        if _text(rec, "decision") in DENIALS:
            cell = (_printable(_text(rec, "principal") or "-")[:128],
                    _printable(_text(rec, "capability") or "-")[:128])
            if cell not in self.table and len(self.table) >= self.max_cells:
                cell = (_OTHER, _OTHER)
            self.table[cell] += 1
            lib = _text(rec, "library")
            if lib:
                lib = _printable(lib)[:128]
                key = f"{cell[0]} {cell[1]}"
                counts = self.libs.get(lib)
                if (counts is None or key not in counts) and self.lib_cells >= self.max_cells:
                    lib, key = _OTHER, f"{_OTHER} {_OTHER}"
                    counts = self.libs.get(lib)
                if counts is None:
                    counts = self.libs[lib] = Counter()
                if key not in counts:
                    self.lib_cells += 1
                counts[key] += 1

    def result(self) -> dict[str, Any]:
        table = self.table
        principals = sorted({p for p, _ in table})
        caps = sorted({c for _, c in table})
        return {"records": self.total, "denials": sum(table.values()),
                "capabilities": caps,
                "principals": {p: {c: table[(p, c)] for c in caps if table[(p, c)]}
                               for p in principals},
                "libraries": {lib: dict(sorted(c.items()))
                              for lib, c in sorted(self.libs.items())}}


def summarise(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Denials per principal x capability, plus totals (streams RECORDS once)."""
    summary = Summary()
    for rec in records:
        summary.add(rec)
    return summary.result()


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
        return fail(f"sdk_guard audit: {exc}", 2)
    reader = Reader()
    out = sys.stdout

    def emit(rec: dict[str, Any]) -> None:
        if args.json:
            try:
                line = json.dumps(rec, separators=(",", ":"))
            except (ValueError, RecursionError):
                reader._bad()
                return
        else:
            line = _fmt(rec)
        out.write(line + "\n")

    summary = Summary()
    try:
        for path in args.files:
            for rec in reader.read(path):
                if keep(rec):
                    if args.summary:
                        summary.add(rec)
                    else:
                        emit(rec)
    except OSError as exc:
        return fail(f"sdk_guard audit: cannot read {_printable(exc.filename)}: {exc.strerror}", 1)
    if args.summary:
        result = summary.result()
        result["dropped"] = reader.dropped
        result["unreadable"] = reader.unreadable
        if args.json:
            out.write(json.dumps(result, sort_keys=True) + "\n")
        else:
            render_summary(result, out)
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
        except OSError as exc:
            return fail(f"sdk_guard audit: cannot follow {_printable(exc.filename)}: "
                        f"{exc.strerror}", 1)
        _warn(reader)
    return 0


def _warn(reader: Reader) -> None:
    if reader.dropped:
        print(f"sdk_guard audit: warning: the trail reports {reader.dropped} dropped record(s)",
              file=sys.stderr)
    if reader.bad_lines:
        print(f"sdk_guard audit: warning: skipped {reader.bad_lines} unreadable or incomplete line(s)",
              file=sys.stderr)
        if reader.oversized:
            print(f"sdk_guard audit: warning: {reader.oversized} of them longer than "
                  f"{reader.max_line} bytes", file=sys.stderr)
            reader.oversized = 0
        reader.bad_lines = 0
