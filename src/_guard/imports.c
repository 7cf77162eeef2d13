/* imports.c - the C half of the finder: which modules an extension may import, the
 * extension's checked __import__, and the guard's finder kept first. */
#include "imports.h"
#include "args.h"
#include "attrib.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static PyObject *
private_hint(const char *name)
{
    if (guard_rt.hints == NULL)
        return NULL;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(guard_rt.hints, &pos, &key, &value)) {
        const char *k = PyUnicode_AsUTF8(key);
        if (k != NULL && guard_module_under(name, k))
            return value; /* borrowed */
    }
    PyErr_Clear();
    return NULL;
}

/* 1 if EXT importing NAME is allowed with nothing to record (no string built). */
static int
guard_imports_silent(int ext, const char *name)
{
    const guard_ext *e = &guard_rt.ext[ext];
    if (!guard_allow_is_silent(ext, GUARD_CAP_IMPORT))
        return 0;
    if (guard_module_under(name, e->package))
        return 1;
    if (guard_modset_match(&e->imports_deny, name))
        return 0;
    for (size_t i = 0; i < guard_rt.nprivate; i++) {
        if (guard_module_under(name, guard_rt.private_mods[i]))
            return 0;
    }
    int ok = guard_modset_match(&e->imports_allow, name);
    for (size_t i = 0; !ok && i < guard_rt.npublic; i++)
        ok = guard_module_under(name, guard_rt.public_mods[i]);
    return ok;
}

int
guard_imports_check(int ext, const char *name)
{
    const guard_ext *e = &guard_rt.ext[ext];
    if (guard_module_under(name, e->package))
        return guard_decide(ext, GUARD_CAP_IMPORT, NULL, 1, NULL) < 0 ? -1 : 0;
    /* The hot case first: allowed, nothing to record, no private or denied name --
     * decided without building the target string. */
    if (guard_imports_silent(ext, name))
        return 0;
    PyObject *target = PyUnicode_FromString(name);
    if (target == NULL)
        return -1;
    int rc;
    for (size_t i = 0; i < guard_rt.nprivate; i++) {
        if (guard_module_under(name, guard_rt.private_mods[i])) {
            PyObject *hint = private_hint(name);
            PyObject *why = hint ? PyUnicode_FromFormat("%s is private to the host; %U", name, hint)
                                 : PyUnicode_FromFormat("%s is private to the host; use the "
                                                        "public SDK",
                                                        name);
            if (why == NULL) {
                Py_DECREF(target);
                return -1;
            }
            rc = guard_decide(ext, GUARD_CAP_IMPORT, target, 0, PyUnicode_AsUTF8(why));
            Py_DECREF(why);
            Py_DECREF(target);
            return rc;
        }
    }
    int ok;
    if (guard_modset_match(&e->imports_deny, name)) {
        ok = 0;
        rc = guard_decide(ext, GUARD_CAP_IMPORT, target, 0, "it is listed in imports.deny");
        Py_DECREF(target);
        return rc;
    }
    ok = guard_modset_match(&e->imports_allow, name);
    for (size_t i = 0; !ok && i < guard_rt.npublic; i++)
        ok = guard_module_under(name, guard_rt.public_mods[i]);
    if (!ok) {
        /* A submodule of a package the extension may import: suggest the package's
         * wildcard, not one module at a time. */
        char pkg[512];
        size_t n = strlen(name);
        const char *dot = NULL;
        for (const char *p = name; *p; p++) {
            if (*p == '.' && (size_t)(p - name) < sizeof pkg) {
                memcpy(pkg, name, (size_t)(p - name));
                pkg[p - name] = '\0';
                if (guard_modset_match(&e->imports_allow, pkg))
                    dot = p;
            }
        }
        (void)n;
        if (dot != NULL) {
            pkg[dot - name] = '\0';
            memcpy(pkg, name, (size_t)(dot - name));
            PyObject *rule = PyUnicode_FromFormat("extensions.%U.imports.allow", e->name);
            PyObject *why =
                rule ? PyUnicode_FromFormat(
                           "it is a submodule of %s, which the extension may import; to allow %s's "
                           "submodules, add \"%s.*\" to %U",
                           pkg, pkg, pkg, rule)
                     : NULL;
            Py_XDECREF(rule);
            if (why == NULL) {
                Py_DECREF(target);
                return -1;
            }
            rc = guard_decide(ext, GUARD_CAP_IMPORT, target, 0, PyUnicode_AsUTF8(why));
            Py_DECREF(why);
            Py_DECREF(target);
            return rc;
        }
    }
    rc = guard_decide(ext, GUARD_CAP_IMPORT, target, ok, NULL);
    Py_DECREF(target);
    return rc;
}

