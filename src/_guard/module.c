/* module.c - sdk_guard._guard: module definition and initialisation (PEP 489). */
#include "guard.h"

/* GUARD_PRETEND_FREE_THREADED lets the tests build the refusal on a GIL interpreter
 * (defining Py_GIL_DISABLED there would change Python.h's inline functions). */
#if defined(Py_GIL_DISABLED) || defined(GUARD_PRETEND_FREE_THREADED)
/* The hook, the attribution cache and the audit ring assume the GIL serialises them;
 * until that is reviewed the module refuses to load rather than race silently. */
#  define GUARD_FREE_THREADED 1
#else
#  define GUARD_FREE_THREADED 0
#endif

/* Python-facing units turn errno into an exception here and nowhere else. */
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

static int
guard_exec(PyObject *module)
{
    if (GUARD_FREE_THREADED) {
        PyErr_SetString(PyExc_ImportError,
                        "sdk_guard._guard refuses to load on a free-threaded (no-GIL) "
                        "CPython build: its hook and caches have not been reviewed for "
                        "free threading; use a GIL build of CPython 3.11-3.14");
        return -1;
    }
    if (PyModule_AddFunctions(module, guard_hook_methods) < 0 ||
        PyModule_AddFunctions(module, guard_audit_methods) < 0 ||
        PyModule_AddFunctions(module, guard_policy_methods) < 0 ||
        PyModule_AddFunctions(module, guard_landlock_methods) < 0 ||
        PyModule_AddFunctions(module, guard_seccomp_methods) < 0 ||
        PyModule_AddFunctions(module, guard_request_methods) < 0)
        return -1;
    if (guard_audit_init(module) < 0)
        return -1;
    if (guard_hook_init(module) < 0)
        return -1;
    if (PyModule_AddStringConstant(module, "__version__", "0.1.0") < 0)
        return -1;
    return 0;
}

static PyModuleDef_Slot guard_slots[] = {
    {Py_mod_exec, guard_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* Process-wide state (one audit hook per process) makes sub-interpreters unsafe. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef guard_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sdk_guard._guard",
    .m_doc = "sdk_guard core: PEP 578 audit hook, attribution, policy matching, "
             "Landlock and seccomp lockdown, audit ring.",
    .m_size = 0,
    .m_slots = guard_slots,
};

PyMODINIT_FUNC
PyInit__guard(void)
{
    return PyModuleDef_Init(&guard_module);
}
