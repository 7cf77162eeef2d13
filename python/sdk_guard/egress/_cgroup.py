"""The worker's cgroup v2 group: ``<cgroup2>/sdk_guard/<id>``.

The id is ``<supervisor pid>-<random>``: a group whose supervisor is gone is stale and
is removed by :func:`stale_groups` / the next supervisor.  Every netfilter rule stores
the *cgroup id* (inode) when it is loaded, so the group is always created first and the
rules installed after it; a re-created path is a new id the old rules do not match.
"""
from __future__ import annotations

import errno
import os
import secrets
import time

PARENT = "sdk_guard"


def mount_point() -> str | None:
    """The cgroup2 mount (``/sys/fs/cgroup`` or ``/sys/fs/cgroup/unified``), or None."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return None
    found = [m[1] for m in mounts if len(m) > 2 and m[2] == "cgroup2"]
    for preferred in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if preferred in found:
            return preferred
    return found[0] if found else None


def new_id() -> str:
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def supervisor_alive(group_id: str) -> bool:
    """False when the pid in GROUP_ID no longer exists (the group is stale)."""
    pid_s = group_id.partition("-")[0]
    if not pid_s.isdigit():
        return False
    try:
        os.kill(int(pid_s), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Group:
    """One cgroup v2 directory the worker is spawned into."""

    def __init__(self, mount: str, group_id: str) -> None:
        self.mount = mount
        self.id = group_id
        self.rel = f"{PARENT}/{group_id}"           # relative to the cgroup2 root
        self.path = os.path.join(mount, self.rel)
        self.level = self.rel.count("/") + 1        # depth below the cgroup2 root
        self.procs = os.path.join(self.path, "cgroup.procs")
        self.procs_fd = -1

    def create(self) -> None:
        """mkdir the parent (if needed) and the group; opens cgroup.procs for joining."""
        parent = os.path.join(self.mount, PARENT)
        try:
            os.mkdir(parent, 0o755)
        except FileExistsError:
            pass
        os.mkdir(self.path, 0o755)
        self.procs_fd = os.open(os.path.join(self.path, "cgroup.procs"),
                                os.O_WRONLY | os.O_CLOEXEC)

    def cgroup_id(self) -> int:
        return os.stat(self.path).st_ino

    def pids(self) -> list[int]:
        try:
            with open(os.path.join(self.path, "cgroup.procs"), encoding="ascii") as f:
                return [int(x) for x in f.read().split()]
        except FileNotFoundError:
            return []

    def populated(self) -> bool:
        try:
            with open(os.path.join(self.path, "cgroup.events"), encoding="ascii") as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == "populated":
                        return v.strip() == "1"
        except FileNotFoundError:
            return False
        return False

    def kill(self, timeout: float = 5.0) -> bool:
        """cgroup.kill (SIGKILL to every process, also those forking), then waits for
        ``populated 0``.  Returns True when the group is empty."""
        return kill_path(self.path, timeout)

    def remove(self) -> None:
        if self.procs_fd >= 0:
            os.close(self.procs_fd)
            self.procs_fd = -1
        remove_path(self.path)


def kill_path(path: str, timeout: float = 5.0) -> bool:
    try:
        with open(os.path.join(path, "cgroup.kill"), "w", encoding="ascii") as f:
            f.write("1")
    except FileNotFoundError:
        return True
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.EINVAL):
            raise
        # Kernels before 5.14 have no cgroup.kill: signal every listed process.
        for _ in range(50):
            try:
                with open(os.path.join(path, "cgroup.procs"), encoding="ascii") as f:
                    pids = [int(x) for x in f.read().split()]
            except FileNotFoundError:
                return True
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(os.path.join(path, "cgroup.events"), encoding="ascii") as f:
                if "populated 0" in f.read():
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.005)
    return False


def remove_path(path: str) -> None:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass


def stale_groups(mount: str) -> list[str]:
    """Paths of groups under ``sdk_guard/`` whose supervisor process is gone."""
    parent = os.path.join(mount, PARENT)
    try:
        names = os.listdir(parent)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []
    out = []
    for name in names:
        full = os.path.join(parent, name)
        if os.path.isdir(full) and not supervisor_alive(name):
            out.append(full)
    return out
