/* audit.c - one record per policy decision, through the audit ring to the sinks.
 *
 * Producer side (any thread, under the GIL): guard_audit_emit() builds the record
 * dict in docs/design.md's key order, reads the enclosing spans from the span context
 * variable, takes the next `seq` and pushes the record into the ring (ring.c).
 * Consumer side: sdk_guard.audit's writer thread waits with audit_wait() (GIL
 * released) and calls audit_deliver(), which pops records in ring order and hands
 * each to the dispatcher set by set_audit_dispatcher().  Those entry points, and
 * their host-only gates, are in py_audit.c; this file never decides anything.
 *
 * Ordering: `seq` is read, stored into the record and pushed with no Python code
 * running in between (only a PyLong allocation, which never triggers the GC), all
 * under the GIL, and next_seq only advances once the push succeeded.  So ring order
 * is seq order, whichever thread recorded the event, and seq is contiguous.
 *
 * A full ring: while a consumer is attached (a dispatcher is set) and the recording
 * thread is not the consumer itself, the producer releases the GIL and waits up to
 * `overflow_wait` seconds for a slot.  The wait is bounded because the hook fires
 * inside arbitrary code: a sink that needs a lock the recording code holds must
 * not deadlock the process.  After the wait the record is given up, its seq is
 * counted by guard_ring_note_drop, and the consumer surfaces the count as a
 * `dropped` record (layer "audit") at the next delivery.
 *
 * Span state: the value of the "sdk_guard.spans" context variable is a SpanState, a
 * type only this file can instantiate (no constructor, not exported), wrapping a
 * tuple it built from exact built-in values.  The variable itself is reachable by
 * anyone (contextvars.copy_context() lists it), so what makes the state host-only
 * is that extension code can neither make a SpanState nor change one: setting the
 * variable to anything else reads as "no span", and only the host-only
 * span_enter() (sdk_guard.audit.span) makes new ones.  Tuple layout:
 *   0 action id | None      1 task id | None      2 model_call id | None
 *   3 storage_mutation id | None                  4 user | None    5 org | None
 *   6 span path: tuple of span ids, outermost first (copied into a list)
 *   7 the innermost Span object (Python-side only; never read here)
 *   8 optional: (trace_id, span_id) of the current OpenTelemetry span, two exact str
 *     of hex digits, set by sdk_guard.otel when OpenTelemetry attaches a context
 * Reading it costs one context lookup and borrowed tuple items; it happens only for
 * an event that is recorded, never for allowed, unlogged ones.
 */
#include "audit.h"
#include "ring.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SPAN_TUPLE_LEN 8
#define DELIVER_CHUNK 256
/* Records the dispatcher refused are kept for take_undelivered() up to this many;
 * beyond it they are counted as dropped like a ring overflow. */
#define FALLBACK_MAX 65536

enum {
    K_SEQ,
    K_TS,
    K_LAYER,
    K_PRINCIPAL,
    K_CAPABILITY,
    K_TARGET,
    K_DECISION,
    K_RULE,
    K_SPAN,
    K_ACTION,
    K_TASK,
    K_MODEL_CALL,
    K_STORAGE_MUTATION,
    K_USER,
    K_ORG,
    K_SPAN_PATH,
    K_PID,
    K_TID,
    K_TRACE_ID,
    K_SPAN_ID,
    K_COUNT
};
static const char *const key_names[K_COUNT] = {
    "seq",  "ts",        "layer",  "principal", "capability",    "target",           "decision",
    "rule", "span",      "action", "task",      "model_call",    "storage_mutation", "user",
    "org",  "span_path", "pid",    "tid",       "otel_trace_id", "otel_span_id",
};

/* Process-wide, not module state: the audit hook that emits records is process-wide
 * and can never be removed, so the ring and seq counter must outlive any module
 * object, and one process has exactly one seq sequence. */
