/* runtime.c - the installed policy and how install() builds it.
 *
 * The process-wide block below is not module state: an audit hook can never be
 * removed, so the policy it enforces (and the types it recognises by identity) must
 * outlive every module object and cannot be swapped per module.  It is written once,
 * by guard_runtime_publish(), after the hook has been proven to run.
 */
#include "runtime.h"

#include <errno.h>
#include <structmember.h>
#include <string.h>

/* ---- the process-wide block ------------------------------------------------------ */

guard_runtime guard_rt;

const char *const guard_cap_names[GUARD_CAP_COUNT] = {
    "import", "fs.read", "fs.write", "net.connect", "net.bind", "net.resolve",
    "process.spawn", "process.signal", "native", "introspection", "dynamic_code",
    "threads",
};

/* Types the hook recognises by identity, captured from host code at install (process-
 * wide like the policy they serve).  Looking anything up on an argument instead
 * (type(o).__module__, sock.family, f.func) can run extension code inside the hook,
 * where guard_in_hook leaves that code's own operations unmediated. */
PyObject *guard_pathlib_types[GUARD_NPATHLIB];
PyTypeObject *guard_socket_type;
PyObject *guard_socket_family;
PyTypeObject *guard_partial_type;
PyInterpreterState *guard_interp;

_Thread_local int guard_in_hook;
_Thread_local int guard_via_machinery;

/* ---- compiling the spec ---------------------------------------------------------- */

/* A copy of S from the raw allocator, the one free_strv() returns it to: strdup()'s
 * malloc() block freed with PyMem_RawFree() aborts under -X dev and the debug
 * allocators (PYTHONMALLOC=debug), which check every block's owner.  NULL if out of
 * memory. */
static char *
raw_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = PyMem_RawMalloc(n);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}

static void
free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        PyMem_RawFree(v[i]);
    PyMem_RawFree(v);
}

/* Copies a list of str from SPEC[KEY] into a NULL-free vector. 0 or -1. */
static int
strv_from(PyObject *spec, const char *key, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    PyObject *list = PyDict_GetItemString(spec, key);
    if (list == NULL || list == Py_None)
        return 0;
    PyObject *seq = PySequence_Fast(list, key);
    if (seq == NULL)
        return -1;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    char **v = PyMem_RawCalloc((size_t)len + 1, sizeof(char *));
    if (v == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *it = PySequence_Fast_ITEMS(seq)[i];
        const char *s = PyUnicode_Check(it) ? PyUnicode_AsUTF8(it) : NULL;
        if (s == NULL) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "spec %s[%zd] must be str", key, i);
            free_strv(v, (size_t)i);
            Py_DECREF(seq);
            return -1;
        }
        v[i] = raw_strdup(s);
        if (v[i] == NULL) {
            free_strv(v, (size_t)i);
            Py_DECREF(seq);
            PyErr_NoMemory();
            return -1;
        }
    }
    Py_DECREF(seq);
    *out = v;
    *n = (size_t)len;
    return 0;
}

static int
spec_flag(PyObject *d, const char *key, int dflt)
{
    PyObject *v = PyDict_GetItemString(d, key);
    if (v == NULL)
        return dflt;
    return PyObject_IsTrue(v);
}

static int
spec_str_is(PyObject *d, const char *key, const char *value)
{
    PyObject *v = PyDict_GetItemString(d, key);
    return v != NULL && PyUnicode_Check(v) && PyUnicode_CompareWithASCIIString(v, value) == 0;
}

static int
bad_spec(const char *what, const char *item, int err)
{
    PyErr_Format(PyExc_ValueError, "compiled policy: %s '%s' rejected by the matcher (%s)",
                 what, item ? item : "?", strerror(err < 0 ? -err : err));
    return -1;
}

static int
add_module(void *set, const char *item)
{
    return guard_modset_add(set, item);
}

static int
add_path(void *set, const char *item)
{
    return guard_pathset_add(set, item);
}

static int
add_net(void *set, const char *item)
{
    guard_netrule rule;
    int r = guard_netrule_parse(item, &rule);
    return r < 0 ? r : guard_netset_add(set, &rule);
}

/* Adds every str of SPEC[KEY] to SET with ADD (a pure-C matcher's add function).
 * 0, or -1 with ValueError naming the entry the matcher rejected. */
