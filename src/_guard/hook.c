/* hook.c - the PEP 578 audit hook: dispatch on the event name, attribute, decide.
 *
 * The hook runs on every audit event the interpreter raises, so the first thing it does
 * is reject unmediated events: one table lookup on the first byte, then a short probe
 * of a hash table built at install (events.c).  Frame work (attribution) happens only
 * for mediated events, and argument parsing only once an extension has been found to
 * be asking; each capability's arguments are read in its own room (fs.c, net.c,
 * imports.c, threads.c), and every verdict goes through decide.c.
 */
#include "hook.h"
#include "args.h"
#include "attrib.h"
#include "decide.h"
#include "events.h"
#include "fs.h"
#include "imports.h"
#include "net.h"
#include "threads.h"

static long long probe_events; /* counts the install probe event */

/* Capabilities granted outright by a flag (process.*, native): show the target. */
static int
mediate_flag(int ext, const ev_entry *e, PyObject *args)
{
    guard_ext *x = &guard_rt.ext[ext];
    PyObject *a0 = guard_arg(args, 0), *a1 = guard_arg(args, 1);
    PyObject *shown;
    if (e->handler == H_SIGNAL)
        shown = guard_describe2("pid %U signal %U", a0, a1);
    else if (e->target_arg >= 0 && guard_arg(args, e->target_arg) == Py_None &&
             guard_arg(args, 1) != NULL)
        shown = guard_describe(guard_arg(args, 1)); /* Popen(executable=None, args) */
    else if (e->target_arg >= 0)
        shown = guard_describe(guard_arg(args, e->target_arg));
    else
        shown = PyUnicode_FromString(e->name);
    if (shown == NULL)
        return -1;
    if (e->handler != H_SIGNAL && PyUnicode_GET_LENGTH(shown) == 0) {
        Py_SETREF(shown, PyUnicode_FromString(e->name));
        if (shown == NULL)
            return -1;
    }
    int rc = guard_decide(ext, e->cap, shown, (x->caps >> e->cap) & 1u, NULL);
    Py_DECREF(shown);
    return rc;
}

typedef struct {
    const ev_entry *e;
    PyObject *args;
} event_call;

/* One extension's check of a stack-attributed event: to the room that owns it. */
static int
mediate_for(int ext, void *ctx)
{
    const event_call *c = ctx;
    switch (c->e->handler) {
    case H_OPEN:
    case H_PATH:
    case H_RENAME:
    case H_SYMLINK:
    case H_COPY:
    case H_MOVE:
    case H_UNPACK:
    case H_ARCHIVE:
    case H_GLOB:
    case H_MMAP:
    case H_SQLITE:
        return guard_fs_mediate(ext, c->e, c->args);
    case H_CONNECT:
    case H_BIND:
    case H_RESOLVE:
    case H_RESOLVE_ADDR:
        return guard_net_mediate(ext, c->e, c->args);
    case H_THREAD:
        return guard_threads_check(ext, guard_arg(c->args, 0));
    case H_SPAWN:
    case H_SIGNAL:
    case H_NATIVE:
    case H_NEW_INTERP:
        return mediate_flag(ext, c->e, c->args);
    default:
        return 0;
    }
}

/* Introspection and dynamic code: the direct caller decides (a library using frames
 * or exec for its own mechanics is not handing them over). */
