"""Landlock child: ``landlock_os_open_with_dir.py PARAMS_JSON``.

Runs the scenario of test_os_open_with_dir_fd_cannot_escape_the_rules (it shows that
os open with dir fd cannot escape the rules) with the tree spec (fs.read P["ro"],
fs.write P["rw"] and P["rw2"]) and prints the outcome as JSON.
"""
import os
import sys

from lockdown_prelude import P, attempt, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
r = sg.lockdown(spec=spec)
d = os.open(P["rw"], os.O_RDONLY | os.O_DIRECTORY)
res = {
    "inside": attempt(os.open, "f.txt", os.O_RDONLY, dir_fd=d),
    "dotdot": attempt(os.open, "../out/f.txt", os.O_RDONLY, dir_fd=d),
    "dotdot_create": attempt(os.open, "../out/new", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=d),
    "open_out_dir": attempt(os.open, P["out"], os.O_RDONLY | os.O_DIRECTORY),
}
# O_PATH is not an access, so Landlock lets it through; what it leads to is still checked.
p = os.open(P["out"], os.O_PATH)
res["via_o_path"] = attempt(os.open, "f.txt", os.O_RDONLY, dir_fd=p)
res["via_proc_fd"] = attempt(open, f"/proc/self/fd/{p}/f.txt")
done(**res)