static int
add_each(PyObject *spec, const char *key, int (*add)(void *, const char *), void *set)
{
    char **v;
    size_t n;
    if (strv_from(spec, key, &v, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int r = add(set, v[i]);
        if (r < 0) {
            bad_spec(key, v[i], r);
            free_strv(v, n);
            return -1;
        }
    }
    free_strv(v, n);
    return 0;
}

static int
compile_ext(PyObject *d, guard_ext *e, size_t index, PyMethodDef *import_def)
{
    char **v;
    size_t n;
    PyObject *name = PyDict_GetItemString(d, "name");
    PyObject *package = PyDict_GetItemString(d, "package");
    if (name == NULL || !PyUnicode_Check(name) || package == NULL || !PyUnicode_Check(package)) {
        PyErr_SetString(PyExc_ValueError, "compiled policy: extension needs str name and package");
        return -1;
    }
    e->name = Py_NewRef(name);
    const char *pkg = PyUnicode_AsUTF8(package);
    if (pkg == NULL)
        return -1;
    e->package = raw_strdup(pkg);
    if (e->package == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (add_each(d, "imports_allow", add_module, &e->imports_allow) < 0 ||
        add_each(d, "imports_deny", add_module, &e->imports_deny) < 0 ||
        add_each(d, "fs_read", add_path, &e->fs_read) < 0 ||
        add_each(d, "fs_write", add_path, &e->fs_write) < 0 ||
        add_each(d, "net_connect", add_net, &e->net_connect) < 0 ||
        add_each(d, "net_bind", add_net, &e->net_bind) < 0)
        return -1;
    if (strv_from(d, "net_resolve", &e->resolve, &e->nresolve) < 0)
        return -1;
    static const struct { const char *key; int cap; } flags[] = {
        {"process_spawn", GUARD_CAP_PROCESS_SPAWN}, {"process_signal", GUARD_CAP_PROCESS_SIGNAL},
        {"native", GUARD_CAP_NATIVE}, {"introspection", GUARD_CAP_INTROSPECTION},
        {"dynamic_code", GUARD_CAP_DYNAMIC_CODE}, {"threads", GUARD_CAP_THREADS}};
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
        int f = spec_flag(d, flags[k].key, flags[k].cap == GUARD_CAP_THREADS);
        if (f < 0)
            return -1;
        if (f)
            e->caps |= 1u << flags[k].cap;
    }
    if (strv_from(d, "approve", &v, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (int c = 0; c < GUARD_CAP_COUNT; c++) {
            if (strcmp(v[i], guard_cap_names[c]) == 0) {
                e->approve |= 1u << c;
                found = 1;
            }
        }
        if (!found) {
            PyErr_Format(PyExc_ValueError, "compiled policy: unknown capability '%s' in approve", v[i]);
            free_strv(v, n);
            return -1;
        }
    }
    free_strv(v, n);

    /* The extension's builtins: the interpreter's, with __import__ checked and the
     * import machinery's back doors (__loader__, __spec__) removed. */
    PyObject *builtins_mod = PyImport_ImportModule("builtins");
    if (builtins_mod == NULL)
        return -1;
    e->builtins = PyDict_Copy(PyModule_GetDict(builtins_mod));
    Py_DECREF(builtins_mod);
    if (e->builtins == NULL)
        return -1;
    PyObject *idx = PyLong_FromSize_t(index);
    PyObject *imp = idx ? PyCFunction_NewEx(import_def, idx, NULL) : NULL;
    Py_XDECREF(idx);
    if (imp == NULL || PyDict_SetItemString(e->builtins, "__import__", imp) < 0) {
        Py_XDECREF(imp);
        return -1;
    }
    Py_DECREF(imp);
    if (PyDict_DelItemString(e->builtins, "__loader__") < 0 ||
        PyDict_DelItemString(e->builtins, "__spec__") < 0)
        PyErr_Clear();
    return 0;
}

Py_ssize_t guard_pathlib_slots[GUARD_PL_N] = {-1, -1, -1, -1, -1, -1};

/* Where PurePath keeps the slots its str() reads: member offsets from the class as
 * install() finds it (the hook then reads instances without calling pathlib code). */
static void
capture_pathlib_slots(PyObject *purepath)
{
    static const char *const names[GUARD_PL_N] = {"_str", "_drv", "_root", "_parts",
                                                  "_raw_paths", "_tail_cached"};
    for (int i = 0; i < GUARD_PL_N; i++)
        guard_pathlib_slots[i] = -1;
    if (purepath == NULL || !PyType_Check(purepath))
        return;
    PyObject *mro = ((PyTypeObject *)purepath)->tp_mro;
    for (int i = 0; i < GUARD_PL_N && mro != NULL && PyTuple_Check(mro); i++) {
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(mro); k++) {
            PyObject *dict = ((PyTypeObject *)PyTuple_GET_ITEM(mro, k))->tp_dict;
            PyObject *d = dict ? PyDict_GetItemString(dict, names[i]) : NULL;
            if (d != NULL && Py_IS_TYPE(d, &PyMemberDescr_Type) &&
                ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX) {
                guard_pathlib_slots[i] = ((PyMemberDescrObject *)d)->d_member->offset;
                break;
            }
        }
    }
    PyErr_Clear();
}

/* pathlib's classes, _socket.socket with its family member, functools.partial. */
static int
capture_types(void)
{
    static const char *const pathlib_names[GUARD_NPATHLIB] = {
        "PurePath", "PurePosixPath", "PureWindowsPath", "Path", "PosixPath", "WindowsPath"};
    PyObject *pathlib = PyImport_ImportModule("pathlib");
    if (pathlib == NULL)
        return -1;
    for (size_t i = 0; i < GUARD_NPATHLIB; i++) {
        Py_XSETREF(guard_pathlib_types[i], PyObject_GetAttrString(pathlib, pathlib_names[i]));
        if (guard_pathlib_types[i] == NULL)
            PyErr_Clear();
    }
    Py_DECREF(pathlib);
    capture_pathlib_slots(guard_pathlib_types[0]);
    PyObject *sockmod = PyImport_ImportModule("_socket");
    PyObject *socktype = sockmod ? PyObject_GetAttrString(sockmod, "socket") : NULL;
    Py_XDECREF(sockmod);
    if (socktype != NULL && PyType_Check(socktype)) {
        Py_XSETREF(guard_socket_type, (PyTypeObject *)Py_NewRef(socktype));
        Py_XSETREF(guard_socket_family, PyObject_GetAttrString(socktype, "family"));
    }
    Py_XDECREF(socktype);
    PyErr_Clear();      /* no _socket: the net room then refuses every family */
    PyObject *functools = PyImport_ImportModule("functools");
    PyObject *partial = functools ? PyObject_GetAttrString(functools, "partial") : NULL;
    Py_XDECREF(functools);
    if (partial == NULL)
        return -1;
    if (PyType_Check(partial))
        Py_XSETREF(guard_partial_type, (PyTypeObject *)Py_NewRef(partial));
    Py_DECREF(partial);
    return 0;
}

int
guard_runtime_compile(PyObject *spec, PyObject *violation, PyObject *import_error,
                      PyObject *finder, PyMethodDef *import_def, guard_runtime *rt)
{
    PyObject *exts = PyDict_GetItemString(spec, "extensions");
    PyObject *seq = exts ? PySequence_Fast(exts, "spec['extensions'] must be a list") : NULL;
    if (seq == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "compiled policy has no 'extensions'");
        return -1;
    }
    rt->monitor = spec_str_is(spec, "mode", "monitor");
    rt->audit_all = spec_str_is(spec, "audit", "all");
    rt->unattributed_allow = spec_str_is(spec, "unattributed", "allow");
    rt->subinterp_allow = spec_str_is(spec, "subinterpreters", "allow");
    if (strv_from(spec, "trusted", &rt->trusted, &rt->ntrusted) < 0 ||
        strv_from(spec, "private", &rt->private_mods, &rt->nprivate) < 0 ||
        strv_from(spec, "public", &rt->public_mods, &rt->npublic) < 0)
        goto error;
    if (add_each(spec, "import_roots", add_path, &rt->import_roots) < 0)
        goto error;
    PyObject *hints = PyDict_GetItemString(spec, "hints");
    rt->hints = hints && PyDict_Check(hints) ? PyDict_Copy(hints) : PyDict_New();
    if (rt->hints == NULL)
        goto error;
    rt->next = (size_t)PySequence_Fast_GET_SIZE(seq);
    rt->ext = PyMem_RawCalloc(rt->next + 1, sizeof(guard_ext));
    if (rt->ext == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    /* compile_ext reads guard_rt.next through nothing; indexes are final here. */
    for (size_t i = 0; i < rt->next; i++) {
        PyObject *d = PySequence_Fast_ITEMS(seq)[i];
        if (!PyDict_Check(d)) {
            PyErr_SetString(PyExc_ValueError, "compiled policy: extensions must be dicts");
            goto error;
        }
        if (compile_ext(d, &rt->ext[i], i, import_def) < 0)
            goto error;
    }
    PyObject *builtins_mod = PyImport_ImportModule("builtins");
    if (builtins_mod == NULL)
        goto error;
    rt->builtins_import = PyObject_GetAttrString(builtins_mod, "__import__");
    Py_DECREF(builtins_mod);
    if (rt->builtins_import == NULL)
        goto error;
    if (capture_types() < 0)
        goto error;
    rt->principal_var = PyContextVar_New("sdk_guard.acting_as", NULL);
    if (rt->principal_var == NULL)
        goto error;
    rt->violation_type = Py_NewRef(violation);
    rt->import_error_type = Py_NewRef(import_error);
    rt->finder = finder == Py_None ? NULL : Py_NewRef(finder);
    Py_DECREF(seq);
    return 0;
error:
    Py_DECREF(seq);
    return -1;
}

void
guard_runtime_publish(const guard_runtime *rt)
{
    guard_interp = PyInterpreterState_Get();
    guard_rt = *rt;
    guard_rt.installed = 1;
}

int
guard_runtime_ext_index(PyObject *name)
{
    for (size_t i = 0; i < guard_rt.next; i++) {
        if (PyUnicode_Check(name) && PyUnicode_Compare(name, guard_rt.ext[i].name) == 0)
            return (int)i;
    }
    return -1;
}
