/* py_guard.c - the guard's Python entry points (install, acting_as, the finder's
 * questions, the approver); host-only ones are marked in the table and gated once. */
#include "attrib.h"
#include "decide.h"
#include "gate.h"
#include "hook.h"
#include "imports.h"
#include "runtime.h"
#include "threads.h"

#include <string.h>

static PyObject *
guard_install(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"spec", "violation", "import_error", "guard_error", "finder", NULL};
    PyObject *spec, *violation, *import_error, *guard_error, *finder;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OOOO:install", kwlist, &PyDict_Type, &spec,
                                     &violation, &import_error, &guard_error, &finder))
        return NULL;
    if (guard_rt.installed) {
        PyErr_SetString(guard_error, "sdk_guard is already installed in this process: an audit "
                                     "hook can never be removed, so install() may be called once");
        return NULL;
    }
    guard_runtime rt;
    memset(&rt, 0, sizeof rt);
    if (guard_runtime_compile(spec, violation, import_error, finder, &guard_imports_import_def,
                              &rt) < 0)
        return NULL;
    /* The hook is added before the runtime is live; it ignores events until then. */
    if (guard_hook_add(guard_error) < 0)
        return NULL;
    guard_runtime_publish(&rt);
    Py_RETURN_NONE;
}

static PyObject *
acting_as_enter(PyObject *self, PyObject *name)
{
    if (!guard_rt.installed) {
        PyErr_SetString(PyExc_RuntimeError, "sdk_guard is not installed");
        return NULL;
    }
    if (guard_runtime_ext_index(name) < 0) {
        PyErr_Format(PyExc_ValueError,
                     "acting_as(%R): no extension of that name in the "
                     "installed policy",
                     name);
        return NULL;
    }
    return PyContextVar_Set(guard_rt.principal_var, name);
}

static PyObject *
acting_as_exit(PyObject *self, PyObject *token)
{
    /* Before install() there is no variable to reset (it was a NULL dereference), and
     * only a token acting_as_enter() returned can reset it. */
    if (guard_rt.principal_var == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "sdk_guard is not installed");
        return NULL;
    }
    if (!PyContextToken_CheckExact(token)) {
        PyErr_Format(PyExc_TypeError,
                     "acting_as_exit() takes the token acting_as_enter() "
                     "returned, not %.100s",
                     Py_TYPE(token)->tp_name);
        return NULL;
    }
    if (PyContextVar_Reset(guard_rt.principal_var, token) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* The gate (GUARD_HOST_ONLY_CALLER) does the work: sdk_guard functions that confine
 * the process (lockdown(), LandlockPlan.apply(), SeccompPlan.apply()) call this first,
 * so an extension calling them is refused before anything is built. */
static PyObject *
require_host_caller(PyObject *self, PyObject *unused)
{
    Py_RETURN_NONE;
}

static PyObject *
set_approver(PyObject *self, PyObject *fn)
{
    if (fn != Py_None && !PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "approver must be callable(principal, capability, "
                                         "target) -> bool, or None");
        return NULL;
    }
    Py_XSETREF(guard_rt.approver, fn == Py_None ? NULL : Py_NewRef(fn));
    Py_RETURN_NONE;
}

/* For the finder: the extension importing right now (direct importer), or None. */
static PyObject *
importer(PyObject *self, PyObject *unused)
{
    guard_who who;
    if (!guard_rt.installed)
        Py_RETURN_NONE;
    /* Skip the finder's own frame: the question is about whoever imports. */
    if (guard_attrib_who_from(GUARD_WALK_IMPORT, &who, 1) < 0)
        return NULL;
    if (who.kind != GUARD_WHO_EXT)
        Py_RETURN_NONE;
    return Py_NewRef(guard_rt.ext[who.ext].name);
}

/* For importlib.import_module: checks NAME for the extension importing (the direct
 * importer, skipping the wrapper's frame).  An already-imported module raises no
 * "import" event and never reaches the guarded __import__, so this is its only check. */
