"""Import presets: named sets of standard-library modules an extension may import
(``imports.allow = ["@pure"]``)."""
from __future__ import annotations

# Import presets.  Each entry is (module, is_package): a package expands to "m" and
# "m.*" so its submodules load.  A preset lists what extension code may *name* in an
# import; the private accelerators each member imports while loading are listed too, so
# the first import of a member works.  Members are side-effect free: they compute on
# values the caller passes in and reach no file, socket or process on their own (where
# one can, the reach goes through an audited operation the guard mediates separately).
_PURE: tuple[tuple[str, bool], ...] = (
    ("json", True), ("_json", False),
    ("re", True), ("_sre", False),                 # re is a package since 3.11
    ("math", False), ("cmath", False),
    ("datetime", False), ("_datetime", False), ("_pydatetime", False),
    ("decimal", False), ("_decimal", False), ("_pydecimal", False),
    ("fractions", False), ("numbers", False),
    ("statistics", False), ("_statistics", False),
    ("collections", True), ("_collections", False), ("_collections_abc", False),
    ("itertools", False), ("functools", False), ("_functools", False),
    ("operator", False), ("_operator", False),
    ("typing", False), ("_typing", False),
    # dataclasses imports inspect while loading; inspect itself is not a member (it
    # hands out frames), and that import is made by dataclasses, not by the extension.
    ("dataclasses", False),
    ("enum", False), ("string", False), ("_string", False), ("textwrap", False),
    # uuid1()'s node lookup may run a helper program or read /sys: both are audited
    # events (process.spawn, fs.read) the guard still decides; uuid4() is pure.
    ("uuid", False), ("_uuid", False),
    ("hashlib", False), ("_hashlib", False), ("hmac", False), ("_md5", False),
    ("_sha1", False), ("_sha2", False), ("_sha256", False), ("_sha512", False),
    ("_sha3", False), ("_blake2", False),
    ("base64", False), ("binascii", False),
    # copy rebuilds objects through __reduce_ex__ but never looks a callable up by
    # name (that is pickle.find_class, which dynamic_code mediates).
    ("copy", False), ("pprint", False),
    ("heapq", False), ("_heapq", False), ("bisect", False), ("_bisect", False),
    ("array", False), ("struct", False), ("_struct", False),
    ("zlib", False),                                # in-memory (de)compression only
    # random.SystemRandom reads os.urandom (a syscall, no file); seeding is per instance.
    ("random", False), ("_random", False),
    ("time", False),
    # calendar's Locale*Calendar switch the process locale and restore it on exit.
    ("calendar", False),
    ("abc", False), ("_abc", False), ("contextlib", False),
    # types exposes CodeType/FunctionType, but constructing either raises the
    # code.__new__/function.__new__ audit events that dynamic_code mediates, and the
    # same classes are reachable from any function object anyway.
    ("types", False),
    ("keyword", False), ("reprlib", False),
)
# Deliberately absent: copyreg (registers reducers for the whole process), io and
# pathlib (their value is file access: name them explicitly), inspect (frames).

_TEXT: tuple[tuple[str, bool], ...] = (
    ("string", False), ("_string", False), ("textwrap", False),
    ("re", True), ("_sre", False), ("unicodedata", False),
    ("difflib", False), ("heapq", False), ("_heapq", False),
    ("html", True), ("_markupbase", False),
    ("fnmatch", False), ("shlex", False),           # shlex reads a file only via open()
    ("csv", False), ("_csv", False),                # readers/writers over caller objects
)

#: Preset name -> module patterns it expands to.
PRESETS: dict[str, tuple[str, ...]] = {}
for _name, _members in (("@pure", _PURE), ("@text", _TEXT)):
    _pats: list[str] = []
    for _mod, _pkg in _members:
        _pats.append(_mod)
        if _pkg:
            _pats.append(_mod + ".*")
    PRESETS[_name] = tuple(dict.fromkeys(_pats))
del _name, _members, _pats, _mod, _pkg


def expand_presets(patterns: list[str]) -> list[str]:
    out: list[str] = []
    for pat in patterns:
        out.extend(PRESETS[pat] if pat.startswith("@") else (pat,))
    return list(dict.fromkeys(out))
