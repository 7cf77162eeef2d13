/* py_landlock.c - Python bindings for the landlock unit (sdk_guard.landlock drives them).
 *
 * Policy lives in Python; these functions and the Ruleset type only carry masks and
 * paths to landlock.c and results back.  A failure that aborts an operation becomes OSError through
 * guard_errno_error(); a failure of one rule is returned as data so the report can
 * name it and the caller can decide (skip, or refuse under `require`).
 */
#include "py_landlock.h"

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
    PyErr_Format(PyExc_TypeError, "Ruleset: %s[%zd] must be a tuple %s, not %.100s", what, i, shape,
                 Py_TYPE(item)->tp_name);
    return -1;
}

/* Creates a ruleset handling (FS, NET, SCOPED) for ABI and adds the rules PATHS, a
 * sequence of (path, wanted_fs), and PORTS, a sequence of (port, net_access).  On 0,
 * *FD is the ruleset (the caller's to close) and *PATH_RESULTS / *PORT_RESULTS are new
 * lists: each path result is (errno, is_dir, granted, real) with errno 0 on success,
 * is_dir -1 when the path could not be opened and real the path the rule lands on
 * (symlinks followed; None if unknown); each port result is an errno.  -1 with an
 * exception (OSError only when the ruleset cannot be created). */
static int
build_rules(int abi, unsigned long long fs, unsigned long long net, unsigned long long scoped,
            PyObject *paths, PyObject *ports, int *fd_out, PyObject **path_results_out,
            PyObject **port_results_out)
{
    PyObject *path_results = NULL, *port_results = NULL;
    /* Tuples: parsing an item runs __fspath__/__index__, which could change a list
     * under the loops (stale length, freed items). */
    PyObject *path_seq = PySequence_Tuple(paths);
    if (path_seq == NULL)
        return -1;
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
        if (!PyArg_ParseTuple(item, "O&K:Ruleset path", PyUnicode_FSConverter, &path_bytes,
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
            !PyArg_ParseTuple(item, "KK:Ruleset port", &port, &access))
            goto err_close_ruleset;
        int rc = guard_landlock_add_port(fd, port, access);
        PyObject *r = PyLong_FromLong(-rc);
        if (r == NULL)
            goto err_close_ruleset;
        PyList_SET_ITEM(port_results, i, r);
    }
    Py_DECREF(port_seq);
    Py_DECREF(path_seq);
    *fd_out = fd;
    *path_results_out = path_results;
    *port_results_out = port_results;
    return 0;

err_close_ruleset:
    Py_XDECREF(path_results);
    Py_XDECREF(port_results);
    close(fd);
err_port_seq:
    Py_DECREF(port_seq);
err_path_seq:
    Py_DECREF(path_seq);
    return -1;
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

/* ---- Ruleset: a Landlock ruleset fd that closes itself ---------------------------- */

typedef struct {
    PyObject_HEAD
    int fd;                 /* -1 once closed or detached */
    PyObject *path_results; /* tuple, build_rules()'s path results */
    PyObject *port_results; /* tuple, its port results */
} ruleset_object;

#define RULESET(op) ((ruleset_object *)(op))

/* Ruleset(abi, (fs, net, scoped), paths, ports): build_rules(), the fd owned by the
 * object. */
static PyObject *
ruleset_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"abi", "handled", "paths", "ports", NULL};
    int abi, fd;
    unsigned long long fs, net, scoped;
    PyObject *paths, *ports, *path_results, *port_results;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "i(KKK)OO:Ruleset", kwlist, &abi, &fs, &net, &scoped,
                                     &paths, &ports) ||
        build_rules(abi, fs, net, scoped, paths, ports, &fd, &path_results, &port_results) < 0)
        return NULL;
    ruleset_object *self = (ruleset_object *)type->tp_alloc(type, 0);
    if (self == NULL)
        goto err_close_ruleset;
    self->fd = fd;
    self->path_results = PyList_AsTuple(path_results);
    self->port_results = PyList_AsTuple(port_results);
    Py_DECREF(path_results);
    Py_DECREF(port_results);
    if (self->path_results == NULL || self->port_results == NULL) {
        Py_DECREF(self); /* closes FD */
        return NULL;
    }
    return (PyObject *)self;

err_close_ruleset:
    Py_DECREF(path_results);
    Py_DECREF(port_results);
    close(fd);
    return NULL;
}

static int
ruleset_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(RULESET(op)->path_results);
    Py_VISIT(RULESET(op)->port_results);
    return 0;
}

static int
ruleset_clear(PyObject *op)
{
    Py_CLEAR(RULESET(op)->path_results);
    Py_CLEAR(RULESET(op)->port_results);
    return 0;
}

