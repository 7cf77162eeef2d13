/* py_seccomp.c - Python bindings for seccomp programs (seccomp.c, sasm.c, bpf_sim.c):
 * SeccompProgram builds, disassembles, simulates and installs them.  The kernel probe
 * and the trap handler are py_seccomp_kernel.c's. */
#include "py_seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>

#include "bpf_sim.h"
#include "sasm.h"
#include "seccomp.h"

/* The architecture named by ARG (None: native); NULL with ValueError. */
static const struct guard_sc_arch *
arch_arg(PyObject *arg)
{
    const char *name = NULL;
    if (arg != NULL && arg != Py_None) {
        if (!PyUnicode_Check(arg)) {
            PyErr_Format(PyExc_TypeError, "arch must be str or None, not %.100s",
                         Py_TYPE(arg)->tp_name);
            return NULL;
        }
        name = PyUnicode_AsUTF8(arg);
        if (name == NULL)
            return NULL;
    }
    const struct guard_sc_arch *arch = guard_seccomp_arch(name);
    if (arch == NULL)
        PyErr_Format(PyExc_ValueError, "unknown seccomp architecture %s (known: x86_64, aarch64)",
                     name ? name : "(native)");
    return arch;
}

/* The mode named MODE_S; -1 with ValueError. */
static int
mode_arg(const char *mode_s)
{
    for (int m = 0; m < GUARD_SC_MODE_COUNT; m++) {
        if (strcmp(mode_s, guard_sc_mode_names[m]) == 0)
            return m;
    }
    /* MODE may have come as a keyword: ARGS can be empty. */
    PyErr_Format(PyExc_ValueError, "seccomp mode must be errno, trap, log or kill, not '%s'",
                 mode_s);
    return -1;
}

/* One line of assembly per instruction of PROG[0..N), naming the targets LABELS (a
 * SeccompProgram's tuple of (position, name)) lists.  NULL with an exception. */
static PyObject *
disasm_lines(const struct sock_filter *prog, unsigned n, PyObject *labels)
{
    PyObject *out = NULL;
    /* NAMES borrows the strings of LABELS, which the caller's object keeps alive. */
    const char **names = PyMem_Calloc(n + 1, sizeof *names);
    if (names == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(labels); i++) {
        int pos;
        const char *name;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(labels, i), "is:disasm label", &pos, &name))
            goto done;
        if (pos >= 0 && (unsigned)pos <= n && names[pos] == NULL)
            names[pos] = name;
    }
    out = PyList_New(n);
    if (out == NULL)
        goto done;
    for (unsigned pc = 0; pc < n; pc++) {
        char buf[160];
        guard_sasm_format(prog, n, pc, names, buf, sizeof buf);
        PyObject *s = PyUnicode_FromString(buf);
        if (s == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, pc, s);
    }
done:
    PyMem_Free(names);
    return out;
}

/* Runs PROG[0..N) in bpf_sim on syscall NR of AUDIT_ARCH with SARGS (a sequence of up
 * to six ints, or NULL/None) at IP: {ret, action, executed}, or NULL with an exception. */
static PyObject *
simulate(const struct sock_filter *prog, unsigned n, int nr, unsigned audit_arch, PyObject *sargs,
         unsigned long long ip)
{
    struct seccomp_data d;
    memset(&d, 0, sizeof d);
    d.nr = nr;
    d.arch = audit_arch;
    d.instruction_pointer = ip;
    if (sargs != NULL && sargs != Py_None) {
        /* A tuple: __index__ of an item could shrink a list under the loop. */
        PyObject *seq = PySequence_Tuple(sargs);
        if (seq == NULL)
            return NULL;
        Py_ssize_t k = PySequence_Fast_GET_SIZE(seq);
        for (Py_ssize_t i = 0; i < k && i < 6; i++) {
            d.args[i] = PyLong_AsUnsignedLongLongMask(PySequence_Fast_GET_ITEM(seq, i));
            if (PyErr_Occurred()) {
                Py_DECREF(seq);
                return NULL;
            }
        }
        Py_DECREF(seq);
    }
    uint32_t ret;
    unsigned executed;
    int rc = guard_bpf_run(prog, n, &d, &ret, &executed);
    if (rc < 0)
        return guard_errno_error(rc, "program faulted in bpf_sim");
    char action[32];
    guard_sasm_format_action(ret, action, sizeof action);
    return Py_BuildValue("{sIsssI}", "ret", ret, "action", action, "executed", executed);
}

