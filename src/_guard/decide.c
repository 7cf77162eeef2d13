/* decide.c - verdict -> monitor / audit-all / approver -> one record, one exception.
 *
 * record() is the only code that turns a decision into an audit record and, for a
 * denial, an exception carrying the record's seq as event_id.
 */
#include "decide.h"
#include "args.h"

#include <string.h>

static const char *
cap_key_suffix(int cap)
{
    switch (cap) {
    case GUARD_CAP_IMPORT:
        return "imports.allow";
    default:
        return guard_cap_names[cap];
    }
}

static int
cap_is_list(int cap)
{
    return cap == GUARD_CAP_IMPORT || cap == GUARD_CAP_FS_READ || cap == GUARD_CAP_FS_WRITE ||
           cap == GUARD_CAP_NET_CONNECT || cap == GUARD_CAP_NET_BIND ||
           cap == GUARD_CAP_NET_RESOLVE;
}

static PyObject *
make_rule(int ext, int cap)
{
    return PyUnicode_FromFormat("extensions.%U.%s", guard_rt.ext[ext].name, cap_key_suffix(cap));
}

enum raise_kind { RAISE_NONE, RAISE_VIOLATION, RAISE_IMPORT_ERROR, RAISE_PERMISSION };

static int raise_for(PyObject *principal, int cap, PyObject *target, PyObject *rule,
                     PyObject *message, enum raise_kind raise, long long seq);

/* Records the decision and, for a denial, raises per RAISE: PolicyViolation or
 * ImportBoundaryError built with the record's seq as event_id, or a plain
 * PermissionError(MESSAGE) where the policy's exception types may not be used.
 * Returns 0 to let the operation proceed (RAISE_NONE), -1 with an exception set. */
static int
record(PyObject *principal, int cap, PyObject *target, PyObject *rule, const char *decision,
       PyObject *message, enum raise_kind raise)
{
    guard_event ev = {"guard", principal, guard_cap_names[cap], target, decision, rule, NULL};
    /* Raised inside library code the extension called: the record (and the message)
     * name the library and the frame, so a library's own swallowed probe reads as
     * that, not as something the extension wrote. */
    PyObject *lib = NULL, *where = NULL, *longer = NULL;
    if (principal != NULL) {
        int found = guard_attrib_last_library(&lib, &where);
        if (found < 0)
            return -1;
        if (found > 0) {
            ev.extra = Py_BuildValue("{sOsO}", "library", lib, "frame", where);
            if (ev.extra != NULL && message != NULL)
                longer =
                    PyUnicode_FromFormat("%U [raised inside library %U, %U]", message, lib, where);
            Py_DECREF(lib);
            Py_DECREF(where);
            if (ev.extra == NULL || (message != NULL && longer == NULL)) {
                Py_XDECREF(ev.extra);
                return -1;
            }
            message = longer;
        }
    }
    long long seq = guard_audit_emit(&ev);
    Py_XDECREF(ev.extra);
    if (seq < 0) {
        Py_XDECREF(longer);
        return -1;
    }
    if (raise == RAISE_NONE) {
        Py_XDECREF(longer);
        return 0;
    }
    int rc = raise_for(principal, cap, target, rule, message, raise, seq);
    Py_XDECREF(longer);
    return rc;
}

static int
raise_for(PyObject *principal, int cap, PyObject *target, PyObject *rule, PyObject *message,
          enum raise_kind raise, long long seq)
{
    if (raise == RAISE_PERMISSION) {
        PyErr_SetObject(PyExc_PermissionError, message);
        return -1;
    }
    PyObject *type =
        raise == RAISE_IMPORT_ERROR ? guard_rt.import_error_type : guard_rt.violation_type;
    PyObject *args = PyTuple_Pack(1, message);
    PyObject *kw =
        Py_BuildValue("{sOsssOsOsL}", "principal", principal ? principal : Py_None, "capability",
                      guard_cap_names[cap], "target", target ? target : Py_None, "rule",
                      rule ? rule : Py_None, "event_id", seq);
    PyObject *exc = NULL;
    if (args != NULL && kw != NULL)
        exc = PyObject_Call(type, args, kw);
    Py_XDECREF(args);
    Py_XDECREF(kw);
    if (exc == NULL)
        return -1;
    PyErr_SetObject(type, exc);
    Py_DECREF(exc);
    return -1;
}