static struct {
    PyObject *span_var;      /* ContextVar "sdk_guard.spans": tuple or unset */
    PyTypeObject *span_type; /* SpanState, the only value span_var's readers trust */
    PyObject *dispatcher;    /* callable(record) or NULL: no consumer attached */
    guard_ring *ring;
    long long next_seq;
    long long undelivered; /* records the dispatcher raised on */
    long long waits;       /* times a producer waited for a free slot */
    /* Set when a producer's wait ran out, with the ring's pop count then: until the
     * consumer takes a record, later producers drop at once instead of waiting too,
     * so a stuck sink costs guarded code one overflow_wait, not one per record. */
    int stuck;
    uint64_t stuck_popped;
    PyObject *fallback;              /* list of records nobody took */
    double overflow_wait;            /* seconds */
    unsigned long consumer_thread;   /* ident of the thread in audit_wait/deliver */
    unsigned long delivering_thread; /* ident of the thread inside audit_deliver */
    PyObject *keys[K_COUNT];         /* interned record keys */
} audit_state;

typedef struct {
    PyObject_HEAD
    PyObject *t; /* the span tuple (layout above) */
} span_state;

static void
span_state_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(((span_state *)self)->t);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot span_state_slots[] = {
    {Py_tp_dealloc, span_state_dealloc},
    {Py_tp_doc, "The enclosing spans; made only by sdk_guard.audit.span."},
    {0, NULL},
};

/* A heap type, but held in audit_state rather than module state: records are built
 * where no module object is at hand (the hook), and a span opened under one module
 * object must still be recognised after a re-import. */
static PyType_Spec span_state_spec = {
    .name = "sdk_guard._guard.SpanState",
    .basicsize = sizeof(span_state),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = span_state_slots,
};

/* The current span tuple (borrowed from a new reference in *HOLD, which the caller
 * releases), or NULL when no span is open or the variable holds anything but a
 * SpanState.  -1 only on error. */
static int
current_spans(PyObject **hold, PyObject **tuple)
{
    *tuple = NULL;
    if (PyContextVar_Get(audit_state.span_var, NULL, hold) < 0)
        return -1;
    if (*hold != NULL && Py_IS_TYPE(*hold, audit_state.span_type))
        *tuple = ((span_state *)*hold)->t;
    return 0;
}

/* An exact str copy of V (a str or str subclass), None for None; NULL with TypeError
 * naming WHAT otherwise.  Reads no method of V. */
static PyObject *
exact_text(PyObject *v, const char *what)
{
    if (v == Py_None || PyUnicode_CheckExact(v))
        return Py_NewRef(v);
    if (PyUnicode_Check(v))
        return PyUnicode_FromObject(v); /* a copy, no __str__ */
    PyErr_Format(PyExc_TypeError, "span %s must be str or None, not %.100s", what,
                 Py_TYPE(v)->tp_name);
    return NULL;
}

/* Sets the span variable to a new SpanState holding T (a reference this steals) and
 * returns the variable's token, or NULL with an exception. */