static int
mediate_direct(const ev_entry *e, PyObject *args, const guard_who *who)
{
    if (who->kind != GUARD_WHO_EXT)
        return 0;
    int ext = who->ext;
    guard_ext *x = &guard_rt.ext[ext];
    int ok = (x->caps >> e->cap) & 1u;
    PyObject *shown;
    if (e->handler == H_INTROSPECT && e->target_arg >= 0) {
        PyObject *obj = guard_arg(args, 0);
        PyObject *attr = guard_describe(guard_arg(args, 1));
        shown =
            attr ? PyUnicode_FromFormat("%s.%U", obj ? Py_TYPE(obj)->tp_name : "?", attr) : NULL;
        Py_XDECREF(attr);
    }
    else if (e->handler == H_DYNCODE && e->target_arg >= 0) {
        PyObject *where = guard_arg(args, e->target_arg);
        where = guard_describe(where && PyUnicode_Check(where) ? where : Py_None);
        shown = where ? PyUnicode_FromFormat("%s %U", e->name, where) : NULL;
        Py_XDECREF(where);
    }
    else if (e->handler == H_DYNCODE && (e->flags & GUARD_EV_SHOW_QUALNAME)) {
        PyObject *name = PyUnicode_FromString(e->name);
        shown = name ? guard_describe2("%U.%U", guard_arg(args, 0), guard_arg(args, 1)) : NULL;
        if (shown != NULL)
            Py_SETREF(shown, PyUnicode_FromFormat("%U %U", name, shown));
        Py_XDECREF(name);
    }
    else {
        shown = PyUnicode_FromString(e->name);
    }
    if (shown == NULL)
        return -1;
    int rc = guard_decide(ext, e->cap, shown, ok, NULL);
    Py_DECREF(shown);
    if (rc == 0 && e->handler == H_DYNCODE_TAG) {
        /* Code run or wrapped while an extension asks is that extension's code. */
        PyObject *code = guard_arg(args, 0);
        if (code != NULL && PyCode_Check(code) && guard_attrib_tag_code(code, ext) < 0)
            return -1;
    }
    return rc;
}

static int
mediate(const ev_entry *e, PyObject *args)
{
    guard_who who;
    if (e->handler == H_IMPORT)
        return guard_imports_mediate(args);
    if (e->handler == H_INTROSPECT || e->handler == H_DYNCODE || e->handler == H_DYNCODE_TAG) {
        if (guard_attrib_who(GUARD_WALK_DIRECT, &who) < 0)
            return -1;
        return mediate_direct(e, args, &who);
    }
    if (guard_attrib_who(GUARD_WALK_FULL, &who) < 0)
        return -1;
    guard_via_machinery = who.via_machinery;
    event_call c = {e, args};
    return guard_decide_both(&who, e->cap, guard_arg(args, e->target_arg >= 0 ? e->target_arg : 0),
                             mediate_for, &c);
}

static int
guard_hook(const char *event, PyObject *args, void *userdata)
{
    if (!guard_ev_first_byte[(unsigned char)event[0]])
        return 0;
    const ev_entry *e = guard_ev_lookup(event);
    if (e == NULL) {
        if (event[0] == 's' && strcmp(event, "sdk_guard.install_probe") == 0)
            probe_events++;
        return 0;
    }
    if (guard_in_hook || !guard_rt.installed)
        return 0;
    /* Audit hooks are process-wide, but the policy's objects belong to the interpreter
     * that installed it: touching them from a sub-interpreter (which may have its own
     * GIL) would be a data race, so sub-interpreters get guard_refuse_foreign(). */
    if (PyInterpreterState_Get() != guard_interp)
        return guard_refuse_foreign(e->name);
    guard_in_hook = 1;
    int rc = e->handler == H_NEW_INTERP && !guard_rt.subinterp_allow ? guard_refuse_subinterpreter()
                                                                     : mediate(e, args);
    guard_attrib_forget_library();
    guard_in_hook = 0;
    return rc;
}

int
guard_hook_add(PyObject *guard_error)
{
    /* Added before the runtime is live, then proven to be called: an existing hook
     * that raises on "sys.addaudithook" makes PySys_AddAuditHook return 0 without
     * adding ours. */
    long long before = probe_events;
    if (PySys_AddAuditHook(guard_hook, NULL) < 0)
        return -1;
    if (PySys_Audit("sdk_guard.install_probe", NULL) < 0)
        return -1;
    if (probe_events == before) {
        PyErr_SetString(guard_error, "sdk_guard's audit hook was not added: another audit hook "
                                     "refused the sys.addaudithook event; install sdk_guard first");
        return -1;
    }
    return 0;
}

int
guard_hook_init(void)
{
    guard_events_build();
    return guard_attrib_init();
}
