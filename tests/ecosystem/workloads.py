"""Extensions that use real PyPI libraries in ordinary ways, and the natural policy for
each: what a reader of the README writes for such an extension.

Natural means: ``imports.allow`` = the library and ``lib.*``, ``fs.read``/``fs.write`` =
the extension's own data directory and its ``out/``, ``net.connect`` = the loopback
server the test runs, and no grant for anything the library does by itself (no
``native``, no ``process.*``, no ``introspection``, no ``dynamic_code``).

Each extension has ``run(data, out, url)``: it works on files under DATA, writes under
OUT, talks to URL (a loopback HTTP server answering ``{"hello": "world"}``), and
returns a JSON-able summary of what it computed.  The host compares that summary with
the one the same code gives without any guard.

Used by tests/ecosystem/test_ecosystem.py and bench/bench_ecosystem.py.
"""
from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Workload:
    lib: str                     # the distribution's import name (what the policy allows)
    source: str                  # the extension package's __init__.py
    data: dict[str, str] = field(default_factory=dict)   # files under data/
    net: bool = False            # talks to the loopback server
    extra_imports: tuple[str, ...] = ()   # another library the extension imports itself

    @property
    def package(self) -> str:
        return "ext_" + self.lib.replace(".", "_").lower()

    def imports(self) -> list[str]:
        out: list[str] = []
        for lib in (self.lib, *self.extra_imports):
            out += [lib, lib + ".*"]
        return out + ["os"]          # the extension's own os.path work


_CSV = "city,temp,rain\n" + "".join(
    f"{c},{t},{r}\n" for c, t, r in [("oslo", 3, 1), ("rome", 18, 0), ("oslo", 5, 0),
                                      ("lima", 22, 0), ("rome", 16, 1)] * 40)

