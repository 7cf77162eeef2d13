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
    return PyTuple_GET_ITEM(args, i); /* borrowed */
}

/* O as a C int (a descriptor); -1 with OverflowError/TypeError set on failure. */
GUARD_INTERNAL int guard_as_int(PyObject *o);
/* Safe description of O for messages: always an exact str; NULL with an exception. */
GUARD_INTERNAL PyObject *guard_describe(PyObject *o);
/* FMT (two %U) filled with guard_describe(A) and guard_describe(B); NULL with an exception. */
GUARD_INTERNAL PyObject *guard_describe2(const char *fmt, PyObject *a, PyObject *b);

/* D[KEY] (borrowed) for the exact str KEY, or NULL when absent; never raises.
 *
 * A dict the hook reads (a module's globals, sys.modules, a thread's __dict__) is
 * writable by extension code, which can plant a key whose hash equals KEY's: an
 * ordinary lookup would then call that key's __eq__ inside the hook.  This one walks
 * the entries and compares exact-str keys only (identity, then contents), so no
 * method of any key is ever called; a key of any other type never matches. */
GUARD_INTERNAL PyObject *guard_dict_get(PyObject *d, PyObject *key);
/* guard_dict_get with KEY given as a C string (UTF-8). */
GUARD_INTERNAL PyObject *guard_dict_get_str(PyObject *d, const char *key);

#endif
