/* module.c - sdk_guard._guard: module definition and initialisation (PEP 489).
 *
 * The top layer: it adds each unit's method table (host-only entries behind the gate)
 * and runs each unit's initialisation.  Nothing includes or calls into this file.
 */
#include "audit.h"
#include "gate.h"
#include "hook.h"
#include "py_constants.h"
#include "py_landlock.h"
#include "py_seccomp.h"
#include "py_units.h"

/* pyproject.toml holds the version; setup.py passes it in. */
#ifndef GUARD_VERSION
#  error "GUARD_VERSION is not defined: build the extension through setup.py"
#endif

/* GUARD_PRETEND_FREE_THREADED lets the tests build the refusal on a GIL interpreter
 * (defining Py_GIL_DISABLED there would change Python.h's inline functions). */
#if defined(Py_GIL_DISABLED) || defined(GUARD_PRETEND_FREE_THREADED)
/* The hook, the attribution cache and the audit ring assume the GIL serialises them;
 * until that is reviewed the module refuses to load rather than race silently. */
#  define GUARD_FREE_THREADED 1
#else
#  define GUARD_FREE_THREADED 0
#endif

/* Module state: the heap types, one set per module object (CPython's _queuemodule.c
 * habit).  The guard's process-wide state is not here: runtime.c says why. */
typedef struct {
    PyTypeObject *ruleset_type;         /* py_landlock.c */
    PyTypeObject *seccomp_program_type; /* py_seccomp.c */
} guard_module_state;

static guard_module_state *
get_state(PyObject *module)
{
    return (guard_module_state *)PyModule_GetState(module);
}

static int
guard_traverse(PyObject *module, visitproc visit, void *arg)
{
    guard_module_state *st = get_state(module);
    Py_VISIT(st->ruleset_type);
    Py_VISIT(st->seccomp_program_type);
    return 0;
}

static int
guard_clear(PyObject *module)
{
    guard_module_state *st = get_state(module);
    Py_CLEAR(st->ruleset_type);
    Py_CLEAR(st->seccomp_program_type);
    return 0;
}

static void
guard_free(void *module)
{
    (void)guard_clear((PyObject *)module);
}

static int
init_hook(PyObject *module)
{
    return guard_hook_init();
}

/* Each unit: its method table and its initialisation (either may be NULL), one a line
 * (clang-format would pack them two a line). */
/* clang-format off */
static const struct {
    const guard_method *methods;
    int (*init)(PyObject *module);
} units[] = {
    {guard_guard_methods, init_hook},
    {guard_audit_methods, guard_audit_init},
    {guard_policy_methods, NULL},
    {guard_landlock_methods, NULL},
    {guard_seccomp_methods, NULL},
    {guard_seccomp_kernel_methods, NULL},
    {guard_egress_methods, NULL},
    {guard_request_methods, NULL},
    {NULL, guard_constants_init},
};
/* clang-format on */

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
    PyObject *host_only = PyList_New(0);
    if (host_only == NULL)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (units[i].methods != NULL &&
            guard_gate_add_methods(module, units[i].methods, host_only) < 0)
            goto error;
    }
    /* The names extension code is refused: tests/python/test_guard_gates.py calls
     * each one from an extension. */
    PyObject *names = PyList_AsTuple(host_only);
    Py_CLEAR(host_only);
    if (names == NULL)
        return -1;
    int added = PyModule_AddObjectRef(module, "HOST_ONLY", names);
    Py_DECREF(names);
    if (added < 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (units[i].init != NULL && units[i].init(module) < 0)
            return -1;
    }
    guard_module_state *st = get_state(module);
    if (guard_landlock_add_types(module, &st->ruleset_type) < 0 ||
        guard_seccomp_add_types(module, &st->seccomp_program_type) < 0)
        return -1;
    if (PyModule_AddStringConstant(module, "__version__", GUARD_VERSION) < 0)
        return -1;
    return 0;
error:
    Py_XDECREF(host_only);
    return -1;
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
    .m_size = sizeof(guard_module_state),
    .m_slots = guard_slots,
    .m_traverse = guard_traverse,
    .m_clear = guard_clear,
    .m_free = guard_free,
};

/* Declared here: Python.h does not, and the warning set asks for a prototype. */
PyMODINIT_FUNC PyInit__guard(void);

PyMODINIT_FUNC
PyInit__guard(void)
{
    return PyModuleDef_Init(&guard_module);
}
