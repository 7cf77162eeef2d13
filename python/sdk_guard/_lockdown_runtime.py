"""What a locked-down interpreter needs to keep working, found before lockdown().

``lockdown()`` grants these read-only (the private temporary directory read-write),
each with the reason the report prints:

- the directories of the shared libraries that the interpreter's and installed
  packages' extension modules link against: the ``DT_NEEDED`` entries of their ELF
  dynamic sections, resolved the way the dynamic linker does (``RUNPATH``/``RPATH``,
  then ``/etc/ld.so.cache``, then the default directories), closed over the
  libraries' own ``DT_NEEDED``.  Only library directories are granted (``/lib``,
  ``/usr/lib``, ``/usr/local/lib``, their ``64``/``32`` variants and their
  multiarch children such as ``/usr/lib/x86_64-linux-gnu``); a library found
  anywhere else is reported, not granted.
- DNS configuration files, when the policy allows any network.
- the process's own ``/proc/<pid>`` and ``/sys/devices/system/cpu``.
- for a ``sys.path`` entry that is not the stdlib or a site directory (the script's
  directory, the current directory, ``PYTHONPATH``): listing it, its code files and
  its package directories, nothing else.

Scanning extension modules is the expensive part (a few hundred ELF files with
numpy/pandas installed), so its result is cached in memory per process and on disk
per interpreter, keyed by the modification times of the scanned directories and of
``/etc/ld.so.cache`` (installing or removing a package changes its site directory's
mtime).  Nothing here raises: a file that cannot be read or parsed is skipped.
"""
from __future__ import annotations

import json
import os
import struct
import sys
import zlib
from collections.abc import Iterable
from typing import Any

# ---- ELF ----------------------------------------------------------------------------

_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NEEDED, _DT_STRTAB, _DT_STRSZ, _DT_RPATH, _DT_RUNPATH = 1, 5, 10, 15, 29


