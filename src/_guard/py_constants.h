/* py_constants.h - module attributes for the names and limits C defines (py_constants.c).
 *
 * Layer 12: only module.c includes this.
 */
#ifndef GUARD_PY_CONSTANTS_H
#define GUARD_PY_CONSTANTS_H

#include "pyerr.h"

/* Adds the spec keys, seccomp modes and kinds, audit limits and Landlock rights to
 * MODULE.  0, or -1 with an exception. */
GUARD_INTERNAL int guard_constants_init(PyObject *module);

#endif
