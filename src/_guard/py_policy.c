/* py_policy.c - Python bindings for the policy unit: the same C matchers the hook
 * uses, exposed so policy validation and tests exercise exactly that code. */
#include "gate.h"
#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>

/* Turns -EINVAL/-ERANGE into ValueError naming WHAT and VALUE; other errno values go
 * through guard_errno_error().  Returns NULL. */
static PyObject *
policy_error(int rc, const char *what, PyObject *value)
{
    if (rc == -EINVAL)
        return PyErr_Format(PyExc_ValueError, "malformed %s: %R", what, value);
    if (rc == -ERANGE)
        return PyErr_Format(PyExc_ValueError, "%s out of range: %R", what, value);
    if (rc == -ENOMEM)
        return PyErr_NoMemory();
    return guard_errno_error(rc, what);
}

/* Converts an fs path argument (str, bytes, os.PathLike) to bytes, as os.open does. */
static int
fspath_converter(PyObject *obj, void *out)
{
    return PyUnicode_FSConverter(obj, out);
}

static PyObject *
ip_bytes(const guard_ip *ip)
{
    return PyBytes_FromStringAndSize((const char *)ip->bytes, ip->family == 4 ? 4 : 16);
}

static PyObject *
py_parse_net_rule(PyObject *module, PyObject *arg)
{
    if (!PyUnicode_Check(arg))
        return PyErr_Format(PyExc_TypeError, "net rule must be str, not %.100s",
                            Py_TYPE(arg)->tp_name);
    Py_ssize_t n;
    const char *spec = PyUnicode_AsUTF8AndSize(arg, &n);
    if (spec == NULL)
        return NULL;
    guard_netrule r;
    /* An embedded NUL would hide the rest of the rule from the C parser. */
    int rc = (size_t)n == strlen(spec) ? guard_netrule_parse(spec, &r) : -EINVAL;
    if (rc < 0)
        return policy_error(rc, "net rule", arg);
    PyObject *res;
    if (r.kind == GUARD_NET_IP) {
        char buf[INET6_ADDRSTRLEN];
        inet_ntop(r.ip.family == 4 ? AF_INET : AF_INET6, r.ip.bytes, buf, sizeof(buf));
        res = Py_BuildValue("(ssiii)", "ip", buf, r.prefixlen, (int)r.port_lo, (int)r.port_hi);
    }
    else {
        res = Py_BuildValue("(ssOii)", "name", r.name, Py_None, (int)r.port_lo, (int)r.port_hi);
    }
    guard_netrule_free(&r);
    return res;
}

static PyObject *
py_parse_ip(PyObject *module, PyObject *arg)
{
    if (!PyUnicode_Check(arg))
        return PyErr_Format(PyExc_TypeError, "address must be str, not %.100s",
                            Py_TYPE(arg)->tp_name);
    Py_ssize_t n;
    const char *text = PyUnicode_AsUTF8AndSize(arg, &n);
    if (text == NULL)
        return NULL;
    guard_ip ip;
    if ((size_t)n != strlen(text) || guard_ip_parse(text, &ip) < 0)
        Py_RETURN_NONE;
    PyObject *b = ip_bytes(&ip);
    if (b == NULL)
        return NULL;
    return Py_BuildValue("(iN)", (int)ip.family, b);
}

static PyObject *
py_path_normalize(PyObject *module, PyObject *args)
{
    PyObject *path = NULL, *cwd = NULL, *res = NULL;
    PyObject *cwd_arg = Py_None;
    if (!PyArg_ParseTuple(args, "O&|O:path_normalize", fspath_converter, &path, &cwd_arg))
        return NULL;
    if (cwd_arg != Py_None && !PyUnicode_FSConverter(cwd_arg, &cwd))
        goto done;
    char out[PATH_MAX];
    int rc = guard_path_normalize(PyBytes_AS_STRING(path), cwd ? PyBytes_AS_STRING(cwd) : NULL, out,
                                  sizeof(out));
    if (rc == -EINVAL)
        PyErr_SetString(PyExc_ValueError,
                        "path_normalize: empty path, or a relative path without an absolute cwd");
    else if (rc < 0)
        guard_errno_error(rc, "path_normalize");
    else
        res = PyUnicode_DecodeFSDefault(out);
done:
    Py_XDECREF(path);
    Py_XDECREF(cwd);
    return res;
}

static PyObject *
py_path_resolve(PyObject *module, PyObject *arg)
{
    PyObject *path = NULL, *res = NULL;
    if (!PyUnicode_FSConverter(arg, &path))
        return NULL;
    char out[PATH_MAX];
    int rc = guard_path_resolve(PyBytes_AS_STRING(path), out, sizeof(out));
    if (rc == -EINVAL)
        PyErr_Format(PyExc_ValueError,
                     "path_resolve: %R is not absolute, or has \".\"/\"..\" after a "
                     "component that does not exist",
                     arg);
    else if (rc < 0)
        guard_errno_error(rc, "path_resolve");
    else
        res = PyUnicode_DecodeFSDefault(out);
    Py_DECREF(path);
    return res;
}

