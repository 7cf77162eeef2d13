/* net.c - the network room: socket addresses and name lookups matched against the
 * extension's net rules; names resolved for an allowed rule teach their addresses. */
#include "net.h"
#include "args.h"

#include <netdb.h>
#include <strings.h>
#include <sys/socket.h>

static int
sock_family(PyObject *sock)
{
    /* The C member, not sock.family: a subclass's property would run in the hook. */
    if (guard_socket_type == NULL || guard_socket_family == NULL ||
        Py_TYPE(guard_socket_family)->tp_descr_get == NULL ||
        !PyObject_TypeCheck(sock, guard_socket_type))
        return -1;
    PyObject *fam = Py_TYPE(guard_socket_family)
                        ->tp_descr_get(guard_socket_family, sock, (PyObject *)guard_socket_type);
    if (fam == NULL) {
        PyErr_Clear();
        return -1;
    }
    long f = PyLong_Check(fam) ? PyLong_AsLong(fam) : -1;
    Py_DECREF(fam);
    if (f == -1 && PyErr_Occurred())
        PyErr_Clear();
    return (int)f;
}

/* Matches HOST (an IP literal in any libc form, or a name) and PORT against SET
 * (and the IPs learnt by resolving allowed names). */
static int
net_allowed(const guard_ext *e, const guard_netset *set, const char *host, unsigned port,
            int is_bind)
{
    guard_ip ip;
    if (host[0] == '\0') {
        /* "" is INADDR_ANY: a bind to every address, a connect to this host. */
        memset(&ip, 0, sizeof ip);
        ip.family = 4;
    }
    else if (strcmp(host, "<broadcast>") == 0) {
        memset(&ip, 0, sizeof ip);
        ip.family = 4;
        memset(ip.bytes, 0xff, 4);
    }
    else if (guard_ip_parse(host, &ip) < 0) {
        return guard_netset_match_name(set, host, port);
    }
    if (!is_bind && guard_ip_is_unspecified(&ip)) {
        /* connect() to 0.0.0.0 or :: reaches this host's loopback. */
        if (ip.family == 4) {
            ip.bytes[0] = 127;
            ip.bytes[3] = 1;
        }
        else {
            ip.bytes[15] = 1;
        }
    }
    return guard_netset_match_ip(set, &ip, port) ||
           (!is_bind && guard_netset_match_ip(&e->learned, &ip, port));
}

static int
check_sockaddr(int ext, int cap, PyObject *sock, PyObject *addr, int addr_optional)
{
    const guard_ext *e = &guard_rt.ext[ext];
    int is_bind = cap == GUARD_CAP_NET_BIND;
    const guard_netset *set = is_bind ? &e->net_bind : &e->net_connect;
    int family = sock ? sock_family(sock) : -1;
    if (addr_optional && addr == Py_None)
        return 0; /* sendmsg on a connected socket: connect() was checked */
    if (addr == NULL)
        addr = Py_None; /* missing: refused below as not a (host, port) or path */
    if (family == AF_UNIX) {
        /* A Unix socket is reached through the filesystem: connecting or binding
         * writes to it, so fs.write must cover it.  Abstract names have no path. */
        if ((PyBytes_Check(addr) && PyBytes_GET_SIZE(addr) > 0 &&
             PyBytes_AS_STRING(addr)[0] == '\0') ||
            (PyUnicode_Check(addr) && PyUnicode_GET_LENGTH(addr) > 0 &&
             PyUnicode_READ_CHAR(addr, 0) == 0)) {
            PyObject *shown = guard_describe(addr);
            if (shown == NULL)
                return -1;
            int rc = guard_decide(ext, cap, shown, 0,
                                  "abstract Unix sockets have no path a policy can allow");
            Py_DECREF(shown);
            return rc;
        }
        return guard_fs_check_path(ext, GUARD_CAP_FS_WRITE, addr, NULL, 0);
    }
    if (family != AF_INET && family != AF_INET6) {
        PyObject *shown = PyUnicode_FromFormat("family %d", family);
        if (shown == NULL)
            return -1;
        int rc = guard_decide(ext, cap, shown, 0,
                              "only AF_INET, AF_INET6 and AF_UNIX sockets are mediated; other "
                              "families are refused to extension code");
        Py_DECREF(shown);
        return rc;
    }
    if (!PyTuple_Check(addr) || PyTuple_GET_SIZE(addr) < 2) {
        PyObject *shown = guard_describe(addr);
        if (shown == NULL)
            return -1;
        int rc = guard_decide(ext, cap, shown, 0, "the address is not a (host, port) tuple");
        Py_DECREF(shown);
        return rc;
    }
    PyObject *h = PyTuple_GET_ITEM(addr, 0), *p = PyTuple_GET_ITEM(addr, 1);
    const char *host = NULL;
    if (PyUnicode_Check(h))
        host = PyUnicode_AsUTF8(h);
    else if (PyBytes_Check(h))
        host = PyBytes_AsString(h);
    long port = PyLong_Check(p) ? PyLong_AsLong(p) : -1;
    if (host == NULL || port < 0 || port > 65535) {
        PyErr_Clear();
        PyObject *shown = guard_describe(addr);
        if (shown == NULL)
            return -1;
        int rc = guard_decide(ext, cap, shown, 0, "the host or port is malformed");
        Py_DECREF(shown);
        return rc;
    }
    int ok = net_allowed(e, set, host, (unsigned)port, is_bind);
    /* The target string is for a record or a message only. */
    if (ok && guard_allow_is_silent(ext, cap))
        return 0;
    PyObject *target = family == AF_INET6 && strchr(host, ':')
                           ? PyUnicode_FromFormat("[%s]:%ld", host, port)
                           : PyUnicode_FromFormat("%s:%ld", host, port);
    if (target == NULL)
        return -1;
    int rc = guard_decide(ext, cap, target, ok, NULL);
    Py_DECREF(target);
    return rc;
}

