/* py_units.h - the method tables of the binding units, which module.c adds.
 *
 * Layer 12: only module.c includes this.
 */
#ifndef GUARD_PY_UNITS_H
#define GUARD_PY_UNITS_H

#include "gate.h"

GUARD_INTERNAL extern const guard_method guard_guard_methods[];    /* py_guard.c */
GUARD_INTERNAL extern const guard_method guard_audit_methods[];    /* py_audit.c */
GUARD_INTERNAL extern const guard_method guard_policy_methods[];   /* py_policy.c */
GUARD_INTERNAL extern const guard_method guard_landlock_methods[]; /* py_landlock.c */
GUARD_INTERNAL extern const guard_method guard_seccomp_methods[];  /* py_seccomp.c */
GUARD_INTERNAL extern const guard_method guard_egress_methods[];   /* py_egress.c */
GUARD_INTERNAL extern const guard_method guard_request_methods[];  /* py_request.c */

/* py_seccomp_kernel.c */
GUARD_INTERNAL extern const guard_method guard_seccomp_kernel_methods[];

#endif
