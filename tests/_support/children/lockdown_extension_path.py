"""Lockdown child: ``lockdown_extension_path.py PARAMS_JSON``.

Installs P["policy"], locks down, imports acme and prints what acme.hello()
returns, whether P["plugins"]/plugins.env opens and the rules under P["plugins"].
"""
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

policy = sg.Policy.from_dict(P["policy"])
guard = sg.install(policy)
r = sg.lockdown(policy, require=["landlock"])
acme = guard.import_extension("acme")
srcs = [x["source"] for x in r.landlock["rules"] if x["path"].startswith(P["plugins"])]
done(hello=acme.hello(), secret=attempt(open, P["plugins"] + "/plugins.env"), srcs=srcs,
     acme_in_modules="acme" in sys.modules)
