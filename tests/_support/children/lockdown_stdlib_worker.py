"""Lockdown child: ``lockdown_stdlib_worker.py PARAMS_JSON``.

Locks down (writes to P["data"], connects to a loopback port, seccomp errno) and then
imports and uses ssl, sqlite3, ctypes, uuid, zoneinfo, DNS, /proc, tempfiles and threads.
"""
import os
import sys

from lockdown_prelude import P, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

import socket  # noqa: E402
import threading  # noqa: E402

lazy = ["ssl", "sqlite3", "ctypes", "uuid", "zoneinfo"]
before = {m: m in sys.modules for m in lazy}
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
port = srv.getsockname()[1]
r = sg.lockdown(spec={"fs": {"write": [P["data"]]}, "net": {"connect_tcp": [port]},
                      "seccomp": "errno"}, require=["landlock", "seccomp"])
res = {"status": r.status, "before": before}
import ssl  # noqa: E402

res["ssl"] = ssl.create_default_context().verify_mode == ssl.CERT_REQUIRED
import sqlite3  # noqa: E402

res["sqlite3"] = sqlite3.connect(":memory:").execute("select 6 * 7").fetchone()[0]
import ctypes  # noqa: E402

res["ctypes"] = ctypes.CDLL(None).getpid() == os.getpid()
import uuid  # noqa: E402

res["uuid"] = len(str(uuid.uuid4())) == 36
import datetime  # noqa: E402
import zoneinfo  # noqa: E402

res["zoneinfo"] = datetime.datetime(2026, 7, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")).utcoffset().seconds
res["resolve"] = sorted({a[4][0] for a in socket.getaddrinfo("localhost", port, socket.AF_INET)})
with socket.create_connection(("localhost", port), timeout=5) as c:
    conn, _ = srv.accept()
    c.sendall(b"hi")
    res["connect_by_name"] = conn.recv(2).decode()
    conn.close()
with open("/proc/self/status") as f:
    res["proc_status"] = any(ln.startswith("Pid:\t%d" % os.getpid()) for ln in f)
with open("/sys/devices/system/cpu/online") as f:
    res["cpu_count"] = os.cpu_count() is not None and f.read().strip()[:1].isdigit()
import tempfile  # noqa: E402

with tempfile.TemporaryFile() as f:
    f.write(b"x")
    f.seek(0)
    res["tempfile"] = f.read().decode()
d = tempfile.mkdtemp()
with open(os.path.join(d, "a"), "w") as f:
    f.write("a")
with tempfile.NamedTemporaryFile(dir=d) as f:
    res["named"] = os.path.dirname(f.name) == d
res["tmpdir"] = os.path.dirname(d) == os.environ["TMPDIR"] == r.landlock["tmp"]["path"]
box = []
ts = [threading.Thread(target=lambda i=i: box.append(i * i)) for i in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
res["threads"] = sorted(box)
with open(os.path.join(P["data"], "out.txt"), "w") as f:
    f.write("written")
res["sources"] = sorted({x["source"].split(":")[1].strip().split(" ")[0] for x in r.landlock["rules"]
                         if x["source"].startswith("runtime:")})
done(**res)
