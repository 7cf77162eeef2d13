/* emptyhook.c - the cheapest possible C audit hook, for bench_guard.py: it is added
 * with PySys_AddAuditHook and returns 0 for every event.  The gap between no hook and
 * this hook is what CPython itself charges for having any C hook at all. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static int
empty_hook(const char *event, PyObject *args, void *userdata)
{
    return 0;
}

static PyObject *
install(PyObject *self, PyObject *unused)
{
    if (PySys_AddAuditHook(empty_hook, NULL) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS, "install()\n--\n\nAdd the empty audit hook."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "emptyhook", "An audit hook that does nothing.", -1, methods,
};

PyMODINIT_FUNC
PyInit_emptyhook(void)
{
    return PyModule_Create(&module);
}