static void
ruleset_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    if (RULESET(op)->fd >= 0)
        close(RULESET(op)->fd);
    (void)ruleset_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

/* The open fd, or -1 with ValueError naming WHAT. */
static int
ruleset_fd(PyObject *op, const char *what)
{
    if (RULESET(op)->fd < 0)
        PyErr_Format(PyExc_ValueError, "Ruleset.%s: the ruleset is closed or detached", what);
    return RULESET(op)->fd;
}

static PyObject *
ruleset_restrict(PyObject *op, PyObject *args)
{
    unsigned int flags = 0;
    if (!PyArg_ParseTuple(args, "|I:restrict", &flags))
        return NULL;
    /* Confining the process is the host's call (methods are not in a gated table). */
    if (guard_require_host("Ruleset.restrict") < 0)
        return NULL;
    int fd = ruleset_fd(op, "restrict");
    if (fd < 0)
        return NULL;
    /* NO_NEW_PRIVS, then landlock_restrict_self(); the errno's meaning on failure. */
    int rc = guard_landlock_restrict(fd, flags);
    if (rc < 0)
        return guard_errno_error(rc, guard_landlock_explain("restrict", rc));
    Py_RETURN_NONE;
}

static PyObject *
ruleset_close(PyObject *op, PyObject *unused)
{
    if (RULESET(op)->fd >= 0) {
        close(RULESET(op)->fd);
        RULESET(op)->fd = -1;
    }
    Py_RETURN_NONE;
}

static PyObject *
ruleset_detach(PyObject *op, PyObject *unused)
{
    int fd = ruleset_fd(op, "detach");
    if (fd < 0)
        return NULL;
    RULESET(op)->fd = -1;
    return PyLong_FromLong(fd);
}

static PyObject *
ruleset_enter(PyObject *op, PyObject *unused)
{
    return Py_NewRef(op);
}

static PyObject *
ruleset_exit(PyObject *op, PyObject *args)
{
    return ruleset_close(op, NULL);
}

static PyObject *
ruleset_get_fd(PyObject *op, void *closure)
{
    return PyLong_FromLong(RULESET(op)->fd);
}

static PyObject *
ruleset_get_path_results(PyObject *op, void *closure)
{
    return Py_NewRef(RULESET(op)->path_results);
}

static PyObject *
ruleset_get_port_results(PyObject *op, void *closure)
{
    return Py_NewRef(RULESET(op)->port_results);
}

static PyMethodDef ruleset_methods[] = {
    {"restrict", ruleset_restrict, METH_VARARGS,
     "restrict($self, flags=0, /)\n--\n\nSet NO_NEW_PRIVS and enforce the ruleset on the calling "
     "thread (landlock_restrict_self)."},
    {"close", ruleset_close, METH_NOARGS,
     "close($self, /)\n--\n\nClose the ruleset fd (again is a "
     "no-op)."},
    {"detach", ruleset_detach, METH_NOARGS,
     "detach($self, /)\n--\n\nGive up the fd: the caller closes it."},
    {"__enter__", ruleset_enter, METH_NOARGS, NULL},
    {"__exit__", ruleset_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ruleset_getset[] = {
    {"fd", ruleset_get_fd, NULL, "The ruleset fd, -1 once closed or detached.", NULL},
    {"path_results", ruleset_get_path_results, NULL,
     "(errno, is_dir, granted, real) per path rule (errno 0: added; is_dir -1: not opened).", NULL},
    {"port_results", ruleset_get_port_results, NULL, "errno per port rule.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot ruleset_slots[] = {
    {Py_tp_doc, "Ruleset(abi, handled, paths, ports)\n--\n\n"
                "A Landlock ruleset with its rules added; the object owns the fd and closes it "
                "when closed, exited or collected."},
    {Py_tp_new, ruleset_new},
    {Py_tp_dealloc, ruleset_dealloc},
    {Py_tp_traverse, ruleset_traverse},
    {Py_tp_clear, ruleset_clear},
    {Py_tp_methods, ruleset_methods},
    {Py_tp_getset, ruleset_getset},
    {0, NULL},
};

static PyType_Spec ruleset_spec = {
    .name = "sdk_guard._guard.Ruleset",
    .basicsize = sizeof(ruleset_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = ruleset_slots,
};

int
guard_landlock_add_types(PyObject *module, PyTypeObject **ruleset_type)
{
    *ruleset_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &ruleset_spec, NULL);
    if (*ruleset_type == NULL)
        return -1;
    return PyModule_AddType(module, *ruleset_type);
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
