"""Nested spans child: ``nested_spans.py``.

Records denials inside nested action, task, model-call and storage-mutation spans
across asyncio tasks, a thread started with audit.spawn_thread and a thread pool
running audit.bind-wrapped calls, plus one outside every span.  Prints the action id
and every record.
"""
import asyncio
import json
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard import _guard, audit  # noqa: E402

mem = audit.add_sink(audit.MemorySink())

def deny(tag):
    return _guard.emit("guard", "net.connect", "deny", principal="acme", target=tag)

async def step(name):
    with audit.span("task", name):
        await asyncio.sleep(0.01)
        deny(name)
        with audit.span("model_call", name + "-llm", model="m1"):
            await asyncio.sleep(0)
            deny(name + "-llm")
        deny(name + "-after")

async def main():
    with audit.span("action", "checkout", user="u-1", org="o-1") as act:
        await asyncio.gather(step("t1"), step("t2"))
        with audit.span("storage_mutation", "save"):
            audit.spawn_thread(deny, "thread").join()
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(audit.bind(deny), ["pool1", "pool2"]))
        with audit.span("action", "inner", user="u-2"):
            deny("inner")
        return act.id

act_id = asyncio.run(main())
deny("outside")
audit.flush()
print(json.dumps({"act": act_id, "records": mem.records}))
