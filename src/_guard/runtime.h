/* runtime.h - the installed policy: process-wide state, compiled from the spec once.
 *
 * Layer 3: what every decision reads (the policy, the captured types) and what
 * install() compiles and publishes.  Includes only layer 0-1 headers.
 */
#ifndef GUARD_RUNTIME_H
#define GUARD_RUNTIME_H

#include "pyerr.h"
#include "policy.h"

/* Capabilities, named as docs/design.md spells them; a bitmask position each. */
enum guard_cap {
    GUARD_CAP_IMPORT,
    GUARD_CAP_FS_READ,
    GUARD_CAP_FS_WRITE,
    GUARD_CAP_NET_CONNECT,
    GUARD_CAP_NET_BIND,
    GUARD_CAP_NET_RESOLVE,
    GUARD_CAP_PROCESS_SPAWN,
    GUARD_CAP_PROCESS_SIGNAL,
    GUARD_CAP_NATIVE,
    GUARD_CAP_INTROSPECTION,
    GUARD_CAP_DYNAMIC_CODE,
    GUARD_CAP_THREADS,
    GUARD_CAP_PROCESS_ENV,
    GUARD_CAP_COUNT
};
GUARD_INTERNAL extern const char *const guard_cap_names[GUARD_CAP_COUNT];

typedef struct guard_ext {
    PyObject *name; /* str: the principal */
    char *package;
    guard_modset imports_allow, imports_deny;
    guard_pathset fs_read, fs_write;
    guard_netset net_connect, net_bind;
    guard_netset learned; /* IPs learnt by resolving an allowed name, per port */
    char **resolve;       /* extra names allowed for net.resolve */
    size_t nresolve;
    unsigned caps;      /* bit per enum guard_cap granted outright */
    unsigned approve;   /* bit per enum guard_cap that also needs the approver */
    PyObject *builtins; /* the extension's __builtins__ dict (guarded __import__) */
} guard_ext;

typedef struct guard_runtime {
    int installed;
    int monitor;   /* mode = "monitor": record would_deny, allow */
    int audit_all; /* audit = "all": record allows by extensions too */
    int unattributed_allow;
    int subinterp_allow; /* subinterpreters = "allow": not mediated there */
    char **trusted;
    size_t ntrusted;
    char **private_mods;
    size_t nprivate;
    char **public_mods;
    size_t npublic;
    PyObject *finder; /* the meta-path finder kept first in sys.meta_path */
    PyObject *hints;  /* dict module -> hint */
    guard_ext *ext;
    size_t next;
    PyObject *violation_type, *import_error_type;
    PyObject *approver;          /* callable(principal, capability, target) or NULL */
    PyObject *principal_var;     /* ContextVar set by acting_as(): str or unset */
    PyObject *builtins_import;   /* the interpreter's original builtins.__import__ */
    guard_pathset import_roots;  /* what the import system may read for an extension */
    guard_pathset private_paths; /* files of host.private modules: never an extension's */
    unsigned long *host_threads;
    size_t nhost_threads; /* thread idents alive at install
                                                        (main thread excluded) */
} guard_runtime;

/* ---- the process-wide block (defined in runtime.c, where the reasons are given) ---- */

GUARD_INTERNAL extern guard_runtime guard_rt;

/* Types the hook recognises by identity, captured from host code at install. */
#define GUARD_NPATHLIB 6
GUARD_INTERNAL extern PyObject *guard_pathlib_types[GUARD_NPATHLIB];
/* Offsets in a PurePath instance of the slots its str() reads (-1: this CPython's
 * pathlib has no such slot), captured at install; see fs.c pathlib_string(). */
enum {
    GUARD_PL_STR,
    GUARD_PL_DRV,
    GUARD_PL_ROOT,
    GUARD_PL_PARTS,
    GUARD_PL_RAW,
    GUARD_PL_TAIL,
    GUARD_PL_N
};
GUARD_INTERNAL extern Py_ssize_t guard_pathlib_slots[GUARD_PL_N];
GUARD_INTERNAL extern PyTypeObject *guard_socket_type;  /* _socket.socket */
GUARD_INTERNAL extern PyObject *guard_socket_family;    /* its C "family" member */
GUARD_INTERNAL extern PyTypeObject *guard_partial_type; /* functools.partial */
GUARD_INTERNAL extern PyInterpreterState *guard_interp; /* the installing interpreter */

/* The hook may run Python code (sinks, the approver, pathlib's __fspath__); events
 * those raise are host business and must not re-enter the decision. */
GUARD_INTERNAL extern _Thread_local int guard_in_hook;
/* Set for the decision in progress: the import system is reading on the caller's behalf. */
GUARD_INTERNAL extern _Thread_local int guard_via_machinery;

/* ---- install = compile from the spec, then publish ------------------------------ */

/* Compiles SPEC (Policy.to_spec()) into RT (zeroed by the caller) and captures the
 * types the hook recognises.  IMPORT_DEF is the guarded __import__ each extension's
 * builtins get (self = the extension index).  0, or -1 with an exception; a partly
 * built RT is leaked deliberately (install runs at most once per process). */
GUARD_INTERNAL int guard_runtime_compile(PyObject *spec, PyObject *violation,
                                         PyObject *import_error, PyObject *finder,
                                         PyMethodDef *import_def, guard_runtime *rt);
/* The keys install() reads, as a tuple of str: the spec's top level (EXTENSION 0) or
 * one extension's (EXTENSION 1), in table order.  NULL with an exception. */
GUARD_INTERNAL PyObject *guard_runtime_spec_keys(int extension);
/* Makes RT the installed policy of this interpreter. */
GUARD_INTERNAL void guard_runtime_publish(const guard_runtime *rt);

/* Extension index named NAME (a str) in the installed policy, or -1. */
GUARD_INTERNAL int guard_runtime_ext_index(PyObject *name);

#endif