static PyObject *
publish_state(PyObject *t)
{
    span_state *st = PyObject_New(span_state, audit_state.span_type);
    if (st == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    st->t = t;
    PyObject *token = PyContextVar_Set(audit_state.span_var, (PyObject *)st);
    Py_DECREF(st);
    return token;
}

PyObject *
guard_audit_span_enter(int kind, PyObject *id, PyObject *span, PyObject *user, PyObject *org)
{
    if (kind < 0 || kind > 3) {
        PyErr_SetString(PyExc_ValueError, "span kind index must be 0..3");
        return NULL;
    }
    PyObject *hold = NULL, *outer, *token = NULL;
    PyObject *t = NULL, *path = NULL, *copies[3] = {NULL, NULL, NULL};
    if (current_spans(&hold, &outer) < 0)
        return NULL;
    copies[0] = exact_text(id, "id");
    copies[1] = copies[0] ? exact_text(user, "user") : NULL;
    copies[2] = copies[1] ? exact_text(org, "org") : NULL;
    if (copies[2] == NULL)
        goto done;
    if (copies[0] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "span id must be str");
        goto done;
    }
    /* The OpenTelemetry pair (item 8), if any, stays with the spans opened inside. */
    PyObject *otel = outer && PyTuple_GET_SIZE(outer) > SPAN_TUPLE_LEN
                         ? PyTuple_GET_ITEM(outer, SPAN_TUPLE_LEN)
                         : NULL;
    t = PyTuple_New(SPAN_TUPLE_LEN + (otel != NULL));
    if (t == NULL)
        goto done;
    if (otel != NULL)
        PyTuple_SET_ITEM(t, SPAN_TUPLE_LEN, Py_NewRef(otel));
    for (int i = 0; i < 4; i++) {
        PyObject *v = i == kind ? copies[0] : outer ? PyTuple_GET_ITEM(outer, i) : Py_None;
        PyTuple_SET_ITEM(t, i, Py_NewRef(v));
    }
    /* user/org given here apply inside; None keeps the enclosing span's. */
    for (int i = 1; i <= 2; i++) {
        PyObject *v = copies[i] != Py_None ? copies[i]
                      : outer              ? PyTuple_GET_ITEM(outer, 3 + i)
                                           : Py_None;
        PyTuple_SET_ITEM(t, 3 + i, Py_NewRef(v));
    }
    PyObject *outer_path = outer ? PyTuple_GET_ITEM(outer, 6) : NULL;
    Py_ssize_t n = outer_path ? PyTuple_GET_SIZE(outer_path) : 0;
    path = PyTuple_New(n + 1);
    if (path == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(path, i, Py_NewRef(PyTuple_GET_ITEM(outer_path, i)));
    PyTuple_SET_ITEM(path, n, Py_NewRef(copies[0]));
    PyTuple_SET_ITEM(t, 6, path);
    path = NULL;
    PyTuple_SET_ITEM(t, 7, Py_NewRef(span));
    token = publish_state(t);
    t = NULL;
done:
    for (int i = 0; i < 3; i++)
        Py_XDECREF(copies[i]);
    Py_XDECREF(path);
    Py_XDECREF(t);
    Py_XDECREF(hold);
    return token;
}

/* An exact (str, str) copy of PAIR, a 2-tuple of str; NULL with TypeError otherwise. */
static PyObject *
exact_pair(PyObject *pair)
{
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
        PyErr_SetString(PyExc_TypeError, "span ids must be a (trace_id, span_id) pair");
        return NULL;
    }
    PyObject *a = exact_text(PyTuple_GET_ITEM(pair, 0), "trace id");
    PyObject *b = a ? exact_text(PyTuple_GET_ITEM(pair, 1), "span id") : NULL;
    PyObject *r = NULL;
    if (b != NULL && (a == Py_None || b == Py_None))
        PyErr_SetString(PyExc_TypeError, "span ids must be str");
    else if (b != NULL)
        r = PyTuple_Pack(2, a, b);
    Py_XDECREF(a);
    Py_XDECREF(b);
    return r;
}

PyObject *
guard_audit_span_amend(PyObject *user, PyObject *org, PyObject *otel)
{
    PyObject *hold = NULL, *outer, *token = NULL, *t = NULL;
    PyObject *u = NULL, *o = NULL, *pair = NULL;
    if (current_spans(&hold, &outer) < 0)
        return NULL;
    if (user != NULL &&
        ((u = exact_text(user, "user")) == NULL || (o = exact_text(org, "org")) == NULL))
        goto done;
    if (otel != NULL && otel != Py_None && (pair = exact_pair(otel)) == NULL)
        goto done;
    PyObject *old_pair = outer && PyTuple_GET_SIZE(outer) > SPAN_TUPLE_LEN
                             ? PyTuple_GET_ITEM(outer, SPAN_TUPLE_LEN)
                             : NULL;
    PyObject *keep_pair = otel == NULL ? old_pair : pair;
    t = PyTuple_New(SPAN_TUPLE_LEN + (keep_pair != NULL));
    if (t == NULL)
        goto done;
    for (int i = 0; i < SPAN_TUPLE_LEN; i++) {
        PyObject *v = outer ? PyTuple_GET_ITEM(outer, i) : Py_None;
        if (i == 4 && u != NULL)
            v = u;
        else if (i == 5 && o != NULL)
            v = o;
        PyTuple_SET_ITEM(t, i, Py_NewRef(v));
    }
    if (outer == NULL) {
        PyObject *empty = PyTuple_New(0);
        if (empty == NULL)
            goto done;
        Py_SETREF(((PyTupleObject *)t)->ob_item[6], empty);
    }
    if (keep_pair != NULL)
        PyTuple_SET_ITEM(t, SPAN_TUPLE_LEN, Py_NewRef(keep_pair));
    token = publish_state(t);
    t = NULL;
done:
    Py_XDECREF(u);
    Py_XDECREF(o);
    Py_XDECREF(pair);
    Py_XDECREF(t);
    Py_XDECREF(hold);
    return token;
}

