"""Lockdown child: ``lockdown_dns_for_hosts.py PARAMS_JSON``.

Locks down under P["policy"] and prints the DNS rules and whether /etc/hosts opens.
"""
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

r = sg.lockdown(sg.Policy.from_dict(P["policy"]))
done(dns=sorted(x["path"] for x in r.landlock["rules"] if "name resolution" in x["source"]),
     hosts=attempt(open, "/etc/hosts"))
