/* py_egress.c - Python bindings for the eBPF egress unit (sdk_guard.egress._bpf drives
 * them).  Rules arrive as tuples (family, proto, prefixlen, addr16, lo, hi); programs
 * leave as bytes of struct bpf_insn.  Errors become OSError via guard_errno_error(),
 * a verifier refusal carrying the verifier's log.  What changes the kernel (load,
 * attach, detach, ring buffer) is host-only: in a supervisor that also hosts
 * extensions, an extension must not detach a worker's programs. */
#include "ebpf.h"
#include "gate.h"

#include <errno.h>
#include <stdlib.h>

/* Fills *OUT (malloc'd) from a list of rule tuples; -1 with an exception set. */
static int
rules_from(PyObject *list, struct guard_egress_rule **out, size_t *n)
{
    PyObject *seq = PySequence_Fast(list, "rules must be a sequence of tuples");
    if (seq == NULL)
        return -1;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    struct guard_egress_rule *rules = calloc(len ? (size_t)len : 1, sizeof(*rules));
    if (rules == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        int family, proto, plen, lo, hi;
        const char *addr;
        Py_ssize_t alen;
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        /* PyArg_ParseTuple on a non-tuple is a SystemError: say what a rule is. */
        if (!PyTuple_Check(item)) {
            PyErr_Format(PyExc_TypeError,
                         "rule %zd must be a tuple (family, proto, prefixlen, addr, lo, hi), "
                         "not %.100s",
                         i, Py_TYPE(item)->tp_name);
            goto error;
        }
        if (!PyArg_ParseTuple(item, "iiiy#ii;rule tuple", &family, &proto, &plen, &addr, &alen, &lo,
                              &hi))
            goto error;
        if (alen != 16 || plen < 0 || plen > 128 || lo < 0 || hi > 65535 || lo > hi) {
            PyErr_Format(PyExc_ValueError,
                         "rule %zd: addr must be 16 bytes, 0 <= lo <= hi "
                         "<= 65535",
                         i);
            goto error;
        }
        rules[i].family = (uint8_t)family;
        rules[i].proto = (uint8_t)proto;
        rules[i].prefixlen = (uint8_t)plen;
        memcpy(rules[i].addr, addr, 16);
        rules[i].lo = (uint16_t)lo;
        rules[i].hi = (uint16_t)hi;
    }
    Py_DECREF(seq);
    *out = rules;
    *n = (size_t)len;
    return 0;
error:
    Py_DECREF(seq);
    free(rules);
    return -1;
}

/* Returns the program as bytes; ValueError for a rule the builder refuses. */
static PyObject *
egress_bpf_build(PyObject *self, PyObject *args)
{
    int kind, ringbuf_fd;
    PyObject *list;
    if (!PyArg_ParseTuple(args, "iOi", &kind, &list, &ringbuf_fd))
        return NULL;
    struct guard_egress_rule *rules;
    size_t n;
    if (rules_from(list, &rules, &n) < 0)
        return NULL;
    struct guard_ebpf a;
    guard_ebpf_init(&a);
    int err = guard_ebpf_build(&a, (enum guard_ebpf_kind)kind, rules, n, ringbuf_fd);
    free(rules);
    PyObject *res = NULL;
    if (err == -EINVAL)
        PyErr_SetString(PyExc_ValueError, "egress_bpf_build: bad kind or rule");
    else if (err < 0)
        guard_errno_error(err, "egress_bpf_build");
    else
        res = PyBytes_FromStringAndSize((const char *)a.insns,
                                        (Py_ssize_t)(a.len * sizeof(struct bpf_insn)));
    guard_ebpf_free(&a);
    return res;
}

/* Runs PROG in the interpreter; returns (r0, event bytes or None). */
static PyObject *
egress_bpf_simulate(PyObject *self, PyObject *args)
{
    const char *prog, *addr;
    Py_ssize_t plen, alen;
    int kind;
    struct guard_ebpf_ctx c;
    unsigned long long pid_tgid;
    memset(&c, 0, sizeof(c));
    if (!PyArg_ParseTuple(args, "y#iiiiy#IK", &prog, &plen, &kind, &c.family, &c.sock_type,
                          &c.proto, &addr, &alen, &c.port, &pid_tgid))
        return NULL;
    if (alen != 16 || plen % (Py_ssize_t)sizeof(struct bpf_insn)) {
        PyErr_SetString(PyExc_ValueError, "addr must be 16 bytes, prog whole instructions");
        return NULL;
    }
    memcpy(c.addr, addr, 16);
    c.pid_tgid = pid_tgid;
    uint64_t ret = 0;
    struct guard_ebpf_event ev;
    unsigned nev = 0;
    int err = guard_ebpf_run((const struct bpf_insn *)prog,
                             (unsigned)(plen / (Py_ssize_t)sizeof(struct bpf_insn)),
                             (enum guard_ebpf_kind)kind, &c, &ret, &ev, &nev);
    if (err < 0)
        return guard_errno_error(err, "egress_bpf_simulate: program refused");
    if (nev)
        return Py_BuildValue("(Ky#)", (unsigned long long)ret, (const char *)&ev,
                             (Py_ssize_t)sizeof(ev));
    return Py_BuildValue("(KO)", (unsigned long long)ret, Py_None);
}

