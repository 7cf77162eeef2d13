/* imports.c - the C half of the finder: which modules an extension may import, the
 * extension's checked __import__, and the guard's finder kept first. */
#include "imports.h"
#include "args.h"
#include "attrib.h"

#include <stdio.h>

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
            return value;       /* borrowed */
    }
    PyErr_Clear();
    return NULL;
}

int
guard_imports_check(int ext, const char *name)
{
    const guard_ext *e = &guard_rt.ext[ext];
    if (guard_module_under(name, e->package))
        return guard_decide(ext, GUARD_CAP_IMPORT, NULL, 1, NULL) < 0 ? -1 : 0;
    PyObject *target = PyUnicode_FromString(name);
    if (target == NULL)
        return -1;
    int rc;
    for (size_t i = 0; i < guard_rt.nprivate; i++) {
        if (guard_module_under(name, guard_rt.private_mods[i])) {
            PyObject *hint = private_hint(name);
            PyObject *why = hint ? PyUnicode_FromFormat("%s is private to the host; %U",
                                                        name, hint)
                                 : PyUnicode_FromFormat("%s is private to the host; use the "
                                                        "public SDK", name);
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
        rc = guard_decide(ext, GUARD_CAP_IMPORT, target, 0,
                          "it is listed in imports.deny");
        Py_DECREF(target);
        return rc;
    }
    ok = guard_modset_match(&e->imports_allow, name);
    for (size_t i = 0; !ok && i < guard_rt.npublic; i++)
        ok = guard_module_under(name, guard_rt.public_mods[i]);
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
        int rc = guard_decide(who.ext, GUARD_CAP_IMPORT, shown, 0,
                              "the module name is not a str");
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
            PyErr_SetString(PyExc_ImportError, "attempted relative import beyond top-level package");
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

/* __import__ for extension code: checks every import, including modules already in
 * sys.modules (which raise no audit event) and submodules reached by `from x import y`,
 * then hands over to the interpreter's own __import__. */
static PyObject *
guarded_import(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"name", "globals", "locals", "fromlist", "level", NULL};
    PyObject *name, *globals = NULL, *locals = NULL, *fromlist = NULL;
    int level = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|OOOi:__import__", kwlist, &name, &globals,
                                     &locals, &fromlist, &level))
        return NULL;
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
    char absname[1024];
    if (absolute_name(name, globals, level, absname, sizeof absname) < 0)
        return NULL;
    if (guard_rt.installed && guard_imports_check((int)ext, absname) < 0)
        return NULL;
    /* The interpreter's __import__ gets the name exactly as checked: a str subclass's
     * __hash__/__eq__ would otherwise pick which sys.modules entry it returns. */
    PyObject *exact = PyUnicode_FromObject(name);
    if (exact == NULL)
        return NULL;
    PyObject *mod = PyObject_CallFunction(guard_rt.builtins_import, "OOOOi", exact,
                                          globals ? globals : Py_None,
                                          locals ? locals : Py_None,
                                          fromlist ? fromlist : Py_None, level);
    Py_DECREF(exact);
    if (mod == NULL || fromlist == NULL || fromlist == Py_None || !guard_rt.installed)
        return mod;
    PyObject *seq = PySequence_Fast(fromlist, "fromlist must be a sequence");
    if (seq == NULL)
        goto error;
    PyObject *modules = PySys_GetObject("modules");
    /* Owned: the attribute lookups below run module code that may replace it there. */
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
    "__import__", (PyCFunction)(void (*)(void))guarded_import, METH_VARARGS | METH_KEYWORDS,
    "__import__(name, globals=None, locals=None, fromlist=(), level=0)\n--\n\n"
    "The interpreter's __import__, checked against this extension's import policy."};

