"""What the seccomp children share: ``libc``, ``sc(nr, *args)`` (a raw syscall
returning ``(result, errno)``) and ``lock(mode)`` (prepare and apply the filter,
asserting it is complete).

The seccomp_* programs import it; tests/python/test_seccomp.py also prefixes its
text to the few children it still builds from code.
"""
import ctypes

from sdk_guard import seccomp

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def sc(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_ulong(a) for a in args])
    return r, ctypes.get_errno()


def lock(mode="errno"):
    plan = seccomp.prepare(mode)
    assert plan.status == "full", plan.report
    plan.apply()
    return plan
