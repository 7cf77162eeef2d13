"""Builds sdk_guard._guard from every C file in src/_guard.

Environment switches (msgspec / python-zstandard habit):
  SDK_GUARD_DEBUG=1     -O0 -g, assertions on
  SDK_GUARD_SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer (run with LD_PRELOAD of libasan)
"""
import glob
import os
import tomllib

from setuptools import Extension, setup
from setuptools.command.build_py import build_py  # type: ignore[import-untyped]

# The SDK_GUARD_POLICY start-up hook: a .pth file at the top of site-packages, whose one
# line (kept in sdk_guard._startup so tests check the shipped text) costs a dict lookup
# when the variable is unset.
PTH_NAME = "sdk_guard-startup.pth"
PTH_LINE = ('import os; os.environ.get("SDK_GUARD_POLICY") and '
            'os.environ.get("SDK_GUARD_DISABLE", "") in ("", "0") and '
            '__import__("sdk_guard._startup")._startup.from_environment()\n')


class build_py_with_pth(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        target = os.path.join(self.build_lib, PTH_NAME)
        with open(target, "w", encoding="utf-8") as f:
            f.write(PTH_LINE)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, PTH_NAME)]


def warning_flags() -> list[str]:
    """The warning set CMakeLists.txt also reads (src/warnings.txt, one flag a line)."""
    with open("src/warnings.txt", encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip().startswith("-")]


def project_version() -> str:
    """pyproject.toml's version: the one source, passed to module.c as GUARD_VERSION."""
    with open("pyproject.toml", "rb") as f:
        version = tomllib.load(f)["project"]["version"]
    assert isinstance(version, str)
    return version


extra_compile = ["-std=gnu11", "-fvisibility=hidden", *warning_flags()]
extra_link: list[str] = []
undef: list[str] = []
if os.environ.get("SDK_GUARD_DEBUG"):
    extra_compile += ["-O0", "-g3"]
    undef += ["NDEBUG"]
if os.environ.get("SDK_GUARD_SANITIZE"):
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"]
    extra_compile += san
    extra_link += san

setup(
    cmdclass={"build_py": build_py_with_pth},
    ext_modules=[
        Extension(
            "sdk_guard._guard",
            sources=sorted(glob.glob("src/_guard/*.c")),
            include_dirs=["src/_guard"],
            depends=sorted(glob.glob("src/_guard/*.h")),
            extra_compile_args=extra_compile,
            extra_link_args=extra_link,
            undef_macros=undef,
            define_macros=[("GUARD_VERSION", '"%s"' % project_version())],
        )
    ]
)
