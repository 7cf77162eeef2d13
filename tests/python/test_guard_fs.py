"""Process Guard, fs.read / fs.write: every file operation extension code makes is
matched, after resolution, against its policy; host code and the host SDK are not."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _support import guard_tree as gk

BODY = r'''
import glob, mmap, pathlib, shutil, sqlite3, tempfile
import extlib, hostapp_sdk
IN = os.path.join(DATA, "in.txt")
OUT = os.path.join(DATA, "out")
SECRET = os.path.join(OUTSIDE, "secret.txt")

# open(): read vs write by mode
for name, path, mode in [("r_in", IN, "r"), ("r_out", SECRET, "r"), ("rb_in", IN, "rb"),
                         ("w_in", IN, "w"), ("a_in", IN, "a"), ("rplus_in", IN, "r+"),
                         ("x_new_data", os.path.join(DATA, "new.txt"), "x"),
                         ("w_outdir", os.path.join(OUT, "w.txt"), "w"),
                         ("a_outdir", os.path.join(OUT, "w.txt"), "a"),
                         ("rplus_outdir", os.path.join(OUT, "w.txt"), "r+"),
                         ("x_outdir", os.path.join(OUT, "x.txt"), "x")]:
    res = attempt(name, acme.call, open, path, mode)
    if res["ok"]:
        R[name]["value"] = mode
attempt("host_r_out", lambda: open(SECRET).read())
attempt("host_w_out", lambda: open(os.path.join(OUTSIDE, "host.txt"), "w").close())
attempt("lib_r_out", acme.call, extlib.read_text, SECRET)
attempt("lib_r_in", acme.call, extlib.read_text, IN)
attempt("lib_w_in", acme.call, extlib.write_text, IN, "x")
attempt("sdk_r_out", acme.call, hostapp_sdk.read_text, SECRET)
attempt("sdk_w_out", acme.call, hostapp_sdk.write_text, os.path.join(OUTSIDE, "sdk.txt"), "y")

# os.open flags
for name, path, flags in [("osopen_ro_in", IN, os.O_RDONLY),
                          ("osopen_ro_out", SECRET, os.O_RDONLY),
                          ("osopen_wo_in", IN, os.O_WRONLY),
                          ("osopen_creat_data", os.path.join(DATA, "c.txt"), os.O_RDONLY | os.O_CREAT),
                          ("osopen_trunc_in", IN, os.O_RDONLY | os.O_TRUNC),
                          ("osopen_append_in", IN, os.O_RDONLY | os.O_APPEND),
                          ("osopen_rdwr_outdir", os.path.join(OUT, "o.txt"), os.O_RDWR | os.O_CREAT)]:
    res = attempt(name, acme.call, os.open, path, flags, 0o644)
    if res["ok"]:
        os.close(res["value"])
# relative paths: os.open never tells the hook its dir_fd; open() is relative to cwd
os.chdir(DATA)
attempt("osopen_relative", acme.call, os.open, "in.txt", os.O_RDONLY)
attempt("open_relative", acme.call, open, "in.txt")
attempt("open_dotdot_relative", acme.call, open, "../outside/secret.txt")
os.chdir(BASE)
attempt("dotdot_abs", acme.call, open, DATA + "/../outside/secret.txt")
attempt("dotdot_abs_in", acme.call, open, OUTSIDE + "/../data/in.txt")

# dir_fd
dfd_out = os.open(OUT, os.O_RDONLY)
dfd_outside = os.open(OUTSIDE, os.O_RDONLY)
attempt("dirfd_mkdir_in", acme.call, os.mkdir, "sub", dir_fd=dfd_out)
attempt("dirfd_mkdir_out", acme.call, os.mkdir, "sub", dir_fd=dfd_outside)
open(os.path.join(OUT, "victim"), "w").close()
open(os.path.join(OUTSIDE, "victim"), "w").close()
attempt("dirfd_remove_in", acme.call, os.remove, "victim", dir_fd=dfd_out)
attempt("dirfd_remove_out", acme.call, os.remove, "victim", dir_fd=dfd_outside)
R["victim_outside_still_there"] = os.path.exists(os.path.join(OUTSIDE, "victim"))

# listing
attempt("listdir_in", acme.call, os.listdir, DATA)
attempt("listdir_out", acme.call, os.listdir, OUTSIDE)
attempt("scandir_out", acme.call, os.scandir, OUTSIDE)
attempt("walk_in", acme.collect, os.walk, DATA)
attempt("walk_out", acme.collect, os.walk, OUTSIDE)
attempt("glob_in", acme.call, glob.glob, DATA + "/*.txt")
attempt("glob_out", acme.call, glob.glob, OUTSIDE + "/*.txt")
attempt("pathlib_glob_out", acme.collect, pathlib.Path(OUTSIDE).glob, "*")
attempt("host_listdir_out", os.listdir, OUTSIDE)
attempt("lib_listdir_out", acme.call, extlib.listdir, OUTSIDE)
attempt("sdk_listdir_out", acme.call, hostapp_sdk.listdir, OUTSIDE)

# write operations: inside data/out allowed, outside denied
def fresh(p, dir=False):
    if dir:
        os.makedirs(p, exist_ok=True)
    else:
        open(p, "w").close()
    return p
o = lambda n: os.path.join(OUT, n)
x = lambda n: os.path.join(OUTSIDE, n)
attempt("remove_in", acme.call, os.remove, fresh(o("rm")))
attempt("remove_out", acme.call, os.remove, fresh(x("rm")))
attempt("unlink_out", acme.call, os.unlink, fresh(x("rm")))
attempt("rename_in", acme.call, os.rename, fresh(o("a")), o("b"))
attempt("rename_out_to_in", acme.call, os.rename, fresh(x("a")), o("stolen"))
attempt("rename_in_to_out", acme.call, os.rename, fresh(o("c")), x("planted"))
attempt("replace_in_to_out", acme.call, os.replace, fresh(o("c")), x("planted"))
attempt("mkdir_in", acme.call, os.mkdir, o("d"))
attempt("mkdir_out", acme.call, os.mkdir, x("d"))
attempt("makedirs_out", acme.call, os.makedirs, x("e/f/g"))
attempt("rmdir_in", acme.call, os.rmdir, fresh(o("rd"), True))
attempt("rmdir_out", acme.call, os.rmdir, fresh(x("rd"), True))
attempt("link_in", acme.call, os.link, fresh(o("l1")), o("l2"))
attempt("link_out_to_in", acme.call, os.link, SECRET, o("hard"))
attempt("symlink_in", acme.call, os.symlink, o("l1"), o("s1"))
attempt("symlink_in_pointing_out", acme.call, os.symlink, SECRET, o("s2"))
attempt("symlink_out", acme.call, os.symlink, o("l1"), x("s3"))
attempt("chmod_in", acme.call, os.chmod, fresh(o("m")), 0o600)
attempt("chmod_out", acme.call, os.chmod, SECRET, 0o600)
attempt("utime_in", acme.call, os.utime, o("m"))
attempt("utime_out", acme.call, os.utime, SECRET)
attempt("truncate_in", acme.call, os.truncate, o("m"), 0)
attempt("truncate_out", acme.call, os.truncate, SECRET, 0)
R["secret_intact"] = open(SECRET).read()

# shutil
attempt("copy_in_to_in", acme.call, shutil.copy, IN, o("copy.txt"))
attempt("copy_out_to_in", acme.call, shutil.copy, SECRET, o("copy2.txt"))
attempt("copy_in_to_out", acme.call, shutil.copyfile, IN, x("copy3.txt"))
attempt("copytree_in_to_out", acme.call, shutil.copytree, DATA, x("tree"))
attempt("move_in", acme.call, shutil.move, fresh(o("mv")), o("mv2"))
attempt("move_out_to_in", acme.call, shutil.move, fresh(x("mv")), o("mv3"))
attempt("rmtree_in", acme.call, shutil.rmtree, fresh(o("tree"), True))
attempt("rmtree_out", acme.call, shutil.rmtree, fresh(x("tree2"), True))
R["rmtree_out_still_there"] = os.path.isdir(x("tree2"))

# tempfile
attempt("mkstemp_in", acme.call, tempfile.mkstemp, dir=OUT)
attempt("mkstemp_default_tmp", acme.call, tempfile.mkstemp)
attempt("mkdtemp_out", acme.call, tempfile.mkdtemp, dir=OUTSIDE)
attempt("namedtemp_in", acme.call, tempfile.NamedTemporaryFile, dir=OUT)
attempt("namedtemp_out", acme.call, tempfile.NamedTemporaryFile, dir=OUTSIDE)

# mmap of descriptors the host opened
fd_in = os.open(IN, os.O_RDONLY)
fd_secret = os.open(SECRET, os.O_RDONLY)
fd_rw_in = os.open(IN, os.O_RDWR)
attempt("mmap_read_in", acme.call, mmap.mmap, fd_in, 0, access=mmap.ACCESS_READ)
attempt("mmap_read_out", acme.call, mmap.mmap, fd_secret, 0, access=mmap.ACCESS_READ)
attempt("mmap_write_in", acme.call, mmap.mmap, fd_rw_in, 0, access=mmap.ACCESS_WRITE)
attempt("mmap_anonymous", acme.call, mmap.mmap, -1, 4096)

# sqlite3
attempt("sqlite_in", acme.call, sqlite3.connect, o("db.sqlite"))
attempt("sqlite_out", acme.call, sqlite3.connect, x("db.sqlite"))
attempt("sqlite_memory", acme.call, sqlite3.connect, ":memory:")
attempt("sqlite_uri", acme.call, sqlite3.connect, "file:" + o("db.sqlite") + "?mode=ro", uri=True)
R["sqlite_out_created"] = os.path.exists(x("db.sqlite"))
'''


@pytest.fixture(scope="module")
def fs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    base = tmp_path_factory.mktemp("fs")
    return gk.run(base, BODY), base


def test_extension_reads_inside_fs_read(fs: Any) -> None:
    r, _ = fs
    for name in ("r_in", "rb_in", "lib_r_in", "osopen_ro_in", "open_relative",
                 "dotdot_abs_in"):
        gk.assert_allowed(r, name)


def test_extension_cannot_open_outside_fs_read(fs: Any) -> None:
    r, base = fs
    secret = str(base / "outside" / "secret.txt")
    out = gk.assert_denied(r, "r_out", "fs.read", target=secret)
    assert out["type"] == "PolicyViolation" and out["permission_error"]
    assert f'add "{secret}" to extensions.acme.fs.read' in out["msg"]
    assert "'acme'" in out["msg"]


def test_write_modes_need_fs_write(fs: Any) -> None:
    r, _ = fs
    for name in ("w_in", "a_in", "rplus_in", "x_new_data"):
        gk.assert_denied(r, name, "fs.write")
    for name in ("w_outdir", "a_outdir", "rplus_outdir", "x_outdir"):
        assert gk.assert_allowed(r, name)


def test_os_open_flags_decide_read_or_write(fs: Any) -> None:
    r, _ = fs
    gk.assert_denied(r, "osopen_ro_out", "fs.read")
    for name in ("osopen_wo_in", "osopen_creat_data", "osopen_trunc_in", "osopen_append_in"):
        gk.assert_denied(r, name, "fs.write")
    gk.assert_allowed(r, "osopen_rdwr_outdir")


def test_relative_os_open_is_denied_because_dir_fd_is_unknown(fs: Any) -> None:
    r, _ = fs
    out = gk.assert_denied(r, "osopen_relative", "fs.read", target="in.txt")
    assert "cannot resolve" in out["msg"]


def test_dotdot_traversal_is_resolved_before_matching(fs: Any) -> None:
    r, base = fs
    secret = str(base / "outside" / "secret.txt")
    gk.assert_denied(r, "dotdot_abs", "fs.read", target=secret)
    gk.assert_denied(r, "open_dotdot_relative", "fs.read", target=secret)


def test_dir_fd_paths_are_resolved_through_the_descriptor(fs: Any) -> None:
    r, base = fs
    gk.assert_allowed(r, "dirfd_mkdir_in")
    gk.assert_denied(r, "dirfd_mkdir_out", "fs.write", target=str(base / "outside" / "sub"))
    gk.assert_allowed(r, "dirfd_remove_in")
    gk.assert_denied(r, "dirfd_remove_out", "fs.write")
    assert r["victim_outside_still_there"] is True
    assert not (base / "outside" / "sub").exists()


def test_listing_needs_fs_read(fs: Any) -> None:
    r, _ = fs
    assert "in.txt" in gk.assert_allowed(r, "listdir_in")
    gk.assert_allowed(r, "walk_in")
    assert len(gk.assert_allowed(r, "glob_in")) == 1
    for name in ("listdir_out", "scandir_out", "walk_out", "glob_out", "pathlib_glob_out"):
        gk.assert_denied(r, name, "fs.read")


def test_write_operations_outside_fs_write_are_denied(fs: Any) -> None:
    r, _ = fs
    for name in ("remove_in", "rename_in", "mkdir_in", "rmdir_in", "link_in", "symlink_in",
                 "chmod_in", "utime_in", "truncate_in"):
        gk.assert_allowed(r, name)
    for name in ("remove_out", "unlink_out", "rename_out_to_in", "rename_in_to_out",
                 "replace_in_to_out", "mkdir_out", "makedirs_out", "rmdir_out",
                 "link_out_to_in", "symlink_out", "chmod_out", "utime_out", "truncate_out"):
        gk.assert_denied(r, name, "fs.write")
    assert r["secret_intact"] == "secret\n"


def test_symlink_creation_is_charged_to_the_link_not_its_target(fs: Any) -> None:
    # Creating a link inside fs.write is allowed whatever it points at: reading through
    # it is resolved (see the symlink test below), so the link grants nothing.
    r, _ = fs
    gk.assert_allowed(r, "symlink_in_pointing_out")


def test_shutil_copy_move_rmtree_are_mediated(fs: Any) -> None:
    r, _ = fs
    gk.assert_allowed(r, "copy_in_to_in")
    gk.assert_allowed(r, "move_in")
    gk.assert_allowed(r, "rmtree_in")
    gk.assert_denied(r, "copy_out_to_in", "fs.read")
    for name in ("copy_in_to_out", "copytree_in_to_out", "move_out_to_in", "rmtree_out"):
        gk.assert_denied(r, name, "fs.write")
    assert r["rmtree_out_still_there"] is True


def test_tempfile_under_allowed_dir_only(fs: Any) -> None:
    r, _ = fs
    gk.assert_allowed(r, "mkstemp_in")
    gk.assert_allowed(r, "namedtemp_in")
    for name in ("mkstemp_default_tmp", "mkdtemp_out", "namedtemp_out"):
        gk.assert_denied(r, name, "fs.write")


def test_mmap_of_a_descriptor_is_checked_by_its_file(fs: Any) -> None:
    r, base = fs
    gk.assert_allowed(r, "mmap_read_in")
    gk.assert_allowed(r, "mmap_anonymous")
    gk.assert_denied(r, "mmap_read_out", "fs.read", target=str(base / "outside" / "secret.txt"))
    gk.assert_denied(r, "mmap_write_in", "fs.write")


def test_sqlite3_connect_needs_fs_write(fs: Any) -> None:
    r, _ = fs
    gk.assert_allowed(r, "sqlite_in")
    gk.assert_allowed(r, "sqlite_memory")
    gk.assert_denied(r, "sqlite_out", "fs.write")
    out = gk.assert_denied(r, "sqlite_uri", "fs.write")
    assert "URI" in out["msg"]
    assert r["sqlite_out_created"] is False


def test_library_called_by_extension_is_charged_to_extension(fs: Any) -> None:
    r, _ = fs
    gk.assert_denied(r, "lib_r_out", "fs.read")
    gk.assert_denied(r, "lib_w_in", "fs.write")
    gk.assert_denied(r, "lib_listdir_out", "fs.read")


def test_host_file_access_is_not_mediated(fs: Any) -> None:
    r, _ = fs
    assert gk.assert_allowed(r, "host_r_out") == "secret\n"
    gk.assert_allowed(r, "host_w_out")
    gk.assert_allowed(r, "host_listdir_out")


def test_extension_calling_host_sdk_file_functions_is_allowed(fs: Any) -> None:
    r, _ = fs
    assert gk.assert_allowed(r, "sdk_r_out") == "secret\n"
    assert gk.assert_allowed(r, "sdk_w_out") == 1
    assert "secret.txt" in gk.assert_allowed(r, "sdk_listdir_out")


ODD = r'''
import pathlib, shutil
IN = os.path.join(DATA, "in.txt")
SECRET = os.path.join(OUTSIDE, "secret.txt")
# a symlink inside an allowed directory pointing outside it
os.symlink(SECRET, os.path.join(DATA, "link"))
os.symlink(OUTSIDE, os.path.join(DATA, "dirlink"))
attempt("symlink_escape", acme.call, open, os.path.join(DATA, "link"))
attempt("symlink_dir_escape", acme.call, open, os.path.join(DATA, "dirlink", "secret.txt"))
attempt("bytes_in", acme.call, open, os.fsencode(IN))
attempt("bytes_out", acme.call, open, os.fsencode(SECRET))
attempt("bytes_listdir_out", acme.call, os.listdir, os.fsencode(OUTSIDE))
attempt("pathlib_in", acme.call, open, pathlib.Path(IN))
attempt("pathlib_out", acme.call, open, pathlib.Path(SECRET))
attempt("pathlib_read_text_out", acme.call, pathlib.Path(SECRET).read_text)

class Sneaky:
    """Answers an allowed path on the first call and the secret afterwards."""
    calls = 0
    def __fspath__(self):
        Sneaky.calls += 1
        return IN if Sneaky.calls == 1 else SECRET

class Plain:
    def __fspath__(self):
        return IN

class PlainDir:
    def __fspath__(self):
        return DATA

# Pure-Python stdlib events (shutil, os.walk) hand the hook the object itself and call
# __fspath__ again later, so a custom path-like from an extension is refused.
attempt("custom_pathlike_copyfile", acme.call, shutil.copyfile, Plain(),
        os.path.join(DATA, "out", "copy.txt"))
attempt("custom_pathlike_walk", acme.collect, os.walk, PlainDir())
attempt("custom_pathlike_host", lambda: list(os.walk(PlainDir())))
# C functions (io.open, os.open, os.listdir) convert once, before the audit event: the
# hook sees the str the call will use.
attempt("custom_pathlike_os_open", acme.call, os.open, Plain(), os.O_RDONLY)
attempt("custom_pathlike_listdir", acme.call, os.listdir, PlainDir())
Sneaky.calls = 0
f = None
try:
    f = acme.call(open, Sneaky())
    R["swap_opened"] = f.read()
except Exception as exc:
    R["swap_opened"] = type(exc).__name__

# descriptors the host opened: the file behind them decides
fd_secret = os.open(SECRET, os.O_RDONLY)
fd_in = os.open(IN, os.O_RDONLY)
attempt("open_fd_out", acme.call, open, fd_secret, closefd=False)
attempt("open_fd_in", acme.call, open, fd_in, closefd=False)
r, w = os.pipe()
attempt("open_fd_pipe", acme.call, open, r, closefd=False)
attempt("open_fd_eventfd", acme.call, open, os.eventfd(0), closefd=False)
attempt("listdir_fd_out", acme.call, os.listdir, os.open(OUTSIDE, os.O_RDONLY))
attempt("nul_in_path", acme.call, open, IN + "\0x")
attempt("huge_path", acme.call, open, "/" + "a" * 9000)
attempt("weird_type", acme.call, open, 3.5)
'''


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    base = tmp_path_factory.mktemp("fsodd")
    return gk.run(base, ODD), base


def test_symlink_inside_allowed_dir_pointing_outside_is_denied(odd: Any) -> None:
    r, base = odd
    secret = str(base / "outside" / "secret.txt")
    gk.assert_denied(r, "symlink_escape", "fs.read", target=secret)
    gk.assert_denied(r, "symlink_dir_escape", "fs.read", target=secret)


def test_bytes_paths_are_decoded_and_matched(odd: Any) -> None:
    r, base = odd
    gk.assert_allowed(r, "bytes_in")
    gk.assert_denied(r, "bytes_out", "fs.read", target=str(base / "outside" / "secret.txt"))
    gk.assert_denied(r, "bytes_listdir_out", "fs.read")


def test_pathlib_paths_are_matched_like_strings(odd: Any) -> None:
    r, base = odd
    gk.assert_allowed(r, "pathlib_in")
    secret = str(base / "outside" / "secret.txt")
    gk.assert_denied(r, "pathlib_out", "fs.read", target=secret)
    gk.assert_denied(r, "pathlib_read_text_out", "fs.read", target=secret)


def test_custom_pathlike_from_extension_is_refused(odd: Any) -> None:
    r, _ = odd
    for name in ("custom_pathlike_copyfile", "custom_pathlike_walk"):
        out = gk.assert_denied(r, name, "fs.read", target="<Plain>" if "copy" in name
                               else "<PlainDir>")
        assert "pathlib" in out["msg"] and "str(path)" in out["msg"]
    gk.assert_allowed(r, "custom_pathlike_host")


def test_c_functions_convert_a_pathlike_before_the_hook_sees_it(odd: Any) -> None:
    r, _ = odd
    gk.assert_allowed(r, "custom_pathlike_os_open")
    assert "in.txt" in gk.assert_allowed(r, "custom_pathlike_listdir")


def test_open_converts_a_pathlike_once_and_the_hook_checks_that_path(odd: Any) -> None:
    # io.open() calls __fspath__ once and audits the str it got, so a path-like that
    # changes its answer opens exactly the path that was checked.
    r, _ = odd
    assert r["swap_opened"] == "inside\n"


def test_file_descriptor_is_checked_by_the_file_behind_it(odd: Any) -> None:
    r, base = odd
    gk.assert_denied(r, "open_fd_out", "fs.read", target=str(base / "outside" / "secret.txt"))
    gk.assert_allowed(r, "open_fd_in")
    gk.assert_denied(r, "listdir_fd_out", "fs.read")


def test_descriptor_with_no_path_is_denied_not_allowed(odd: Any) -> None:
    r, _ = odd
    out = gk.assert_denied(r, "open_fd_eventfd", "fs.read")
    assert "cannot resolve" in out["msg"]


def test_anonymous_pipe_descriptor_is_not_a_file_access(odd: Any) -> None:
    gk.assert_allowed(odd[0], "open_fd_pipe")


def test_malformed_paths_fail_closed_without_crashing(odd: Any) -> None:
    r, _ = odd
    # NUL bytes and over-long paths: denied (or refused by the OS), never allowed.
    for name in ("nul_in_path", "huge_path", "weird_type"):
        assert r[name]["ok"] is False, (name, r[name])
    assert r["nul_in_path"]["type"] in ("ValueError", "PolicyViolation")
    assert r["weird_type"]["type"] == "TypeError"
