"""Media proxy costs, side by side in one run (ratios, never timed assertions).

Three processes on loopback: an origin (tests/_support/media_origin.py's threaded server),
the proxy exactly as a host would start it (``python -m sdk_guard media serve``: the
ASGI app on uvicorn), and this client process.  For each body size and client count
the same origin is fetched directly and through the proxy, alternating rounds, and
the best round of each is compared:

  latency     median and p95 per request (a new connection per request, as for
              every fetch the proxy makes to an origin)
  throughput  body bytes per second over all clients

  20 KB PNG   goal: proxy latency <= 1.3x direct
  5 MB PNG    goal: proxy throughput >= 70% of direct

Memory: the proxy's peak RSS (VmHWM) after warm-up, after streaming a 20 MB body and
after streaming a 200 MB body (goal: independent of body size).

Usage: python bench/bench_media.py [--quick] [--rounds 3] [--json]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "python"), str(ROOT / "tests")]

from sdk_guard.media import MediaProxy  # noqa: E402 (needs the sys.path line above)

ORIGIN = """
import sys, time
sys.path[:0] = [sys.argv[1] + "/tests"]
from _support.media_origin import Origin, padded_png
o = Origin("127.0.0.1")
o.serve("/small.png", padded_png(20 * 1024), "image/png")
large = padded_png(5 * 1024 * 1024)
o.serve("/large.png", large, "image/png")
o.stream("/s20.mp4", b"\\x00\\x00\\x00\\x18ftypmp42", 20 * 1024 * 1024, "video/mp4")
o.stream("/s200.mp4", b"\\x00\\x00\\x00\\x18ftypmp42", 200 * 1024 * 1024, "video/mp4")

# An Internet-like origin: the first byte after 20 ms, bodies at 100 Mbit/s a stream.
def remote(data, ctype):
    def route(h):
        time.sleep(0.02)
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        t0 = time.monotonic()
        for i in range(0, len(data), 65536):
            h.wfile.write(data[i:i + 65536])
            ahead = t0 + (i + 65536) / 12.5e6 - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    return route
o.routes["/remote-small.png"] = remote(padded_png(20 * 1024), "image/png")
o.routes["/remote-large.png"] = remote(large, "image/png")
print(o.port, flush=True)
while True:
    time.sleep(3600)