/* ---- the finder stays first --------------------------------------------------- */

/* Re-inserts the guard's finder at the front of META_PATH (the list the import
 * system is about to use) if anything removed or reordered it. */
static int
keep_finder_first(PyObject *meta_path)
{
    if (meta_path == NULL || !PyList_Check(meta_path))
        return 0;
    Py_ssize_t n = PyList_GET_SIZE(meta_path);
    if (n > 0 && PyList_GET_ITEM(meta_path, 0) == guard_rt.finder)
        return 0;
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        if (PyList_GET_ITEM(meta_path, i) == guard_rt.finder &&
            PySequence_DelItem(meta_path, i) < 0) {
            PyErr_Clear();
            return -1;
        }
    }
    if (PyList_Insert(meta_path, 0, guard_rt.finder) < 0) {
        PyErr_Clear();
        return -1;
    }
    return 0;
}

int
guard_imports_mediate(PyObject *args)
{
    guard_who who;
    if (guard_rt.finder != NULL)
        (void)keep_finder_first(guard_arg(args, 3));
    if (guard_attrib_who(GUARD_WALK_IMPORT, &who) < 0)
        return -1;
    if (who.kind != GUARD_WHO_EXT)
        return 0;
    PyObject *name = guard_arg(args, 0);
    if (name == NULL || !PyUnicode_Check(name)) {
        /* The import system never raises this; a name the guard cannot read is
         * refused, not waved through. */
        PyObject *shown = guard_describe(name);
        if (shown == NULL)
            return -1;
        int rc = guard_decide(who.ext, GUARD_CAP_IMPORT, shown, 0, "the module name is not a str");
        Py_DECREF(shown);
        return rc;
    }
    const char *cname = PyUnicode_AsUTF8(name);
    if (cname == NULL)
        return -1;
    return guard_imports_check(who.ext, cname);
}

/* ---- the extension's __import__ ------------------------------------------------- */

/* Resolves a relative import the way importlib does; 0 or -1 with ImportError set. */
static int
absolute_name(PyObject *name, PyObject *globals, int level, char *out, size_t outlen)
{
    Py_ssize_t nlen;
    const char *n = PyUnicode_AsUTF8AndSize(name, &nlen);
    if (n == NULL)
        return -1;
    if ((size_t)nlen != strlen(n)) {
        /* The check would see the name up to the NUL, the import system all of it. */
        PyErr_SetString(PyExc_ValueError, "module name contains a NUL character");
        return -1;
    }
    if (level == 0) {
        if ((size_t)snprintf(out, outlen, "%s", n) >= outlen)
            goto too_long;
        return 0;
    }
    PyObject *pkg = NULL;
    if (globals != NULL && PyDict_Check(globals)) {
        /* Lookups that call no planted key's __eq__ (see guard_dict_get). */
        pkg = guard_dict_get_str(globals, "__package__");
        if (pkg == NULL || pkg == Py_None) {
            pkg = guard_dict_get_str(globals, "__name__");
            if (pkg != NULL && guard_dict_get_str(globals, "__path__") == NULL) {
                /* a module, not a package: its package is the parent */
                const char *m = PyUnicode_Check(pkg) ? PyUnicode_AsUTF8(pkg) : NULL;
                if (m == NULL)
                    goto no_package;
                const char *dot = strrchr(m, '.');
                if (dot == NULL)
                    goto no_package;
                if ((size_t)snprintf(out, outlen, "%.*s", (int)(dot - m), m) >= outlen)
                    goto too_long;
                goto have_base;
            }
        }
    }
    if (pkg == NULL || !PyUnicode_Check(pkg))
        goto no_package;
    const char *p = PyUnicode_AsUTF8(pkg);
    if (p == NULL)
        return -1;
    if ((size_t)snprintf(out, outlen, "%s", p) >= outlen)
        goto too_long;
have_base:
    for (int i = 1; i < level; i++) {
        char *dot = strrchr(out, '.');
        if (dot == NULL) {
            PyErr_SetString(PyExc_ImportError,
                            "attempted relative import beyond top-level package");
            return -1;
        }
        *dot = '\0';
    }
    if (n[0] != '\0') {
        size_t len = strlen(out);
        if ((size_t)snprintf(out + len, outlen - len, ".%s", n) >= outlen - len)
            goto too_long;
    }
    return 0;
no_package:
    PyErr_SetString(PyExc_ImportError, "attempted relative import with no known parent package");
    return -1;
too_long:
    PyErr_SetString(PyExc_ImportError, "module name too long");
    return -1;
}

