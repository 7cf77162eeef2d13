/* args.c - describing audit-event arguments for messages and records. */
#include "args.h"

#include <string.h>

#include <limits.h>

int
guard_as_int(PyObject *o)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "descriptor out of range");
        return -1;
    }
    return (int)v;
}

/* Safe description of an argument for messages: never calls extension code, so the
 * result is always an exact str (a str subclass could run code when a message, the
 * approver or a sink formats it) and nested sequences are not followed. */
PyObject *
guard_describe(PyObject *o)
{
    if (o == NULL || o == Py_None)
        return PyUnicode_FromString("");
    if (PyUnicode_Check(o))
        return PyUnicode_FromObject(o);
    if (PyBytes_Check(o))
        return PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o));
    if (PyLong_CheckExact(o))
        return PyObject_Str(o);
    if ((PyList_Check(o) || PyTuple_Check(o)) && PySequence_Fast_GET_SIZE(o) > 0) {
        PyObject *parts = PyList_New(0);
        if (parts == NULL)
            return NULL;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
        for (Py_ssize_t i = 0; i < n && i < 16; i++) {
            PyObject *item = PySequence_Fast_ITEMS(o)[i];
            PyObject *d = PyList_Check(item) || PyTuple_Check(item)
                              ? PyUnicode_FromFormat("<%s>", Py_TYPE(item)->tp_name)
                              : guard_describe(item);
            if (d == NULL || PyList_Append(parts, d) < 0) {
                Py_XDECREF(d);
                Py_DECREF(parts);
                return NULL;
            }
            Py_DECREF(d);
        }
        PyObject *sep = PyUnicode_FromString(" ");
        PyObject *r = sep ? PyUnicode_Join(sep, parts) : NULL;
        Py_XDECREF(sep);
        Py_DECREF(parts);
        return r;
    }
    return PyUnicode_FromFormat("<%s>", Py_TYPE(o)->tp_name);
}

/* FMT (two %U) filled with guard_describe(A) and guard_describe(B): formatting the arguments
 * themselves (%S) would call their __str__.  NULL with an exception. */
PyObject *
guard_describe2(const char *fmt, PyObject *a, PyObject *b)
{
    PyObject *da = guard_describe(a);
    PyObject *db = da ? guard_describe(b) : NULL;
    PyObject *r = db ? PyUnicode_FromFormat(fmt, da, db) : NULL;
    Py_XDECREF(da);
    Py_XDECREF(db);
    return r;
}

PyObject *
guard_dict_get(PyObject *d, PyObject *key)
{
    if (d == NULL || key == NULL || !PyDict_Check(d) || !PyUnicode_CheckExact(key))
        return NULL;
    Py_ssize_t pos = 0, len = PyUnicode_GET_LENGTH(key);
    PyObject *k, *v;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (k == key)
            return v;
        if (PyUnicode_CheckExact(k) && PyUnicode_GET_LENGTH(k) == len &&
            PyUnicode_Compare(k, key) == 0)
            return v;
    }
    return NULL;
}

PyObject *
guard_dict_get_str(PyObject *d, const char *key)
{
    if (d == NULL || !PyDict_Check(d))
        return NULL;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k))
            continue;
        const char *u = PyUnicode_AsUTF8(k);
        if (u == NULL) {
            PyErr_Clear(); /* a key with lone surrogates is not KEY */
            continue;
        }
        if (strcmp(u, key) == 0)
            return v;
    }
    return NULL;
}