/* Adds every str in the list/tuple SEQ to SET, a matcher set of KIND (policy.h), as
 * the install spec does (runtime.c).  0, or -1 with an exception naming WHAT. */
static int
fill_strings(PyObject *seq, const char *what, enum guard_rules_kind kind, void *set)
{
    PyObject *fast = PySequence_Fast(seq, "expected a list of str");
    if (fast == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyUnicode_Check(item)) {
            PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what,
                         Py_TYPE(item)->tp_name);
            goto error;
        }
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(item, &len);
        if (s == NULL)
            goto error;
        if ((size_t)len != strlen(s)) {
            PyErr_Format(PyExc_ValueError, "%s contains a NUL byte: %R", what, item);
            goto error;
        }
        int rc = guard_rules_add(kind, set, s);
        if (rc < 0) {
            policy_error(rc, what, item);
            goto error;
        }
    }
    Py_DECREF(fast);
    return 0;
error:
    Py_DECREF(fast);
    return -1;
}

static PyObject *
py_module_match(PyObject *module, PyObject *args)
{
    PyObject *patterns;
    const char *name;
    if (!PyArg_ParseTuple(args, "Os:module_match", &patterns, &name))
        return NULL;
    guard_modset set = {0};
    PyObject *res = NULL;
    if (fill_strings(patterns, "module pattern", GUARD_RULES_MODULES, &set) == 0)
        res = PyBool_FromLong(guard_modset_match(&set, name));
    guard_modset_free(&set);
    return res;
}

static PyObject *
py_path_match(PyObject *module, PyObject *args)
{
    PyObject *paths, *path = NULL;
    if (!PyArg_ParseTuple(args, "OO&:path_match", &paths, fspath_converter, &path))
        return NULL;
    guard_pathset set = {0};
    PyObject *res = NULL;
    if (fill_strings(paths, "path rule", GUARD_RULES_PATHS, &set) == 0)
        res = PyBool_FromLong(guard_pathset_match(&set, PyBytes_AS_STRING(path)));
    guard_pathset_free(&set);
    Py_DECREF(path);
    return res;
}

static PyObject *
py_net_match(PyObject *module, PyObject *args)
{
    PyObject *rules;
    const char *target;
    int port;
    if (!PyArg_ParseTuple(args, "Osi:net_match", &rules, &target, &port))
        return NULL;
    if (port < 0 || port > 65535)
        return PyErr_Format(PyExc_ValueError, "port must be 0..65535, not %d", port);
    guard_netset set = {0};
    PyObject *res = NULL;
    if (fill_strings(rules, "net rule", GUARD_RULES_NET, &set) == 0) {
        guard_ip ip;
        int m = guard_ip_parse(target, &ip) == 0
                    ? guard_netset_match_ip(&set, &ip, (unsigned)port)
                    : guard_netset_match_name(&set, target, (unsigned)port);
        res = PyBool_FromLong(m);
    }
    guard_netset_free(&set);
    return res;
}

const guard_method guard_policy_methods[] = {
    {{"parse_net_rule", py_parse_net_rule, METH_O,
      "parse_net_rule(spec) -> (kind, address_or_name, prefixlen_or_None, port_lo, port_hi)\n\n"
      "kind is \"ip\" or \"name\"; raises ValueError for a malformed or out-of-range rule."},
     GUARD_OPEN},
    {{"parse_ip", py_parse_ip, METH_O,
      "parse_ip(text) -> (4 | 6, packed bytes) or None when TEXT is not an IP literal.\n\n"
      "Accepts every inet_aton IPv4 form; IPv4-mapped IPv6 becomes IPv4 (IPv4-compatible stays "
      "IPv6)."},
     GUARD_OPEN},
    {{"path_normalize", py_path_normalize, METH_VARARGS,
      "path_normalize(path, cwd=None) -> str: lexical normalisation, no filesystem access."},
     GUARD_OPEN},
    {{"path_resolve", py_path_resolve, METH_O,
      "path_resolve(path) -> str: resolve symlinks and \"..\" as the kernel will."},
     GUARD_OPEN},
    {{"module_match", py_module_match, METH_VARARGS, "module_match(patterns, name) -> bool"},
     GUARD_OPEN},
    {{"path_match", py_path_match, METH_VARARGS, "path_match(paths, resolved_path) -> bool"},
     GUARD_OPEN},
    {{"net_match", py_net_match, METH_VARARGS, "net_match(rules, host_or_ip, port) -> bool"},
     GUARD_OPEN},
    {{NULL, NULL, 0, NULL}, GUARD_OPEN},
};
