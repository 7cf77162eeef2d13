"""The C units of sdk_guard._guard are layered: each #include "x.h" names its own unit's
header or one from a lower layer, so an event can be followed from the hook down to the
audit ring without going back up, and no cycle of symbols can form.

The table below is the layering; a new C file must be placed in it."""
from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "_guard"

# layer -> units (a unit is name.c and/or name.h).  Lower layers never include higher.
LAYERS: dict[int, tuple[str, ...]] = {
    # The pure-C core: no Python.h; its units may include one another.
    0: ("policy", "landlock", "sasm", "seccomp", "bpf_sim", "ring", "seccomp_trap",
        "syscalls_x86_64", "syscalls_aarch64", "ebpf", "bpf_labels"),
    1: ("pyerr",),                 # Python.h, visibility, errno -> exception
    2: ("args",),                   # reading event arguments without running their code
    3: ("runtime",),                # the installed policy: process-wide state, install
    4: ("audit",),                  # records and the ring: decides and gates nothing
    5: ("attrib",),                 # who asked
    6: ("decide",),                 # the only builder of denials
    7: ("gate",),                   # host-only entry points
    8: ("events",),                 # the event table
    9: ("fs",),                     # per-capability rooms...
    10: ("net", "imports", "threads"),  # ...(a Unix socket address is a path: net -> fs)
    11: ("hook",),                  # dispatch
    12: ("py_guard", "py_audit", "py_policy", "py_landlock", "py_seccomp", "py_seccomp_kernel",
         "py_egress", "py_request", "py_constants", "py_units"),
    13: ("module",),                # adds the units; nothing depends on it
}
LAYER_OF = {unit: layer for layer, units in LAYERS.items() for unit in units}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.M)


def _units() -> list[Path]:
    return sorted(p for p in SRC.iterdir() if p.suffix in (".c", ".h"))


def test_every_c_unit_has_a_layer() -> None:
    unplaced = sorted({p.stem for p in _units()} - set(LAYER_OF))
    assert unplaced == [], f"add these units to LAYERS in {Path(__file__).name}"


def test_no_include_points_up_a_layer() -> None:
    upward = []
    for path in _units():
        mine = LAYER_OF.get(path.stem)
        if mine is None:
            continue
        for name in INCLUDE.findall(path.read_text()):
            theirs = LAYER_OF.get(name)
            if theirs is None:
                upward.append(f"{path.name} includes {name}.h, which has no layer")
            elif name == path.stem or (mine == 0 and theirs == 0):
                continue
            elif theirs >= mine:
                upward.append(f"{path.name} (layer {mine}) includes {name}.h (layer {theirs})")
    assert upward == []


def test_the_pure_core_never_includes_python() -> None:
    core = [p for p in _units() if LAYER_OF.get(p.stem) == 0]
    assert core, "the layer table names no pure-C unit"
    with_python = [p.name for p in core if re.search(r"#\s*include\s+[<\"]Python\.h", p.read_text())]
    assert with_python == []


def test_the_check_sees_an_upward_include() -> None:
    # The pattern the check relies on matches the way the sources include headers.
    assert INCLUDE.findall('#include "decide.h"\n#  include "hook.h"\n') == ["decide", "hook"]
    assert LAYER_OF["hook"] > LAYER_OF["decide"] > LAYER_OF["audit"]


def test_cmake_builds_only_the_pure_core() -> None:
    # CMakeLists.txt names the Python-facing units (it builds the core alone for ctest).
    cmake = (SRC.parents[1] / "CMakeLists.txt").read_text()
    listed = re.search(r"set\(GUARD_PYTHON_UNITS\s+([^)]*)\)", cmake)
    assert listed is not None
    python_units = {p.stem for p in SRC.glob("*.c")
                    if LAYER_OF.get(p.stem, 0) > 0 and not p.stem.startswith("py_")}
    assert set(listed.group(1).split()) == python_units
