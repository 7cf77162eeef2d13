/* audit.h - one record per decision, through the audit ring to the writer.
 *
 * Layer 4: builds and queues records and serves the consumer; decides nothing and
 * gates nothing (the Python entry points and their gates are in py_audit.c).
 */
#ifndef GUARD_AUDIT_H
#define GUARD_AUDIT_H

#include "pyerr.h"

#include <stdint.h>

typedef struct guard_event {
    const char *layer;      /* "guard", "landlock", "seccomp", "egress" */
    PyObject *principal;    /* str, or NULL for none */
    const char *capability; /* docs/design.md capability name, or a syscall name */
    PyObject *target;       /* str, or NULL */
    const char *decision;   /* deny|allow|would_deny|approved|refused */
    PyObject *rule;         /* str dotted policy key, or NULL */
    PyObject *extra;        /* dict merged into the record, or NULL */
} guard_event;

/* Records EV with the enclosing spans read from the span context variable.
 * Returns the event's seq (>= 0), or -1 with an exception set. */
GUARD_INTERNAL long long guard_audit_emit(const guard_event *ev);

/* ---- the consumer side (py_audit.c's entry points) ------------------------------ */

/* FN(record) receives every delivered record; NULL detaches the consumer. */
GUARD_INTERNAL void guard_audit_set_dispatcher(PyObject *fn);
/* Hands up to MAX queued records, oldest first, to the dispatcher; the count taken
 * from the ring, or -1 with an exception. */
GUARD_INTERNAL Py_ssize_t guard_audit_deliver(Py_ssize_t max);
/* Blocks (GIL released) up to NS nanoseconds (-1: forever) until a record is queued;
 * marks the caller as the consumer thread.  Whether records are waiting. */
GUARD_INTERNAL int guard_audit_wait(int64_t ns);
/* Ends every guard_audit_wait() and overflow wait now. */
GUARD_INTERNAL void guard_audit_wake(void);
/* The records no dispatcher took, then everything queued, then the pending `dropped`
 * report, in seq order (a new list); NULL with an exception. */
GUARD_INTERNAL PyObject *guard_audit_take_undelivered(void);
/* A new dict of the ring's counters; NULL with an exception. */
GUARD_INTERNAL PyObject *guard_audit_counters(void);
GUARD_INTERNAL double guard_audit_overflow_wait(void);
/* How long a record waits for a slot in a full ring, in seconds: the default and the
 * largest audit_configure() accepts ([audit] overflow_wait). */
#define GUARD_AUDIT_WAIT_DEFAULT 1.0
#define GUARD_AUDIT_WAIT_MAX 3600
/* Resizes the (empty) ring to CAPACITY (0: unchanged, already range-checked) and sets
 * the overflow wait.  0, or -1 with an exception. */
GUARD_INTERNAL int guard_audit_configure(size_t capacity, double overflow_wait);

/* Opens a span of KIND (0 action .. 3 storage_mutation) with id ID inside the current
 * ones: sets the span variable to a new SpanState (exact-str copies of ID, USER and
 * ORG; None keeps the enclosing user/org) holding SPAN for current_span().  Returns
 * the context token, or NULL with an exception.  Host-only (see py_audit.c). */
GUARD_INTERNAL PyObject *guard_audit_span_enter(int kind, PyObject *id, PyObject *span,
                                                PyObject *user, PyObject *org);
/* Sets the span variable to a copy of the current SpanState with USER and ORG (exact
 * str copies, None clears) replaced when USER is not NULL, and the OpenTelemetry pair
 * (item 8) replaced when OTEL is not NULL (a (str, str) tuple; None removes it).  The
 * spans stay as they are.  Returns the token guard_audit_span_exit() takes, or NULL
 * with an exception. */
GUARD_INTERNAL PyObject *guard_audit_span_amend(PyObject *user, PyObject *org, PyObject *otel);
/* Closes the span TOKEN opened.  0, or -1 with an exception. */
GUARD_INTERNAL int guard_audit_span_exit(PyObject *token);
/* The current span tuple (ids, user, org, path, innermost Span), all None and an
 * empty path when none is open.  New reference, or NULL with an exception. */
GUARD_INTERNAL PyObject *guard_audit_span_current(void);

/* Creates the ring, the span variable and the interned keys once per process and
 * adds AUDIT_RING_DEFAULT_CAPACITY to MODULE (the span variable is not exported). */
GUARD_INTERNAL int guard_audit_init(PyObject *module);

#endif
