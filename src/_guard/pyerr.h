/* pyerr.h - the base of every Python-facing unit: Python.h, symbol visibility, and the
 * one function that turns a pure-C unit's negative errno into an exception.
 *
 * Layer 1 (see tests/python/test_include_layers.py): includes no sdk_guard header
 * above the pure-C core.
 */
#ifndef GUARD_PYERR_H
#define GUARD_PYERR_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if defined(__GNUC__)
#  define GUARD_INTERNAL __attribute__((visibility("hidden")))
#else
#  define GUARD_INTERNAL
#endif

/* Turns a negative errno from a pure-C unit into OSError with CONTEXT; returns NULL. */
GUARD_INTERNAL PyObject *guard_errno_error(int neg_errno, const char *context);

#endif
