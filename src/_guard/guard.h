/* guard.h - internal interface between the Python-facing units of sdk_guard._guard.
 *
 * Only Python-facing files include this (it includes Python.h).  Pure-C units have
 * their own headers (policy.h, landlock.h, sasm.h, bpf_sim.h, seccomp.h, ring.h).
 */
#ifndef GUARD_GUARD_H
#define GUARD_GUARD_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if defined(__GNUC__)
#  define GUARD_INTERNAL __attribute__((visibility("hidden")))
#else
#  define GUARD_INTERNAL
#endif

/* Method tables contributed by each Python-facing unit; module.c adds them all. */
extern PyMethodDef guard_hook_methods[];      /* hook.c: install, acting_as, ... */
extern PyMethodDef guard_audit_methods[];     /* audit.c: event sink plumbing */
extern PyMethodDef guard_policy_methods[];    /* py_policy.c: C matchers for Python */
extern PyMethodDef guard_landlock_methods[];  /* py_landlock.c */
extern PyMethodDef guard_seccomp_methods[];   /* py_seccomp.c */
extern PyMethodDef guard_request_methods[];   /* py_request.c: sealed request context */

/* Per-unit initialisation called from the module exec slot; 0 or -1 with an exception. */
int guard_audit_init(PyObject *module);
int guard_hook_init(PyObject *module);

/* ---- audit records (audit.c) ---------------------------------------------- */

typedef struct guard_event {
    const char *layer;        /* "guard", "landlock", "seccomp", "egress" */
    PyObject *principal;      /* str, or NULL for none */
    const char *capability;   /* DESIGN.md capability name, or a syscall name */
    PyObject *target;         /* str, or NULL */
    const char *decision;     /* deny|allow|would_deny|approved|refused */
    PyObject *rule;           /* str dotted policy key, or NULL */
    PyObject *extra;          /* dict merged into the record, or NULL */
} guard_event;

/* Records EV with the enclosing spans read from the span context variable.
 * Returns the event's seq (>= 0), or -1 with an exception set. */
GUARD_INTERNAL long long guard_audit_emit(const guard_event *ev);

/* The context variable that holds the current span tuple (audit.c owns it; borrowed). */
GUARD_INTERNAL PyObject *guard_audit_span_var(void);

/* Turns a negative errno from a pure-C unit into OSError with CONTEXT; returns NULL. */
GUARD_INTERNAL PyObject *guard_errno_error(int neg_errno, const char *context);

/* ---- the installed policy (hook.c owns it; attrib.c reads it) --------------- */

#include "policy.h"

/* Capabilities, DESIGN.md names; a bitmask position each. */
enum guard_cap {
    GUARD_CAP_IMPORT, GUARD_CAP_FS_READ, GUARD_CAP_FS_WRITE, GUARD_CAP_NET_CONNECT,
    GUARD_CAP_NET_BIND, GUARD_CAP_NET_RESOLVE, GUARD_CAP_PROCESS_SPAWN,
    GUARD_CAP_PROCESS_SIGNAL, GUARD_CAP_NATIVE, GUARD_CAP_INTROSPECTION,
    GUARD_CAP_DYNAMIC_CODE, GUARD_CAP_THREADS, GUARD_CAP_COUNT
};
GUARD_INTERNAL extern const char *const guard_cap_names[GUARD_CAP_COUNT];

typedef struct guard_ext {
    PyObject *name;             /* str: the principal */
    char *package;
    guard_modset imports_allow, imports_deny;
    guard_pathset fs_read, fs_write;
    guard_netset net_connect, net_bind;
    guard_netset learned;       /* IPs learnt by resolving an allowed name, per port */
    char **resolve;             /* extra names allowed for net.resolve */
    size_t nresolve;
    unsigned caps;              /* bit per enum guard_cap granted outright */
    unsigned approve;           /* bit per enum guard_cap that also needs the approver */
    PyObject *builtins;         /* the extension's __builtins__ dict (guarded __import__) */
} guard_ext;

