/* py_seccomp.h - the heap type of the seccomp program bindings, which module.c creates.
 *
 * Layer 12: only py_seccomp.c and module.c include this.
 */
#ifndef GUARD_PY_SECCOMP_H
#define GUARD_PY_SECCOMP_H

#include "gate.h"

/* Creates the SeccompProgram type for MODULE and adds it; *PROGRAM_TYPE holds a strong
 * reference (module state, released by module.c's clear).  0 or -1. */
GUARD_INTERNAL int guard_seccomp_add_types(PyObject *module, PyTypeObject **program_type);

#endif