/* Resolving NAME for an allowed connect rule: learn its addresses so a later connect()
 * to one of them on that rule's ports is allowed (the IP is what the kernel sees). */
static void
learn_addresses(guard_ext *e, const char *name)
{
    for (size_t i = 0; i < e->net_connect.n; i++) {
        const guard_netrule *r = &e->net_connect.rules[i];
        if (r->kind != GUARD_NET_NAME || strcasecmp(r->name, name) != 0)
            continue;
        struct addrinfo hints = {0}, *res = NULL;
        hints.ai_socktype = SOCK_STREAM;
        int gai;
        Py_BEGIN_ALLOW_THREADS
        gai = getaddrinfo(name, NULL, &hints, &res);
        Py_END_ALLOW_THREADS
        if (gai != 0)
            return;
        for (struct addrinfo *a = res; a; a = a->ai_next) {
            guard_netrule learnt = {0};
            learnt.kind = GUARD_NET_IP;
            learnt.port_lo = r->port_lo;
            learnt.port_hi = r->port_hi;
            if (a->ai_family == AF_INET) {
                learnt.ip.family = 4;
                memcpy(learnt.ip.bytes, &((struct sockaddr_in *)a->ai_addr)->sin_addr, 4);
                learnt.prefixlen = 32;
            }
            else if (a->ai_family == AF_INET6) {
                learnt.ip.family = 6;
                memcpy(learnt.ip.bytes, &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, 16);
                learnt.prefixlen = 128;
                guard_ip_canonical(&learnt.ip);
                if (learnt.ip.family == 4)
                    learnt.prefixlen = 32;
            }
            else {
                continue;
            }
            if (!guard_netset_match_ip(&e->learned, &learnt.ip, r->port_lo))
                (void)guard_netset_add(&e->learned, &learnt);
        }
        freeaddrinfo(res);
    }
}

static int
check_resolve(int ext, PyObject *hostobj)
{
    guard_ext *e = &guard_rt.ext[ext];
    const char *host = NULL;
    if (hostobj == Py_None)
        return guard_decide(ext, GUARD_CAP_NET_RESOLVE, NULL, 1, NULL);
    if (hostobj == NULL)
        host = NULL; /* missing: refused below */
    else if (PyUnicode_Check(hostobj))
        host = PyUnicode_AsUTF8(hostobj);
    else if (PyBytes_Check(hostobj))
        host = PyBytes_AsString(hostobj);
    if (host == NULL) {
        PyErr_Clear();
        PyObject *shown = guard_describe(hostobj);
        if (shown == NULL)
            return -1;
        int rc = guard_decide(ext, GUARD_CAP_NET_RESOLVE, shown, 0, "the host is not a string");
        Py_DECREF(shown);
        return rc;
    }
    guard_ip ip;
    int ok;
    if (guard_ip_parse(host, &ip) == 0) {
        ok = 1; /* a literal needs no name service; connect() decides */
    }
    else {
        ok = guard_netset_has_name(&e->net_connect, host) ||
             guard_netset_has_name(&e->net_bind, host);
        for (size_t i = 0; !ok && i < e->nresolve; i++)
            ok = strcasecmp(e->resolve[i], host) == 0;
    }
    int rc = 0;
    if (!ok || !guard_allow_is_silent(ext, GUARD_CAP_NET_RESOLVE)) {
        PyObject *shown = guard_describe(hostobj);
        if (shown == NULL)
            return -1;
        rc = guard_decide(ext, GUARD_CAP_NET_RESOLVE, shown, ok, NULL);
        Py_DECREF(shown);
    }
    if (rc == 0 && ok && guard_netset_has_name(&e->net_connect, host))
        learn_addresses(e, host);
    return rc;
}

int
guard_net_mediate(int ext, const ev_entry *e, PyObject *args)
{
    guard_ext *x = &guard_rt.ext[ext];
    PyObject *a0 = guard_arg(args, 0), *a1 = guard_arg(args, 1);
    switch (e->handler) {
    case H_CONNECT:
    case H_BIND:
        return check_sockaddr(ext, e->cap, a0, a1, (e->flags & GUARD_EV_ADDR_OPTIONAL) != 0);
    case H_RESOLVE:
        return check_resolve(ext, a0);
    case H_RESOLVE_ADDR: {
        /* Reverse lookups reveal nothing an allowed connect needs; they use the name
         * service, so they need net.resolve of something. */
        int any = x->net_connect.n > 0 || x->nresolve > 0;
        PyObject *shown = guard_describe(a0 && PyTuple_Check(a0) ? guard_arg(a0, 0) : a0);
        if (shown == NULL)
            return -1;
        int rc = guard_decide(ext, GUARD_CAP_NET_RESOLVE, shown, any, NULL);
        Py_DECREF(shown);
        return rc;
    }
    default:
        return 0;
    }
}
