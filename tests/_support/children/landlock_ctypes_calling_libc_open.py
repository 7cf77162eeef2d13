"""Landlock child: ``landlock_ctypes_calling_libc_open.py PARAMS_JSON``.

Runs the scenario of test_ctypes_calling_libc_open_directly_is_denied_by_the_kernel
(it shows that ctypes calling libc open directly is denied by the kernel) with the
tree spec (fs.read P["ro"], fs.write P["rw"] and P["rw2"]) and prints the outcome as
JSON.
"""
import errno
import os
import sys

from lockdown_prelude import P, done

import sdk_guard as sg

sys.path[0] = ""  # what `python -c` puts there: the working directory

spec = {"fs": {"read": [P["ro"]], "write": [P["rw"], P["rw2"]]}, "seccomp": "off"}
import ctypes  # noqa: E402

libc = ctypes.CDLL(None, use_errno=True)
libc.open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
def c_open(path, flags):
    fd = libc.open(path.encode(), flags, 0o600)
    if fd < 0:
        return errno.errorcode[ctypes.get_errno()]
    os.close(fd)
    return "ok"
r = sg.lockdown(spec=spec)
done(read_ro=c_open(P["ro"] + "/f.txt", os.O_RDONLY),
     read_out=c_open(P["out"] + "/f.txt", os.O_RDONLY),
     write_out=c_open(P["out"] + "/f.txt", os.O_WRONLY),
     create_out=c_open(P["out"] + "/new", os.O_WRONLY | os.O_CREAT),
     create_rw=c_open(P["rw"] + "/new", os.O_WRONLY | os.O_CREAT),
     shadow=c_open("/etc/shadow", os.O_RDONLY))
