/* threads.c - the threads room: whose code a new thread runs, decided by the 3.12+
 * _thread events (through the hook) or by the wrapped starter on 3.11. */
#include "threads.h"
#include "args.h"
#include "attrib.h"

/* Whatever the target: the new thread runs as this extension (its mark), so what
 * library or foreign code does there is charged to it.  WHY, if set, refuses. */
static int
check_start(int ext, PyObject *func, const char *why)
{
    guard_ext *e = &guard_rt.ext[ext];
    PyObject *shown = guard_describe(func);
    if (shown == NULL)
        return -1;
    int granted = (e->caps & (1u << GUARD_CAP_THREADS)) != 0;
    int rc =
        guard_decide(ext, GUARD_CAP_THREADS, shown, granted && why == NULL, granted ? why : NULL);
    Py_DECREF(shown);
    return rc;
}

static PyObject *entry_call(PyObject *capsule, PyObject *args, PyObject *kw);

/* The 3.12+ _thread events: every thread the threading module or _thread starts goes
 * through the checked starter, whose entry point sets the new thread's mark.  A
 * function that is not that entry point means a thread that would run unmarked (or a
 * forged event): refused. */
int
guard_threads_check(int ext, PyObject *func)
{
    int ours = func != NULL && PyCFunction_Check(func) &&
               PyCFunction_GetFunction(func) == (PyCFunction)(void (*)(void))entry_call;
    return check_start(ext, func,
                       ours ? NULL
                            : "a thread must be started through the guard's checked starter "
                              "(threading or _thread), which makes it run as the extension");
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
    return check_start(ext, func, NULL);
}

/* ---- the new thread's entry point: sets its mark, then runs the target ----------- */

typedef struct {
    int mark;
    int used;
    PyObject *func;
} thread_entry;

#define ENTRY_CAPSULE "sdk_guard.thread_entry"

static void
entry_free(PyObject *capsule)
{
    thread_entry *t = PyCapsule_GetPointer(capsule, ENTRY_CAPSULE);
    if (t != NULL) {
        Py_XDECREF(t->func);
        PyMem_RawFree(t);
    }
}

static PyObject *
entry_call(PyObject *capsule, PyObject *args, PyObject *kw)
{
    thread_entry *t = PyCapsule_GetPointer(capsule, ENTRY_CAPSULE);
    if (t == NULL)
        return NULL;
    /* Only as a new thread's first call, once: code that got hold of this object
     * (a host thread's, say) cannot give its own thread that thread's mark. */
    if (t->used || t->func == NULL || PyEval_GetFrame() != NULL ||
        guard_attrib_thread_mark() != GUARD_MARK_NONE) {
        PyErr_SetString(PyExc_RuntimeError,
                        "sdk_guard: a thread entry point runs once, as its thread's first call");
        return NULL;
    }
    t->used = 1;
    guard_attrib_set_thread_mark(t->mark);
    PyObject *func = t->func;
    t->func = NULL;
    PyObject *r = PyObject_Call(func, args, kw);
    if (r == NULL && !PyErr_ExceptionMatches(PyExc_SystemExit)) {
        /* Reported here, against the target, exactly as _thread reports it: otherwise
         * sys.unraisablehook would see this entry point as the object. */
#if PY_VERSION_HEX >= 0x030D0000
        PyErr_FormatUnraisable("Exception ignored in thread started by %R", func);
#else
        _PyErr_WriteUnraisableMsg("in thread started by", func);
#endif
        r = Py_NewRef(Py_None);
    }
    Py_DECREF(func);
    return r;
}

static PyMethodDef entry_def = {"thread_entry", (PyCFunction)(void (*)(void))entry_call,
                                METH_VARARGS | METH_KEYWORDS,
                                "A thread's target, run as the principal that started the thread."};

/* FUNC wrapped so that the new thread runs with MARK. */
static PyObject *
wrap_entry(PyObject *func, int mark)
{
    thread_entry *t = PyMem_RawCalloc(1, sizeof *t);
    if (t == NULL)
        return PyErr_NoMemory();
    t->mark = mark;
    t->func = Py_NewRef(func);
    PyObject *capsule = PyCapsule_New(t, ENTRY_CAPSULE, entry_free);
    if (capsule == NULL) {
        Py_DECREF(t->func);
        PyMem_RawFree(t);
        return NULL;
    }
    PyObject *f = PyCFunction_NewEx(&entry_def, capsule, NULL);
    Py_DECREF(capsule);
    return f;
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
    if (!guard_rt.installed || guard_in_hook || PyInterpreterState_Get() != guard_interp)
        return PyObject_Call(thread_starters[i], args, kw);
    /* Decided as the hook decides the 3.12+ event. */
    guard_who who;
    if (guard_attrib_who(GUARD_WALK_FULL, &who) < 0)
        return NULL;
    PyObject *func = guard_arg(args, 0);
    if (func == NULL || !PyTuple_Check(args))
        return PyObject_Call(thread_starters[i], args, kw); /* its own TypeError */
    if (guard_decide_both(&who, GUARD_CAP_THREADS, func, check_thread_of, func) < 0)
        return NULL;
    /* The new thread runs as whoever started it: an extension (by its frames, or the
     * one acting_as names when no extension frame is on the stack), or the host. */
    int mark = GUARD_MARK_NONE;
    if (who.kind == GUARD_WHO_EXT)
        mark = GUARD_MARK_EXT0 + who.ext;
    else if (who.ctx_ext >= 0)
        mark = GUARD_MARK_EXT0 + who.ctx_ext;
    else if (who.kind == GUARD_WHO_HOST)
        mark = GUARD_MARK_HOST;
    PyObject *entry = wrap_entry(func, mark);
    if (entry == NULL)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *nargs = PyTuple_New(n);
    if (nargs == NULL) {
        Py_DECREF(entry);
        return NULL;
    }
    PyTuple_SET_ITEM(nargs, 0, entry);
    for (Py_ssize_t k = 1; k < n; k++)
        PyTuple_SET_ITEM(nargs, k, Py_NewRef(PyTuple_GET_ITEM(args, k)));
    PyObject *r = PyObject_Call(thread_starters[i], nargs, kw);
    Py_DECREF(nargs);
    return r;
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
