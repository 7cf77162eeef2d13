/* audit.c - one record per policy decision, handed to the Python audit pipeline.
 *
 * The record schema is DESIGN.md's.  `seq` is contiguous per process: it is taken
 * here, under the GIL, and a record that cannot be delivered is counted, never lost
 * silently.
 */
#include "guard.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Process-wide, not module state: the audit hook that emits records is process-wide
 * and outlives any module object (hooks can never be removed). */
static struct {
    PyObject *span_var;        /* ContextVar "sdk_guard.spans": tuple or unset */
    PyObject *dispatcher;      /* callable(record) or NULL */
    long long next_seq;
    long long undelivered;     /* dispatcher raised; the record went to fallback */
    PyObject *fallback;        /* list of records nobody took (bounded by the caller) */
} audit_state;

PyObject *
guard_audit_span_var(void)
{
    return audit_state.span_var;
}

static PyObject *
iso_timestamp(void)
{
    struct timespec ts;
    struct tm tm;
    char buf[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%06ldZ", ts.tv_nsec / 1000);
    return PyUnicode_FromString(buf);
}

static int
set_str(PyObject *d, const char *key, const char *val)
{
    if (val == NULL)
        return PyDict_SetItemString(d, key, Py_None);
    PyObject *s = PyUnicode_FromString(val);
    if (s == NULL)
        return -1;
    int rc = PyDict_SetItemString(d, key, s);
    Py_DECREF(s);
    return rc;
}

static int
set_obj(PyObject *d, const char *key, PyObject *val)
{
    return PyDict_SetItemString(d, key, val ? val : Py_None);
}

/* Span tuple layout, written by sdk_guard.audit: (action, task, model_call,
 * storage_mutation, user, org). */
static int
add_spans(PyObject *rec)
{
    static const char *kinds[] = {"action", "task", "model_call", "storage_mutation"};
    PyObject *val = NULL;
    if (PyContextVar_Get(audit_state.span_var, NULL, &val) < 0)
        return -1;
    PyObject *span = PyDict_New();
    if (span == NULL)
        goto error;
    int ok_tuple = val != NULL && PyTuple_Check(val) && PyTuple_GET_SIZE(val) >= 6;
    for (int i = 0; i < 4; i++) {
        if (set_obj(span, kinds[i], ok_tuple ? PyTuple_GET_ITEM(val, i) : NULL) < 0)
            goto error;
    }
    if (PyDict_SetItemString(rec, "span", span) < 0 ||
        set_obj(rec, "user", ok_tuple ? PyTuple_GET_ITEM(val, 4) : NULL) < 0 ||
        set_obj(rec, "org", ok_tuple ? PyTuple_GET_ITEM(val, 5) : NULL) < 0)
        goto error;
    Py_DECREF(span);
    Py_XDECREF(val);
    return 0;
error:
    Py_XDECREF(span);
    Py_XDECREF(val);
    return -1;
}

long long
guard_audit_emit(const guard_event *ev)
{
    long long seq = audit_state.next_seq++;
    PyObject *rec = PyDict_New();
    if (rec == NULL)
        return -1;
    PyObject *v;
    if ((v = PyLong_FromLongLong(seq)) == NULL || PyDict_SetItemString(rec, "seq", v) < 0)
        goto error_v;
    Py_DECREF(v);
    if ((v = iso_timestamp()) == NULL || PyDict_SetItemString(rec, "ts", v) < 0)
        goto error_v;
    Py_DECREF(v);
    if (set_str(rec, "layer", ev->layer) < 0 ||
        set_obj(rec, "principal", ev->principal) < 0 ||
        set_str(rec, "capability", ev->capability) < 0 ||
        set_obj(rec, "target", ev->target) < 0 ||
        set_str(rec, "decision", ev->decision) < 0 ||
        set_obj(rec, "rule", ev->rule) < 0 ||
        add_spans(rec) < 0)
        goto error;
    if ((v = PyLong_FromLong((long)getpid())) == NULL || PyDict_SetItemString(rec, "pid", v) < 0)
        goto error_v;
    Py_DECREF(v);
    if ((v = PyLong_FromLong((long)syscall(SYS_gettid))) == NULL || PyDict_SetItemString(rec, "tid", v) < 0)
        goto error_v;
    Py_DECREF(v);
    if (ev->extra != NULL && PyDict_Update(rec, ev->extra) < 0)
        goto error;

    if (audit_state.dispatcher != NULL) {
        PyObject *r = PyObject_CallOneArg(audit_state.dispatcher, rec);
        if (r != NULL) {
            Py_DECREF(r);
            Py_DECREF(rec);
            return seq;
        }
        /* A sink failure must not break guarded code nor lose the record. */
        audit_state.undelivered++;
        PyErr_WriteUnraisable(audit_state.dispatcher);
    }
    if (PyList_Append(audit_state.fallback, rec) < 0)
        goto error;
    Py_DECREF(rec);
    return seq;
error_v:
    Py_XDECREF(v);
error:
    Py_DECREF(rec);
    return -1;
}

static PyObject *
set_audit_dispatcher(PyObject *self, PyObject *fn)
{
    if (fn != Py_None && !PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "dispatcher must be callable or None");
        return NULL;
    }
    Py_XSETREF(audit_state.dispatcher, fn == Py_None ? NULL : Py_NewRef(fn));
    Py_RETURN_NONE;
}

