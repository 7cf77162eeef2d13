/* threads.c - the threads room: whose code a new thread runs, decided by the 3.12+
 * _thread events (through the hook) or by the wrapped starter on 3.11. */
#include "threads.h"
#include "args.h"
#include "attrib.h"

/* The extension whose code FUNC runs (a function, method, partial or threading.Thread
 * bootstrap), or -1. */
static int
callable_ext(PyObject *func, int depth)
{
    if (func == NULL || depth > 4)
        return -1;
    if (PyMethod_Check(func)) {
        PyObject *self = PyMethod_GET_SELF(func);
        PyObject *fn = PyMethod_GET_FUNCTION(func);
        if (PyFunction_Check(fn)) {
            PyObject *qual = ((PyFunctionObject *)fn)->func_qualname;
            if (qual && PyUnicode_Check(qual) &&
                PyUnicode_CompareWithASCIIString(qual, "Thread._bootstrap") == 0) {
                /* Read from the instance and class dicts: getattr could run a property
                 * or __getattr__ of the thread's class inside the hook. */
                PyObject *dict = PyObject_GenericGetDict(self, NULL);
                if (dict == NULL) {
                    PyErr_Clear();
                    return -1;
                }
                /* No planted key's __eq__ runs here (see guard_dict_get). */
                PyObject *target = guard_dict_get_str(dict, "_target");
                Py_XINCREF(target);
                Py_DECREF(dict);
                if (target == NULL) {
                    PyErr_Clear();
                    return -1;
                }
                int r = -1;
                if (target == Py_None) {
                    /* A Thread subclass overriding run(): the first run in its MRO. */
                    PyObject *mro = Py_TYPE(self)->tp_mro;
                    for (Py_ssize_t i = 0; mro && PyTuple_Check(mro) && i < PyTuple_GET_SIZE(mro); i++) {
                        PyObject *base = PyTuple_GET_ITEM(mro, i);
                        PyObject *bd = PyType_Check(base) ? ((PyTypeObject *)base)->tp_dict : NULL;
                        PyObject *run = bd ? PyDict_GetItemString(bd, "run") : NULL;
                        if (run != NULL) {
                            r = callable_ext(run, depth + 1);
                            break;
                        }
                    }
                    PyErr_Clear();
                }
                else {
                    r = callable_ext(target, depth + 1);
                }
                Py_DECREF(target);
                return r;
            }
        }
        return callable_ext(fn, depth + 1);
    }
    if (PyFunction_Check(func))
        return guard_attrib_code_ext(PyFunction_GET_CODE(func));
    /* functools.partial keeps the callable in .func (a C member); only the exact type:
     * a subclass or look-alike's .func could run code inside the hook. */
    if (guard_partial_type != NULL && Py_TYPE(func) == guard_partial_type) {
        PyObject *inner = PyObject_GetAttrString(func, "func");
        if (inner == NULL) {
            PyErr_Clear();
            return -1;
        }
        int r = callable_ext(inner, depth + 1);
        Py_DECREF(inner);
        return r;
    }
    return -1;
}

int
guard_threads_check(int ext, PyObject *func)
{
    guard_ext *e = &guard_rt.ext[ext];
    PyObject *shown = guard_describe(func);
    if (shown == NULL)
        return -1;
    int rc;
    if (!(e->caps & (1u << GUARD_CAP_THREADS)))
        rc = guard_decide(ext, GUARD_CAP_THREADS, shown, 0, NULL);
    else if (callable_ext(func, 0) != ext)
        rc = guard_decide(ext, GUARD_CAP_THREADS, shown, 0,
                          "a thread started by an extension must run that extension's own code "
                          "(its target is library or foreign code)");
    else
        rc = guard_decide(ext, GUARD_CAP_THREADS, shown, 1, NULL);
    Py_DECREF(shown);
    return rc;
}

/* ---- threads on 3.11 (no _thread audit event) ----------------------------------- */

/* The original starters live here, not in the wrapper's __self__, so extension code
 * holding the checked starter cannot reach the unchecked one through it. */
#define GUARD_MAX_STARTERS 8
static PyObject *thread_starters[GUARD_MAX_STARTERS];
static size_t nthread_starters;

static int
check_thread_of(int ext, void *func)
{
    return guard_threads_check(ext, func);
}

static PyObject *
thread_start(PyObject *index, PyObject *args, PyObject *kw)
{
    size_t i = PyLong_AsSize_t(index);
    if (i >= nthread_starters) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "sdk_guard: unknown thread starter");
        return NULL;
    }
    if (guard_rt.installed && !guard_in_hook) {
        /* Decided as the hook decides the 3.12+ event. */
        guard_who who;
        if (guard_attrib_who(GUARD_WALK_FULL, &who) < 0)
            return NULL;
        PyObject *func = guard_arg(args, 0);
        if (guard_decide_both(&who, GUARD_CAP_THREADS, func, check_thread_of, func) < 0)
            return NULL;
    }
    return PyObject_Call(thread_starters[i], args, kw);
}

static PyMethodDef thread_start_def = {
    "start_new_thread", (PyCFunction)(void (*)(void))thread_start, METH_VARARGS | METH_KEYWORDS,
    "The interpreter's thread starter, checked against the threads policy."};

PyObject *
guard_threads_wrap_starter(PyObject *orig)
{
    for (size_t i = 0; i < nthread_starters; i++) {
        if (thread_starters[i] == orig)
            goto wrap;
    }
    if (nthread_starters == GUARD_MAX_STARTERS) {
        PyErr_SetString(PyExc_RuntimeError, "sdk_guard: too many thread starters wrapped");
        return NULL;
    }
    thread_starters[nthread_starters++] = Py_NewRef(orig);
wrap:;
    size_t k = 0;
    while (thread_starters[k] != orig)
        k++;
    PyObject *index = PyLong_FromSize_t(k);
    if (index == NULL)
        return NULL;
    PyObject *f = PyCFunction_NewEx(&thread_start_def, index, NULL);
    Py_DECREF(index);
    return f;
}