"""


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def one(port: int, path: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    resp = conn.getresponse()
    n = 0
    while chunk := resp.read(65536):
        n += len(chunk)
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"GET {path} -> {resp.status}")
    return time.perf_counter() - t0, n


def run(port: int, path: str, clients: int, per_client: int) -> dict[str, float]:
    lat: list[float] = []
    total = [0]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(per_client):
                dt, n = one(port, path)
                with lock:
                    lat.append(dt)
                    total[0] += n
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    lat.sort()
    return {"median_ms": statistics.median(lat) * 1e3,
            "p95_ms": lat[min(len(lat) - 1, int(len(lat) * 0.95))] * 1e3,
            "mb_s": total[0] / wall / 1e6}


def hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--proxy-python", default=sys.executable,
                    help="interpreter that runs the proxy (e.g. a venv with uvloop and "
                         "httptools, which uvicorn then uses)")
    args = ap.parse_args()
    rounds = 1 if args.quick else args.rounds
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    origin = subprocess.Popen([sys.executable, "-c", ORIGIN, str(ROOT)], env=env,
                              stdout=subprocess.PIPE, text=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_media-"))
    proxy_proc = None
    try:
        oport = int(origin.stdout.readline())  # type: ignore[union-attr]
        key = secrets.token_hex(32)
        (tmp / "keys").write_text(key + "\n")
        (tmp / "policy.toml").write_text(textwrap.dedent(f"""
            version = 1
            [media]
            allow_internal = ["127.0.0.1:{oport}"]
            max_bytes = {300 * 1024 * 1024}
            total_timeout = 300.0
        """))
        signer = MediaProxy(key, {"allow_internal": [f"127.0.0.1:{oport}"]})

        def proxied(path: str) -> str:
            return signer.url_for(f"http://127.0.0.1:{oport}{path}")

        def start_proxy() -> tuple[subprocess.Popen[bytes], int]:
            port = free_port()
            proc = subprocess.Popen(
                [args.proxy_python, "-m", "sdk_guard", "media", "serve", "--policy",
                 str(tmp / "policy.toml"), "--key-file", str(tmp / "keys"), "--port",
                 str(port)], env=env, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while True:
                try:
                    one(port, proxied("/small.png"))
                    return proc, port
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.1)

        # Memory first, in a fresh proxy: one small request, then a 20 MB and a
        # 200 MB stream; peak RSS must not follow the body size.
        proxy_proc, pport = start_proxy()
        mem = {"warm": hwm(proxy_proc.pid)}
        one(pport, proxied("/s20.mp4"))
        mem["after_20MB"] = hwm(proxy_proc.pid)
        dt, n = one(pport, proxied("/s200.mp4"))
        mem["after_200MB"] = hwm(proxy_proc.pid)
        assert n == 200 * 1024 * 1024, n
        mem_200_mb_s = n / dt / 1e6
        proxy_proc.terminate()
        proxy_proc.wait(10)
        proxy_proc, pport = start_proxy()

        q = args.quick
        cases = [("loopback", "20 KB", "/small.png", 1, 40 if q else 200),
                 ("loopback", "20 KB", "/small.png", 50, 4 if q else 20),
                 ("loopback", "5 MB", "/large.png", 1, 4 if q else 20),
                 ("loopback", "5 MB", "/large.png", 50, 1 if q else 2),
                 ("20 ms, 100 Mbit/s", "20 KB", "/remote-small.png", 1, 10 if q else 50),
                 ("20 ms, 100 Mbit/s", "20 KB", "/remote-small.png", 50, 2 if q else 5),
                 ("20 ms, 100 Mbit/s", "5 MB", "/remote-large.png", 1, 1 if q else 3),
                 ("20 ms, 100 Mbit/s", "5 MB", "/remote-large.png", 50, 1)]
        rows: list[dict[str, Any]] = []
        for where, label, path, clients, per in cases:
            best: dict[str, dict[str, float]] = {}
            for _ in range(rounds):
                for mode, port, p in (("direct", oport, path), ("proxy", pport, proxied(path))):
                    r = run(port, p, clients, per)
                    if mode not in best or r["median_ms"] < best[mode]["median_ms"]:
                        best[mode] = r
            d, x = best["direct"], best["proxy"]
            rows.append({"origin": where, "body": label, "clients": clients,
                         "requests": clients * per, "direct": d, "proxy": x,
                         "latency_ratio": x["median_ms"] / d["median_ms"],
                         "throughput_pct": 100 * x["mb_s"] / d["mb_s"]})
    finally:
        for p in (proxy_proc, origin):
            if p is not None:
                p.terminate()
                p.wait(10)

    if args.json:
        print(json.dumps({"rows": rows, "memory": mem}, indent=2))
        return 0
    stack = subprocess.run(
        [args.proxy_python, "-c", ("import importlib.util as u; print('uvloop+httptools' if "
                                   "u.find_spec('uvloop') and u.find_spec('httptools') "
                                   "else 'asyncio+h11')")],
        capture_output=True, text=True, check=False).stdout.strip()
    print(f"media proxy vs direct, best of {rounds} round(s); {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}; proxy on uvicorn with {stack}")
    print("| origin | body | clients | requests | direct median / p95 ms | proxy median / "
          "p95 ms | latency ratio | direct MB/s | proxy MB/s | proxy throughput |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        d, x = r["direct"], r["proxy"]
        print(f"| {r['origin']} | {r['body']} | {r['clients']} | {r['requests']} | "
              f"{d['median_ms']:.2f} / {d['p95_ms']:.2f} | {x['median_ms']:.2f} / "
              f"{x['p95_ms']:.2f} | {r['latency_ratio']:.2f}x | {d['mb_s']:.1f} | "
              f"{x['mb_s']:.1f} | {r['throughput_pct']:.0f}% |")
    mib = 1024 * 1024
    print()
    print("| proxy peak RSS (VmHWM) | MiB |")
    print("|---|---|")
    print(f"| after one 20 KB request | {mem['warm'] / mib:.1f} |")
    print(f"| after a 20 MB stream | {mem['after_20MB'] / mib:.1f} |")
    print(f"| after a 200 MB stream ({mem_200_mb_s:.0f} MB/s) | {mem['after_200MB'] / mib:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
