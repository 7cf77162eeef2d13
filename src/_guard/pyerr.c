/* pyerr.c - Python-facing units turn errno into an exception here and nowhere else. */
#include "pyerr.h"

#include <string.h>

PyObject *
guard_errno_error(int neg_errno, const char *context)
{
    int err = neg_errno < 0 ? -neg_errno : neg_errno;
    PyObject *args = Py_BuildValue("(is)", err, context ? context : strerror(err));
    if (args == NULL)
        return NULL;
    PyErr_SetObject(PyExc_OSError, args);
    Py_DECREF(args);
    return NULL;
}
