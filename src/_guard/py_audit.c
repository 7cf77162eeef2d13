/* py_audit.c - the audit trail's Python entry points.
 *
 * Extension code may not steer, drain, resize or forge the audit trail: every entry
 * that could is marked GUARD_HOST_ONLY in the table below and gated once by gate.c.
 */
#include "audit.h"
#include "gate.h"
#include "ring.h"

static PyObject *
set_audit_dispatcher(PyObject *self, PyObject *fn)
{
    if (fn != Py_None && !PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "dispatcher must be callable or None");
        return NULL;
    }
    guard_audit_set_dispatcher(fn == Py_None ? NULL : fn);
    Py_RETURN_NONE;
}

/* Hands up to MAX queued records, oldest first, to the dispatcher; returns how many
 * were taken from the ring. */
static PyObject *
audit_deliver(PyObject *self, PyObject *args)
{
    Py_ssize_t max = PY_SSIZE_T_MAX;
    if (!PyArg_ParseTuple(args, "|n:audit_deliver", &max))
        return NULL;
    Py_ssize_t n = guard_audit_deliver(max);
    return n < 0 ? NULL : PyLong_FromSsize_t(n);
}

/* Blocks (GIL released) until a record is queued or TIMEOUT seconds pass; marks the
 * caller as the consumer thread.  Returns whether records are waiting. */
static PyObject *
audit_wait(PyObject *self, PyObject *arg)
{
    double timeout = PyFloat_AsDouble(arg);
    if (timeout == -1.0 && PyErr_Occurred())
        return NULL;
    if (timeout != timeout) {
        PyErr_SetString(PyExc_ValueError, "audit_wait: timeout is NaN");
        return NULL;
    }
    /* Converting a double beyond int64 is undefined: a huge timeout waits forever. */
    int64_t ns = timeout < 0 || timeout >= 9.2e9 ? -1 : (int64_t)(timeout * 1e9);
    return PyBool_FromLong(guard_audit_wait(ns));
}

static PyObject *
audit_wake(PyObject *self, PyObject *unused)
{
    guard_audit_wake();
    Py_RETURN_NONE;
}

static PyObject *
take_undelivered(PyObject *self, PyObject *unused)
{
    return guard_audit_take_undelivered();
}

static PyObject *
audit_counters(PyObject *self, PyObject *unused)
{
    return guard_audit_counters();
}

/* Changes the ring capacity (only while it is empty) and/or the overflow wait. */
static PyObject *
audit_configure(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"capacity", "overflow_wait", NULL};
    PyObject *cap_obj = Py_None, *wait_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|$OO:audit_configure", kwlist, &cap_obj, &wait_obj))
        return NULL;
    double wait = guard_audit_overflow_wait();
    if (wait_obj != Py_None) {
        wait = PyFloat_AsDouble(wait_obj);
        if (wait == -1.0 && PyErr_Occurred())
            return NULL;
        if (!(wait >= 0 && wait <= GUARD_AUDIT_WAIT_MAX)) {
            PyErr_Format(PyExc_ValueError, "overflow_wait must be between 0 and %d seconds",
                         GUARD_AUDIT_WAIT_MAX);
            return NULL;
        }
    }
    size_t capacity = 0;
    if (cap_obj != Py_None) {
        Py_ssize_t cap = PyNumber_AsSsize_t(cap_obj, PyExc_OverflowError);
        if (cap == -1 && PyErr_Occurred())
            return NULL;
        if (cap < 1 || (size_t)cap > GUARD_RING_MAX_CAPACITY) {
            PyErr_Format(PyExc_ValueError, "ring capacity must be between 1 and %u",
                         GUARD_RING_MAX_CAPACITY);
            return NULL;
        }
        capacity = (size_t)cap;
    }
    if (guard_audit_configure(capacity, wait) < 0)
        return NULL;
    return guard_audit_counters();
}

/* V copied into exact built-in JSON data: str/int/float/bool/None as exact values
 * (subclasses reduced to the built-in value), lists/tuples and dicts copied item by
 * item (their own storage read directly: no __iter__/items() of a subclass), anything
 * else -- and anything nested past 16 levels -- as "<TypeName>".  No method of V or
 * its items runs, so what the audit writer formats later is host data it owns.
 * New reference, or NULL with an exception. */
