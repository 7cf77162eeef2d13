"""Landlock child: ``landlock_locked_down_python_runs.py PARAMS_JSON``.

Runs the scenario of
test_locked_down_python_runs_stdlib_workloads_and_writes_its_audit_log (it shows that
locked down python runs stdlib workloads and writes its audit log) with the tree spec
(fs.read P["ro"], fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import json
import sys

from lockdown_prelude import P, done

import sdk_guard as sg
from sdk_guard import audit

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
log = P["rw"] + "/audit.jsonl"
audit.add_sink(audit.JsonlSink(log))
r = sg.lockdown(spec=spec)
import csv  # noqa: E402
import datetime  # noqa: E402
import decimal  # noqa: E402
import fractions  # noqa: E402
import gzip  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import uuid  # noqa: E402
import zoneinfo  # noqa: E402

decimal.getcontext().prec = 30
work = {
    "json": json.loads(json.dumps({"a": [1, 2.5, None, "é"]})) == {"a": [1, 2.5, None, "é"]},
    "re": re.findall(r"(\w+)@(\w+)", "a@b c@d") == [("a", "b"), ("c", "d")],
    "decimal": str(decimal.Decimal(1) / decimal.Decimal(7))[:10] == "0.14285714",
    "fractions": fractions.Fraction(1, 3) * 3 == 1,
    "statistics": statistics.median([3, 1, 2]) == 2,
    "csv": next(csv.reader(io.StringIO("a,b\n"))) == ["a", "b"],
    "zoneinfo": datetime.datetime(
        2026, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")).utcoffset().seconds == 3600,
    "hash": hashlib.sha256(b"x").hexdigest()[:4] == "2d71",
    "gzip": gzip.decompress(gzip.compress(b"abc")) == b"abc",
    "uuid": len(str(uuid.uuid4())) == 36,
    "strptime": datetime.datetime.strptime("2026-11-28", "%Y-%m-%d").day == 28,
    "encode_idna": "bücher.example".encode("idna") == b"xn--bcher-kva.example",
}
audit.flush()
with open(log) as f:
    lines = [json.loads(ln) for ln in f if ln.strip()]
done(status=r.status, work=work,
     logged=[(x["layer"], x["capability"], x["decision"]) for x in lines])
