/* py_landlock.c - Python bindings for the landlock unit. */
#include "guard.h"

PyMethodDef guard_landlock_methods[] = {
    {NULL, NULL, 0, NULL},
};
