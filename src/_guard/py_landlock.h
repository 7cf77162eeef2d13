/* py_landlock.h - the heap type of the landlock bindings, which module.c creates.
 *
 * Layer 12: only py_landlock.c and module.c include this.
 */
#ifndef GUARD_PY_LANDLOCK_H
#define GUARD_PY_LANDLOCK_H

#include "gate.h"

/* Creates the Ruleset type for MODULE and adds it; *RULESET_TYPE holds a strong
 * reference (module state, released by module.c's clear).  0 or -1. */
GUARD_INTERNAL int guard_landlock_add_types(PyObject *module, PyTypeObject **ruleset_type);

#endif
