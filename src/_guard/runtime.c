/* runtime.c - the installed policy and how install() builds it.
 *
 * The process-wide block below is not module state: an audit hook can never be
 * removed, so the policy it enforces (and the types it recognises by identity) must
 * outlive every module object and cannot be swapped per module.  It is written once,
 * by guard_runtime_publish(), after the hook has been proven to run.
 */
#include "runtime.h"

#include <errno.h>
#include <stddef.h>
#include <structmember.h>
#include <string.h>

/* ---- the process-wide block ------------------------------------------------------ */

guard_runtime guard_rt;

const char *const guard_cap_names[GUARD_CAP_COUNT] = {
    "import",       "fs.read",       "fs.write",       "net.connect", "net.bind",
    "net.resolve",  "process.spawn", "process.signal", "native",      "introspection",
    "dynamic_code", "threads",       "process.env",
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
bad_spec(const char *what, const char *item, int err)
{
    PyErr_Format(PyExc_ValueError, "compiled policy: %s '%s' rejected by the matcher (%s)", what,
                 item ? item : "?", strerror(err < 0 ? -err : err));
    return -1;
}

/* Adds every str of SPEC[KEY] to SET, a matcher set of KIND (policy.h).
 * 0, or -1 with ValueError naming the entry the matcher rejected. */
static int
add_each(PyObject *spec, const char *key, enum guard_rules_kind kind, void *set)
{
    char **v;
    size_t n;
    if (strv_from(spec, key, &v, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int r = guard_rules_add(kind, set, v[i]);
        if (r < 0) {
            bad_spec(key, v[i], r);
            free_strv(v, n);
            return -1;
        }
    }
    free_strv(v, n);
    return 0;
}

/* ---- the spec's keys: one table per level ----------------------------------------
 *
 * Every key of GuardSpec and ExtensionSpec (python/sdk_guard/_guard.pyi) has one row:
 * how it is read and where it lands.  _guard.SPEC_KEYS and _guard.EXTENSION_SPEC_KEYS
 * are built from these rows, and tests/python/test_contracts.py checks them against the
 * stub and Policy.to_spec(), so a key cannot be added on one side only.  A new boolean
 * capability is one SPEC_CAP row. */

enum spec_kind {
    SPEC_NAME,       /* required str, kept as a PyObject (offset: PyObject *) */
    SPEC_CSTR,       /* required str, copied (offset: char *) */
    SPEC_MODULES,    /* list of module patterns (offset: guard_modset) */
    SPEC_PATHS,      /* list of absolute paths (offset: guard_pathset) */
    SPEC_NET,        /* list of net rules (offset: guard_netset) */
    SPEC_STRINGS,    /* list of str (offset: char **, count: size_t) */
    SPEC_THREAD_IDS, /* list of thread idents (offset: unsigned long *, count: size_t) */
    SPEC_CAP,        /* bool granting capability CAP (offset: unsigned caps) */
    SPEC_CAP_LIST,   /* list of capability names (offset: unsigned bitmask) */
    SPEC_IS,         /* str; the int at offset is 1 when it equals VALUE */
    SPEC_HINTS,      /* dict module -> hint, copied (offset: PyObject *) */
    SPEC_EXTENSIONS, /* list of ExtensionSpec, compiled by guard_runtime_compile */
    SPEC_PYTHON,     /* read by the Python side only (the finder) */
};

struct spec_key {
    const char *key;
    enum spec_kind kind;
    size_t offset;
    size_t count; /* SPEC_STRINGS: offset of the size_t count */
    int cap;      /* SPEC_CAP: the capability; its default is DEFAULT */
    int dflt;
    const char *value; /* SPEC_IS */
};

#define EXT(field) offsetof(guard_ext, field)
#define RT(field) offsetof(guard_runtime, field)

static const struct spec_key extension_keys[] = {
    {"name", SPEC_NAME, EXT(name)},
    {"package", SPEC_CSTR, EXT(package)},
    {"path", SPEC_PYTHON},
    {"imports_allow", SPEC_MODULES, EXT(imports_allow)},
    {"imports_deny", SPEC_MODULES, EXT(imports_deny)},
    {"fs_read", SPEC_PATHS, EXT(fs_read)},
    {"fs_write", SPEC_PATHS, EXT(fs_write)},
    {"net_connect", SPEC_NET, EXT(net_connect)},
    {"net_bind", SPEC_NET, EXT(net_bind)},
    {"net_resolve", SPEC_STRINGS, EXT(resolve), EXT(nresolve)},
    {"process_spawn", SPEC_CAP, EXT(caps), 0, GUARD_CAP_PROCESS_SPAWN, 0},
    {"process_signal", SPEC_CAP, EXT(caps), 0, GUARD_CAP_PROCESS_SIGNAL, 0},
    {"native", SPEC_CAP, EXT(caps), 0, GUARD_CAP_NATIVE, 0},
    {"introspection", SPEC_CAP, EXT(caps), 0, GUARD_CAP_INTROSPECTION, 0},
    {"dynamic_code", SPEC_CAP, EXT(caps), 0, GUARD_CAP_DYNAMIC_CODE, 0},
    {"threads", SPEC_CAP, EXT(caps), 0, GUARD_CAP_THREADS, 1},
    {"process_env", SPEC_CAP, EXT(caps), 0, GUARD_CAP_PROCESS_ENV, 0},
    {"approve", SPEC_CAP_LIST, EXT(approve)},
};

static const struct spec_key guard_keys[] = {
    {"mode", SPEC_IS, RT(monitor), 0, 0, 0, "monitor"},
    {"audit", SPEC_IS, RT(audit_all), 0, 0, 0, "all"},
    {"unattributed", SPEC_IS, RT(unattributed_allow), 0, 0, 0, "allow"},
    {"subinterpreters", SPEC_IS, RT(subinterp_allow), 0, 0, 0, "allow"},
    {"trusted", SPEC_STRINGS, RT(trusted), RT(ntrusted)},
    {"public", SPEC_STRINGS, RT(public_mods), RT(npublic)},
    {"private", SPEC_STRINGS, RT(private_mods), RT(nprivate)},
    {"hints", SPEC_HINTS, RT(hints)},
    {"import_roots", SPEC_PATHS, RT(import_roots)},
    /* files of host.private modules: never an extension's */
    {"private_paths", SPEC_PATHS, RT(private_paths)},
    /* idents of the threads running at install (other than the main thread): host
     * threads, whatever code their stacks hold */
    {"host_threads", SPEC_THREAD_IDS, RT(host_threads), RT(nhost_threads)},
    {"extensions", SPEC_EXTENSIONS},
};

#undef EXT
#undef RT

#define AT(base, key, type) ((type *)((char *)(base) + (key)->offset))

/* The required str at D[KEY->key]; NULL with ValueError naming the level's needs. */
static PyObject *
required_str(PyObject *d, const struct spec_key *key)
{
    PyObject *v = PyDict_GetItemString(d, key->key);
    if (v == NULL || !PyUnicode_Check(v)) {
        PyErr_SetString(PyExc_ValueError, "compiled policy: extension needs str name and package");
        return NULL;
    }
    return v;
}

/* Capability bits named by D[KEY->key] (a list of str) into *MASK.  0 or -1. */
static int
read_cap_list(PyObject *d, const char *key, unsigned *mask)
{
    char **v;
    size_t n;
    if (strv_from(d, key, &v, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (int c = 0; c < GUARD_CAP_COUNT; c++) {
            if (strcmp(v[i], guard_cap_names[c]) == 0) {
                *mask |= 1u << c;
                found = 1;
            }
        }
        if (!found) {
            PyErr_Format(PyExc_ValueError, "compiled policy: unknown capability '%s' in %s", v[i],
                         key);
            free_strv(v, n);
            return -1;
        }
    }
    free_strv(v, n);
    return 0;
}

/* Copies the ints of D[KEY] into a new vector of thread idents.  0 or -1. */
static int
read_thread_ids(PyObject *d, const char *key, unsigned long **out, size_t *n)
{
    PyObject *list = PyDict_GetItemString(d, key);
    if (list == NULL || list == Py_None)
        return 0;
    PyObject *seq = PySequence_Fast(list, key);
    if (seq == NULL)
        return -1;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    *out = PyMem_RawCalloc((size_t)len + 1, sizeof(unsigned long));
    if (*out == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned long id = PyLong_AsUnsignedLong(PySequence_Fast_ITEMS(seq)[i]);
        if (id == (unsigned long)-1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
        (*out)[(*n)++] = id;
    }
    Py_DECREF(seq);
    return 0;
}

/* Reads one row of the table from D into the struct at BASE.  0 or -1. */
static int
read_key(PyObject *d, const struct spec_key *key, void *base)
{
    PyObject *v;
    const char *s;
    int f;
    switch (key->kind) {
    case SPEC_NAME:
        if ((v = required_str(d, key)) == NULL)
            return -1;
        *AT(base, key, PyObject *) = Py_NewRef(v);
        return 0;
    case SPEC_CSTR:
        if ((v = required_str(d, key)) == NULL || (s = PyUnicode_AsUTF8(v)) == NULL)
            return -1;
        if ((*AT(base, key, char *) = raw_strdup(s)) == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        return 0;
    case SPEC_MODULES:
        return add_each(d, key->key, GUARD_RULES_MODULES, AT(base, key, guard_modset));
    case SPEC_PATHS:
        return add_each(d, key->key, GUARD_RULES_PATHS, AT(base, key, guard_pathset));
    case SPEC_NET:
        return add_each(d, key->key, GUARD_RULES_NET, AT(base, key, guard_netset));
    case SPEC_STRINGS:
        return strv_from(d, key->key, AT(base, key, char **),
                         (size_t *)((char *)base + key->count));
    case SPEC_THREAD_IDS:
        return read_thread_ids(d, key->key, AT(base, key, unsigned long *),
                               (size_t *)((char *)base + key->count));
    case SPEC_CAP:
        v = PyDict_GetItemString(d, key->key);
        f = v == NULL ? key->dflt : PyObject_IsTrue(v);
        if (f < 0)
            return -1;
        if (f)
            *AT(base, key, unsigned) |= 1u << key->cap;
        return 0;
    case SPEC_CAP_LIST:
        return read_cap_list(d, key->key, AT(base, key, unsigned));
    case SPEC_IS:
        v = PyDict_GetItemString(d, key->key);
        *AT(base, key, int) =
            v != NULL && PyUnicode_Check(v) && PyUnicode_CompareWithASCIIString(v, key->value) == 0;
        return 0;
    case SPEC_HINTS:
        v = PyDict_GetItemString(d, key->key);
        v = v && PyDict_Check(v) ? PyDict_Copy(v) : PyDict_New();
        *AT(base, key, PyObject *) = v;
        return v == NULL ? -1 : 0;
    case SPEC_EXTENSIONS:
    case SPEC_PYTHON:
        return 0;
    }
    return 0;
}

#undef AT

static int
read_keys(PyObject *d, const struct spec_key *keys, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        if (read_key(d, &keys[i], base) < 0)
            return -1;
    }
    return 0;
}

static PyObject *
key_names(const struct spec_key *keys, size_t n)
{
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; t != NULL && i < n; i++) {
        PyObject *s = PyUnicode_FromString(keys[i].key);
        if (s == NULL)
            Py_CLEAR(t);
        else
            PyTuple_SET_ITEM(t, (Py_ssize_t)i, s);
    }
    return t;
}

PyObject *
guard_runtime_spec_keys(int extension)
{
    return extension ? key_names(extension_keys, Py_ARRAY_LENGTH(extension_keys))
                     : key_names(guard_keys, Py_ARRAY_LENGTH(guard_keys));
}

static int
compile_ext(PyObject *d, guard_ext *e, size_t index, PyMethodDef *import_def)
{
    if (read_keys(d, extension_keys, Py_ARRAY_LENGTH(extension_keys), e) < 0)
        return -1;

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
    static const char *const names[GUARD_PL_N] = {"_str",   "_drv",       "_root",
                                                  "_parts", "_raw_paths", "_tail_cached"};
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
    PyErr_Clear(); /* no _socket: the net room then refuses every family */
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
guard_runtime_compile(PyObject *spec, PyObject *violation, PyObject *import_error, PyObject *finder,
                      PyMethodDef *import_def, guard_runtime *rt)
{
    PyObject *exts = PyDict_GetItemString(spec, "extensions");
    PyObject *seq = exts ? PySequence_Fast(exts, "spec['extensions'] must be a list") : NULL;
    if (seq == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "compiled policy has no 'extensions'");
        return -1;
    }
    if (read_keys(spec, guard_keys, Py_ARRAY_LENGTH(guard_keys), rt) < 0)
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