/* NO_NEW_PRIVS + SECCOMP_SET_MODE_FILTER with PROG[0..N): None, or NULL with OSError
 * (ESRCH names the thread TSYNC could not synchronise). */
static PyObject *
install_program(const struct sock_filter *prog, unsigned n, unsigned flags)
{
    if (guard_bpf_check(prog, n) < 0)
        return guard_errno_error(-EINVAL, "seccomp program fails validation; nothing installed");
    pid_t bad_tid = 0;
    int rc = guard_seccomp_install(prog, n, flags, &bad_tid);
    if (rc == -ESRCH) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "seccomp TSYNC: thread %d cannot be synchronised (it has a different "
                 "seccomp filter); nothing was installed on any thread",
                 (int)bad_tid);
        return guard_errno_error(rc, msg);
    }
    if (rc < 0)
        return guard_errno_error(rc, "installing the seccomp filter");
    Py_RETURN_NONE;
}

static PyObject *
seccomp_syscall_name(PyObject *self, PyObject *args)
{
    int nr;
    PyObject *arch_o = NULL;
    if (!PyArg_ParseTuple(args, "i|O:seccomp_syscall_name", &nr, &arch_o))
        return NULL;
    const struct guard_sc_arch *arch = arch_arg(arch_o);
    if (arch == NULL)
        return NULL;
    const char *name = guard_seccomp_name(arch, nr);
    if (name == NULL)
        Py_RETURN_NONE;
    return PyUnicode_FromString(name);
}

static PyObject *
seccomp_syscall_nr(PyObject *self, PyObject *args)
{
    const char *name;
    PyObject *arch_o = NULL;
    if (!PyArg_ParseTuple(args, "s|O:seccomp_syscall_nr", &name, &arch_o))
        return NULL;
    const struct guard_sc_arch *arch = arch_arg(arch_o);
    if (arch == NULL)
        return NULL;
    int nr = guard_seccomp_nr(arch, name);
    if (nr < 0)
        Py_RETURN_NONE;
    return PyLong_FromLong(nr);
}

/* ---- SeccompProgram: an assembled program with its labels ------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *program; /* bytes of struct sock_filter */
    PyObject *labels;  /* tuple of (position, name) */
    PyObject *denied;  /* tuple of (name, nr, kind, why) */
    const struct guard_sc_arch *arch;
    uint32_t deny_action;
    unsigned instructions;
} program_object;

#define PROGRAM(op) ((program_object *)(op))

/* Appends ITEM (a new reference, or NULL with an exception) to LIST: 0, or -1. */
static int
append_new(PyObject *list, PyObject *item)
{
    int rc = item != NULL ? PyList_Append(list, item) : -1;
    Py_XDECREF(item);
    return rc;
}

/* SeccompProgram(mode, arch=None): the lockdown program for MODE on ARCH (None: native),
 * with its named labels (the assembler's own left out) and the syscalls ARCH has of the
 * deny list. */
static PyObject *
program_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"mode", "arch", NULL};
    const char *mode_s;
    PyObject *arch_o = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|O:SeccompProgram", kwlist, &mode_s, &arch_o))
        return NULL;
    int mode = mode_arg(mode_s);
    const struct guard_sc_arch *arch = mode < 0 ? NULL : arch_arg(arch_o);
    if (arch == NULL)
        return NULL;
    program_object *self = NULL;
    PyObject *labels = PyList_New(0), *denied = PyList_New(0);
    struct guard_sasm a;
    guard_sasm_init(&a);
    int rc = guard_seccomp_build(&a, arch, (enum guard_sc_mode)mode);
    if (rc < 0) {
        guard_errno_error(rc, "assembling the seccomp program");
        goto done;
    }
    if (labels == NULL || denied == NULL)
        goto done;
    for (unsigned i = 0; i < a.labels.n; i++) {
        if (a.labels.v[i].name[0] != '.' && /* '.': the assembler's internal labels */
            append_new(labels, Py_BuildValue("(is)", a.labels.v[i].pos, a.labels.v[i].name)) < 0)
            goto done;
    }
    for (size_t i = 0; i < guard_seccomp_nrules; i++) {
        const struct guard_sc_rule *r = &guard_seccomp_rules[i];
        int nr = guard_seccomp_nr(arch, r->name);
        if (nr >= 0 && append_new(denied, Py_BuildValue("(siss)", r->name, nr,
                                                        guard_sc_kind_names[r->kind], r->why)) < 0)
            goto done;
    }
    self = (program_object *)type->tp_alloc(type, 0);
    if (self == NULL)
        goto done;
    self->program = PyBytes_FromStringAndSize((const char *)a.insns,
                                              (Py_ssize_t)(a.len * sizeof(struct sock_filter)));
    self->labels = PyList_AsTuple(labels);
    self->denied = PyList_AsTuple(denied);
    self->arch = arch;
    self->deny_action = guard_seccomp_deny_action((enum guard_sc_mode)mode);
    self->instructions = a.len;
    if (self->program == NULL || self->labels == NULL || self->denied == NULL)
        Py_CLEAR(self);
