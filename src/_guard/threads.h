/* threads.h - the threads capability: a thread an extension starts must run its code.
 *
 * Layer 10.
 */
#ifndef GUARD_THREADS_H
#define GUARD_THREADS_H

#include "decide.h"

/* Checks starting a thread that runs FUNC for extension EXT.  0 or -1. */
GUARD_INTERNAL int guard_threads_check(int ext, PyObject *func);

/* A checked stand-in for the thread starter ORIG (CPython 3.11 raises no _thread
 * audit event); a new reference, or NULL with an exception. */
GUARD_INTERNAL PyObject *guard_threads_wrap_starter(PyObject *orig);

#endif