static PyObject *
check_importer(PyObject *self, PyObject *name)
{
    guard_who who;
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "module name must be str");
        return NULL;
    }
    if (!guard_rt.installed)
        Py_RETURN_NONE;
    if (guard_attrib_who_from(GUARD_WALK_IMPORT, &who, 1) < 0)
        return NULL;
    if (who.kind != GUARD_WHO_EXT)
        Py_RETURN_NONE;
    const char *cname = PyUnicode_AsUTF8(name);
    if (cname == NULL || guard_imports_check(who.ext, cname) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
current_principal(PyObject *self, PyObject *unused)
{
    guard_who who;
    if (!guard_rt.installed)
        return Py_BuildValue("(sO)", "host", Py_None);
    if (guard_attrib_who(GUARD_WALK_FULL, &who) < 0)
        return NULL;
    static const char *kinds[] = {"host", "extension", "unattributed", "library"};
    PyObject *ctx = who.ctx_ext >= 0 ? guard_rt.ext[who.ctx_ext].name : Py_None;
    if (who.kind == GUARD_WHO_EXT)
        return Py_BuildValue("(sOO)", kinds[who.kind], guard_rt.ext[who.ext].name, ctx);
    return Py_BuildValue("(sOO)", kinds[who.kind], Py_None, ctx);
}

/* For the extension loader: give MODULE_DICT the extension's guarded builtins and tag
 * CODE (recursively) as the extension's. */
static PyObject *
prepare_module(PyObject *self, PyObject *args)
{
    PyObject *globals, *name, *code;
    if (!PyArg_ParseTuple(args, "O!UO:prepare_module", &PyDict_Type, &globals, &name, &code))
        return NULL;
    int i = guard_runtime_ext_index(name);
    if (i < 0) {
        PyErr_Format(PyExc_ValueError, "no extension %R in the installed policy", name);
        return NULL;
    }
    if (PyDict_SetItemString(globals, "__builtins__", guard_rt.ext[i].builtins) < 0)
        return NULL;
    if (code != Py_None && guard_attrib_tag_code(code, i) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
wrap_thread_starter(PyObject *self, PyObject *orig)
{
    if (!PyCallable_Check(orig)) {
        PyErr_SetString(PyExc_TypeError, "expected the original thread starter");
        return NULL;
    }
    return guard_threads_wrap_starter(orig);
}

/* The finder's refusals, built by decide.c like every other denial. */
static PyObject *
deny(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"principal", "capability",   "target", "rule",
                             "why",       "import_error", NULL};
    PyObject *principal, *target, *rule = Py_None;
    const char *capability, *why = NULL;
    int import_error = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "UsU|Oz$p:deny", kwlist, &principal, &capability,
                                     &target, &rule, &why, &import_error))
        return NULL;
    if (rule != Py_None && !PyUnicode_Check(rule)) {
        PyErr_SetString(PyExc_TypeError, "rule must be str or None");
        return NULL;
    }
    if (!guard_rt.installed) {
        PyErr_SetString(PyExc_RuntimeError, "sdk_guard is not installed");
        return NULL;
    }
    /* Exact str: a subclass's __str__ or __eq__ would run when a sink formats it. */
    PyObject *t = PyUnicode_FromObject(target);
    if (t == NULL)
        return NULL;
    (void)guard_deny(principal, capability, t, rule == Py_None ? NULL : rule, why, import_error);
    Py_DECREF(t);
    return NULL;
}

static PyObject *
subinterpreter_denials(PyObject *self, PyObject *unused)
{
    return PyLong_FromLongLong(guard_foreign_denials());
}

static PyObject *
is_installed(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(guard_rt.installed);
}

static PyObject *
code_owner(PyObject *self, PyObject *code)
{
    int i = guard_attrib_code_ext(code);
    if (i < 0)
        Py_RETURN_NONE;
    return Py_NewRef(guard_rt.ext[i].name);
}

const guard_method guard_guard_methods[] = {
    {{"install", (PyCFunction)(void (*)(void))guard_install, METH_VARARGS | METH_KEYWORDS,
      "install(spec, violation, import_error, guard_error, finder)\n--\n\n"
      "Compile SPEC (Policy.to_spec()) and add the audit hook; once per process."},
     GUARD_OPEN},
    {{"acting_as_enter", acting_as_enter, METH_O, "acting_as_enter(name) -> token"},
     GUARD_HOST_ONLY_CALLER},
    {{"acting_as_exit", acting_as_exit, METH_O, "acting_as_exit(token)"}, GUARD_OPEN},
    {{"set_approver", set_approver, METH_O, "set_approver(fn | None)"}, GUARD_HOST_ONLY_CALLER},
    {{"require_host_caller", require_host_caller, METH_NOARGS,
      "require_host_caller()\n--\n\nNothing, when the caller of the sdk_guard function that "
      "calls this is host code; PolicyViolation (introspection) when it is an extension."},
     GUARD_HOST_ONLY_CALLER},
    {{"importer", importer, METH_NOARGS, "importer() -> extension name | None"}, GUARD_OPEN},
    {{"check_importer", check_importer, METH_O,
      "check_importer(name): raise ImportBoundaryError if the extension importing may not"},
     GUARD_OPEN},
    {{"current_principal", current_principal, METH_NOARGS,
      "current_principal() -> (kind, extension | None, acting_as | None)"},
     GUARD_OPEN},
    {{"prepare_module", prepare_module, METH_VARARGS,
      "prepare_module(module_dict, extension, code)"},
     GUARD_HOST_ONLY},
    {{"wrap_thread_starter", wrap_thread_starter, METH_O,
      "wrap_thread_starter(orig) -> checked starter"},
     GUARD_HOST_ONLY},
    {{"deny", (PyCFunction)(void (*)(void))deny, METH_VARARGS | METH_KEYWORDS,
      "deny(principal, capability, target, rule=None, why=None, *, import_error=False)\n--\n\n"
      "Record a denial of TARGET for extension PRINCIPAL and raise it (PolicyViolation,\n"
      "or ImportBoundaryError with import_error) carrying the record's event_id."},
     GUARD_HOST_ONLY},
    {{"is_installed", is_installed, METH_NOARGS, "is_installed() -> bool"}, GUARD_OPEN},
    {{"subinterpreter_denials", subinterpreter_denials, METH_NOARGS,
      "subinterpreter_denials() -> int: mediated operations refused in sub-interpreters"},
     GUARD_OPEN},
    {{"code_owner", code_owner, METH_O, "code_owner(code) -> extension name | None"}, GUARD_OPEN},
    {{NULL, NULL, 0, NULL}, GUARD_OPEN},
};
