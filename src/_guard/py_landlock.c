/* py_landlock.c - Python bindings for the landlock unit (sdk_guard.lockdown drives them).
 *
 * Policy lives in Python; these functions only carry masks and paths to landlock.c
 * and results back.  A failure that aborts an operation becomes OSError through
 * guard_errno_error(); a failure of one rule is returned as data so the report can
 * name it and the caller can decide (skip, or refuse under `require`).
 */
#include "gate.h"
#include "landlock.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

/* Returns a dict {abi, errno, reason, errata, errata_errno}; never raises for a
 * kernel without Landlock (that is an answer, not an error). */
static PyObject *
landlock_probe(PyObject *self, PyObject *unused)
{
    int abi = guard_landlock_abi();
    int errata = abi >= 1 ? guard_landlock_errata() : -EOPNOTSUPP;
    return Py_BuildValue("{sisiszsNsi}", "abi", abi > 0 ? abi : 0, "errno", abi < 0 ? -abi : 0,
                         "reason", abi < 0 ? guard_landlock_explain("probe", abi) : NULL, "errata",
                         errata >= 0 ? PyLong_FromLong(errata) : Py_NewRef(Py_None), "errata_errno",
                         errata < 0 ? -errata : 0);
}

static PyObject *
access_tuple(const guard_ll_access *a)
{
    return Py_BuildValue("(KKKI)", (unsigned long long)a->fs, (unsigned long long)a->net,
                         (unsigned long long)a->scoped, (unsigned int)a->restrict_flags);
}

/* landlock_compat(abi, fs, net, scoped, restrict_flags) -> dict; NULL on bad args. */
static PyObject *
landlock_compat(PyObject *self, PyObject *args)
{
    int abi;
    unsigned long long fs, net, scoped;
    unsigned int flags;
    guard_ll_compat out;
    if (!PyArg_ParseTuple(args, "iKKKI:landlock_compat", &abi, &fs, &net, &scoped, &flags))
        return NULL;
    guard_ll_access req = {fs, net, scoped, flags};
    guard_landlock_compat(abi, &req, &out);
    PyObject *handled = access_tuple(&out.handled);
    PyObject *dropped = access_tuple(&out.dropped);
    PyObject *res = NULL;
    if (handled != NULL && dropped != NULL)
        res = Py_BuildValue("{sOsOsO}", "handled", handled, "dropped", dropped,
                            "refer_always_denied", out.refer_always_denied ? Py_True : Py_False);
    Py_XDECREF(handled);
    Py_XDECREF(dropped);
    return res;
}

/* 0 if ITEM (element I of argument WHAT) is a tuple, else -1 with a TypeError that
 * names the argument: PyArg_ParseTuple on a non-tuple is a SystemError. */
static int
item_is_tuple(PyObject *item, const char *what, Py_ssize_t i, const char *shape)
{
    if (PyTuple_Check(item))
        return 0;
    PyErr_Format(PyExc_TypeError, "landlock_build: %s[%zd] must be a tuple %s, not %.100s", what, i,
                 shape, Py_TYPE(item)->tp_name);
    return -1;
}

/* landlock_build(abi, (fs, net, scoped), paths, ports) -> (fd, path_results, port_results)
 *
 * PATHS: sequence of (path, wanted_fs); PORTS: sequence of (port, net_access).
 * Each path result is (errno, is_dir, granted, real) with errno 0 on success, is_dir -1
 * when the path could not be opened and real the path the rule lands on (symlinks
 * followed; None if unknown); each port result is an errno.  The ruleset fd
 * is the caller's to close.  Raises OSError only when the ruleset cannot be created. */
