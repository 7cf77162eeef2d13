/* gate.h - host-only entry points, declared in the method tables and gated once.
 *
 * Layer 7: an entry point that changes the guard or the audit trail (or drains,
 * detaches or forges records) is marked GUARD_HOST_ONLY in its unit's table; the
 * module adds it through guard_gate_add_methods(), which wraps it in the one gate and
 * lists its name in _guard.HOST_ONLY (the gate test iterates over that tuple).
 */
#ifndef GUARD_GATE_H
#define GUARD_GATE_H

#include "decide.h"

enum guard_gate {
    GUARD_OPEN = 0,             /* anyone may call it */
    GUARD_HOST_ONLY,            /* refused when an extension is the caller */
    /* The same, for entries sdk_guard wraps in Python (Guard.set_approver, acting_as):
     * the wrapper's own frame is host code, so its caller is asked instead. */
    GUARD_HOST_ONLY_CALLER,
};

typedef struct guard_method {
    PyMethodDef def;
    enum guard_gate gate;
} guard_method;

/* 0 when the caller is host code (or the guard is not installed); -1 with
 * PolicyViolation (introspection) set, and a deny record, when an extension calls.
 * WHAT names the entry point (the record's target). */
GUARD_INTERNAL int guard_require_host(const char *what);

/* Adds every entry of TABLE (ended by a NULL ml_name) to MODULE, host-only ones
 * behind the gate, and appends their names to HOST_ONLY (a list).  0 or -1. */
GUARD_INTERNAL int guard_gate_add_methods(PyObject *module, const guard_method *table,
                                          PyObject *host_only);

#endif
