/* py_seccomp.c - Python bindings for the seccomp unit. */
#include "guard.h"

PyMethodDef guard_seccomp_methods[] = {
    {NULL, NULL, 0, NULL},
};
