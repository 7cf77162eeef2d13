/* gate.c - the one gate in front of every host-only entry point. */
#include "gate.h"
#include "args.h"

/* The gate's verdict once the caller is known: an extension is refused. */
static int
refuse_extension(const guard_who *who, const char *what)
{
    if (who->kind != GUARD_WHO_EXT)
        return 0;
    PyObject *target = PyUnicode_FromString(what);
    if (target == NULL)
        return -1;
    int rc = guard_decide(who->ext, GUARD_CAP_INTROSPECTION, target, 0,
                          "only host code may change the guard");
    Py_DECREF(target);
    return rc;
}

int
guard_require_host(const char *what)
{
    if (!guard_rt.installed)
        return 0;
    guard_who who;
    if (guard_attrib_who(GUARD_WALK_FULL, &who) < 0)
        return -1;
    return refuse_extension(&who, what);
}

/* guard_require_host for entry points sdk_guard wraps in Python (Guard.set_approver,
 * acting_as): the wrapper's own frame is host code, so an extension calling the
 * wrapper would pass; the question is asked of the wrapper's caller instead. */
static int
require_host_caller(const char *what)
{
    /* Not installed: nothing to ask (guard_require_host says 0), and the lookups
     * below would cost every span and request on an unguarded host. */
    if (!guard_rt.installed)
        return 0;
    PyFrameObject *f = PyEval_GetFrame(); /* borrowed */
    PyObject *g = f ? PyFrame_GetGlobals(f) : NULL;
    /* Lookups that call no planted key's __eq__ (see guard_dict_get); a globals dict
     * proven once to be its module's is remembered (attrib.c), so a span does not
     * scan sys.modules twice. */
    PyObject *name = guard_dict_get_str(g, "__name__"); /* borrowed */
    const char *c = name && PyUnicode_CheckExact(name) ? PyUnicode_AsUTF8(name) : NULL;
    int wrapped =
        c && guard_module_under(c, "sdk_guard") && g && guard_attrib_globals_are_module(g, name);
    Py_XDECREF(g);
    PyErr_Clear();
    /* The name and the module are the extension's to forge (globals()["__name__"] and
     * sys.modules are plain dicts): the frame is sdk_guard's wrapper only if its code
     * is not an extension's.  Extension code is tagged when it is loaded or exec'd,
     * before it can run. */
    if (wrapped) {
        PyCodeObject *code = PyFrame_GetCode(f);
        wrapped = guard_attrib_code_ext((PyObject *)code) < 0;
        Py_DECREF(code);
    }
    if (!wrapped)
        return guard_require_host(what);
    guard_who who;
    if (guard_attrib_who_from(GUARD_WALK_FULL, &who, 1) < 0)
        return -1;
    return refuse_extension(&who, what);
}

/* The gated originals live here, not in the wrapper's __self__ (an index), so
 * extension code holding a gated function cannot reach the ungated one through it.
 * Process-wide: filled by the first module object; later ones reuse the entries. */
#define GUARD_MAX_GATED 32
static struct {
    PyObject *original; /* the entry point itself */
    const guard_method *m;
    PyMethodDef wrapper; /* the original's name and doc, gated_call's body */
} gated[GUARD_MAX_GATED];
static size_t ngated;

static PyObject *
gated_call(PyObject *index, PyObject *args, PyObject *kw)
{
    size_t i = PyLong_AsSize_t(index);
    if (i >= ngated) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "sdk_guard: unknown gated entry point");
        return NULL;
    }
    const char *what = gated[i].m->def.ml_name;
    int rc = gated[i].m->gate == GUARD_HOST_ONLY_CALLER ? require_host_caller(what)
                                                        : guard_require_host(what);
    if (rc < 0)
        return NULL;
    return PyObject_Call(gated[i].original, args, kw);
}

/* The gated wrapper of M (an entry of a static table), created once per process. */
static PyObject *
gated_function(PyObject *module, const guard_method *m)
{
    size_t i = 0;
    while (i < ngated && gated[i].m != m)
        i++;
    if (i == ngated) {
        if (ngated == GUARD_MAX_GATED) {
            PyErr_SetString(PyExc_RuntimeError, "sdk_guard: raise GUARD_MAX_GATED");
            return NULL;
        }
        PyObject *modname = PyModule_GetNameObject(module);
        if (modname == NULL)
            return NULL;
        PyObject *orig = PyCFunction_NewEx((PyMethodDef *)&m->def, module, modname);
        Py_DECREF(modname);
        if (orig == NULL)
            return NULL;
        gated[i].original = orig;
        gated[i].m = m;
        gated[i].wrapper = (PyMethodDef){m->def.ml_name, (PyCFunction)(void (*)(void))gated_call,
                                         METH_VARARGS | METH_KEYWORDS, m->def.ml_doc};
        ngated++;
    }
    PyObject *index = PyLong_FromSize_t(i);
    if (index == NULL)
        return NULL;
    PyObject *f = PyCFunction_NewEx(&gated[i].wrapper, index, NULL);
    Py_DECREF(index);
    return f;
}

int
guard_gate_add_methods(PyObject *module, const guard_method *table, PyObject *host_only)
{
    PyObject *modname = PyModule_GetNameObject(module);
    if (modname == NULL)
        return -1;
    int rc = -1;
    for (const guard_method *m = table; m->def.ml_name != NULL; m++) {
        PyObject *f;
        if (m->gate == GUARD_OPEN) {
            f = PyCFunction_NewEx((PyMethodDef *)&m->def, module, modname);
        }
        else {
            f = gated_function(module, m);
            PyObject *name = f ? PyUnicode_FromString(m->def.ml_name) : NULL;
            if (name == NULL || PyList_Append(host_only, name) < 0) {
                Py_XDECREF(name);
                Py_XDECREF(f);
                goto done;
            }
            Py_DECREF(name);
        }
        if (f == NULL)
            goto done;
        if (PyModule_AddObjectRef(module, m->def.ml_name, f) < 0) {
            Py_DECREF(f);
            goto done;
        }
        Py_DECREF(f);
    }
    rc = 0;
done:
    Py_DECREF(modname);
    return rc;
}
