/* guard.h - internal interface between the Python-facing units of sdk_guard._guard.
 *
 * Only Python-facing files include this (it includes Python.h).  Pure-C units have
 * their own headers (policy.h, landlock.h, sasm.h, bpf_sim.h, seccomp.h, ring.h).
 */
#ifndef GUARD_GUARD_H
#define GUARD_GUARD_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if defined(__GNUC__)
#  define GUARD_INTERNAL __attribute__((visibility("hidden")))
#else
#  define GUARD_INTERNAL
#endif

/* Method tables contributed by each Python-facing unit; module.c adds them all. */
extern PyMethodDef guard_hook_methods[];      /* hook.c: install, acting_as, ... */
extern PyMethodDef guard_audit_methods[];     /* audit.c: event sink plumbing */
extern PyMethodDef guard_policy_methods[];    /* py_policy.c: C matchers for Python */
extern PyMethodDef guard_landlock_methods[];  /* py_landlock.c */
extern PyMethodDef guard_seccomp_methods[];   /* py_seccomp.c */

/* Per-unit initialisation called from the module exec slot; 0 or -1 with an exception. */
int guard_audit_init(PyObject *module);
int guard_hook_init(PyObject *module);

/* ---- audit records (audit.c) ---------------------------------------------- */

typedef struct guard_event {
    const char *layer;        /* "guard", "landlock", "seccomp", "egress" */
    PyObject *principal;      /* str, or NULL for none */
    const char *capability;   /* DESIGN.md capability name, or a syscall name */
    PyObject *target;         /* str, or NULL */
    const char *decision;     /* deny|allow|would_deny|approved|refused */
    PyObject *rule;           /* str dotted policy key, or NULL */
    PyObject *extra;          /* dict merged into the record, or NULL */
} guard_event;

/* Records EV with the enclosing spans read from the span context variable.
 * Returns the event's seq (>= 0), or -1 with an exception set. */
GUARD_INTERNAL long long guard_audit_emit(const guard_event *ev);

/* The context variable that holds the current span tuple (audit.c owns it; borrowed). */
GUARD_INTERNAL PyObject *guard_audit_span_var(void);

/* Turns a negative errno from a pure-C unit into OSError with CONTEXT; returns NULL. */
GUARD_INTERNAL PyObject *guard_errno_error(int neg_errno, const char *context);

#endif
