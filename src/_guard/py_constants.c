/* py_constants.c - names and limits the C side defines and the Python side uses,
 * added to the module as attributes so Python never restates them:
 *
 *   SPEC_KEYS, EXTENSION_SPEC_KEYS   the install spec's keys (runtime.c's tables)
 *   SECCOMP_MODES, SECCOMP_KINDS     the filter's modes and per-syscall kinds
 *   AUDIT_RING_MAX_CAPACITY, AUDIT_OVERFLOW_WAIT_DEFAULT, AUDIT_OVERFLOW_WAIT_MAX
 *   LANDLOCK_FS_RIGHTS, LANDLOCK_NET_RIGHTS, LANDLOCK_SCOPES
 *                                    (name, bit, since_abi) for each right and scope
 *
 * _guard.pyi types the names with Literal; tests/python/test_contracts.py checks the
 * stub against these tuples and the since_abi column against landlock.c's downgrade.
 */
#include "py_constants.h"

#include "audit.h"
#include "landlock.h"
#include "ring.h"
#include "runtime.h"
#include "seccomp.h"

/* A Landlock right or scope as reports name it, with the ABI that introduced it. */
struct ll_name {
    const char *name;
    uint64_t bit;
    int since_abi;
};

static const struct ll_name ll_fs[] = {
    {"fs.execute", GUARD_LL_FS_EXECUTE, 1},
    {"fs.write_file", GUARD_LL_FS_WRITE_FILE, 1},
    {"fs.read_file", GUARD_LL_FS_READ_FILE, 1},
    {"fs.read_dir", GUARD_LL_FS_READ_DIR, 1},
    {"fs.remove_dir", GUARD_LL_FS_REMOVE_DIR, 1},
    {"fs.remove_file", GUARD_LL_FS_REMOVE_FILE, 1},
    {"fs.make_char", GUARD_LL_FS_MAKE_CHAR, 1},
    {"fs.make_dir", GUARD_LL_FS_MAKE_DIR, 1},
    {"fs.make_reg", GUARD_LL_FS_MAKE_REG, 1},
    {"fs.make_sock", GUARD_LL_FS_MAKE_SOCK, 1},
    {"fs.make_fifo", GUARD_LL_FS_MAKE_FIFO, 1},
    {"fs.make_block", GUARD_LL_FS_MAKE_BLOCK, 1},
    {"fs.make_sym", GUARD_LL_FS_MAKE_SYM, 1},
    {"fs.refer", GUARD_LL_FS_REFER, 2},
    {"fs.truncate", GUARD_LL_FS_TRUNCATE, 3},
    {"fs.ioctl_dev", GUARD_LL_FS_IOCTL_DEV, 5},
    {NULL},
};

static const struct ll_name ll_net[] = {
    {"net.bind_tcp", GUARD_LL_NET_BIND_TCP, 4},
    {"net.connect_tcp", GUARD_LL_NET_CONNECT_TCP, 4},
    {NULL},
};

static const struct ll_name ll_scopes[] = {
    {"abstract_unix_socket", GUARD_LL_SCOPE_ABSTRACT_UNIX_SOCKET, 6},
    {"signal", GUARD_LL_SCOPE_SIGNAL, 6},
    {NULL},
};

/* A tuple of str from N names; NULL with an exception. */
static PyObject *
names_tuple(const char *const *names, size_t n)
{
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; t != NULL && i < n; i++) {
        PyObject *s = PyUnicode_FromString(names[i]);
        if (s == NULL)
            Py_CLEAR(t);
        else
            PyTuple_SET_ITEM(t, (Py_ssize_t)i, s);
    }
    return t;
}

/* ((name, bit, since_abi), ...) up to the NULL row; NULL with an exception. */
static PyObject *
ll_tuple(const struct ll_name *rows)
{
    Py_ssize_t n = 0;
    while (rows[n].name != NULL)
        n++;
    PyObject *t = PyTuple_New(n);
    for (Py_ssize_t i = 0; t != NULL && i < n; i++) {
        PyObject *row = Py_BuildValue("(sKi)", rows[i].name, (unsigned long long)rows[i].bit,
                                      rows[i].since_abi);
        if (row == NULL)
            Py_CLEAR(t);
        else
            PyTuple_SET_ITEM(t, i, row);
    }
    return t;
}

int
guard_constants_init(PyObject *module)
{
    const struct {
        const char *name;
        PyObject *value; /* new reference, or NULL with an exception */
    } attrs[] = {
        {"SPEC_KEYS", guard_runtime_spec_keys(0)},
        {"EXTENSION_SPEC_KEYS", guard_runtime_spec_keys(1)},
        {"SECCOMP_MODES", names_tuple(guard_sc_mode_names, GUARD_SC_MODE_COUNT)},
        {"SECCOMP_KINDS", names_tuple(guard_sc_kind_names, GUARD_SC_KIND_COUNT)},
        {"AUDIT_RING_MAX_CAPACITY", PyLong_FromUnsignedLong(GUARD_RING_MAX_CAPACITY)},
        {"AUDIT_OVERFLOW_WAIT_DEFAULT", PyFloat_FromDouble(GUARD_AUDIT_WAIT_DEFAULT)},
        {"AUDIT_OVERFLOW_WAIT_MAX", PyFloat_FromDouble(GUARD_AUDIT_WAIT_MAX)},
        {"LANDLOCK_FS_RIGHTS", ll_tuple(ll_fs)},
        {"LANDLOCK_NET_RIGHTS", ll_tuple(ll_net)},
        {"LANDLOCK_SCOPES", ll_tuple(ll_scopes)},
    };
    int rc = 0;
    for (size_t i = 0; i < Py_ARRAY_LENGTH(attrs); i++) {
        if (rc == 0 && (attrs[i].value == NULL ||
                        PyModule_AddObjectRef(module, attrs[i].name, attrs[i].value) < 0))
            rc = -1;
        Py_XDECREF(attrs[i].value);
    }
    return rc;
}
