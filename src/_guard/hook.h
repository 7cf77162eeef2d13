/* hook.h - the PEP 578 audit hook: dispatch on the event name, attribute, decide.
 *
 * Layer 11.
 */
#ifndef GUARD_HOOK_H
#define GUARD_HOOK_H

#include "pyerr.h"

/* Adds the audit hook and proves it runs (another hook may refuse
 * sys.addaudithook silently).  0, or -1 with GUARD_ERROR or another exception. */
GUARD_INTERNAL int guard_hook_add(PyObject *guard_error);

/* Builds the event table; 0 or -1 with an exception. */
GUARD_INTERNAL int guard_hook_init(void);

#endif
