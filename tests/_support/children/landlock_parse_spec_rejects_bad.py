"""Landlock child: ``landlock_parse_spec_rejects_bad.py PARAMS_JSON``.

Runs the scenario of test_parse_spec_rejects_bad_input_with_dotted_keys (it shows that
parse spec rejects bad input with dotted keys) and prints the outcome as JSON.
"""
import sys

from lockdown_prelude import done

sys.path[0] = ""  # what `python -c` puts there: the working directory

from sdk_guard._lockdown_spec import parse_spec  # noqa: E402
from sdk_guard.errors import PolicyError  # noqa: E402


def ident(v, k):
    return v
cases = {
    "port0": {"net": {"connect_tcp": [0]}},
    "port_big": {"net.bind_tcp": [80, 65536]},
    "port_bool": {"net": {"connect_tcp": [True]}},
    "port_str": {"net.connect_tcp": ["443"]},
    "scope": {"scope": ["signal", "ptrace"]},
    "unknown": {"fs": {"exec": ["/"]}},
    "unknown_top": {"paths": []},
    "dup": {"fs": {"read": ["/a"]}, "fs.read": ["/b"]},
    "seccomp": {"seccomp": "deny"},
    "threads": {"threads": "all"},
    "require": {"require": ["landlock", "selinux"]},
    "not_list": {"fs.read": "/usr"},
    "empty_path": {"fs": {"write": [""]}},
    "template": {"fs.read": ["{data}/x"]},
}
res = {}
for name, sec in cases.items():
    try:
        parse_spec(sec) if name == "template" else parse_spec(sec, ident)
        res[name] = None
    except PolicyError as e:
        res[name] = e.key
ok = parse_spec({"fs": {"read": ["{prefix}"]}, "net.connect_tcp": [443], "scope": []})
again = parse_spec(ok, ident)
done(res=res, prefix_expanded=ok["fs.read"] == [sys.prefix], idempotent=again == ok,
     defaults=parse_spec(None)["threads"])
