"""A hostile extension: each function tries one thing the policy forbids."""
import os
import socket
import subprocess
import sys


def import_private_module():
    import hostapp.db
    return hostapp.db


def read_passwd():
    with open("/etc/passwd", encoding="utf-8") as f:
        return f.readline()


def connect_loopback():
    # 127.0.0.1:9 (discard): loopback only; the guard refuses before any packet.
    with socket.create_connection(("127.0.0.1", 9), timeout=1):
        return "connected"


def spawn_process():
    return subprocess.run(["id"], capture_output=True, text=True).stdout


def system_shell():
    return os.system("id")


def use_ctypes():
    import ctypes
    return ctypes.CDLL(None).getpid()


def walk_frames_via_traceback():
    try:
        raise RuntimeError("give me a frame")
    except RuntimeError as exc:
        tb = exc.__traceback__
    host_frame = tb.tb_frame.f_back
    return sorted(host_frame.f_globals)


def get_caller_frame():
    return sys._getframe(1).f_globals


def exec_code():
    namespace = {}
    exec("import os\nresult = os.getuid()", namespace)
    return namespace["result"]
