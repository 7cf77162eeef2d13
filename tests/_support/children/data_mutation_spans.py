"""Storage child: ``data_mutation_spans.py DB_DIR TESTS_DIR``.

Creates the test_data models in a SQLite file under DB_DIR and, inside an action span
under a request, inserts, reads, updates and deletes invoices.  Prints
``[kind, name, has_parent, org]`` for every span record.
"""
import json
import sys

sys.path[0] = ""  # what `python -c` puts there: the working directory
sys.path[:0] = [sys.argv[2], sys.argv[2] + "/.."]  # test_data, and _support for it

from sqlalchemy import delete, select, update  # noqa: E402
from test_data import Models  # noqa: E402

import sdk_guard as sg  # noqa: E402
from sdk_guard.data import Storage  # noqa: E402

sink = sg.audit.MemorySink()
sg.audit.add_sink(sink)
store = Storage("sqlite:///" + sys.argv[1] + "/x.db")
m = Models(store)
store.create_all()
with sg.request(user="u-1", org="o-1"):
    with sg.audit.span("action", "invoices.import"):
        with store.session("acme") as s:
            s.add(m.Invoice(amount=1))
            s.commit()
            s.scalars(select(m.Invoice)).all()          # a read: no span
            s.execute(update(m.Invoice).values(amount=2))
            s.commit()
            s.execute(delete(m.Invoice))
            s.commit()
sg.audit.flush()
spans = [(r["span_kind"], r["span_name"], r["parent"] is not None, r["org"])
         for r in sink.records if r["capability"] == "audit.span"]
print(json.dumps(spans))