done:
    Py_XDECREF(labels);
    Py_XDECREF(denied);
    guard_sasm_free(&a);
    return (PyObject *)self;
}

static int
program_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(PROGRAM(op)->program);
    Py_VISIT(PROGRAM(op)->labels);
    Py_VISIT(PROGRAM(op)->denied);
    return 0;
}

static int
program_clear(PyObject *op)
{
    Py_CLEAR(PROGRAM(op)->program);
    Py_CLEAR(PROGRAM(op)->labels);
    Py_CLEAR(PROGRAM(op)->denied);
    return 0;
}

static void
program_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    (void)program_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

/* The AUDIT_ARCH_* value ARG names (None or absent: the program's own) into *OUT.
 * 0, or -1 with an exception. */
static int
audit_arch_arg(PyObject *op, PyObject *arg, unsigned int *out)
{
    *out = PROGRAM(op)->arch->audit_arch;
    if (arg == NULL || arg == Py_None)
        return 0;
    unsigned long v = PyLong_AsUnsignedLong(arg);
    if (v == (unsigned long)-1 && PyErr_Occurred())
        return -1;
    if (v > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "arch must be an AUDIT_ARCH_* value (32 bits)");
        return -1;
    }
    *out = (unsigned int)v;
    return 0;
}

/* The instructions; NULL with ValueError if the object was cleared. */
static const struct sock_filter *
program_insns(PyObject *op)
{
    if (PROGRAM(op)->program == NULL) {
        PyErr_SetString(PyExc_ValueError, "SeccompProgram has no program");
        return NULL;
    }
    return (const struct sock_filter *)PyBytes_AS_STRING(PROGRAM(op)->program);
}

static PyObject *
program_disasm(PyObject *op, PyObject *unused)
{
    const struct sock_filter *prog = program_insns(op);
    return prog ? disasm_lines(prog, PROGRAM(op)->instructions, PROGRAM(op)->labels) : NULL;
}

static PyObject *
program_simulate(PyObject *op, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"nr", "args", "ip", "arch", NULL};
    int nr;
    PyObject *sargs = NULL, *arch_o = NULL;
    unsigned long long ip = 0;
    unsigned int audit_arch;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "i|OKO:simulate", kwlist, &nr, &sargs, &ip,
                                     &arch_o) ||
        audit_arch_arg(op, arch_o, &audit_arch) < 0)
        return NULL;
    const struct sock_filter *prog = program_insns(op);
    return prog ? simulate(prog, PROGRAM(op)->instructions, nr, audit_arch, sargs, ip) : NULL;
}

static PyObject *
program_const_allow(PyObject *op, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"nr", "arch", NULL};
    int nr;
    PyObject *arch_o = NULL;
    unsigned int audit_arch;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "i|O:const_allow", kwlist, &nr, &arch_o) ||
        audit_arch_arg(op, arch_o, &audit_arch) < 0)
        return NULL;
    const struct sock_filter *prog = program_insns(op);
    if (prog == NULL)
        return NULL;
    return PyBool_FromLong(guard_bpf_const_allow(prog, PROGRAM(op)->instructions, audit_arch, nr));
}

static PyObject *
program_install(PyObject *op, PyObject *args)
{
    unsigned int flags;
    if (!PyArg_ParseTuple(args, "I:install", &flags))
        return NULL;
    /* A filter confines (or blinds: ERRNO on write) the whole process: host code only.
     * Methods are not in a gated table, so the gate is asked here. */
    if (guard_require_host("SeccompProgram.install") < 0)
        return NULL;
    const struct sock_filter *prog = program_insns(op);
    return prog ? install_program(prog, PROGRAM(op)->instructions, flags) : NULL;
}