/* The interpreter's own __import__ (builtins.__import__ untouched at install): then
 * the import machinery is called directly, without building an argument tuple. */
static int
import_is_builtin(void)
{
    static int known = -1;
    static PyObject *seen;
    PyObject *f = guard_rt.builtins_import;
    if (f != seen) {
        seen = f;
        known = 0;
        if (f != NULL && PyCFunction_Check(f) &&
            strcmp(((PyCFunctionObject *)f)->m_ml->ml_name, "__import__") == 0) {
            PyObject *owner = ((PyCFunctionObject *)f)->m_self;
            const char *mod =
                owner != NULL && PyModule_Check(owner) ? PyModule_GetName(owner) : NULL;
            known = mod != NULL && strcmp(mod, "builtins") == 0;
        }
        PyErr_Clear();
    }
    return known;
}

/* __import__(name, globals=None, locals=None, fromlist=(), level=0), vectorcall. */
static int
parse_import_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **v,
                  int *level)
{
    static const char *const names[] = {"name", "globals", "locals", "fromlist", "level"};
    for (int i = 0; i < 5; i++)
        v[i] = NULL;
    if (nargs > 5) {
        PyErr_Format(PyExc_TypeError, "__import__() takes at most 5 arguments (%zd given)", nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++)
        v[i] = args[i];
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int found = -1;
        for (int i = 0; i < 5; i++) {
            if (PyUnicode_Check(key) && PyUnicode_CompareWithASCIIString(key, names[i]) == 0)
                found = i;
        }
        if (found < 0) {
            PyErr_Format(PyExc_TypeError, "__import__() got an unexpected keyword argument %R",
                         key);
            return -1;
        }
        if (v[found] != NULL) {
            PyErr_Format(PyExc_TypeError, "__import__() got multiple values for argument '%s'",
                         names[found]);
            return -1;
        }
        v[found] = args[nargs + k];
    }
    if (v[0] == NULL) {
        PyErr_SetString(PyExc_TypeError, "__import__() missing required argument 'name' (pos 1)");
        return -1;
    }
    if (!PyUnicode_Check(v[0])) {
        PyErr_Format(PyExc_TypeError, "__import__() argument 1 must be str, not %.50s",
                     Py_TYPE(v[0])->tp_name);
        return -1;
    }
    *level = 0;
    if (v[4] != NULL) {
        long l = PyLong_AsLong(v[4]);
        if (l == -1 && PyErr_Occurred())
            return -1;
        if (l > INT_MAX || l < INT_MIN) {
            PyErr_SetString(PyExc_OverflowError, "level is out of range");
            return -1;
        }
        *level = (int)l;
    }
    return 0;
}

/* Names an extension's __import__ found silently allowed, by str object: the policy
 * never changes after install, so the verdict for a name is fixed.  The cache holds a
 * reference, so an address is never reused by another string while it is cached.
 * (GIL builds only: a free-threaded build refuses to load the extension.) */
#define SILENT_SLOTS 64
typedef struct {
    PyObject *name;
    long ext;
} silent_slot;
static silent_slot silent_cache[SILENT_SLOTS];

static inline size_t
silent_index(PyObject *name, long ext)
{
    uintptr_t h = (uintptr_t)name >> 4;
    return (size_t)((h ^ (h >> 7) ^ (uintptr_t)ext * 31u) % SILENT_SLOTS);
}

static inline int
silent_hit(PyObject *name, long ext)
{
    const silent_slot *s = &silent_cache[silent_index(name, ext)];
    return s->name == name && s->ext == ext;
}

static void
silent_remember(PyObject *name, long ext)
{
    silent_slot *s = &silent_cache[silent_index(name, ext)];
    Py_XSETREF(s->name, Py_NewRef(name));
    s->ext = ext;
}

/* __import__ for extension code: checks every import, including modules already in
 * sys.modules (which raise no audit event) and submodules reached by `from x import y`,
 * then hands over to the interpreter's own __import__. */