static PyObject *
plain_copy(PyObject *v, int depth)
{
    if (v == Py_None || v == Py_True || v == Py_False || PyUnicode_CheckExact(v) ||
        PyLong_CheckExact(v) || PyFloat_CheckExact(v))
        return Py_NewRef(v);
    if (PyUnicode_Check(v))
        return PyUnicode_FromObject(v);
    if (PyLong_Check(v))
        return PyNumber_Index(v); /* an int subclass: an exact copy, no __index__ */
    if (PyFloat_Check(v))
        return PyFloat_FromDouble(PyFloat_AS_DOUBLE(v));
    if (depth < 16 && (PyList_Check(v) || PyTuple_Check(v))) {
        Py_ssize_t n = PyList_Check(v) ? PyList_GET_SIZE(v) : PyTuple_GET_SIZE(v);
        PyObject *out = PyList_New(0);
        for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
            /* Re-read the size: copying an item cannot run code, but stay in bounds. */
            if (i >= (PyList_Check(v) ? PyList_GET_SIZE(v) : PyTuple_GET_SIZE(v)))
                break;
            PyObject *item = PyList_Check(v) ? PyList_GET_ITEM(v, i) : PyTuple_GET_ITEM(v, i);
            PyObject *c = plain_copy(item, depth + 1);
            if (c == NULL || PyList_Append(out, c) < 0)
                Py_CLEAR(out);
            Py_XDECREF(c);
        }
        return out;
    }
    if (depth < 16 && PyDict_Check(v)) {
        PyObject *out = PyDict_New(), *k, *item;
        Py_ssize_t pos = 0;
        while (out != NULL && PyDict_Next(v, &pos, &k, &item)) {
            PyObject *ck = PyUnicode_CheckExact(k) ? Py_NewRef(k) : plain_copy(k, 16);
            PyObject *cv = ck ? plain_copy(item, depth + 1) : NULL;
            if (cv == NULL || !PyUnicode_Check(ck) || PyDict_SetItem(out, ck, cv) < 0) {
                if (cv != NULL && ck != NULL && !PyUnicode_Check(ck))
                    PyErr_Clear(); /* a non-str key (an int): left out */
                else
                    Py_CLEAR(out);
            }
            Py_XDECREF(ck);
            Py_XDECREF(cv);
        }
        return out;
    }
    return PyUnicode_FromFormat("<%.100s>", Py_TYPE(v)->tp_name);
}

/* Emits a record from Python (lockdown reports, egress setup); returns its seq. */
static PyObject *
emit_record(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"layer",  "capability", "decision", "principal",
                             "target", "rule",       "extra",    NULL};
    const char *layer, *cap, *decision;
    PyObject *principal = NULL, *target = NULL, *rule = NULL, *extra = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sss|OOOO:emit", kwlist, &layer, &cap, &decision,
                                     &principal, &target, &rule, &extra))
        return NULL;
    if (extra == Py_None)
        extra = NULL;
    if (extra != NULL && !PyDict_Check(extra)) {
        PyErr_SetString(PyExc_TypeError, "extra must be a dict");
        return NULL;
    }
    /* The record holds copies: the writer thread formats them later, as host code. */
    PyObject *c[4] = {NULL, NULL, NULL, NULL};
    PyObject *in[4] = {principal, target, rule, extra};
    for (int i = 0; i < 4; i++) {
        if (in[i] == NULL || in[i] == Py_None)
            continue;
        c[i] = plain_copy(in[i], 0);
        if (c[i] == NULL)
            goto fail;
    }
    guard_event ev = {layer, c[0], cap, c[1], decision, c[2], c[3]};
    long long seq = guard_audit_emit(&ev);
    for (int i = 0; i < 4; i++)
        Py_XDECREF(c[i]);
    if (seq < 0)
        return NULL;
    return PyLong_FromLongLong(seq);
fail:
    for (int i = 0; i < 4; i++)
        Py_XDECREF(c[i]);
    return NULL;
}

static PyObject *
span_enter(PyObject *self, PyObject *args)
{
    int kind;
    PyObject *id, *span, *user, *org;
    if (!PyArg_ParseTuple(args, "iOOOO:span_enter", &kind, &id, &span, &user, &org))
        return NULL;
    return guard_audit_span_enter(kind, id, span, user, org);
}