static PyObject *
program_get(PyObject *op, void *closure)
{
    program_object *self = PROGRAM(op);
    PyObject *o = *(PyObject **)((char *)self + (size_t)closure);
    return Py_NewRef(o ? o : Py_None);
}

static PyObject *
program_get_arch(PyObject *op, void *closure)
{
    return PyUnicode_FromString(PROGRAM(op)->arch->name);
}

static PyObject *
program_get_audit_arch(PyObject *op, void *closure)
{
    return PyLong_FromUnsignedLong(PROGRAM(op)->arch->audit_arch);
}

static PyObject *
program_get_deny_action(PyObject *op, void *closure)
{
    return PyLong_FromUnsignedLong(PROGRAM(op)->deny_action);
}

static PyObject *
program_get_instructions(PyObject *op, void *closure)
{
    return PyLong_FromUnsignedLong(PROGRAM(op)->instructions);
}

static PyMethodDef program_methods[] = {
    {"disasm", program_disasm, METH_NOARGS,
     "disasm($self, /)\n--\n\nOne line of assembly per instruction, jumps by label."},
    {"simulate", (PyCFunction)(void (*)(void))program_simulate, METH_VARARGS | METH_KEYWORDS,
     "simulate($self, /, nr, args=(), ip=0, arch=None)\n--\n\n"
     "Run the program in bpf_sim (arch: an AUDIT_ARCH_* value, the program's by default); "
     "returns {ret, action, executed}."},
    {"const_allow", (PyCFunction)(void (*)(void))program_const_allow, METH_VARARGS | METH_KEYWORDS,
     "const_allow($self, /, nr, arch=None)\n--\n\n"
     "True if the kernel's action cache would mark (arch, nr) always-allow."},
    {"install", program_install, METH_VARARGS,
     "install($self, flags, /)\n--\n\nNO_NEW_PRIVS + SECCOMP_SET_MODE_FILTER; OSError(ESRCH) names "
     "a TSYNC failure's thread."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef program_getset[] = {
    {"program", program_get, NULL, "The program: bytes of struct sock_filter.",
     (void *)offsetof(program_object, program)},
    {"labels", program_get, NULL, "(position, name) of each named label.",
     (void *)offsetof(program_object, labels)},
    {"denied", program_get, NULL, "(name, nr, kind, why) of each denied syscall.",
     (void *)offsetof(program_object, denied)},
    {"arch", program_get_arch, NULL, "The architecture's name.", NULL},
    {"audit_arch", program_get_audit_arch, NULL, "Its AUDIT_ARCH_* value.", NULL},
    {"deny_action", program_get_deny_action, NULL, "The SECCOMP_RET_* a denial returns.", NULL},
    {"instructions", program_get_instructions, NULL, "The number of instructions.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot program_slots[] = {
    {Py_tp_doc, "SeccompProgram(mode, arch=None)\n--\n\n"
                "The lockdown program, assembled, with its labels and the methods "
                "that read it (disasm, simulate, const_allow) or install it."},
    {Py_tp_new, program_new},
    {Py_tp_dealloc, program_dealloc},
    {Py_tp_traverse, program_traverse},
    {Py_tp_clear, program_clear},
    {Py_tp_methods, program_methods},
    {Py_tp_getset, program_getset},
    {0, NULL},
};

static PyType_Spec program_spec = {
    .name = "sdk_guard._guard.SeccompProgram",
    .basicsize = sizeof(program_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = program_slots,
};

int
guard_seccomp_add_types(PyObject *module, PyTypeObject **program_type)
{
    *program_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &program_spec, NULL);
    if (*program_type == NULL)
        return -1;
    return PyModule_AddType(module, *program_type);
}

const guard_method guard_seccomp_methods[] = {
    {{"seccomp_syscall_name", seccomp_syscall_name, METH_VARARGS,
      "seccomp_syscall_name(nr, arch=None)\n--\n\nThe syscall's name, or None."},
     GUARD_OPEN},
    {{"seccomp_syscall_nr", seccomp_syscall_nr, METH_VARARGS,
      "seccomp_syscall_nr(name, arch=None)\n--\n\nThe syscall's number, or None."},
     GUARD_OPEN},
    {{NULL, NULL, 0, NULL}, GUARD_OPEN},
};
