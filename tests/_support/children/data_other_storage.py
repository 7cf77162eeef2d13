"""Storage child: ``data_other_storage.py DB_DIR TESTS_DIR PLUGINS``.

Creates the test_data models in a SQLite file under DB_DIR, installs a guard for acme
(under PLUGINS) and hands acme host SDK functions that take the extension name from
their caller.  Prints what acme got opening another extension's session and base,
creating tables, and opening its own session.
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory
sys.path[:0] = [sys.argv[2], sys.argv[2] + "/.."]  # test_data, and _support for it

from test_data import Models  # noqa: E402

import sdk_guard as sg  # noqa: E402
from sdk_guard.data import Storage  # noqa: E402

store = Storage("sqlite:///" + sys.argv[1] + "/x.db")
Models(store)
store.create_all()
guard = sg.install(sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
    "package": "acme", "path": sys.argv[3]}}}))
acme = guard.import_extension("acme")

# host SDK functions that take the extension name from their caller
def sdk_session(name):
    return store.session(name)

def sdk_base(name):
    return store.base(name)

with sg.request(user="u-1", org="o-1"):
    print(json.dumps(acme.run(sdk_session, sdk_base, store.create_all)))