int
guard_audit_span_exit(PyObject *token)
{
    if (!PyContextToken_CheckExact(token)) {
        PyErr_Format(PyExc_TypeError,
                     "span_exit() takes the token span_enter() returned, "
                     "not %.100s",
                     Py_TYPE(token)->tp_name);
        return -1;
    }
    return PyContextVar_Reset(audit_state.span_var, token);
}

PyObject *
guard_audit_span_current(void)
{
    PyObject *hold = NULL, *t;
    if (current_spans(&hold, &t) < 0)
        return NULL;
    PyObject *r;
    if (t != NULL) {
        r = Py_NewRef(t);
    }
    else {
        r = PyTuple_Pack(SPAN_TUPLE_LEN, Py_None, Py_None, Py_None, Py_None, Py_None, Py_None,
                         Py_None, Py_None);
        if (r != NULL) {
            PyObject *empty = PyTuple_New(0);
            if (empty == NULL) {
                Py_CLEAR(r);
            }
            else {
                Py_SETREF(((PyTupleObject *)r)->ob_item[6], empty);
            }
        }
    }
    Py_XDECREF(hold);
    return r;
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

/* Sets REC[KEY] to a new reference V (consumed); -1 if V is NULL or on failure. */
static int
set_new(PyObject *rec, int key, PyObject *v)
{
    if (v == NULL)
        return -1;
    int rc = PyDict_SetItem(rec, audit_state.keys[key], v);
    Py_DECREF(v);
    return rc;
}

static int
set_str(PyObject *rec, int key, const char *val)
{
    if (val == NULL)
        return PyDict_SetItem(rec, audit_state.keys[key], Py_None);
    return set_new(rec, key, PyUnicode_FromString(val));
}

static int
set_obj(PyObject *rec, int key, PyObject *val)
{
    return PyDict_SetItem(rec, audit_state.keys[key], val ? val : Py_None);
}

/* Adds span, user, org and span_path from the span context variable. 0 or -1. */
static int
add_spans(PyObject *rec)
{
    PyObject *val = NULL, *t;
    if (current_spans(&val, &t) < 0)
        return -1;
    int ok = t != NULL;
    PyObject *span = PyDict_New();
    if (span == NULL)
        goto error;
    for (int i = 0; i < 4; i++) {
        if (set_obj(span, K_ACTION + i, ok ? PyTuple_GET_ITEM(t, i) : NULL) < 0)
            goto error;
    }
    if (PyDict_SetItem(rec, audit_state.keys[K_SPAN], span) < 0 ||
        set_obj(rec, K_USER, ok ? PyTuple_GET_ITEM(t, 4) : NULL) < 0 ||
        set_obj(rec, K_ORG, ok ? PyTuple_GET_ITEM(t, 5) : NULL) < 0)
        goto error;
    /* A fresh list: records hold plain JSON types and share nothing mutable. */
    PyObject *path = ok ? PyTuple_GET_ITEM(t, 6) : NULL;
    if (set_new(rec, K_SPAN_PATH,
                path != NULL && PyTuple_Check(path) ? PySequence_List(path) : PyList_New(0)) < 0)
        goto error;
    /* OpenTelemetry ids only as an exact (str, str) pair: nothing foreign is called. */
    PyObject *trace = ok && PyTuple_GET_SIZE(t) > 8 ? PyTuple_GET_ITEM(t, 8) : NULL;
    if (trace != NULL && PyTuple_CheckExact(trace) && PyTuple_GET_SIZE(trace) == 2 &&
        PyUnicode_CheckExact(PyTuple_GET_ITEM(trace, 0)) &&
        PyUnicode_CheckExact(PyTuple_GET_ITEM(trace, 1))) {
        if (set_obj(rec, K_TRACE_ID, PyTuple_GET_ITEM(trace, 0)) < 0 ||
            set_obj(rec, K_SPAN_ID, PyTuple_GET_ITEM(trace, 1)) < 0)
            goto error;
    }
    Py_DECREF(span);
    Py_XDECREF(val);
    return 0;
error:
    Py_XDECREF(span);
    Py_XDECREF(val);
    return -1;
}

/* Returns a new record without its final seq (a placeholder keeps key order), or
 * NULL with an exception. */
static PyObject *
build_record(const guard_event *ev)
{
    PyObject *rec = PyDict_New();
    if (rec == NULL)
        return NULL;
    if (set_obj(rec, K_SEQ, NULL) < 0 || set_new(rec, K_TS, iso_timestamp()) < 0 ||
        set_str(rec, K_LAYER, ev->layer) < 0 || set_obj(rec, K_PRINCIPAL, ev->principal) < 0 ||
        set_str(rec, K_CAPABILITY, ev->capability) < 0 || set_obj(rec, K_TARGET, ev->target) < 0 ||
        set_str(rec, K_DECISION, ev->decision) < 0 || set_obj(rec, K_RULE, ev->rule) < 0 ||
        add_spans(rec) < 0 || set_new(rec, K_PID, PyLong_FromLong((long)getpid())) < 0 ||
        set_new(rec, K_TID, PyLong_FromLong((long)syscall(SYS_gettid))) < 0)
        goto error;
    if (ev->extra != NULL && PyDict_Update(rec, ev->extra) < 0)
        goto error;
    return rec;
error:
    Py_DECREF(rec);
    return NULL;
}

/* May the calling thread wait for the consumer to free a slot? */
static int
may_wait_for_consumer(void)
{
    if (audit_state.dispatcher == NULL || audit_state.overflow_wait <= 0)
        return 0;
    unsigned long me = PyThread_get_thread_ident();
    return me != audit_state.consumer_thread && me != audit_state.delivering_thread;
}

static uint64_t
ring_popped(void)
{
    guard_ring_stats st;
    guard_ring_get_stats(audit_state.ring, &st);
    return st.popped;
}

static double
monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Stamps REC (a new reference, consumed) with the next seq and queues it; a record
 * that cannot be queued is counted as dropped.  Returns its seq; never fails. */
static long long
enqueue(PyObject *rec)
{
    double deadline = -1;
    for (;;) {
        long long seq = audit_state.next_seq;
        PyObject *s = PyLong_FromLongLong(seq);
        if (s == NULL || PyDict_SetItem(rec, audit_state.keys[K_SEQ], s) < 0) {
            Py_XDECREF(s);
            PyErr_Clear();
            break;
        }
        Py_DECREF(s);
        if (guard_ring_push(audit_state.ring, rec) == 0) {
            audit_state.next_seq++;
            return seq;
        }
        if (!may_wait_for_consumer())
            break;
        if (audit_state.stuck && ring_popped() == audit_state.stuck_popped)
            break;
        double now = monotonic_seconds();
        if (deadline < 0)
            deadline = now + audit_state.overflow_wait;
        if (now >= deadline) {
            audit_state.stuck = 1;
            audit_state.stuck_popped = ring_popped();
            break;
        }
        audit_state.waits++;
        int64_t ns = (int64_t)((deadline - now) * 1e9);
        Py_BEGIN_ALLOW_THREADS
        guard_ring_wait_space(audit_state.ring, ns);
        Py_END_ALLOW_THREADS
    }
    long long seq = audit_state.next_seq++;
    guard_ring_note_drop(audit_state.ring, (uint64_t)seq);
    Py_DECREF(rec);
    return seq;
}

long long
guard_audit_emit(const guard_event *ev)
{
    PyObject *rec = build_record(ev);
    if (rec == NULL)
        return -1;
    return enqueue(rec);
}

/* Queues a `dropped` record for drops not yet reported.  0, or -1 with an exception
 * (the drops are then kept for the next attempt). */
static int
surface_drops(void)
{
    guard_ring_drops d;
    if (!guard_ring_take_drops(audit_state.ring, &d))
        return 0;
    PyObject *extra =
        Py_BuildValue("{sKsKsK}", "dropped", (unsigned long long)d.count, "first_seq",
                      (unsigned long long)d.first_seq, "last_seq", (unsigned long long)d.last_seq);
    if (extra == NULL)
        goto error;
    guard_event ev = {"audit", NULL, "audit.dropped", NULL, "dropped", NULL, extra};
    PyObject *rec = build_record(&ev);
    Py_DECREF(extra);
    if (rec == NULL)
        goto error;
    /* Pushed at the tail: the report keeps seq order with the records around it. */
    long long seq = audit_state.next_seq;
    PyObject *s = PyLong_FromLongLong(seq);
    if (s == NULL || PyDict_SetItem(rec, audit_state.keys[K_SEQ], s) < 0) {
        Py_XDECREF(s);
        Py_DECREF(rec);
        goto error;
    }
    Py_DECREF(s);
    if (guard_ring_push(audit_state.ring, rec) < 0) {
        Py_DECREF(rec);
        guard_ring_restore_drops(audit_state.ring, &d);
        return 0;
    }
    audit_state.next_seq++;
    return 0;
error:
    guard_ring_restore_drops(audit_state.ring, &d);
    return -1;
}

/* Keeps REC (borrowed) for take_undelivered(), or counts it dropped when full. */
static void
keep_undelivered(PyObject *rec)
{
    if (PyList_GET_SIZE(audit_state.fallback) < FALLBACK_MAX &&
        PyList_Append(audit_state.fallback, rec) == 0)
        return;
    PyErr_Clear();
    PyObject *s = PyDict_GetItemWithError(rec, audit_state.keys[K_SEQ]);
    long long seq = s != NULL ? PyLong_AsLongLong(s) : -1;
    PyErr_Clear();
    guard_ring_note_drop(audit_state.ring, seq >= 0 ? (uint64_t)seq : 0);
}

void
guard_audit_set_dispatcher(PyObject *fn)
{
    Py_XSETREF(audit_state.dispatcher, Py_XNewRef(fn));
    if (fn == NULL)
        audit_state.consumer_thread = 0;
    audit_state.stuck = 0; /* a new consumer deserves a wait */
    /* Producers waiting for a consumer that just left must stop waiting. */
    guard_ring_wake_all(audit_state.ring);
}

Py_ssize_t
guard_audit_deliver(Py_ssize_t max)
{
    if (surface_drops() < 0)
        return -1;
    unsigned long outer = audit_state.delivering_thread;
    audit_state.delivering_thread = PyThread_get_thread_ident();
    Py_ssize_t total = 0;
    void *buf[DELIVER_CHUNK];
    while (total < max) {
        size_t want = (size_t)(max - total) < DELIVER_CHUNK ? (size_t)(max - total) : DELIVER_CHUNK;
        size_t n = guard_ring_pop(audit_state.ring, buf, want);
        if (n == 0)
            break;
        total += (Py_ssize_t)n;
        for (size_t i = 0; i < n; i++) {
            PyObject *rec = buf[i];
            PyObject *fn = audit_state.dispatcher;
            if (fn != NULL) {
                Py_INCREF(fn);
                PyObject *r = PyObject_CallOneArg(fn, rec);
                if (r == NULL) {
                    /* A dispatcher failure must not lose the record nor stop delivery. */
                    audit_state.undelivered++;
                    PyErr_WriteUnraisable(fn);
                    keep_undelivered(rec);
                }
                Py_XDECREF(r);
                Py_DECREF(fn);
            }
            else {
                keep_undelivered(rec);
            }
            Py_DECREF(rec);
        }
        if (surface_drops() < 0) {
            audit_state.delivering_thread = outer;
            return -1;
        }
    }
    audit_state.delivering_thread = outer;
    return total;
}

int
guard_audit_wait(int64_t ns)
{
    audit_state.consumer_thread = PyThread_get_thread_ident();
    int rc;
    /* clang-format off */
    Py_BEGIN_ALLOW_THREADS
    rc = guard_ring_wait_items(audit_state.ring, ns);
    Py_END_ALLOW_THREADS
    (void)rc;
    /* clang-format on */
    return guard_ring_len(audit_state.ring) > 0;
}

void
guard_audit_wake(void)
{
    guard_ring_wake_all(audit_state.ring);
}

/* Moves every queued record into OUT; 0 or -1 (records already moved stay in OUT). */
static int
pop_all_into(PyObject *out)
{
    void *buf[DELIVER_CHUNK];
    size_t n;
    int rc = 0;
    while ((n = guard_ring_pop(audit_state.ring, buf, DELIVER_CHUNK)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (rc == 0 && PyList_Append(out, buf[i]) < 0)
                rc = -1;
            Py_DECREF((PyObject *)buf[i]);
        }
    }
    return rc;
}

PyObject *
guard_audit_take_undelivered(void)
{
    PyObject *fresh = PyList_New(0);
    if (fresh == NULL)
        return NULL;
    PyObject *out = audit_state.fallback;
    audit_state.fallback = fresh;
    if (pop_all_into(out) < 0 || surface_drops() < 0 || pop_all_into(out) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

PyObject *
guard_audit_counters(void)
{
    guard_ring_stats st;
    guard_ring_get_stats(audit_state.ring, &st);
    return Py_BuildValue("{sLsLsKsnsnsnsKsLsd}", "next_seq", audit_state.next_seq, "undelivered",
                         audit_state.undelivered, "dropped", (unsigned long long)st.dropped,
                         "queued", (Py_ssize_t)st.length, "capacity", (Py_ssize_t)st.capacity,
                         "high_water", (Py_ssize_t)st.high_water, "full_events",
                         (unsigned long long)st.full_events, "waits", audit_state.waits,
                         "overflow_wait", audit_state.overflow_wait);
}

double
guard_audit_overflow_wait(void)
{
    return audit_state.overflow_wait;
}

int
guard_audit_configure(size_t capacity, double overflow_wait)
{
    if (capacity != 0) {
        if (guard_ring_len(audit_state.ring) != 0) {
            PyErr_SetString(PyExc_RuntimeError,
                            "the audit ring can only be resized while empty; flush first");
            return -1;
        }
        guard_ring *fresh;
        int rc = guard_ring_new(capacity, &fresh);
        if (rc < 0) {
            guard_errno_error(rc, "audit ring");
            return -1;
        }
        guard_ring_drops d;
        guard_ring_take_drops(audit_state.ring, &d);
        guard_ring_restore_drops(fresh, &d);
        guard_ring_wake_all(audit_state.ring);
        /* No thread can be inside the old ring: every wait releases the GIL only
         * around guard_ring_wait_*, and the kick above ends those waits; but a
         * waiter may still be returning, so the old ring is kept, not freed. */
        audit_state.ring = fresh;
        audit_state.stuck = 0; /* its pop count starts again from 0 */
    }
    audit_state.overflow_wait = overflow_wait;
    return 0;
}

/* The parent's consumer thread does not exist in a fork child, and the ring lock
 * may have been held by a thread that did not survive the fork. */
static void
audit_after_fork_child(void)
{
    if (audit_state.ring != NULL)
        guard_ring_after_fork_child(audit_state.ring);
    audit_state.consumer_thread = 0;
    audit_state.delivering_thread = 0;
    audit_state.stuck = 0;
}

int
guard_audit_init(PyObject *module)
{
    if (audit_state.span_var == NULL) {
        for (int i = 0; i < K_COUNT; i++) {
            audit_state.keys[i] = PyUnicode_InternFromString(key_names[i]);
            if (audit_state.keys[i] == NULL)
                return -1;
        }
        /* The capacity is configuration: [audit] ring_capacity, applied by
         * audit_configure() while the ring is empty. */
        int rc = guard_ring_new(GUARD_RING_DEFAULT_CAPACITY, &audit_state.ring);
        if (rc < 0) {
            guard_errno_error(rc, "audit ring");
            return -1;
        }
        audit_state.overflow_wait = GUARD_AUDIT_WAIT_DEFAULT;
        pthread_atfork(NULL, NULL, audit_after_fork_child);
        audit_state.fallback = PyList_New(0);
        if (audit_state.fallback == NULL)
            return -1;
        audit_state.span_type = (PyTypeObject *)PyType_FromSpec(&span_state_spec);
        if (audit_state.span_type == NULL)
            return -1;
        audit_state.span_var = PyContextVar_New("sdk_guard.spans", NULL);
        if (audit_state.span_var == NULL)
            return -1;
    }
    if (PyModule_AddIntConstant(module, "AUDIT_RING_DEFAULT_CAPACITY",
                                GUARD_RING_DEFAULT_CAPACITY) < 0)
        return -1;
    return 0;
}
