"""Landlock child: ``landlock_rename_and_link_across.py PARAMS_JSON``.

Runs the scenario of test_rename_and_link_across_directories_follow_refer_rules (it
shows that rename and link across directories follow refer rules) with the tree spec
(fs.read P["ro"], fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import os
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
r = sg.lockdown(spec=spec)
rw, rw2, ro, o = P["rw"], P["rw2"], P["ro"], P["out"]
done(same_dir=attempt(os.rename, rw + "/a", rw + "/a2"),
     rw_to_rw2=attempt(os.rename, rw + "/b", rw2 + "/b"),
     rw_to_out=attempt(os.rename, rw + "/c", o + "/c"),
     ro_to_rw=attempt(os.rename, ro + "/f.txt", rw + "/from_ro"),
     link_ro_to_rw=attempt(os.link, ro + "/f.txt", rw + "/hard"),
     link_out_to_rw=attempt(os.link, o + "/f.txt", rw + "/hard2"),
     link_rw_to_out=attempt(os.link, rw + "/f.txt", o + "/hard3"),
     refer_dropped=[d["right"] for d in r.as_dict()["landlock"]["dropped"]])