static PyObject *
denial_message(int ext, int cap, PyObject *target, PyObject *rule, const char *why)
{
    PyObject *name = guard_rt.ext[ext].name;
    const char *t = target ? PyUnicode_AsUTF8(target) : NULL;
    if (t == NULL) {
        PyErr_Clear();
        t = "?";
    }
    if (why != NULL)
        return PyUnicode_FromFormat("extension %R may not %s %R: %s (policy key %U)", name,
                                    guard_cap_names[cap], target ? target : Py_None, why, rule);
    if (cap_is_list(cap))
        return PyUnicode_FromFormat(
            "extension %R may not %s %R (policy key %U); to allow it, add \"%s\" to %U", name,
            guard_cap_names[cap], target ? target : Py_None, rule, t, rule);
    return PyUnicode_FromFormat(
        "extension %R may not use %s (%s) (policy key %U); to allow it, set %U = true", name,
        guard_cap_names[cap], t, rule, rule);
}

int
guard_decide(int ext, int cap, PyObject *target, int allowed, const char *why)
{
    /* The hot case, an allowed request with nothing to record or approve, builds no
     * objects: the rule string is only needed for a record or a message. */
    if (allowed && guard_allow_is_silent(ext, cap))
        return 0;
    PyObject *principal = guard_rt.ext[ext].name;
    int rc = -1;
    PyObject *rule = make_rule(ext, cap);
    PyObject *msg = NULL;
    if (rule == NULL)
        return -1;
    if (!allowed) {
        msg = denial_message(ext, cap, target, rule, why);
        if (msg == NULL)
            goto done;
        if (guard_rt.monitor)
            rc = record(principal, cap, target, rule, "would_deny", msg, RAISE_NONE);
        else
            rc = record(principal, cap, target, rule, "deny", msg,
                        cap == GUARD_CAP_IMPORT ? RAISE_IMPORT_ERROR : RAISE_VIOLATION);
        goto done;
    }
    if (guard_rt.ext[ext].approve & (1u << cap)) {
        /* The decision now rests on the approve key, so that is the rule recorded. */
        Py_SETREF(rule, PyUnicode_FromFormat("extensions.%U.approve", principal));
        if (rule == NULL)
            return -1;
        int yes = 0;
        if (guard_rt.approver != NULL) {
            PyObject *r = PyObject_CallFunction(guard_rt.approver, "OsO", principal,
                                                guard_cap_names[cap], target ? target : Py_None);
            if (r == NULL)
                goto done; /* the approver's own exception propagates */
            yes = PyObject_IsTrue(r);
            Py_DECREF(r);
            if (yes < 0)
                goto done;
        }
        if (yes) {
            rc = record(principal, cap, target, rule, "approved", NULL, RAISE_NONE);
        }
        else {
            msg = PyUnicode_FromFormat(
                "extension %R may not %s %R: the host's approver %s (policy key "
                "extensions.%U.approve)",
                principal, guard_cap_names[cap], target ? target : Py_None,
                guard_rt.approver ? "refused" : "is not set (Guard.set_approver)", principal);
            if (msg == NULL)
                goto done;
            rc = record(principal, cap, target, rule, "refused", msg,
                        guard_rt.monitor ? RAISE_NONE : RAISE_VIOLATION);
        }
        goto done;
    }
    if (guard_rt.audit_all)
        rc = record(principal, cap, target, rule, "allow", NULL, RAISE_NONE);
    else
        rc = 0;
done:
    Py_DECREF(rule);
    Py_XDECREF(msg);
    return rc;
}

int
guard_deny_unattributed(int cap, PyObject *target)
{
    PyObject *principal = PyUnicode_FromString("<unattributed>");
    PyObject *rule = PyUnicode_FromString("guard.unattributed");
    PyObject *msg = NULL;
    int rc = -1;
    if (principal == NULL || rule == NULL)
        goto done;
    msg = PyUnicode_FromFormat(
        "%s of %R from code with neither host nor extension frames on the stack (a "
        "callback run by the interpreter, e.g. atexit or a thread whose target is "
        "library code) is denied (policy key guard.unattributed)",
        guard_cap_names[cap], target ? target : Py_None);
    if (msg == NULL)
        goto done;
    rc = record(principal, cap, target, rule, guard_rt.monitor ? "would_deny" : "deny", msg,
                guard_rt.monitor ? RAISE_NONE : RAISE_VIOLATION);
done:
    Py_XDECREF(principal);
    Py_XDECREF(rule);
    Py_XDECREF(msg);
    return rc;
}

