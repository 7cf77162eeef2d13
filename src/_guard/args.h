/* args.h - reading audit-event arguments without running extension code.
 *
 * Layer 2: the hook, the capability rooms and the decision messages all describe
 * arguments through these; none of them calls __str__, __fspath__ or a property.
 */
#ifndef GUARD_ARGS_H
#define GUARD_ARGS_H

#include "pyerr.h"

/* Item I of the event's argument tuple ARGS (borrowed), or NULL when it has fewer. */
static inline PyObject *
guard_arg(PyObject *args, int i)
{
    if (i < 0 || !PyTuple_Check(args) || i >= PyTuple_GET_SIZE(args))
        return NULL;
    return PyTuple_GET_ITEM(args, i);   /* borrowed */
}

/* O as a C int (a descriptor); -1 with OverflowError/TypeError set on failure. */
GUARD_INTERNAL int guard_as_int(PyObject *o);
/* Safe description of O for messages: always an exact str; NULL with an exception. */
GUARD_INTERNAL PyObject *guard_describe(PyObject *o);
/* FMT (two %U) filled with guard_describe(A) and guard_describe(B); NULL with an exception. */
GUARD_INTERNAL PyObject *guard_describe2(const char *fmt, PyObject *a, PyObject *b);

#endif