/* The reference decision (1 allow, 0 deny) for ADDR (16 bytes, v4 as ::ffff:a.b.c.d
 * when FAMILY is 4 the address is in the last 4 bytes). */
static PyObject *
egress_bpf_decide(PyObject *self, PyObject *args)
{
    PyObject *list;
    int family, proto;
    const char *addr;
    Py_ssize_t alen;
    unsigned port;
    if (!PyArg_ParseTuple(args, "Oiiy#I", &list, &family, &proto, &addr, &alen, &port))
        return NULL;
    if (alen != 16) {
        PyErr_SetString(PyExc_ValueError, "addr must be 16 bytes");
        return NULL;
    }
    struct guard_egress_rule *rules;
    size_t n;
    if (rules_from(list, &rules, &n) < 0)
        return NULL;
    int r = guard_egress_decide(rules, n, family, proto, (const uint8_t *)addr, port);
    free(rules);
    return PyBool_FromLong(r);
}

static PyObject *
egress_bpf_ringbuf(PyObject *self, PyObject *args)
{
    unsigned size;
    if (!PyArg_ParseTuple(args, "I", &size))
        return NULL;
    int fd = guard_ebpf_ringbuf_create(size);
    return fd < 0 ? guard_errno_error(fd, "bpf(BPF_MAP_CREATE ringbuf)") : PyLong_FromLong(fd);
}

/* Loads a program; OSError(errno, "bpf(BPF_PROG_LOAD): <verifier log>") on refusal. */
static PyObject *
egress_bpf_load(PyObject *self, PyObject *args)
{
    const char *prog, *name;
    Py_ssize_t plen;
    unsigned type, attach;
    if (!PyArg_ParseTuple(args, "y#IIs", &prog, &plen, &type, &attach, &name))
        return NULL;
    size_t log_len = 1 << 16;
    char *log = malloc(log_len);
    if (log == NULL)
        return PyErr_NoMemory();
    int fd;
    Py_BEGIN_ALLOW_THREADS
    fd = guard_ebpf_prog_load((const struct bpf_insn *)prog,
                              (unsigned)(plen / (Py_ssize_t)sizeof(struct bpf_insn)), type, attach,
                              name, log, log_len);
    Py_END_ALLOW_THREADS
    PyObject *res;
    if (fd >= 0) {
        res = PyLong_FromLong(fd);
    }
    else {
        size_t l = strlen(log);
        const char *tail = l > 600 ? log + l - 600 : log;
        char msg[700];
        snprintf(msg, sizeof(msg), "bpf(BPF_PROG_LOAD %s): %s%s%s", name, strerror(-fd),
                 *tail ? ": " : "", tail);
        res = guard_errno_error(fd, msg);
    }
    free(log);
    return res;
}

static PyObject *
egress_bpf_attach(PyObject *self, PyObject *args)
{
    int cg, prog;
    unsigned type, flags;
    if (!PyArg_ParseTuple(args, "iiII", &cg, &prog, &type, &flags))
        return NULL;
    int r = guard_ebpf_attach(cg, prog, type, flags);
    return r < 0 ? guard_errno_error(r, "bpf(BPF_PROG_ATTACH)") : Py_NewRef(Py_None);
}

static PyObject *
egress_bpf_detach(PyObject *self, PyObject *args)
{
    int cg, prog;
    unsigned type;
    if (!PyArg_ParseTuple(args, "iiI", &cg, &prog, &type))
        return NULL;
    int r = guard_ebpf_detach(cg, prog, type);
    return r < 0 ? guard_errno_error(r, "bpf(BPF_PROG_DETACH)") : Py_NewRef(Py_None);
}

