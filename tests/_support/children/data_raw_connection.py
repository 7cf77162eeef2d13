"""Storage child: ``data_raw_connection.py APP_URL ADMIN_URL TESTS_DIR PLUGINS``.

Creates the test_data models in the PostgreSQL database at APP_URL (owner ADMIN_URL),
seeds two orgs, installs a guard for acme (under PLUGINS) and lets acme walk from its
session to the raw psycopg connection under a request for org o-1.  Prints what acme
saw and changed, and the amounts org o-2 sees afterwards.
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory
sys.path[:0] = [sys.argv[3], sys.argv[3] + "/.."]  # test_data, and _support for it

from sqlalchemy import select  # noqa: E402
from test_data import Models, _seed  # noqa: E402

import sdk_guard as sg  # noqa: E402
from sdk_guard.data import Storage  # noqa: E402

store = Storage(sys.argv[1], admin_url=sys.argv[2])
m = Models(store)
store.create_all()
_seed(m)
policy = sg.Policy.from_dict({"version": 1, "extensions": {"acme": {
    "package": "acme", "path": sys.argv[4]}}})
guard = sg.install(policy)
acme = guard.import_extension("acme")
with sg.request(user="u-1", org="o-1"):
    res = acme.walk_and_query(lambda: store.session("acme"), m.Invoice, select)
with sg.request(user="u-2", org="o-2"), store.session("acme") as s:
    o2 = sorted(i.amount for i in s.scalars(select(m.Invoice)))
print(json.dumps({**res, "o2": o2}))
