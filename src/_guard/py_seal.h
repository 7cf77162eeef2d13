/* py_seal.h - the row-level security seal's initialisation (py_seal.c).
 *
 * Layer 12: only module.c includes this.
 */
#ifndef GUARD_PY_SEAL_H
#define GUARD_PY_SEAL_H

#include "gate.h"

/* Runs after every method table is added: takes MODULE's own request_get (before any
 * Python code can replace the attribute) and adds SEAL_TTL_MAX.  0 or -1. */
GUARD_INTERNAL int guard_seal_init(PyObject *module);

#endif