static PyObject *
span_identity(PyObject *self, PyObject *args)
{
    PyObject *user, *org;
    if (!PyArg_ParseTuple(args, "OO:span_identity", &user, &org))
        return NULL;
    return guard_audit_span_amend(user, org, NULL);
}

static PyObject *
span_otel(PyObject *self, PyObject *pair)
{
    return guard_audit_span_amend(NULL, NULL, pair);
}

static PyObject *
span_exit(PyObject *self, PyObject *token)
{
    if (guard_audit_span_exit(token) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
span_current(PyObject *self, PyObject *unused)
{
    return guard_audit_span_current();
}

const guard_method guard_audit_methods[] = {
    /* A span names the action, task, user and org every record inside it carries:
     * only host code opens (and closes) one.  sdk_guard.audit.span wraps these, so
     * its caller is asked. */
    {{"span_enter", span_enter, METH_VARARGS,
      "span_enter(kind_index, id, span, user, org) -> token\n--\n\n"
      "Open a span inside the current ones (sdk_guard.audit.span is the API)."},
     GUARD_HOST_ONLY_CALLER},
    {{"span_identity", span_identity, METH_VARARGS,
      "span_identity(user, org) -> token\n--\n\n"
      "Make USER/ORG the identity of every record in this context (sdk_guard.request)\n"
      "until span_exit(token)."},
     GUARD_HOST_ONLY_CALLER},
    {{"span_otel", span_otel, METH_O,
      "span_otel(pair) -> token\n--\n\n"
      "Carry the current OpenTelemetry (trace_id, span_id) pair (None: none) in records\n"
      "until span_exit(token)."},
     GUARD_HOST_ONLY_CALLER},
    {{"span_exit", span_exit, METH_O,
      "span_exit(token)\n--\n\nClose the span span_enter() opened."},
     GUARD_HOST_ONLY_CALLER},
    {{"span_current", span_current, METH_NOARGS,
      "span_current() -> (action, task, model_call, storage_mutation, user, org, path, span)"},
     GUARD_OPEN},
    {{"set_audit_dispatcher", set_audit_dispatcher, METH_O,
      "set_audit_dispatcher(fn)\n--\n\n"
      "fn(record) receives every record from audit_deliver(), in seq order; None detaches\n"
      "the consumer (records then stay queued for take_undelivered())."},
     GUARD_HOST_ONLY},
    {{"take_undelivered", take_undelivered, METH_NOARGS,
      "take_undelivered()\n--\n\nReturn and clear records no dispatcher accepted plus all queued "
      "ones."},
     GUARD_HOST_ONLY},
    {{"audit_counters", audit_counters, METH_NOARGS,
      "audit_counters()\n--\n\nnext_seq, dropped, undelivered, ring capacity and fill counters."},
     GUARD_OPEN},
    {{"audit_configure", (PyCFunction)(void (*)(void))audit_configure, METH_VARARGS | METH_KEYWORDS,
      "audit_configure(*, capacity=None, overflow_wait=None)\n--\n\n"
      "Resize the (empty) ring and/or set how long producers wait on a full ring."},
     GUARD_HOST_ONLY},
    {{"audit_deliver", audit_deliver, METH_VARARGS,
      "audit_deliver(max=...)\n--\n\nHand up to max queued records to the dispatcher; return the "
      "count."},
     GUARD_HOST_ONLY},
    {{"audit_wait", audit_wait, METH_O,
      "audit_wait(timeout)\n--\n\nWait (GIL released) until records are queued; return whether any "
      "are."},
     GUARD_OPEN},
    {{"audit_wake", audit_wake, METH_NOARGS,
      "audit_wake()\n--\n\nEnd every audit_wait() and overflow wait now."},
     GUARD_OPEN},
    {{"emit", (PyCFunction)(void (*)(void))emit_record, METH_VARARGS | METH_KEYWORDS,
      "emit(layer, capability, decision, principal=None, target=None, rule=None, "
      "extra=None)\n--\n\n"
      "Record one audit event; returns its seq."},
     GUARD_HOST_ONLY},
    {{NULL, NULL, 0, NULL}, GUARD_OPEN},
};
