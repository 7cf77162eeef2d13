/* py_policy.c - Python bindings for the policy unit. */
#include "guard.h"

PyMethodDef guard_policy_methods[] = {
    {NULL, NULL, 0, NULL},
};
