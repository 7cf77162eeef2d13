/* decide.h - the one place a request is decided and a denial is built.
 *
 * Layer 6: every denial in the process (policy checks, host-only gates, the finder's
 * native-module refusal through _guard.deny, sub-interpreter creation) is one audit
 * record plus one exception carrying its event_id, and is built here.
 */
#ifndef GUARD_DECIDE_H
#define GUARD_DECIDE_H

#include "attrib.h"
#include "audit.h"

/* Whether an allowed request of EXT for CAP leaves no record and asks no approver:
 * the hot case, which callers may short-cut before building a target string. */
static inline int
guard_allow_is_silent(int ext, int cap)
{
    return !guard_rt.audit_all && !(guard_rt.ext[ext].approve & (1u << cap));
}

/* Decides a request of extension EXT for CAP on TARGET (str or NULL): policy verdict
 * ALLOWED (1/0), then monitor mode, audit-all and the host's approver.  WHY explains
 * a denial that adding the target to the list would not fix.  0 to proceed, -1 with
 * PolicyViolation (ImportBoundaryError for imports) or the approver's exception. */
GUARD_INTERNAL int guard_decide(int ext, int cap, PyObject *target, int allowed, const char *why);

/* A request from code with neither host nor extension frames (guard.unattributed). */
GUARD_INTERNAL int guard_deny_unattributed(int cap, PyObject *target);

/* The check one extension's request gets (CTX is the caller's); 0 or -1. */
typedef int (*guard_check_fn)(int ext, void *ctx);

/* Both signals decide: the stack's extension and the one acting_as() names must each
 * pass CHECK; unattributed code is refused unless guard.unattributed = "allow" (SHOWN
 * is described for that record).  0, or -1 with an exception. */
GUARD_INTERNAL int guard_decide_both(const guard_who *who, int cap, PyObject *shown,
                                     guard_check_fn check, void *ctx);

/* An unconditional denial for host code that refuses on the guard's behalf (the
 * finder's native-module refusal): records "deny" and raises PolicyViolation, or
 * ImportBoundaryError when IMPORT_ERROR.  PRINCIPAL must be an installed extension;
 * RULE NULL means extensions.<principal>.<capability>.  Always -1. */
GUARD_INTERNAL int guard_deny(PyObject *principal, const char *capability, PyObject *target,
                              PyObject *rule, const char *why, int import_error);

/* Creating a sub-interpreter where the creator's thread state is current: one deny
 * record (guard.subinterpreters) and PermissionError.  Always -1. */
GUARD_INTERNAL int guard_refuse_subinterpreter(void);
/* A mediated event inside a sub-interpreter: nothing of the installing interpreter's
 * may be touched there, so no record; counted, PermissionError unless allowed. */
GUARD_INTERNAL int guard_refuse_foreign(const char *event);
/* How many mediated operations were refused in or to sub-interpreters. */
GUARD_INTERNAL long long guard_foreign_denials(void);

#endif