static PyObject *
landlock_build(PyObject *self, PyObject *args)
{
    int abi;
    unsigned long long fs, net, scoped;
    PyObject *paths, *ports;
    PyObject *path_results = NULL, *port_results = NULL;
    if (!PyArg_ParseTuple(args, "i(KKK)OO:landlock_build", &abi, &fs, &net, &scoped, &paths,
                          &ports))
        return NULL;
    /* Tuples: parsing an item runs __fspath__/__index__, which could change a list
     * under the loops (stale length, freed items). */
    PyObject *path_seq = PySequence_Tuple(paths);
    if (path_seq == NULL)
        return NULL;
    PyObject *port_seq = PySequence_Tuple(ports);
    if (port_seq == NULL)
        goto err_path_seq;

    guard_ll_access handled = {fs, net, scoped, 0};
    int fd = guard_landlock_create(abi, &handled);
    if (fd < 0) {
        guard_errno_error(fd, guard_landlock_explain("create", fd));
        goto err_port_seq;
    }

    Py_ssize_t np = PySequence_Fast_GET_SIZE(path_seq);
    path_results = PyList_New(np);
    if (path_results == NULL)
        goto err_close_ruleset;
    for (Py_ssize_t i = 0; i < np; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(path_seq, i), *path_bytes = NULL;
        unsigned long long wanted;
        if (item_is_tuple(item, "paths", i, "(path, access)") < 0)
            goto err_close_ruleset;
        if (!PyArg_ParseTuple(item, "O&K:landlock_build path", PyUnicode_FSConverter, &path_bytes,
                              &wanted))
            goto err_close_ruleset;
        int is_dir = -1;
        uint64_t granted = 0;
        char real[PATH_MAX + 1];
        int rc = guard_landlock_add_path(fd, PyBytes_AS_STRING(path_bytes), wanted, fs, &is_dir,
                                         &granted, real, sizeof real);
        Py_DECREF(path_bytes);
        PyObject *real_o = real[0] ? PyUnicode_DecodeFSDefault(real) : Py_NewRef(Py_None);
        PyObject *r = real_o == NULL ? NULL
                                     : Py_BuildValue("(iiKN)", -rc, is_dir,
                                                     (unsigned long long)granted, real_o);
        if (r == NULL)
            goto err_close_ruleset;
        PyList_SET_ITEM(path_results, i, r);
    }

    Py_ssize_t nq = PySequence_Fast_GET_SIZE(port_seq);
    port_results = PyList_New(nq);
    if (port_results == NULL)
        goto err_close_ruleset;
    for (Py_ssize_t i = 0; i < nq; i++) {
        unsigned long long port, access;
        PyObject *item = PySequence_Fast_GET_ITEM(port_seq, i);
        if (item_is_tuple(item, "ports", i, "(port, access)") < 0 ||
            !PyArg_ParseTuple(item, "KK:landlock_build port", &port, &access))
            goto err_close_ruleset;
        int rc = guard_landlock_add_port(fd, port, access);
        PyObject *r = PyLong_FromLong(-rc);
        if (r == NULL)
            goto err_close_ruleset;
        PyList_SET_ITEM(port_results, i, r);
    }
    Py_DECREF(port_seq);
    Py_DECREF(path_seq);
    PyObject *res = Py_BuildValue("(iNN)", fd, path_results, port_results);
    if (res == NULL)
        close(fd);
    return res;

err_close_ruleset:
    Py_XDECREF(path_results);
    Py_XDECREF(port_results);
    close(fd);
err_port_seq:
    Py_DECREF(port_seq);
err_path_seq:
    Py_DECREF(path_seq);
    return NULL;
}

/* landlock_restrict(fd, flags): NO_NEW_PRIVS, then landlock_restrict_self.  The fd is
 * left open.  Raises OSError with the meaning of the errno. */
static PyObject *
landlock_restrict(PyObject *self, PyObject *args)
{
    int fd;
    unsigned int flags;
    if (!PyArg_ParseTuple(args, "iI:landlock_restrict", &fd, &flags))
        return NULL;
    int rc = guard_landlock_restrict(fd, flags);
    if (rc < 0)
        return guard_errno_error(rc, guard_landlock_explain("restrict", rc));
    Py_RETURN_NONE;
}

static PyObject *
set_no_new_privs(PyObject *self, PyObject *unused)
{
    int rc = guard_landlock_set_no_new_privs();
    if (rc < 0)
        return guard_errno_error(rc, "prctl(PR_SET_NO_NEW_PRIVS) failed");
    Py_RETURN_NONE;
}

static PyObject *
get_no_new_privs(PyObject *self, PyObject *unused)
{
    int rc = guard_landlock_get_no_new_privs();
    if (rc < 0)
        return guard_errno_error(rc, "prctl(PR_GET_NO_NEW_PRIVS) failed");
    return PyBool_FromLong(rc);
}

/* os_threads() -> sorted list of the process's thread ids, from /proc/self/task. */
static PyObject *
os_threads(PyObject *self, PyObject *unused)
{
    DIR *dir = opendir("/proc/self/task");
    if (dir == NULL)
        return guard_errno_error(-errno, "cannot list /proc/self/task");
    PyObject *tids = PyList_New(0);
    if (tids == NULL)
        goto err_closedir;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        char *end;
        long tid = strtol(de->d_name, &end, 10);
        if (de->d_name[0] == '.' || *end != '\0')
            continue;
        PyObject *v = PyLong_FromLong(tid);
        if (v == NULL || PyList_Append(tids, v) < 0) {
            Py_XDECREF(v);
            goto err_tids;
        }
        Py_DECREF(v);
    }
    closedir(dir);
    if (PyList_Sort(tids) < 0) {
        Py_DECREF(tids);
        return NULL;
    }
    return tids;
err_tids:
    Py_DECREF(tids);
err_closedir:
    closedir(dir);
    return NULL;
}

static PyObject *
landlock_explain(PyObject *self, PyObject *args)
{
    const char *stage;
    int err;
    if (!PyArg_ParseTuple(args, "si:landlock_explain", &stage, &err))
        return NULL;
    return PyUnicode_FromString(guard_landlock_explain(stage, err > 0 ? -err : err));
}

