"""Request context inheritance child: ``request_inheritance.py``.

Two concurrent asyncio handlers open requests for different orgs and read the org from
tasks they create; a bound thread and a plain thread read it inside a request; one
record is emitted inside it.  Prints what each saw and the record's user and org.
"""
import asyncio
import json
import sys
import threading

sys.path[0] = ""  # what `python -c` puts there: the working directory

import sdk_guard as sg  # noqa: E402
from sdk_guard import context  # noqa: E402

sink = sg.audit.MemorySink()
sg.audit.add_sink(sink)

async def handler(org):
    with sg.request(user="u-" + org, org=org, permissions=["a.read"]):
        async def child():
            await asyncio.sleep(0.01)
            return context.current().org
        seen = []
        for _ in range(5):
            seen.append(await asyncio.create_task(child()))
            await asyncio.sleep(0)
        return seen

async def main():
    return await asyncio.gather(handler("o-1"), handler("o-2"))

tasks = asyncio.run(main())
res = {}
with sg.request(user="u-1", org="o-1"):
    t = sg.audit.spawn_thread(lambda: res.setdefault("bound", context.current().org))
    t.join()
    plain = threading.Thread(target=lambda: res.setdefault("plain", context.current()))
    plain.start()
    plain.join()
    sg.audit.emit("app", "permission", "allow", target="x")
outside = context.current()
sg.audit.flush()
rec = [r for r in sink.records if r["target"] == "x"][0]
print(json.dumps({"tasks": tasks, "bound": res["bound"], "plain": res["plain"],
                  "outside": outside, "user": rec["user"], "org": rec["org"]}))