WORKLOADS: dict[str, Workload] = {w.lib: w for w in [
    Workload("numpy", '''
        import os
        import numpy as np

        def run(data, out, url):
            a = np.arange(1, 10001, dtype=np.float64).reshape(100, 100)
            b = a @ a.T
            rng = np.random.default_rng(7)
            c = rng.normal(size=1000)
            path = os.path.join(out, "a.npy")
            np.save(path, a)
            back = np.load(path)
            np.savetxt(os.path.join(out, "c.txt"), c[:10])
            return {"sum": float(b.sum()), "min": float(a.min()), "max": float(a.max()),
                    "mean": round(float(a.mean()), 6), "std": round(float(c.std()), 6),
                    "same": bool((back == a).all()),
                    "eig": round(float(np.linalg.eigvalsh(b[:5, :5]).max()), 3)}
    '''),
    Workload("pandas", '''
        import os
        import pandas as pd

        def run(data, out, url):
            df = pd.read_csv(os.path.join(data, "weather.csv"))
            g = df.groupby("city").agg(temp=("temp", "mean"), rain=("rain", "sum"))
            g.to_csv(os.path.join(out, "summary.csv"))
            back = pd.read_csv(os.path.join(out, "summary.csv"), index_col="city")
            df["when"] = pd.date_range("2024-01-01", periods=len(df), freq="h")
            daily = df.set_index("when").resample("D")["temp"].max()
            return {"rows": int(len(df)), "summary": {k: [float(v["temp"]), int(v["rain"])]
                                                      for k, v in back.iterrows()},
                    "daily": [float(x) for x in daily.tolist()],
                    "json": df.head(2).to_json(orient="records", date_format="iso")}
    ''', data={"weather.csv": _CSV}),
    Workload("lxml", '''
        import os
        from lxml import etree, html

        def run(data, out, url):
            tree = etree.parse(os.path.join(data, "feed.xml"))
            titles = tree.xpath("//item/title/text()")
            root = etree.Element("out")
            for t in titles:
                etree.SubElement(root, "t").text = t.upper()
            path = os.path.join(out, "out.xml")
            etree.ElementTree(root).write(path, xml_declaration=True, encoding="utf-8")
            doc = html.fromstring("<div><p class='x'>a</p><p>b</p></div>")
            return {"titles": titles, "written": os.path.getsize(path) > 0,
                    "html": doc.xpath("//p/text()"),
                    "round": etree.tostring(etree.parse(path)).decode()}
    ''', data={"feed.xml": "<rss><channel><item><title>one</title></item>"
                           "<item><title>two</title></item></channel></rss>"}),
    Workload("requests", '''
        import requests

        def run(data, out, url):
            with requests.Session() as s:
                r = s.get(url + "/hello", timeout=10)
                p = s.post(url + "/echo", json={"n": 3}, timeout=10)
            return {"status": r.status_code, "body": r.json(), "echo": p.json(),
                    "ctype": r.headers.get("Content-Type")}
    ''', net=True),
    Workload("httpx", '''
        import httpx

        def run(data, out, url):
            with httpx.Client(timeout=10) as c:
                r = c.get(url + "/hello")
                p = c.post(url + "/echo", json={"n": 4})
            return {"status": r.status_code, "body": r.json(), "echo": p.json()}
    ''', net=True),
    Workload("sqlalchemy", '''
        import os
        from sqlalchemy import (Column, Integer, MetaData, String, Table, create_engine,
                                func, insert, select)

        def run(data, out, url):
            engine = create_engine("sqlite:///" + os.path.join(out, "db.sqlite"))
            md = MetaData()
            t = Table("items", md, Column("id", Integer, primary_key=True),
                      Column("name", String(20)), Column("qty", Integer))
            md.drop_all(engine)
            md.create_all(engine)
            with engine.begin() as conn:
                conn.execute(insert(t), [{"name": f"n{i}", "qty": i} for i in range(50)])
            with engine.connect() as conn:
                total = conn.execute(select(func.sum(t.c.qty))).scalar()
                top = conn.execute(select(t.c.name).order_by(t.c.qty.desc()).limit(3)).all()
            engine.dispose()
            return {"total": total, "top": [r[0] for r in top]}
    '''),
    Workload("PIL", '''
        import os
        from PIL import Image, ImageDraw, ImageFilter

        def run(data, out, url):
            im = Image.new("RGB", (64, 48), (10, 20, 30))
            ImageDraw.Draw(im).rectangle((8, 8, 40, 30), fill=(200, 100, 50))
            im = im.filter(ImageFilter.GaussianBlur(2)).resize((32, 24))
            path = os.path.join(out, "x.png")
            im.save(path)
            im.save(os.path.join(out, "x.jpg"), quality=80)
            with Image.open(path) as back:
                back.load()
                px = back.getpixel((10, 8))
                size = back.size
            with Image.open(os.path.join(data, "in.png")) as src:
                src_size = src.size
            return {"px": list(px), "size": list(size), "src": list(src_size)}
    ''', data={}),
    Workload("cryptography", '''
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ed25519

        def run(data, out, url):
            f = Fernet(b"q" * 43 + b"=")
            token = f.encrypt(b"secret")
            key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
            sig = key.sign(b"message")
            key.public_key().verify(sig, b"message")
            h = hashes.Hash(hashes.SHA256())
            h.update(b"abc")
            return {"plain": f.decrypt(token).decode(), "sig": sig.hex()[:16],
                    "sha256": h.finalize().hex()[:16]}
    '''),
    Workload("pydantic", '''
        from pydantic import BaseModel, Field, ValidationError

        class Item(BaseModel):
            name: str
            qty: int = Field(ge=0)
            tags: list[str] = []

        def run(data, out, url):
            a = Item(name="x", qty="3", tags=["a"])
            try:
                Item(name="y", qty=-1)
                bad = None
            except ValidationError as e:
                bad = e.errors()[0]["type"]
            return {"dump": a.model_dump(), "json": a.model_dump_json(), "bad": bad,
                    "schema": sorted(Item.model_json_schema()["properties"])}
    '''),
    Workload("jinja2", '''
        import os
        import jinja2

        def run(data, out, url):
            env = jinja2.Environment(loader=jinja2.FileSystemLoader(data), autoescape=True)
            page = env.get_template("page.html").render(items=["a<b", "c"], title="T")
            inline = jinja2.Template("{{ x | upper }}").render(x="hi")
            return {"page": page, "inline": inline}
    ''', data={"page.html": "<h1>{{ title }}</h1>{% for i in items %}<li>{{ i }}</li>"
                            "{% endfor %}"}),
    Workload("yaml", '''
        import os
        import yaml

        def run(data, out, url):
            with open(os.path.join(data, "conf.yaml")) as f:
                conf = yaml.safe_load(f)
            conf["extra"] = {"k": [1, 2]}
            with open(os.path.join(out, "conf.yaml"), "w") as f:
                yaml.safe_dump(conf, f, sort_keys=True)
            return {"conf": conf, "fast": hasattr(yaml, "CSafeLoader")}
    ''', data={"conf.yaml": "name: demo\nports: [1, 2, 3]\nnested: {a: true}\n"}),
    Workload("orjson", '''
        import orjson

        def run(data, out, url):
            blob = orjson.dumps({"a": [1, 2.5, None], "b": "x"}, option=orjson.OPT_SORT_KEYS)
            return {"blob": blob.decode(), "back": orjson.loads(blob)}
    '''),
]}