/* The UAPI as landlock.h states it: one source of truth for Python. */
static PyObject *
landlock_constants(PyObject *self, PyObject *unused)
{
    return Py_BuildValue(
        "{sisi"
        "sKsKsKsKsKsKsKsKsKsKsKsKsKsKsKsK"
        "sKsKsKsK"
        "sIsIsIsIsK}",
        "ABI_NEWEST", GUARD_LL_ABI_NEWEST, "RULE_NET_PORT", GUARD_LL_RULE_NET_PORT, "FS_EXECUTE",
        GUARD_LL_FS_EXECUTE, "FS_WRITE_FILE", GUARD_LL_FS_WRITE_FILE, "FS_READ_FILE",
        GUARD_LL_FS_READ_FILE, "FS_READ_DIR", GUARD_LL_FS_READ_DIR, "FS_REMOVE_DIR",
        GUARD_LL_FS_REMOVE_DIR, "FS_REMOVE_FILE", GUARD_LL_FS_REMOVE_FILE, "FS_MAKE_CHAR",
        GUARD_LL_FS_MAKE_CHAR, "FS_MAKE_DIR", GUARD_LL_FS_MAKE_DIR, "FS_MAKE_REG",
        GUARD_LL_FS_MAKE_REG, "FS_MAKE_SOCK", GUARD_LL_FS_MAKE_SOCK, "FS_MAKE_FIFO",
        GUARD_LL_FS_MAKE_FIFO, "FS_MAKE_BLOCK", GUARD_LL_FS_MAKE_BLOCK, "FS_MAKE_SYM",
        GUARD_LL_FS_MAKE_SYM, "FS_REFER", GUARD_LL_FS_REFER, "FS_TRUNCATE", GUARD_LL_FS_TRUNCATE,
        "FS_IOCTL_DEV", GUARD_LL_FS_IOCTL_DEV, "NET_BIND_TCP", GUARD_LL_NET_BIND_TCP,
        "NET_CONNECT_TCP", GUARD_LL_NET_CONNECT_TCP, "SCOPE_ABSTRACT_UNIX_SOCKET",
        GUARD_LL_SCOPE_ABSTRACT_UNIX_SOCKET, "SCOPE_SIGNAL", GUARD_LL_SCOPE_SIGNAL,
        "RESTRICT_LOG_SAME_EXEC_OFF", GUARD_LL_RESTRICT_LOG_SAME_EXEC_OFF,
        "RESTRICT_LOG_NEW_EXEC_ON", GUARD_LL_RESTRICT_LOG_NEW_EXEC_ON,
        "RESTRICT_LOG_SUBDOMAINS_OFF", GUARD_LL_RESTRICT_LOG_SUBDOMAINS_OFF, "RESTRICT_TSYNC",
        GUARD_LL_RESTRICT_TSYNC, "FS_FILE_RIGHTS", GUARD_LL_FS_FILE_RIGHTS);
}

const guard_method guard_landlock_methods[] = {
    {{"landlock_probe", landlock_probe, METH_NOARGS,
      "landlock_probe()\n--\n\nABI, errata, and why not: {abi, errno, reason, errata, "
      "errata_errno}."},
     GUARD_OPEN},
    {{"landlock_compat", landlock_compat, METH_VARARGS,
      "landlock_compat(abi, fs, net, scoped, restrict_flags)\n--\n\n"
      "Best-effort downgrade: {handled: (fs, net, scoped, flags), dropped: (...), "
      "refer_always_denied}."},
     GUARD_OPEN},
    {{"landlock_build", landlock_build, METH_VARARGS,
      "landlock_build(abi, (fs, net, scoped), paths, ports)\n--\n\n"
      "Create a ruleset and add rules; returns (fd, [(errno, is_dir, granted, resolved)], "
      "[errno])."},
     GUARD_OPEN},
    {{"landlock_restrict", landlock_restrict, METH_VARARGS,
      "landlock_restrict(fd, flags)\n--\n\nSet NO_NEW_PRIVS and enforce the ruleset."},
     GUARD_OPEN},
    {{"set_no_new_privs", set_no_new_privs, METH_NOARGS,
      "set_no_new_privs()\n--\n\nprctl(PR_SET_NO_NEW_PRIVS, 1) on the calling thread."},
     GUARD_OPEN},
    {{"get_no_new_privs", get_no_new_privs, METH_NOARGS,
      "get_no_new_privs()\n--\n\nWhether the calling thread has no_new_privs."},
     GUARD_OPEN},
    {{"os_threads", os_threads, METH_NOARGS,
      "os_threads()\n--\n\nSorted thread ids of this process (/proc/self/task)."},
     GUARD_OPEN},
    {{"landlock_explain", landlock_explain, METH_VARARGS,
      "landlock_explain(stage, errno)\n--\n\nWhat errno means at stage "
      "probe|create|add_rule|restrict."},
     GUARD_OPEN},
    {{"landlock_constants", landlock_constants, METH_NOARGS,
      "landlock_constants()\n--\n\nThe Landlock UAPI values this build knows."},
     GUARD_OPEN},
    {{NULL, NULL, 0, NULL}, GUARD_OPEN},
};
