/* py_seccomp_kernel.c - Python bindings for what the kernel says about seccomp: the
 * probe (actions and filter flags this kernel has, the current mode) and the guard's
 * SIGSYS handler for trap mode with its record ring (seccomp_trap.c).  Programs are
 * py_seccomp.c's. */
#include "gate.h"

#include <errno.h>
#include <linux/seccomp.h>

#include "seccomp.h"
#include "seccomp_trap.h"

static PyObject *
seccomp_probe(PyObject *self, PyObject *unused)
{
    static const struct {
        const char *name;
        uint32_t action;
    } actions[] = {
        {"kill_process", SECCOMP_RET_KILL_PROCESS},
        {"kill_thread", SECCOMP_RET_KILL_THREAD},
        {"trap", SECCOMP_RET_TRAP},
        {"errno", SECCOMP_RET_ERRNO},
        {"user_notif", SECCOMP_RET_USER_NOTIF},
        {"trace", SECCOMP_RET_TRACE},
        {"log", SECCOMP_RET_LOG},
        {"allow", SECCOMP_RET_ALLOW},
    };
    static const struct {
        const char *name;
        unsigned flag;
    } flags[] = {
        {"tsync", SECCOMP_FILTER_FLAG_TSYNC},
        {"log", SECCOMP_FILTER_FLAG_LOG},
        {"spec_allow", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
        {"new_listener", SECCOMP_FILTER_FLAG_NEW_LISTENER},
        {"tsync_esrch", SECCOMP_FILTER_FLAG_TSYNC_ESRCH},
    };
    PyObject *acts = PyDict_New(), *fl = PyDict_New(), *r = NULL;
    if (acts == NULL || fl == NULL)
        goto done;
    int supported = 1;
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        int rc = guard_seccomp_action_avail(actions[i].action);
        if (rc == -ENOSYS || (rc == -EINVAL && i == 0))
            supported = 0;
        if (PyDict_SetItemString(acts, actions[i].name, rc == 0 ? Py_True : Py_False) < 0)
            goto done;
    }
    unsigned wanted = 0, avail = 0;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        wanted |= flags[i].flag;
    if (guard_seccomp_flags_avail(wanted, &avail) < 0)
        supported = 0;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (PyDict_SetItemString(fl, flags[i].name, (avail & flags[i].flag) ? Py_True : Py_False) <
            0)
            goto done;
    }
    const struct guard_sc_arch *native = guard_seccomp_arch(NULL);
    r = Py_BuildValue("{sOsOsOsisz}", "supported", supported ? Py_True : Py_False, "actions", acts,
                      "flags", fl, "mode", guard_seccomp_mode(), "arch",
                      native ? native->name : NULL);
done:
    Py_XDECREF(acts);
    Py_XDECREF(fl);
    return r;
}

static PyObject *
seccomp_trap_install(PyObject *self, PyObject *unused)
{
    int rc = guard_seccomp_trap_install();
    if (rc < 0)
        return guard_errno_error(rc, "installing the SIGSYS handler for seccomp trap mode");
    Py_RETURN_NONE;
}

static PyObject *
seccomp_trap_active(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(guard_seccomp_trap_active());
}

/* Returns (records, dropped): records as dicts, oldest first. */
static PyObject *
seccomp_trap_drain(PyObject *self, PyObject *unused)
{
    struct guard_trap_record recs[64];
    const struct guard_sc_arch *native = guard_seccomp_arch(NULL);
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    unsigned n;
    while ((n = guard_seccomp_trap_drain(recs, 64)) > 0) {
        for (unsigned i = 0; i < n; i++) {
            const struct guard_trap_record *t = &recs[i];
            const char *name = native ? guard_seccomp_name(native, t->nr) : NULL;
            PyObject *d =
                Py_BuildValue("{sisIsisKsz s(KKKKKK)}", "nr", t->nr, "arch", t->arch, "tid", t->tid,
                              "ip", (unsigned long long)t->ip, "name", name, "args",
                              (unsigned long long)t->args[0], (unsigned long long)t->args[1],
                              (unsigned long long)t->args[2], (unsigned long long)t->args[3],
                              (unsigned long long)t->args[4], (unsigned long long)t->args[5]);
            if (d == NULL || PyList_Append(list, d) < 0) {
                Py_XDECREF(d);
                Py_DECREF(list);
                return NULL;
            }
            Py_DECREF(d);
        }
    }
    PyObject *r = Py_BuildValue("(OK)", list, (unsigned long long)guard_seccomp_trap_dropped());
    Py_DECREF(list);
    return r;
}

const guard_method guard_seccomp_kernel_methods[] = {
    {{"seccomp_probe", seccomp_probe, METH_NOARGS,
      "seccomp_probe()\n--\n\nKernel support: actions_avail, filter flags, current mode, arch."},
     GUARD_OPEN},
    {{"seccomp_trap_install", seccomp_trap_install, METH_NOARGS,
      "seccomp_trap_install()\n--\n\nInstall the guard's SIGSYS handler (trap mode)."},
     GUARD_HOST_ONLY},
    {{"seccomp_trap_active", seccomp_trap_active, METH_NOARGS,
      "seccomp_trap_active()\n--\n\nTrue while the guard's SIGSYS handler is installed."},
     GUARD_OPEN},
    {{"seccomp_trap_drain", seccomp_trap_drain, METH_NOARGS,
      "seccomp_trap_drain()\n--\n\n(records, dropped) from the trap ring, oldest first."},
     GUARD_HOST_ONLY},
    {{NULL, NULL, 0, NULL}, GUARD_OPEN},
};