static PyObject *
guarded_import(PyObject *self, PyObject *const *args, Py_ssize_t nargsf, PyObject *kwnames)
{
    PyObject *v[5];
    int level;
    if (parse_import_args(args, PyVectorcall_NARGS(nargsf), kwnames, v, &level) < 0)
        return NULL;
    PyObject *name = v[0], *globals = v[1], *locals = v[2], *fromlist = v[3];
    if (level < 0) {
        PyErr_SetString(PyExc_ValueError, "level must be >= 0");
        return NULL;
    }
    long ext = PyLong_AsLong(self);
    if (ext < 0 || (size_t)ext >= guard_rt.next) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "sdk_guard: __import__ of an unknown extension");
        return NULL;
    }
    char buf[1024];
    const char *absname;
    int cacheable = level == 0 && PyUnicode_CheckExact(name) && guard_rt.installed;
    if (cacheable && (fromlist == NULL || fromlist == Py_None) && silent_hit(name, ext)) {
        /* `import json` again: the same name object, already found silently allowed. */
        if (import_is_builtin())
            return PyImport_ImportModuleLevelObject(name, globals, locals, fromlist, 0);
    }
    if (level == 0 && PyUnicode_CheckExact(name)) {
        /* The common case: the name as it is (no copy), NUL-checked. */
        Py_ssize_t nlen;
        absname = PyUnicode_AsUTF8AndSize(name, &nlen);
        if (absname == NULL)
            return NULL;
        if ((size_t)nlen != strlen(absname)) {
            PyErr_SetString(PyExc_ValueError, "module name contains a NUL character");
            return NULL;
        }
    }
    else {
        if (absolute_name(name, globals, level, buf, sizeof buf) < 0)
            return NULL;
        absname = buf;
    }
    if (guard_rt.installed && guard_imports_check((int)ext, absname) < 0)
        return NULL;
    if (cacheable && guard_imports_silent((int)ext, absname))
        silent_remember(name, ext);
    /* The interpreter's __import__ gets the name exactly as checked: a str subclass's
     * __hash__/__eq__ would otherwise pick which sys.modules entry it returns. */
    PyObject *exact = PyUnicode_FromObject(name);
    if (exact == NULL)
        return NULL;
    PyObject *mod;
    if (import_is_builtin()) {
        mod = PyImport_ImportModuleLevelObject(exact, globals, locals, fromlist, level);
    }
    else {
        mod = PyObject_CallFunction(guard_rt.builtins_import, "OOOOi", exact,
                                    globals ? globals : Py_None, locals ? locals : Py_None,
                                    fromlist ? fromlist : Py_None, level);
    }
    Py_DECREF(exact);
    if (mod == NULL || fromlist == NULL || fromlist == Py_None || !guard_rt.installed)
        return mod;
    PyObject *seq = PySequence_Fast(fromlist, "fromlist must be a sequence");
    if (seq == NULL)
        goto error;
    PyObject *modules = PySys_GetObject("modules");
    /* Owned: the attribute lookups below run module code that may replace it there.
     * ABSNAME may point into NAME, which is alive for the whole call. */
    PyObject *base = modules ? guard_dict_get_str(modules, absname) : NULL;
    base = Py_NewRef(base != NULL ? base : mod);
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_ITEMS(seq)[i];
        if (!PyUnicode_Check(item) || PyUnicode_CompareWithASCIIString(item, "*") == 0)
            continue;
        PyObject *attr = NULL;
        attr = PyObject_GetAttr(base, item);
        if (attr == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
                Py_DECREF(base);
                Py_DECREF(seq);
                goto error;
            }
            PyErr_Clear();
        }
        if (attr != NULL && PyModule_Check(attr)) {
            /* A module reached by name: check the module it really is, so an alias
             * (sdk.db = myapp.db) is caught too. */
            const char *real = PyModule_GetName(attr);
            if (real == NULL || guard_imports_check((int)ext, real) < 0) {
                Py_DECREF(attr);
                Py_DECREF(base);
                Py_DECREF(seq);
                goto error;
            }
        }
        Py_XDECREF(attr);
    }
    Py_DECREF(base);
    Py_DECREF(seq);
    return mod;
error:
    Py_DECREF(mod);
    return NULL;
}

PyMethodDef guard_imports_import_def = {
    "__import__", (PyCFunction)(void (*)(void))guarded_import, METH_FASTCALL | METH_KEYWORDS,
    "__import__(name, globals=None, locals=None, fromlist=(), level=0)\n--\n\n"
    "The interpreter's __import__, checked against this extension's import policy."};