/* Returns the list of program ids attached to a cgroup for one attach type. */
static PyObject *
egress_bpf_query(PyObject *self, PyObject *args)
{
    int cg;
    unsigned type;
    if (!PyArg_ParseTuple(args, "iI", &cg, &type))
        return NULL;
    uint32_t ids[64];
    unsigned n = 64;
    int r = guard_ebpf_query(cg, type, ids, &n);
    if (r < 0)
        return guard_errno_error(r, "bpf(BPF_PROG_QUERY)");
    PyObject *list = PyList_New(0);
    for (unsigned i = 0; list != NULL && i < n && i < 64; i++) {
        PyObject *v = PyLong_FromUnsignedLong(ids[i]);
        if (v == NULL || PyList_Append(list, v) < 0) {
            Py_XDECREF(v);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(v);
    }
    return list;
}

static PyObject *
egress_bpf_prog_id(PyObject *self, PyObject *args)
{
    int fd;
    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;
    uint32_t id = 0;
    int r = guard_ebpf_prog_id(fd, &id);
    return r < 0 ? guard_errno_error(r, "bpf(BPF_OBJ_GET_INFO_BY_FD)")
                 : PyLong_FromUnsignedLong(id);
}

/* The kernel constants the Python side needs, so it never hard-codes them. */
static PyObject *
egress_bpf_constants(PyObject *self, PyObject *unused)
{
    return Py_BuildValue(
        "{sisisisisisisisisisisisisisisisisisn}", "KIND_ADDR4", GUARD_EBPF_ADDR4, "KIND_ADDR6",
        GUARD_EBPF_ADDR6, "KIND_SOCK", GUARD_EBPF_SOCK, "PROG_TYPE_CGROUP_SOCK_ADDR",
        BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "PROG_TYPE_CGROUP_SOCK", BPF_PROG_TYPE_CGROUP_SOCK,
        "CGROUP_INET4_CONNECT", BPF_CGROUP_INET4_CONNECT, "CGROUP_INET6_CONNECT",
        BPF_CGROUP_INET6_CONNECT, "CGROUP_UDP4_SENDMSG", BPF_CGROUP_UDP4_SENDMSG,
        "CGROUP_UDP6_SENDMSG", BPF_CGROUP_UDP6_SENDMSG, "CGROUP_INET_SOCK_CREATE",
        BPF_CGROUP_INET_SOCK_CREATE, "F_ALLOW_MULTI", BPF_F_ALLOW_MULTI, "RINGBUF_BUSY_BIT",
        (int)BPF_RINGBUF_BUSY_BIT, "RINGBUF_DISCARD_BIT", (int)BPF_RINGBUF_DISCARD_BIT,
        "RINGBUF_HDR_SZ", (int)BPF_RINGBUF_HDR_SZ, "INSN_SIZE", (int)sizeof(struct bpf_insn),
        "EVENT_SIZE", (int)sizeof(struct guard_ebpf_event), "MAX_INSNS", GUARD_EBPF_MAX_INSNS,
        "EVENT_ADDR_OFFSET", (Py_ssize_t)offsetof(struct guard_ebpf_event, addr));
}

const guard_method guard_egress_methods[] = {
    {{"egress_bpf_build", egress_bpf_build, METH_VARARGS,
      "egress_bpf_build(kind, rules, ringbuf_fd, /)\n--\n\n"
      "The program of KIND over RULES, as bytes of struct bpf_insn."},
     GUARD_OPEN},
    {{"egress_bpf_simulate", egress_bpf_simulate, METH_VARARGS,
      "egress_bpf_simulate(prog, kind, family, sock_type, proto, addr, port, pid_tgid, /)\n"
      "--\n\nRun PROG in the interpreter: (r0, event bytes or None)."},
     GUARD_OPEN},
    {{"egress_bpf_decide", egress_bpf_decide, METH_VARARGS,
      "egress_bpf_decide(rules, family, proto, addr, port, /)\n--\n\n"
      "The reference decision the programs must agree with."},
     GUARD_OPEN},
    {{"egress_bpf_ringbuf", egress_bpf_ringbuf, METH_VARARGS,
      "egress_bpf_ringbuf(size, /)\n--\n\nA BPF ring buffer map; returns its fd."},
     GUARD_HOST_ONLY},
    {{"egress_bpf_load", egress_bpf_load, METH_VARARGS,
      "egress_bpf_load(prog, prog_type, attach_type, name, /)\n--\n\n"
      "Load PROG; returns its fd (OSError with the verifier's log)."},
     GUARD_HOST_ONLY},
    {{"egress_bpf_attach", egress_bpf_attach, METH_VARARGS,
      "egress_bpf_attach(cgroup_fd, prog_fd, attach_type, flags, /)\n--\n\n"
      "BPF_PROG_ATTACH to a cgroup."},
     GUARD_HOST_ONLY},
    {{"egress_bpf_detach", egress_bpf_detach, METH_VARARGS,
      "egress_bpf_detach(cgroup_fd, prog_fd, attach_type, /)\n--\n\n"
      "BPF_PROG_DETACH from a cgroup."},
     GUARD_HOST_ONLY},
    {{"egress_bpf_query", egress_bpf_query, METH_VARARGS,
      "egress_bpf_query(cgroup_fd, attach_type, /)\n--\n\n"
      "Ids of the programs attached to a cgroup."},
     GUARD_OPEN},
    {{"egress_bpf_prog_id", egress_bpf_prog_id, METH_VARARGS,
      "egress_bpf_prog_id(prog_fd, /)\n--\n\nThe kernel's id of a loaded program."},
     GUARD_OPEN},
    {{"egress_bpf_constants", egress_bpf_constants, METH_NOARGS,
      "egress_bpf_constants()\n--\n\nThe kernel constants sdk_guard.egress needs."},
     GUARD_OPEN},
    {{NULL, NULL, 0, NULL}, GUARD_OPEN},
};