typedef struct guard_runtime {
    int installed;
    int monitor;                /* mode = "monitor": record would_deny, allow */
    int audit_all;              /* audit = "all": record allows by extensions too */
    int unattributed_allow;
    int subinterp_allow;        /* subinterpreters = "allow": not mediated there */
    char **trusted; size_t ntrusted;
    char **private_mods; size_t nprivate;
    char **public_mods; size_t npublic;
    PyObject *finder;           /* the meta-path finder kept first in sys.meta_path */
    PyObject *hints;            /* dict module -> hint */
    guard_ext *ext; size_t next;
    PyObject *violation_type, *import_error_type;
    PyObject *approver;         /* callable(principal, capability, target) or NULL */
    PyObject *principal_var;    /* ContextVar set by acting_as(): str or unset */
    PyObject *builtins_import;  /* the interpreter's original builtins.__import__ */
    guard_pathset import_roots; /* what the import system may read for an extension */
} guard_runtime;

/* Process-wide, not module state: an audit hook can never be removed, so the policy
 * it enforces must outlive every module object and cannot be swapped per module. */
GUARD_INTERNAL extern guard_runtime guard_rt;

/* For entry points that change the guard or the audit trail: 0 when the caller is
 * host code (or the guard is not installed); -1 with PolicyViolation (introspection)
 * set, and a deny record, when an extension calls.  WHAT names the entry point. */
GUARD_INTERNAL int guard_require_host(const char *what);
/* guard_require_host asked of the caller of a sdk_guard Python wrapper (hook.c). */
GUARD_INTERNAL int guard_require_host_caller(const char *what);

/* ---- attribution (attrib.c) ------------------------------------------------ */

/* Classification cached on code objects (co_extra). */
enum {
    GUARD_TAG_UNKNOWN = 0,
    GUARD_TAG_LIBRARY = 1,      /* transparent: keep walking */
    GUARD_TAG_HOST = 2,         /* trusted host / SDK code, checked by module identity */
    GUARD_TAG_IMPORTER = 3,     /* importlib, pkgutil, runpy: import on a caller's behalf */
    GUARD_TAG_LEAKER = 4,       /* inspect, traceback, pdb: hand frames to their caller */
    GUARD_TAG_MACHINERY = 5,    /* importlib._bootstrap*: reads the import path */
    GUARD_TAG_EXT0 = 8,         /* + extension index */
};

enum guard_walk {
    GUARD_WALK_FULL,            /* library frames transparent; first host/extension decides */
    GUARD_WALK_IMPORT,          /* the direct importer decides; importlib & co transparent */
    GUARD_WALK_DIRECT,          /* the direct caller decides; frame-leaking libraries transparent */
};

enum { GUARD_WHO_HOST = 0, GUARD_WHO_EXT = 1, GUARD_WHO_UNATTRIBUTED = 2, GUARD_WHO_LIBRARY = 3 };

typedef struct guard_who {
    int kind;                   /* GUARD_WHO_* from the stack */
    int ext;                    /* extension index when kind == GUARD_WHO_EXT */
    int ctx_ext;                /* extension named by acting_as(), or -1 */
    int via_machinery;          /* the import system's frames are between */
} guard_who;

GUARD_INTERNAL int guard_attrib_init(void);
/* Who is asking, by the stack and the acting_as() variable.  0, or -1 with an exception. */
GUARD_INTERNAL int guard_attrib_who(enum guard_walk mode, guard_who *out);
/* The same, ignoring the SKIP innermost frames (a finder asking about its caller). */
GUARD_INTERNAL int guard_attrib_who_from(enum guard_walk mode, guard_who *out, int skip);
/* Tags CODE (and nested code objects in co_consts) as extension EXT's. 0 or -1. */
GUARD_INTERNAL int guard_attrib_tag_code(PyObject *code, int ext);
/* The extension that owns CODE by its tag, or -1. */
GUARD_INTERNAL int guard_attrib_code_ext(PyObject *code);
/* Extension index whose package covers module NAME, or -1. */
GUARD_INTERNAL int guard_ext_for_module(const char *name);

#endif