def elf_dynamic(path: str) -> tuple[list[str], list[str]] | None:
    """(DT_NEEDED sonames, RUNPATH/RPATH directories with $ORIGIN expanded) of an ELF
    shared object, or None if PATH is not a readable ELF file with a dynamic section."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        head = os.pread(fd, 64, 0)
        if len(head) < 52 or head[:4] != b"\x7fELF":
            return None
        is64 = head[4] == 2
        end = "<" if head[5] == 1 else ">"
        if is64:
            phoff, = struct.unpack_from(end + "Q", head, 32)
            phentsize, phnum = struct.unpack_from(end + "HH", head, 54)
            phfmt, dynfmt = end + "IIQQQQQQ", end + "qQ"
        else:
            phoff, = struct.unpack_from(end + "I", head, 28)
            phentsize, phnum = struct.unpack_from(end + "HH", head, 42)
            phfmt, dynfmt = end + "IIIIIIII", end + "iI"
        if phnum == 0 or phnum > 256:
            return None
        ph = os.pread(fd, phentsize * phnum, phoff)
        loads: list[tuple[int, int, int]] = []
        dyn: tuple[int, int] | None = None
        for i in range(phnum):
            f = struct.unpack_from(phfmt, ph, i * phentsize)
            if is64:
                p_type, _, p_offset, p_vaddr, _, p_filesz = f[:6]
            else:
                p_type, p_offset, p_vaddr, _, p_filesz = f[:5]
            if p_type == _PT_LOAD:
                loads.append((p_vaddr, p_offset, p_filesz))
            elif p_type == _PT_DYNAMIC:
                dyn = (p_offset, p_filesz)
        if dyn is None or dyn[1] > 1 << 20:
            return None
        raw = os.pread(fd, dyn[1], dyn[0])
        size = struct.calcsize(dynfmt)
        needed: list[int] = []
        paths: list[int] = []
        strtab = strsz = 0
        for off in range(0, len(raw) - size + 1, size):
            tag, val = struct.unpack_from(dynfmt, raw, off)
            if tag == 0:
                break
            if tag == _DT_NEEDED:
                needed.append(val)
            elif tag == _DT_STRTAB:
                strtab = val
            elif tag == _DT_STRSZ:
                strsz = val
            elif tag in (_DT_RPATH, _DT_RUNPATH):
                paths.append(val)
        if not strtab or not strsz or strsz > 1 << 22:
            return None
        stroff = next((o + strtab - v for v, o, n in loads if v <= strtab < v + n), None)
        if stroff is None:
            return None
        table = os.pread(fd, strsz, stroff)
    except (OSError, struct.error):
        return None
    finally:
        os.close(fd)

    def string(i: int) -> str:
        return table[i:table.find(b"\0", i)].decode("utf-8", "surrogateescape")

    origin = os.path.dirname(os.path.abspath(path))
    dirs = []
    for i in paths:
        for d in string(i).split(":"):
            if d:
                dirs.append(d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin))
    return [string(i) for i in needed], dirs


# ---- the dynamic linker's search path --------------------------------------------------

_CACHE_NEW = b"glibc-ld.so.cache1.1"
_CACHE_OLD = b"ld.so-1.7.0"


def ld_so_cache(path: str = "/etc/ld.so.cache") -> dict[str, list[str]]:
    """soname -> library paths, in the cache's order (the order ld.so prefers)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    base = 0
    if data.startswith(_CACHE_OLD):
        nlibs, = struct.unpack_from("<I", data, 12)
        base = (16 + nlibs * 12 + 7) & ~7
    if data[base:base + len(_CACHE_NEW)] != _CACHE_NEW:
        return {}
    out: dict[str, list[str]] = {}
    try:
        nlibs, = struct.unpack_from("<I", data, base + 20)
        entries = base + 48
        for i in range(min(nlibs, 1 << 16)):
            _flags, key, value = struct.unpack_from("<iII", data, entries + i * 24)
            # In the new format, string offsets are relative to the new header.
            k = data[base + key:data.index(b"\0", base + key)].decode("utf-8", "surrogateescape")
            v = data[base + value:data.index(b"\0", base + value)].decode("utf-8",
                                                                           "surrogateescape")
            out.setdefault(k, []).append(v)
    except (struct.error, ValueError):
        pass
    return out


_LIB_ROOTS = ("/lib", "/lib64", "/lib32", "/libx32", "/usr/lib", "/usr/lib64", "/usr/lib32",
              "/usr/libx32", "/usr/local/lib", "/usr/local/lib64")
_DEFAULT_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib")


def is_library_dir(d: str) -> bool:
    """A directory the dynamic linker's default configuration searches: one of the
    library roots, or a multiarch directory directly beneath one
    (``/usr/lib/x86_64-linux-gnu``).  Never a prefix like ``/usr`` or ``/opt/app``."""
    if d in _LIB_ROOTS:
        return True
    parent, name = os.path.split(d)
    return parent in _LIB_ROOTS and "-linux-" in name


def mapped_objects() -> list[str]:
    """Paths of the shared objects mapped into this process (/proc/self/maps)."""
    out: list[str] = []
    seen: set[str] = set()
    try:
        with open("/proc/self/maps", "rb") as f:
            data = f.read()
    except OSError:
        return out
    for line in data.split(b"\n"):
        i = line.find(b" /")
        if i < 0:
            continue
        p = line[i + 1:].decode("utf-8", "surrogateescape")
        if ".so" in p and p not in seen:
            seen.add(p)
            out.append(p)
    return out


def _resolve(soname: str, runpath: list[str], cache: dict[str, list[str]],
             multiarch: list[str]) -> str | None:
    if "/" in soname:
        return soname if os.path.exists(soname) else None
    for d in runpath:
        p = os.path.join(d, soname)
        if os.path.exists(p):
            return p
    for p in cache.get(soname, ()):
        # The cache may list other architectures' copies first (i386 beside x86_64):
        # prefer one in a directory this process already loads from.
        if os.path.dirname(p) in multiarch:
            return p
    for p in cache.get(soname, ()):
        return p
    for d in multiarch + list(_DEFAULT_DIRS):
        p = os.path.join(d, soname)
        if os.path.exists(p):
            return p
    return None