/* Returns and clears the records no dispatcher took. */
static PyObject *
take_undelivered(PyObject *self, PyObject *unused)
{
    PyObject *out = audit_state.fallback;
    PyObject *fresh = PyList_New(0);
    if (fresh == NULL)
        return NULL;
    audit_state.fallback = fresh;
    return out;
}

static PyObject *
audit_counters(PyObject *self, PyObject *unused)
{
    return Py_BuildValue("{sLsL}", "next_seq", audit_state.next_seq,
                         "undelivered", audit_state.undelivered);
}

/* Emits a record from Python (lockdown reports, egress setup); returns its seq. */
static PyObject *
emit_record(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"layer", "capability", "decision", "principal", "target",
                             "rule", "extra", NULL};
    const char *layer, *cap, *decision;
    PyObject *principal = NULL, *target = NULL, *rule = NULL, *extra = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sss|OOOO:emit", kwlist, &layer, &cap,
                                     &decision, &principal, &target, &rule, &extra))
        return NULL;
    if (extra == Py_None)
        extra = NULL;
    if (extra != NULL && !PyDict_Check(extra)) {
        PyErr_SetString(PyExc_TypeError, "extra must be a dict");
        return NULL;
    }
    guard_event ev = {layer, principal == Py_None ? NULL : principal, cap,
                      target == Py_None ? NULL : target, decision,
                      rule == Py_None ? NULL : rule, extra};
    long long seq = guard_audit_emit(&ev);
    if (seq < 0)
        return NULL;
    return PyLong_FromLongLong(seq);
}

PyMethodDef guard_audit_methods[] = {
    {"set_audit_dispatcher", set_audit_dispatcher, METH_O,
     "set_audit_dispatcher(fn)\n--\n\nCall fn(record) for every audit record (None: keep them)."},
    {"take_undelivered", take_undelivered, METH_NOARGS,
     "take_undelivered()\n--\n\nReturn and clear records that no dispatcher accepted."},
    {"audit_counters", audit_counters, METH_NOARGS,
     "audit_counters()\n--\n\nnext_seq and undelivered counts."},
    {"emit", (PyCFunction)(void (*)(void))emit_record, METH_VARARGS | METH_KEYWORDS,
     "emit(layer, capability, decision, principal=None, target=None, rule=None, extra=None)\n--\n\n"
     "Record one audit event; returns its seq."},
    {NULL, NULL, 0, NULL},
};

int
guard_audit_init(PyObject *module)
{
    if (audit_state.span_var == NULL) {
        audit_state.span_var = PyContextVar_New("sdk_guard.spans", NULL);
        if (audit_state.span_var == NULL)
            return -1;
        audit_state.fallback = PyList_New(0);
        if (audit_state.fallback == NULL)
            return -1;
    }
    return PyModule_AddObjectRef(module, "span_var", audit_state.span_var);
}