int
guard_decide_both(const guard_who *who, int cap, PyObject *shown, guard_check_fn check, void *ctx)
{
    if (who->kind == GUARD_WHO_UNATTRIBUTED && who->ctx_ext < 0) {
        if (guard_rt.unattributed_allow)
            return 0;
        PyObject *d = guard_describe(shown);
        if (d == NULL)
            return -1;
        int rc = guard_deny_unattributed(cap, d);
        Py_DECREF(d);
        return rc;
    }
    if (who->kind == GUARD_WHO_EXT && check(who->ext, ctx) < 0)
        return -1;
    if (who->ctx_ext >= 0 && !(who->kind == GUARD_WHO_EXT && who->ctx_ext == who->ext))
        return check(who->ctx_ext, ctx);
    return 0;
}

int
guard_deny(PyObject *principal, const char *capability, PyObject *target, PyObject *rule,
           const char *why, int import_error)
{
    int ext = guard_runtime_ext_index(principal);
    if (ext < 0) {
        PyErr_Format(PyExc_ValueError,
                     "deny(%R): no extension of that name in the installed "
                     "policy",
                     principal);
        return -1;
    }
    int cap = -1;
    for (int c = 0; c < GUARD_CAP_COUNT; c++) {
        if (strcmp(capability, guard_cap_names[c]) == 0)
            cap = c;
    }
    if (cap < 0) {
        PyErr_Format(PyExc_ValueError, "deny(): unknown capability '%s'", capability);
        return -1;
    }
    PyObject *r = rule != NULL ? Py_NewRef(rule) : make_rule(ext, cap);
    if (r == NULL)
        return -1;
    PyObject *msg = denial_message(ext, cap, target, r, why);
    int rc = -1;
    if (msg != NULL)
        rc = record(guard_rt.ext[ext].name, cap, target, r, "deny", msg,
                    import_error ? RAISE_IMPORT_ERROR : RAISE_VIOLATION);
    Py_DECREF(r);
    Py_XDECREF(msg);
    return rc;
}

/* Sub-interpreters.  Nothing of the installing interpreter's may be touched in one
 * (no policy objects, no audit records), so the decision there is all or nothing:
 * guard.subinterpreters = "allow" lets the host run them unmediated; "deny" (the
 * default) refuses every mediated operation with a plain PermissionError, so a
 * sub-interpreter cannot even start -- which is what stops one created by an
 * extension on CPython 3.13+, where interpreter creation raises no audit event with
 * a thread state to attribute.  Refusals are counted (subinterpreter_denials()). */
static _Atomic long long foreign_denials;

long long
guard_foreign_denials(void)
{
    return foreign_denials;
}

int
guard_refuse_foreign(const char *event)
{
    if (guard_rt.subinterp_allow)
        return 0;
    foreign_denials++;
    PyErr_Format(PyExc_PermissionError,
                 "sdk_guard: %s in a sub-interpreter is refused: sub-interpreters are not "
                 "mediated (policy key guard.subinterpreters)",
                 event);
    return -1;
}

/* Where the creator's thread state is current (CPython 3.11, 3.12), a sub-interpreter
 * is refused at creation -- host code included -- unless guard.subinterpreters =
 * "allow"; extensions are refused either way (native). */
int
guard_refuse_subinterpreter(void)
{
    foreign_denials++;
    PyObject *target = PyUnicode_FromString("sub-interpreter");
    PyObject *rule = PyUnicode_FromString("guard.subinterpreters");
    PyObject *msg = PyUnicode_FromString(
        "sdk_guard: creating a sub-interpreter is refused: sub-interpreters are not "
        "mediated (policy key guard.subinterpreters)");
    int rc = -1;
    if (target != NULL && rule != NULL && msg != NULL)
        rc = record(NULL, GUARD_CAP_NATIVE, target, rule, "deny", msg, RAISE_PERMISSION);
    Py_XDECREF(target);
    Py_XDECREF(rule);
    Py_XDECREF(msg);
    return rc;
}