def png_bytes() -> bytes:
    """A tiny real PNG for the Pillow workload's input (made without the guard)."""
    import struct
    import zlib
    raw = b"".join(b"\x00" + b"\x80\x40\x20" * 4 for _ in range(3))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + tag + body
                + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def build_tree(base: Path, w: Workload) -> dict[str, str]:
    """Writes the extension package and its data under BASE; returns the paths."""
    plugins = base / "plugins"
    pkg = plugins / w.package
    data = base / "data"
    out = data / "out"
    pkg.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(w.source))
    for name, text in w.data.items():
        (data / name).write_text(text)
    if w.lib == "PIL":
        (data / "in.png").write_bytes(png_bytes())
    return {"plugins": str(plugins), "data": str(data), "out": str(out)}


def natural_policy(w: Workload, paths: dict[str, str], port: int,
                   mode: str = "enforce") -> dict[str, Any]:
    """The policy a reader of the README writes for this extension."""
    ext: dict[str, Any] = {
        "package": w.package,
        "path": paths["plugins"],
        "imports.allow": w.imports(),
        "fs.read": [paths["data"]],
        "fs.write": [paths["out"]],
    }
    if w.net:
        ext["net.connect"] = [f"127.0.0.1:{port}"]
    pol: dict[str, Any] = {"version": 1, "guard": {"mode": mode},
                           "extensions": {w.package: ext},
                           "lockdown": {"fs.read": [paths["data"]], "fs.write": [paths["out"]],
                                        "net.connect_tcp": [port] if w.net else [],
                                        "seccomp": "errno"}}
    return pol


# The host program run in a fresh child: argv = workload lib, config JSON.
# config: {"paths", "port", "mode": "none"|"guard"|"lockdown", "repeat", "policy_mode"}
HOST = r'''
import json, sys, time
sys.path.insert(0, {here!r})
import workloads as W
w = W.WORKLOADS[sys.argv[1]]
cfg = json.loads(sys.argv[2])
paths, url = cfg["paths"], "http://127.0.0.1:%d" % cfg["port"]
res = {{}}
t0 = time.perf_counter()
if cfg["mode"] == "none":
    sys.path.insert(0, paths["plugins"])
    import importlib
    ext = importlib.import_module(w.package)
else:
    import sdk_guard as sg
    from sdk_guard import audit
    mem = audit.add_sink(audit.MemorySink())
    policy = sg.Policy.from_dict(W.natural_policy(w, paths, cfg["port"], cfg["policy_mode"]))
    if cfg["mode"] == "lockdown":
        # The safe order for a worker: lock down first, then install and run (the
        # libraries install() initialises, and their threads, start inside the domain).
        report = sg.lockdown(policy)
        res["lockdown"] = report.status
    guard = sg.install(policy)
    ext = guard.import_extension(w.package)
t1 = time.perf_counter()
out = None
best = None
try:
    for _ in range(cfg["repeat"]):
        s = time.perf_counter()
        out = ext.run(paths["data"], paths["out"], url)
        d = time.perf_counter() - s
        best = d if best is None else min(best, d)
    res["result"] = out
except BaseException as e:
    res["error"] = "%s: %s" % (type(e).__name__, e)
res["import_s"] = t1 - t0
res["run_s"] = best
if cfg["mode"] != "none":
    audit.flush()
    res["denials"] = [dict(r) for r in mem.records
                      if r.get("decision") in ("deny", "would_deny")]
print(json.dumps(res, default=repr))
'''


def host_code() -> str:
    return HOST.format(here=str(Path(__file__).resolve().parent))


def canonical(result: Any) -> str:
    return json.dumps(result, sort_keys=True, default=repr)
