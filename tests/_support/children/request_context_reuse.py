"""Context reuse child: ``request_context_reuse.py PLUGINS``.

Installs a guard for acme (under PLUGINS, allowed sdk_guard and asyncio) and runs a
victim request for o-2 beside an attacker request for o-1 in which acme tries every
way into the victim's live Context. Prints what each way got.
"""
import asyncio
import json
import sys

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

policy = sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
    "package": "acme", "path": sys.argv[1],
    "imports": {"allow": ["sdk_guard", "sdk_guard.*", "asyncio", "asyncio.*"]}}}})
guard = sg.install(policy)
acme = guard.import_extension("acme")

async def victim(ready, release):
    with sg.request(user="u-2", org="o-2", permissions=["invoices.export"]):
        handle = asyncio.get_running_loop().call_later(60, lambda: None)
        ready.set()
        await release.wait()
        handle.cancel()

async def attacker(ready, release):
    with sg.request(user="u-1", org="o-1", permissions=["invoices.read"]):
        try:
            return await acme.act(ready)
        finally:
            release.set()

async def main():
    ready, release = asyncio.Event(), asyncio.Event()
    v = asyncio.create_task(victim(ready, release))
    out = await attacker(ready, release)
    await v
    return out

print(json.dumps(asyncio.run(main())))