def _extension_files(roots: Iterable[str], suffixes: tuple[str, ...],
                     limit: int = 200000) -> list[str]:
    out: list[str] = []
    seen = 0
    roots = list(roots)
    others = set(roots)
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            seen += len(filenames)
            if seen > limit:
                return out
            # Another root is walked on its own (site-packages lies inside the stdlib).
            dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")
                           and os.path.join(dirpath, d) not in others]
            for n in filenames:
                if n.endswith(suffixes) or ".so." in n:
                    out.append(os.path.join(dirpath, n))
    return out


def _cache_file(key: str) -> str | None:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not base or base.startswith("~"):
        return None
    return os.path.join(base, "sdk_guard",
                        f"libdirs-{zlib.crc32(key.encode()):08x}.json")


_memo: dict[str, Any] = {}


def library_dirs(scan_roots: list[str], suffixes: tuple[str, ...]) -> dict[str, Any]:
    """{"dirs": [(dir, why)], "outside": [(library path, needed by)], "nss": [(dir,
    why)], "scanned": n, "cached": bool}: the library directories the extension modules
    under SCAN_ROOTS (and the objects already mapped) need, and those of the NSS
    modules name resolution loads."""
    stamp = []
    for p in list(scan_roots) + ["/etc/ld.so.cache", "/etc/nsswitch.conf"]:
        try:
            stamp.append(f"{p}:{os.stat(p).st_mtime_ns}")
        except OSError:
            stamp.append(f"{p}:-")
    key = sys.executable + "|" + "|".join(stamp)
    if key in _memo:
        return dict(_memo[key], cached=True)
    cf = _cache_file(key)
    if cf:
        try:
            with open(cf) as f:
                got = json.load(f)
            # Re-checked: a cache file can only ever name library directories.
            if got.get("key") == key and all(is_library_dir(d) for d, _ in got["dirs"]):
                res = {"dirs": [tuple(x) for x in got["dirs"]],
                       "outside": [tuple(x) for x in got["outside"]],
                       "nss": [tuple(x) for x in got["nss"] if is_library_dir(x[0])],
                       "scanned": got["scanned"]}
                _memo[key] = res
                return dict(res, cached=True)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    res = _scan(scan_roots, suffixes)
    _memo[key] = res
    if cf:
        try:
            os.makedirs(os.path.dirname(cf), mode=0o700, exist_ok=True)
            tmp = f"{cf}.{os.getpid()}"
            with open(tmp, "w") as f:
                json.dump(dict(res, key=key), f)
            os.replace(tmp, cf)
        except OSError:
            pass
    return dict(res, cached=False)


