/* py_request.c - the sealed request context behind sdk_guard.context.request().
 *
 * The request (user, org, permissions) lives in a ContextVar so asyncio tasks inherit
 * it and audit.bind() carries it into threads.  Any Python code can reach a ContextVar
 * (contextvars.copy_context() iterates them) and call .set(), and any Python-level
 * secret is reachable through a function's __globals__, so the value stored is a
 * capsule: Python code cannot create one (only C or ctypes, which is `native`), and
 * only host code can have this unit make one (its table marks request_enter
 * GUARD_HOST_ONLY_CALLER: the caller of sdk_guard's wrapper is asked).  A value
 * that is not one of our capsules reads as "forged"; a capsule whose with-block has
 * ended reads as "ended", so a context stashed away cannot be replayed later.
 */
#include "gate.h"

#define REQUEST_CAPSULE "sdk_guard.request"

typedef struct {
    PyObject *ctx; /* the immutable RequestContext built by sdk_guard.context */
    int live;      /* 0 once the with-block that opened it has ended */
} request_seal;

/* Process-wide, not module state: the variable must be the same object for every
 * module object in the process, like the acting_as variable in guard_rt. */
static PyObject *request_var;

/* Returns the variable, creating it on first use; NULL with an exception on failure. */
static PyObject *
get_var(void)
{
    if (request_var == NULL)
        request_var = PyContextVar_New("sdk_guard.request", NULL);
    return request_var;
}

static void
seal_free(PyObject *capsule)
{
    request_seal *seal = PyCapsule_GetPointer(capsule, REQUEST_CAPSULE);
    if (seal == NULL) {
        PyErr_Clear();
        return;
    }
    Py_XDECREF(seal->ctx);
    PyMem_Free(seal);
}

static PyObject *
request_enter(PyObject *self, PyObject *ctx)
{
    PyObject *var = get_var();
    if (var == NULL)
        return NULL;
    request_seal *seal = PyMem_Malloc(sizeof *seal);
    if (seal == NULL)
        return PyErr_NoMemory();
    seal->ctx = Py_NewRef(ctx);
    seal->live = 1;
    PyObject *capsule = PyCapsule_New(seal, REQUEST_CAPSULE, seal_free);
    if (capsule == NULL) {
        Py_DECREF(seal->ctx);
        PyMem_Free(seal);
        return NULL;
    }
    PyObject *token = PyContextVar_Set(var, capsule);
    Py_DECREF(capsule);
    return token;
}

static PyObject *
request_exit(PyObject *self, PyObject *token)
{
    PyObject *var = get_var();
    PyObject *cur = NULL;
    if (var == NULL)
        return NULL;
    if (PyContextVar_Get(var, NULL, &cur) < 0)
        return NULL;
    if (cur != NULL && PyCapsule_IsValid(cur, REQUEST_CAPSULE)) {
        request_seal *seal = PyCapsule_GetPointer(cur, REQUEST_CAPSULE);
        if (seal != NULL)
            seal->live = 0;
    }
    Py_XDECREF(cur);
    if (PyContextVar_Reset(var, token) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
request_get(PyObject *self, PyObject *unused)
{
    PyObject *var = get_var();
    PyObject *cur = NULL;
    if (var == NULL)
        return NULL;
    if (PyContextVar_Get(var, NULL, &cur) < 0)
        return NULL;
    if (cur == NULL)
        return Py_BuildValue("(sO)", "none", Py_None);
    PyObject *res;
    if (!PyCapsule_IsValid(cur, REQUEST_CAPSULE)) {
        res = Py_BuildValue("(sO)", "forged", Py_None);
    }
    else {
        request_seal *seal = PyCapsule_GetPointer(cur, REQUEST_CAPSULE);
        if (seal == NULL)
            res = NULL;
        else if (!seal->live)
            res = Py_BuildValue("(sO)", "ended", Py_None);
        else
            res = Py_BuildValue("(sO)", "live", seal->ctx);
    }
    Py_DECREF(cur);
    return res;
}

/* For sdk_guard wrappers that act on the host's behalf (middleware, configure): the
 * gate of its table entry is the whole point, the call itself does nothing. */
static PyObject *
require_host(PyObject *self, PyObject *what)
{
    if (!PyUnicode_Check(what)) {
        PyErr_SetString(PyExc_TypeError, "require_host(what): what must be str");
        return NULL;
    }
    Py_RETURN_NONE;
}

const guard_method guard_request_methods[] = {
    {{"request_enter", request_enter, METH_O,
      "request_enter(ctx) -> token: make CTX the current request (host callers only)"},
     GUARD_HOST_ONLY_CALLER},
    {{"request_exit", request_exit, METH_O,
      "request_exit(token): end the request request_enter opened (host callers only)"},
     GUARD_HOST_ONLY_CALLER},
    {{"request_get", request_get, METH_NOARGS,
      "request_get() -> (state, ctx | None); state is none, live, ended or forged"},
     GUARD_OPEN},
    {{"require_host", require_host, METH_O,
      "require_host(what): PolicyViolation unless the sdk_guard wrapper's caller is host "
      "code"},
     GUARD_HOST_ONLY_CALLER},
    {{NULL, NULL, 0, NULL}, GUARD_OPEN},
};