def _scan(scan_roots: list[str], suffixes: tuple[str, ...]) -> dict[str, Any]:
    cache = ld_so_cache()
    mapped = mapped_objects()
    multiarch: list[str] = []
    for p in mapped:
        d = os.path.dirname(p)
        if is_library_dir(d) and d not in multiarch:
            multiarch.append(d)
    todo = _extension_files(scan_roots, suffixes)
    why: dict[str, list[str]] = {}
    outside: list[tuple[str, str]] = []
    done: set[str] = set()
    resolved: dict[str, str | None] = {}
    while todo:
        obj = todo.pop()
        if obj in done:
            continue
        done.add(obj)
        dyn = elf_dynamic(obj)
        if dyn is None:
            continue
        needed, runpath = dyn
        for so in needed:
            rk = so if not runpath else so + "|" + ":".join(runpath)
            if rk not in resolved:
                resolved[rk] = _resolve(so, runpath, cache, multiarch)
                lib = resolved[rk]
                if lib is not None and lib not in done:
                    todo.append(lib)
            lib = resolved[rk]
            if lib is None:
                continue
            d = os.path.dirname(lib)
            if any(d == r or d.startswith(r + "/") for r in scan_roots):
                continue
            if is_library_dir(d):
                names = why.setdefault(d, [])
                if so not in names:
                    names.append(so)
            elif (lib, obj) not in outside:
                outside.append((lib, obj))
    for p in mapped:
        d = os.path.dirname(p)
        if is_library_dir(d):
            names = why.setdefault(d, [])
            if os.path.basename(p) not in names:
                names.append(os.path.basename(p))
    # /lib is often a symlink to /usr/lib: one rule per real directory.
    merged: dict[str, list[str]] = {}
    for d, names in why.items():
        real = os.path.realpath(d)
        # The rule lands on the real directory; it must itself be a library directory.
        if is_library_dir(real):
            merged.setdefault(real, []).extend(names)
    why = merged
    dirs = []
    for d, names in sorted(why.items()):
        shown = ", ".join(sorted(set(names)))
        dirs.append((d, f"shared libraries extension modules link: {shown}"))
    return {"dirs": dirs, "outside": outside[:50], "scanned": len(done),
            "nss": nss_module_dirs([d for d, _ in dirs])}


# ---- DNS, /proc, CPUs --------------------------------------------------------------------

DNS_FILES = ("/etc/hosts", "/etc/nsswitch.conf", "/etc/resolv.conf", "/etc/gai.conf",
             "/etc/host.conf", "/etc/services", "/etc/protocols")

def nss_module_dirs(known_dirs: list[str]) -> list[tuple[str, str]]:
    """(directory, why) of the NSS modules the hosts: line of /etc/nsswitch.conf names
    (libnss_<service>.so.2, loaded with dlopen by getaddrinfo, so no DT_NEEDED shows
    them); glibc >= 2.34 builds files and dns into libc.  Library directories only."""
    try:
        with open("/etc/nsswitch.conf") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    services: list[str] = []
    for line in lines:
        key, _, rest = line.partition(":")
        if key.strip() == "hosts":
            services = [w for w in rest.split("#")[0].split() if not w.startswith("[")]
    multiarch = getattr(sys.implementation, "_multiarch", "")
    search = list(dict.fromkeys(known_dirs + [f"{r}/{multiarch}" for r in _LIB_ROOTS
                                              if multiarch] + list(_DEFAULT_DIRS)))
    out: list[tuple[str, str]] = []
    for svc in services:
        so = f"libnss_{svc}.so.2"
        for d in search:
            if os.path.exists(os.path.join(d, so)):
                real = os.path.realpath(d)
                if is_library_dir(real):
                    out.append((real, f"NSS module {so} (nsswitch.conf hosts: {svc})"))
                break
    return out


# Thread pools of numerical libraries that start threads when they are loaded.
THREAD_POOL_LIBS = (
    ("openblas", "OpenBLAS", "OPENBLAS_NUM_THREADS=1"),
    ("libmkl", "Intel MKL", "MKL_NUM_THREADS=1"),
    ("libiomp", "Intel OpenMP", "OMP_NUM_THREADS=1"),
    ("libgomp", "GNU OpenMP", "OMP_NUM_THREADS=1"),
    ("libomp", "LLVM OpenMP", "OMP_NUM_THREADS=1"),
    ("blis", "BLIS", "BLIS_NUM_THREADS=1"),
    ("libtbb", "Intel TBB", "TBB thread pool limits before start"),
)


def thread_pool_libraries(mapped: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(library name, path, environment fix) for each mapped thread-pool library."""
    out: list[tuple[str, str, str]] = []
    for p in mapped if mapped is not None else mapped_objects():
        base = os.path.basename(p).lower()
        for pat, name, fix in THREAD_POOL_LIBS:
            if pat in base and not any(o[1] == p for o in out):
                out.append((name, p, fix))
    return out
