/* hook.c - the PEP 578 audit hook: dispatch on the event name, attribute, decide.
 *
 * The hook runs on every audit event the interpreter raises, so the first thing it does
 * is reject unmediated events: one table lookup on the first byte, then a short probe
 * of a hash table built at install.  Frame work (attribution) happens only for mediated
 * events, and argument parsing only once an extension has been found to be asking.
 */
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

guard_runtime guard_rt;

const char *const guard_cap_names[GUARD_CAP_COUNT] = {
    "import", "fs.read", "fs.write", "net.connect", "net.bind", "net.resolve",
    "process.spawn", "process.signal", "native", "introspection", "dynamic_code",
    "threads",
};

/* ---- event table ------------------------------------------------------------ */

enum handler {
    H_IMPORT = 1, H_OPEN, H_READ_PATH, H_WRITE_PATH, H_RENAME, H_LINK, H_SYMLINK,
    H_COPY, H_MOVE, H_UNPACK, H_ARCHIVE, H_GLOB, H_PATHLIB_GLOB, H_MMAP, H_SQLITE,
    H_CONNECT, H_BIND, H_RESOLVE, H_RESOLVE_ADDR, H_SPAWN, H_SIGNAL, H_NATIVE,
    H_INTROSPECT, H_DYNCODE, H_DYNCODE_TAG, H_THREAD, H_WALK, H_FWALK,
};

typedef struct ev_entry {
    const char *name;
    unsigned char handler;
    unsigned char cap;          /* enum guard_cap */
    signed char path_arg;       /* argument index of the path, -1 none */
    signed char dir_fd_arg;     /* argument index of dir_fd, -1 none */
} ev_entry;

/* Event names from CPython's audit events table, 3.9 through 3.14. */
static const ev_entry events[] = {
#define GUARD_EV_NEW_INTERP 0   /* guard_hook() looks this entry up by index */
    /* A sub-interpreter has no frames the walk can attribute: creating one is native. */
    {"cpython.PyInterpreterState_New", H_NATIVE, GUARD_CAP_NATIVE, -1, -1},
    {"import", H_IMPORT, GUARD_CAP_IMPORT, 0, -1},
    {"open", H_OPEN, GUARD_CAP_FS_READ, 0, -1},
    /* fs.read */
    {"os.listdir", H_READ_PATH, GUARD_CAP_FS_READ, 0, -1},
    {"os.scandir", H_READ_PATH, GUARD_CAP_FS_READ, 0, -1},
    {"os.chdir", H_READ_PATH, GUARD_CAP_FS_READ, 0, -1},
    {"os.listxattr", H_READ_PATH, GUARD_CAP_FS_READ, 0, -1},
    {"os.getxattr", H_READ_PATH, GUARD_CAP_FS_READ, 0, -1},
    {"os.walk", H_WALK, GUARD_CAP_FS_READ, 0, -1},
    {"os.fwalk", H_FWALK, GUARD_CAP_FS_READ, 0, 4},
    {"glob.glob", H_GLOB, GUARD_CAP_FS_READ, 0, -1},
    {"glob.glob/2", H_GLOB, GUARD_CAP_FS_READ, 0, 3},
    {"pathlib.Path.glob", H_PATHLIB_GLOB, GUARD_CAP_FS_READ, 0, -1},
    {"pathlib.Path.rglob", H_PATHLIB_GLOB, GUARD_CAP_FS_READ, 0, -1},
    /* fs.write */
    {"os.remove", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, 1},
    {"os.rmdir", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, 1},
    {"os.mkdir", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, 2},
    {"os.chmod", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, 2},
    {"os.chown", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, 3},
    {"os.utime", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, 3},
    {"os.truncate", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"os.setxattr", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"os.removexattr", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"os.mkfifo", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, 2},
    {"os.mknod", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, 3},
    {"os.chflags", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"os.lchflags", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.chown", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.rmtree", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, 1},
    {"tempfile.mkstemp", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"tempfile.mkdtemp", H_WRITE_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"os.rename", H_RENAME, GUARD_CAP_FS_WRITE, 0, 2},
    {"os.link", H_LINK, GUARD_CAP_FS_WRITE, 0, 2},
    {"os.symlink", H_SYMLINK, GUARD_CAP_FS_WRITE, 1, 2},
    {"shutil.copyfile", H_COPY, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.copymode", H_COPY, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.copystat", H_COPY, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.copytree", H_COPY, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.move", H_MOVE, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.unpack_archive", H_UNPACK, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.make_archive", H_ARCHIVE, GUARD_CAP_FS_WRITE, 0, -1},
    {"mmap.__new__", H_MMAP, GUARD_CAP_FS_READ, 0, -1},
    {"sqlite3.connect", H_SQLITE, GUARD_CAP_FS_WRITE, 0, -1},
    /* network */
    {"socket.connect", H_CONNECT, GUARD_CAP_NET_CONNECT, 1, -1},
    {"socket.sendto", H_CONNECT, GUARD_CAP_NET_CONNECT, 1, -1},
    {"socket.sendmsg", H_CONNECT, GUARD_CAP_NET_CONNECT, 1, -1},
    {"socket.bind", H_BIND, GUARD_CAP_NET_BIND, 1, -1},
    {"socket.getaddrinfo", H_RESOLVE, GUARD_CAP_NET_RESOLVE, 0, -1},
    {"socket.gethostbyname", H_RESOLVE, GUARD_CAP_NET_RESOLVE, 0, -1},
    {"socket.gethostbyname_ex", H_RESOLVE, GUARD_CAP_NET_RESOLVE, 0, -1},
    {"socket.gethostbyaddr", H_RESOLVE_ADDR, GUARD_CAP_NET_RESOLVE, 0, -1},
    {"socket.getnameinfo", H_RESOLVE_ADDR, GUARD_CAP_NET_RESOLVE, 0, -1},
    /* processes */
    {"subprocess.Popen", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.system", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.exec", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.posix_spawn", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.spawn", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 1, -1},
    {"os.fork", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, -1, -1},
    {"os.forkpty", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, -1, -1},
    {"pty.spawn", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.startfile", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    /* The environment is what the host's later child processes inherit
     * (LD_PRELOAD, PATH, PYTHONPATH): changing it is part of spawning them. */
    {"os.putenv", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.unsetenv", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.kill", H_SIGNAL, GUARD_CAP_PROCESS_SIGNAL, 0, -1},
    {"os.killpg", H_SIGNAL, GUARD_CAP_PROCESS_SIGNAL, 0, -1},
    {"signal.pthread_kill", H_SIGNAL, GUARD_CAP_PROCESS_SIGNAL, 0, -1},
    {"signal.pidfd_send_signal", H_SIGNAL, GUARD_CAP_PROCESS_SIGNAL, 0, -1},
    /* native code: every ctypes.* event is matched by prefix below */
    {"ctypes.dlopen", H_NATIVE, GUARD_CAP_NATIVE, 0, -1},
    /* introspection: the direct caller decides */
    {"sys._getframe", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys._getframemodulename", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys._current_frames", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys._current_exceptions", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys.settrace", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys.setprofile", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys.addaudithook", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys.monitoring.register_callback", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"gc.get_objects", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"gc.get_referrers", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"gc.get_referents", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"object.__getattr__", H_INTROSPECT, GUARD_CAP_INTROSPECTION, 1, -1},
    {"object.__setattr__", H_INTROSPECT, GUARD_CAP_INTROSPECTION, 1, -1},
    {"object.__delattr__", H_INTROSPECT, GUARD_CAP_INTROSPECTION, 1, -1},
    /* dynamic code: the direct caller decides */
    {"compile", H_DYNCODE, GUARD_CAP_DYNAMIC_CODE, 1, -1},
    {"exec", H_DYNCODE_TAG, GUARD_CAP_DYNAMIC_CODE, 0, -1},
    {"function.__new__", H_DYNCODE_TAG, GUARD_CAP_DYNAMIC_CODE, 0, -1},
    {"code.__new__", H_DYNCODE, GUARD_CAP_DYNAMIC_CODE, 1, -1},
    {"marshal.loads", H_DYNCODE, GUARD_CAP_DYNAMIC_CODE, -1, -1},
    {"marshal.load", H_DYNCODE, GUARD_CAP_DYNAMIC_CODE, -1, -1},
    /* No path_arg: mediate_direct shows module.name for this one. */
    {"pickle.find_class", H_DYNCODE, GUARD_CAP_DYNAMIC_CODE, -1, -1},
    /* threads (3.12+ raise these; the wrapper in thread_start() covers 3.11) */
    {"_thread.start_new_thread", H_THREAD, GUARD_CAP_THREADS, 0, -1},
    {"_thread.start_joinable_thread", H_THREAD, GUARD_CAP_THREADS, 0, -1},
    {NULL, 0, 0, 0, 0},
};

#define EV_TABLE_SIZE 512   /* power of two, > 2 x entries: probes stay short */
static const ev_entry *ev_table[EV_TABLE_SIZE];
static unsigned char ev_first_byte[256];   /* 1 if some mediated name starts with it */
static const ev_entry ctypes_entry = {"ctypes.*", H_NATIVE, GUARD_CAP_NATIVE, -1, -1};

static inline uint32_t
ev_hash(const char *s, size_t *len)
{
    uint32_t h = 2166136261u;
    const char *p = s;
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    *len = (size_t)(p - s);
    return h;
}

static void
ev_table_build(void)
{
    for (const ev_entry *e = events; e->name; e++) {
        size_t len;
        uint32_t h = ev_hash(e->name, &len);
        for (uint32_t i = h & (EV_TABLE_SIZE - 1);; i = (i + 1) & (EV_TABLE_SIZE - 1)) {
            if (ev_table[i] == NULL) {
                ev_table[i] = e;
                break;
            }
        }
        ev_first_byte[(unsigned char)e->name[0]] = 1;
    }
}

static inline const ev_entry *
ev_lookup(const char *name)
{
    size_t len;
    uint32_t h = ev_hash(name, &len);
    for (uint32_t i = h & (EV_TABLE_SIZE - 1);; i = (i + 1) & (EV_TABLE_SIZE - 1)) {
        const ev_entry *e = ev_table[i];
        if (e == NULL)
            break;
        if (strcmp(e->name, name) == 0)
            return e;
    }
    if (len > 7 && memcmp(name, "ctypes.", 7) == 0)
        return &ctypes_entry;
    return NULL;
}

/* ---- decisions -------------------------------------------------------------- */

/* The hook may run Python code (sinks, the approver, pathlib's __fspath__); events
 * those raise are host business and must not re-enter the decision. */
static _Thread_local int in_hook;
/* Set for the decision in progress: the import system is reading on the caller's behalf. */
static _Thread_local int via_machinery;
static long long probe_events;      /* counts the install probe event */

/* Types the hook recognises by identity, captured from host code at install (process-
 * wide like the policy they serve).  Looking anything up on an argument instead
 * (type(o).__module__, sock.family, f.func) can run extension code inside the hook,
 * where in_hook leaves that code's own operations unmediated. */
#define GUARD_NPATHLIB 6
static PyObject *pathlib_types[GUARD_NPATHLIB];
static PyTypeObject *socket_type;   /* _socket.socket */
static PyObject *socket_family;     /* its C "family" member descriptor */
static PyTypeObject *partial_type;  /* functools.partial */
static PyInterpreterState *guard_interp;    /* the interpreter that installed */

static const char *
cap_key_suffix(int cap)
{
    switch (cap) {
    case GUARD_CAP_IMPORT: return "imports.allow";
    default: return guard_cap_names[cap];
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
    return PyUnicode_FromFormat("extensions.%U.%s", guard_rt.ext[ext].name,
                                cap_key_suffix(cap));
}

/* Records the decision and, for a denial, sets PolicyViolation (or ImportBoundaryError).
 * Returns 0 to let the operation proceed, -1 with an exception set. */
static int
record(PyObject *principal, int cap, PyObject *target, PyObject *rule, const char *decision,
       PyObject *message, int raise, int import_error)
{
    guard_event ev = {"guard", principal, guard_cap_names[cap], target, decision, rule, NULL};
    long long seq = guard_audit_emit(&ev);
    if (seq < 0)
        return -1;
    if (!raise)
        return 0;
    PyObject *type = import_error ? guard_rt.import_error_type : guard_rt.violation_type;
    PyObject *args = PyTuple_Pack(1, message);
    PyObject *kw = Py_BuildValue("{sOsssOsOsL}", "principal", principal ? principal : Py_None,
                                 "capability", guard_cap_names[cap], "target",
                                 target ? target : Py_None, "rule", rule ? rule : Py_None,
                                 "event_id", seq);
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
            "extension %R may not %s %R (policy key %U); to allow it, add \"%s\" to %U",
            name, guard_cap_names[cap], target ? target : Py_None, rule, t, rule);
    return PyUnicode_FromFormat(
        "extension %R may not use %s (%s) (policy key %U); to allow it, set %U = true",
        name, guard_cap_names[cap], t, rule, rule);
}

/* Whether an allowed request of EXT for CAP leaves no record and asks no approver. */
static inline int
allow_is_silent(int ext, int cap)
{
    return !guard_rt.audit_all && !(guard_rt.ext[ext].approve & (1u << cap));
}

/* The one place an extension's request is decided: policy verdict ALLOWED (1/0), then
 * monitor mode, audit-all, and the host's approver.  WHY explains a denial that adding
 * the target to the list would not fix (unresolvable path, custom path object). */
static int
decide(int ext, int cap, PyObject *target, int allowed, const char *why)
{
    /* The hot case, an allowed request with nothing to record or approve, builds no
     * objects: the rule string is only needed for a record or a message. */
    if (allowed && allow_is_silent(ext, cap))
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
            rc = record(principal, cap, target, rule, "would_deny", msg, 0, 0);
        else
            rc = record(principal, cap, target, rule, "deny", msg, 1,
                        cap == GUARD_CAP_IMPORT);
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
                                                guard_cap_names[cap],
                                                target ? target : Py_None);
            if (r == NULL)
                goto done;      /* the approver's own exception propagates */
            yes = PyObject_IsTrue(r);
            Py_DECREF(r);
            if (yes < 0)
                goto done;
        }
        if (yes) {
            rc = record(principal, cap, target, rule, "approved", NULL, 0, 0);
        }
        else {
            msg = PyUnicode_FromFormat(
                "extension %R may not %s %R: the host's approver %s (policy key "
                "extensions.%U.approve)", principal, guard_cap_names[cap],
                target ? target : Py_None,
                guard_rt.approver ? "refused" : "is not set (Guard.set_approver)", principal);
            if (msg == NULL)
                goto done;
            rc = record(principal, cap, target, rule, "refused", msg, !guard_rt.monitor, 0);
        }
        goto done;
    }
    if (guard_rt.audit_all)
        rc = record(principal, cap, target, rule, "allow", NULL, 0, 0);
    else
        rc = 0;
done:
    Py_DECREF(rule);
    Py_XDECREF(msg);
    return rc;
}

static int
deny_unattributed(int cap, PyObject *target)
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
                !guard_rt.monitor, 0);
done:
    Py_XDECREF(principal);
    Py_XDECREF(rule);
    Py_XDECREF(msg);
    return rc;
}

/* ---- argument helpers --------------------------------------------------------- */

static int
guard_as_int(PyObject *o)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "descriptor out of range");
        return -1;
    }
    return (int)v;
}

static PyObject *
arg(PyObject *args, int i)
{
    if (i < 0 || !PyTuple_Check(args) || i >= PyTuple_GET_SIZE(args))
        return NULL;
    return PyTuple_GET_ITEM(args, i);   /* borrowed */
}

/* Safe description of an argument for messages: never calls extension code, so the
 * result is always an exact str (a str subclass could run code when a message, the
 * approver or a sink formats it) and nested sequences are not followed. */
static PyObject *
describe(PyObject *o)
{
    if (o == NULL || o == Py_None)
        return PyUnicode_FromString("");
    if (PyUnicode_Check(o))
        return PyUnicode_FromObject(o);
    if (PyBytes_Check(o))
        return PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o));
    if (PyLong_CheckExact(o))
        return PyObject_Str(o);
    if ((PyList_Check(o) || PyTuple_Check(o)) && PySequence_Fast_GET_SIZE(o) > 0) {
        PyObject *parts = PyList_New(0);
        if (parts == NULL)
            return NULL;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
        for (Py_ssize_t i = 0; i < n && i < 16; i++) {
            PyObject *item = PySequence_Fast_ITEMS(o)[i];
            PyObject *d = PyList_Check(item) || PyTuple_Check(item)
                              ? PyUnicode_FromFormat("<%s>", Py_TYPE(item)->tp_name)
                              : describe(item);
            if (d == NULL || PyList_Append(parts, d) < 0) {
                Py_XDECREF(d);
                Py_DECREF(parts);
                return NULL;
            }
            Py_DECREF(d);
        }
        PyObject *sep = PyUnicode_FromString(" ");
        PyObject *r = sep ? PyUnicode_Join(sep, parts) : NULL;
        Py_XDECREF(sep);
        Py_DECREF(parts);
        return r;
    }
    return PyUnicode_FromFormat("<%s>", Py_TYPE(o)->tp_name);
}

/* FMT (two %U) filled with describe(A) and describe(B): formatting the arguments
 * themselves (%S) would call their __str__.  NULL with an exception. */
static PyObject *
describe2(const char *fmt, PyObject *a, PyObject *b)
{
    PyObject *da = describe(a);
    PyObject *db = da ? describe(b) : NULL;
    PyObject *r = db ? PyUnicode_FromFormat(fmt, da, db) : NULL;
    Py_XDECREF(da);
    Py_XDECREF(db);
    return r;
}

/* pathlib's own path classes are trusted to return what they hold; any other
 * os.PathLike from an extension could answer differently when the real call asks
 * again (a time-of-check/time-of-use swap), so it is refused. */
static int
trusted_pathlike(PyObject *o)
{
    /* By identity with the classes pathlib exported at install: a class's __module__
     * is whatever its body or metaclass says (and "pathlib._local" on 3.13). */
    for (size_t i = 0; i < GUARD_NPATHLIB; i++) {
        if (pathlib_types[i] != NULL && (PyObject *)Py_TYPE(o) == pathlib_types[i])
            return 1;
    }
    return 0;
}

enum { PATH_OK = 0, PATH_UNRESOLVABLE = 1, PATH_UNTRUSTED = 2, PATH_STREAM = 3 };

/* A descriptor for a pipe or socket with no filesystem name (pipe:[N], socket:[N]):
 * wrapping it in a file object reaches no file, and subprocess does exactly that with
 * the pipes of capture_output.  A named FIFO or socket still resolves to its path. */
static int
fd_is_anonymous_stream(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

static int
fd_path(int fd, char *out, size_t outlen)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, outlen - 1);
    if (n < 0 || out[0] != '/')
        return -1;
    out[n] = '\0';
    return 0;
}

/* Turns a path argument into an absolute, resolved path in OUT.  DIR_FD: the dir_fd
 * argument (NULL or None for the cwd); UNKNOWN_DIR_FD: the event does not say which
 * dir_fd the call used, so a relative path cannot be resolved.  Returns PATH_*, or -1
 * with an exception set. */
static int
resolve_path_arg(PyObject *o, PyObject *dir_fd, int unknown_dir_fd, char *out, size_t outlen,
                 PyObject **shown)
{
    char raw[PATH_MAX * 2];
    PyObject *bytes = NULL;
    *shown = NULL;
    if (o == NULL) {
        /* The event has fewer arguments than its signature: nothing to resolve. */
        *shown = PyUnicode_FromString("");
        return *shown ? PATH_UNRESOLVABLE : -1;
    }
    if (o == Py_None) {
        o = NULL;
        strcpy(raw, ".");
    }
    else if (PyLong_Check(o)) {
        int fd = guard_as_int(o);
        if (fd == -1 && PyErr_Occurred())
            return -1;
        *shown = PyUnicode_FromFormat("fd %d", fd);
        if (*shown == NULL)
            return -1;
        if (fd_path(fd, out, outlen) < 0)
            return fd_is_anonymous_stream(fd) ? PATH_STREAM : PATH_UNRESOLVABLE;
        char tmp[PATH_MAX * 2];
        if (guard_path_resolve(out, tmp, sizeof tmp) < 0)
            return PATH_UNRESOLVABLE;
        snprintf(out, outlen, "%s", tmp);
        return PATH_OK;
    }
    else {
        if (!PyUnicode_Check(o) && !PyBytes_Check(o)) {
            if (!trusted_pathlike(o)) {
                *shown = describe(o);
                return *shown ? PATH_UNTRUSTED : -1;
            }
            o = PyOS_FSPath(o);
            if (o == NULL)
                return -1;
        }
        else {
            Py_INCREF(o);
        }
        if (PyUnicode_Check(o)) {
            bytes = PyUnicode_EncodeFSDefault(o);
            Py_DECREF(o);
            if (bytes == NULL)
                return -1;
        }
        else {
            bytes = o;
        }
        if ((size_t)PyBytes_GET_SIZE(bytes) >= sizeof raw ||
            strlen(PyBytes_AS_STRING(bytes)) != (size_t)PyBytes_GET_SIZE(bytes)) {
            *shown = PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(bytes),
                                                      PyBytes_GET_SIZE(bytes));
            Py_DECREF(bytes);
            return *shown ? PATH_UNRESOLVABLE : -1;
        }
        memcpy(raw, PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes) + 1);
        Py_DECREF(bytes);
    }
    /* SHOWN is only for denial messages, so it is built on the unresolvable path
     * alone: an allowed open decodes nothing. */
    char base[PATH_MAX];
    char joined[PATH_MAX * 2];
    const char *absolute = raw;
    if (raw[0] != '/') {
        if (dir_fd != NULL && dir_fd != Py_None) {
            int fd = PyLong_Check(dir_fd) ? guard_as_int(dir_fd) : -1;
            if (fd == -1 && PyErr_Occurred())
                PyErr_Clear();
            if (fd < 0 || fd_path(fd, base, sizeof base) < 0)
                goto unresolvable;
        }
        else if (unknown_dir_fd) {
            goto unresolvable;
        }
        else if (getcwd(base, sizeof base) == NULL) {
            goto unresolvable;
        }
        if ((size_t)snprintf(joined, sizeof joined, "%s/%s", base, raw) >= sizeof joined)
            goto unresolvable;
        absolute = joined;
    }
    if (guard_path_resolve(absolute, out, outlen) < 0)
        goto unresolvable;
    return PATH_OK;
unresolvable:
    *shown = PyUnicode_DecodeFSDefault(raw);
    return *shown ? PATH_UNRESOLVABLE : -1;
}

/* What the import system reads to import: directories (its finders list them) and
 * code (source, bytecode, extension modules, zip archives).  A loader's get_data()
 * reaching for a host's data or config file under the import path is not an import. */
static int
machinery_may_read(const char *resolved)
{
    static const char *const suffixes[] = {".py", ".pyc", ".so", ".zip", ".egg", NULL};
    size_t n = strlen(resolved);
    for (const char *const *s = suffixes; *s; s++) {
        size_t k = strlen(*s);
        if (n >= k && memcmp(resolved + n - k, *s, k) == 0)
            return 1;
    }
    struct stat st;
    return stat(resolved, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Checks one path argument against fs.read or fs.write of extension EXT. */
static int
check_path(int ext, int cap, PyObject *o, PyObject *dir_fd, int unknown_dir_fd)
{
    char resolved[PATH_MAX * 2];
    PyObject *shown = NULL;
    int r = resolve_path_arg(o, dir_fd, unknown_dir_fd, resolved, sizeof resolved, &shown);
    if (r < 0)
        return -1;
    int rc;
    if (r == PATH_UNTRUSTED) {
        rc = decide(ext, cap, shown, 0,
                    "only str, bytes, file descriptors and pathlib paths are accepted from "
                    "extension code; pass str(path)");
    }
    else if (r == PATH_STREAM) {
        rc = decide(ext, cap, shown, 1, NULL);
    }
    else if (r == PATH_UNRESOLVABLE) {
        rc = decide(ext, cap, shown, 0,
                    "the guard cannot resolve this path (relative to an unknown dir_fd, "
                    "an anonymous descriptor, or too long); use an absolute path");
    }
    else {
        const guard_ext *e = &guard_rt.ext[ext];
        const guard_pathset *set = cap == GUARD_CAP_FS_WRITE ? &e->fs_write : &e->fs_read;
        /* Anything writable is readable too. */
        int ok = guard_pathset_match(set, resolved) ||
                 (cap == GUARD_CAP_FS_READ && guard_pathset_match(&e->fs_write, resolved)) ||
                 (cap == GUARD_CAP_FS_READ && via_machinery &&
                  guard_pathset_match(&guard_rt.import_roots, resolved) &&
                  machinery_may_read(resolved));
        if (ok && allow_is_silent(ext, cap)) {
            /* decide() would return 0 without looking at the target: skip the decode. */
            rc = 0;
        }
        else {
            PyObject *target = PyUnicode_DecodeFSDefault(resolved);
            if (target == NULL) {
                Py_XDECREF(shown);
                return -1;
            }
            rc = decide(ext, cap, target, ok, NULL);
            Py_DECREF(target);
        }
    }
    Py_XDECREF(shown);
    return rc;
}

static int
mode_writes(PyObject *mode, PyObject *flags)
{
    if (mode != NULL && PyUnicode_Check(mode)) {
        const char *m = PyUnicode_AsUTF8(mode);
        if (m == NULL) {
            PyErr_Clear();
            return 1;
        }
        return strpbrk(m, "wax+") != NULL;
    }
    long fl = flags && PyLong_Check(flags) ? PyLong_AsLong(flags) : O_RDWR;
    if (fl == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 1;
    }
    return (fl & O_ACCMODE) != O_RDONLY || (fl & (O_CREAT | O_TRUNC | O_APPEND)) != 0;
}

/* ---- imports ------------------------------------------------------------------- */

static PyObject *
private_hint(const char *name)
{
    if (guard_rt.hints == NULL)
        return NULL;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(guard_rt.hints, &pos, &key, &value)) {
        const char *k = PyUnicode_AsUTF8(key);
        if (k != NULL && guard_module_under(name, k))
            return value;       /* borrowed */
    }
    PyErr_Clear();
    return NULL;
}

/* Checks module NAME for extension EXT; -1 with ImportBoundaryError set on denial. */
static int
check_import(int ext, const char *name)
{
    const guard_ext *e = &guard_rt.ext[ext];
    if (guard_module_under(name, e->package))
        return decide(ext, GUARD_CAP_IMPORT, NULL, 1, NULL) < 0 ? -1 : 0;
    PyObject *target = PyUnicode_FromString(name);
    if (target == NULL)
        return -1;
    int rc;
    for (size_t i = 0; i < guard_rt.nprivate; i++) {
        if (guard_module_under(name, guard_rt.private_mods[i])) {
            PyObject *hint = private_hint(name);
            PyObject *why = hint ? PyUnicode_FromFormat("%s is private to the host; %U",
                                                        name, hint)
                                 : PyUnicode_FromFormat("%s is private to the host; use the "
                                                        "public SDK", name);
            if (why == NULL) {
                Py_DECREF(target);
                return -1;
            }
            rc = decide(ext, GUARD_CAP_IMPORT, target, 0, PyUnicode_AsUTF8(why));
            Py_DECREF(why);
            Py_DECREF(target);
            return rc;
        }
    }
    int ok;
    if (guard_modset_match(&e->imports_deny, name)) {
        ok = 0;
        rc = decide(ext, GUARD_CAP_IMPORT, target, 0,
                    "it is listed in imports.deny");
        Py_DECREF(target);
        return rc;
    }
    ok = guard_modset_match(&e->imports_allow, name);
    for (size_t i = 0; !ok && i < guard_rt.npublic; i++)
        ok = guard_module_under(name, guard_rt.public_mods[i]);
    rc = decide(ext, GUARD_CAP_IMPORT, target, ok, NULL);
    Py_DECREF(target);
    return rc;
}

/* ---- network ------------------------------------------------------------------- */

static int
sock_family(PyObject *sock)
{
    /* The C member, not sock.family: a subclass's property would run in the hook. */
    if (socket_type == NULL || socket_family == NULL ||
        Py_TYPE(socket_family)->tp_descr_get == NULL || !PyObject_TypeCheck(sock, socket_type))
        return -1;
    PyObject *fam = Py_TYPE(socket_family)->tp_descr_get(socket_family, sock,
                                                         (PyObject *)socket_type);
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
        return 0;       /* sendmsg on a connected socket: connect() was checked */
    if (addr == NULL)
        addr = Py_None;     /* missing: refused below as not a (host, port) or path */
    if (family == AF_UNIX) {
        /* A Unix socket is reached through the filesystem: connecting or binding
         * writes to it, so fs.write must cover it.  Abstract names have no path. */
        if ((PyBytes_Check(addr) && PyBytes_GET_SIZE(addr) > 0 &&
             PyBytes_AS_STRING(addr)[0] == '\0') ||
            (PyUnicode_Check(addr) && PyUnicode_GET_LENGTH(addr) > 0 &&
             PyUnicode_READ_CHAR(addr, 0) == 0)) {
            PyObject *shown = describe(addr);
            if (shown == NULL)
                return -1;
            int rc = decide(ext, cap, shown, 0,
                            "abstract Unix sockets have no path a policy can allow");
            Py_DECREF(shown);
            return rc;
        }
        return check_path(ext, GUARD_CAP_FS_WRITE, addr, NULL, 0);
    }
    if (family != AF_INET && family != AF_INET6) {
        PyObject *shown = PyUnicode_FromFormat("family %d", family);
        if (shown == NULL)
            return -1;
        int rc = decide(ext, cap, shown, 0,
                        "only AF_INET, AF_INET6 and AF_UNIX sockets are mediated; other "
                        "families are refused to extension code");
        Py_DECREF(shown);
        return rc;
    }
    if (!PyTuple_Check(addr) || PyTuple_GET_SIZE(addr) < 2) {
        PyObject *shown = describe(addr);
        if (shown == NULL)
            return -1;
        int rc = decide(ext, cap, shown, 0, "the address is not a (host, port) tuple");
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
        PyObject *shown = describe(addr);
        if (shown == NULL)
            return -1;
        int rc = decide(ext, cap, shown, 0, "the host or port is malformed");
        Py_DECREF(shown);
        return rc;
    }
    int ok = net_allowed(e, set, host, (unsigned)port, is_bind);
    PyObject *target = family == AF_INET6 && strchr(host, ':')
                           ? PyUnicode_FromFormat("[%s]:%ld", host, port)
                           : PyUnicode_FromFormat("%s:%ld", host, port);
    if (target == NULL)
        return -1;
    int rc = decide(ext, cap, target, ok, NULL);
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
        return decide(ext, GUARD_CAP_NET_RESOLVE, NULL, 1, NULL);
    if (hostobj == NULL)
        host = NULL;    /* missing: refused below */
    else if (PyUnicode_Check(hostobj))
        host = PyUnicode_AsUTF8(hostobj);
    else if (PyBytes_Check(hostobj))
        host = PyBytes_AsString(hostobj);
    if (host == NULL) {
        PyErr_Clear();
        PyObject *shown = describe(hostobj);
        if (shown == NULL)
            return -1;
        int rc = decide(ext, GUARD_CAP_NET_RESOLVE, shown, 0, "the host is not a string");
        Py_DECREF(shown);
        return rc;
    }
    guard_ip ip;
    int ok;
    if (guard_ip_parse(host, &ip) == 0) {
        ok = 1;     /* a literal needs no name service; connect() decides */
    }
    else {
        ok = guard_netset_has_name(&e->net_connect, host) ||
             guard_netset_has_name(&e->net_bind, host);
        for (size_t i = 0; !ok && i < e->nresolve; i++)
            ok = strcasecmp(e->resolve[i], host) == 0;
    }
    PyObject *shown = describe(hostobj);
    if (shown == NULL)
        return -1;
    int rc = decide(ext, GUARD_CAP_NET_RESOLVE, shown, ok, NULL);
    Py_DECREF(shown);
    if (rc == 0 && ok && guard_netset_has_name(&e->net_connect, host))
        learn_addresses(e, host);
    return rc;
}

/* ---- threads ------------------------------------------------------------------- */

/* The extension whose code FUNC runs (a function, method, partial or threading.Thread
 * bootstrap), or -1. */
static int
callable_ext(PyObject *func, int depth)
{
    if (func == NULL || depth > 4)
        return -1;
    if (PyMethod_Check(func)) {
        PyObject *self = PyMethod_GET_SELF(func);
        PyObject *fn = PyMethod_GET_FUNCTION(func);
        if (PyFunction_Check(fn)) {
            PyObject *qual = ((PyFunctionObject *)fn)->func_qualname;
            if (qual && PyUnicode_Check(qual) &&
                PyUnicode_CompareWithASCIIString(qual, "Thread._bootstrap") == 0) {
                /* Read from the instance and class dicts: getattr could run a property
                 * or __getattr__ of the thread's class inside the hook. */
                PyObject *dict = PyObject_GenericGetDict(self, NULL);
                if (dict == NULL) {
                    PyErr_Clear();
                    return -1;
                }
                PyObject *target = PyDict_Check(dict) ? PyDict_GetItemString(dict, "_target")
                                                      : NULL;
                Py_XINCREF(target);
                Py_DECREF(dict);
                if (target == NULL) {
                    PyErr_Clear();
                    return -1;
                }
                int r = -1;
                if (target == Py_None) {
                    /* A Thread subclass overriding run(): the first run in its MRO. */
                    PyObject *mro = Py_TYPE(self)->tp_mro;
                    for (Py_ssize_t i = 0; mro && PyTuple_Check(mro) && i < PyTuple_GET_SIZE(mro); i++) {
                        PyObject *base = PyTuple_GET_ITEM(mro, i);
                        PyObject *bd = PyType_Check(base) ? ((PyTypeObject *)base)->tp_dict : NULL;
                        PyObject *run = bd ? PyDict_GetItemString(bd, "run") : NULL;
                        if (run != NULL) {
                            r = callable_ext(run, depth + 1);
                            break;
                        }
                    }
                    PyErr_Clear();
                }
                else {
                    r = callable_ext(target, depth + 1);
                }
                Py_DECREF(target);
                return r;
            }
        }
        return callable_ext(fn, depth + 1);
    }
    if (PyFunction_Check(func))
        return guard_attrib_code_ext(PyFunction_GET_CODE(func));
    /* functools.partial keeps the callable in .func (a C member); only the exact type:
     * a subclass or look-alike's .func could run code inside the hook. */
    if (partial_type != NULL && Py_TYPE(func) == partial_type) {
        PyObject *inner = PyObject_GetAttrString(func, "func");
        if (inner == NULL) {
            PyErr_Clear();
            return -1;
        }
        int r = callable_ext(inner, depth + 1);
        Py_DECREF(inner);
        return r;
    }
    return -1;
}

static int
check_thread(int ext, PyObject *func)
{
    guard_ext *e = &guard_rt.ext[ext];
    PyObject *shown = describe(func);
    if (shown == NULL)
        return -1;
    int rc;
    if (!(e->caps & (1u << GUARD_CAP_THREADS)))
        rc = decide(ext, GUARD_CAP_THREADS, shown, 0, NULL);
    else if (callable_ext(func, 0) != ext)
        rc = decide(ext, GUARD_CAP_THREADS, shown, 0,
                    "a thread started by an extension must run that extension's own code "
                    "(its target is library or foreign code)");
    else
        rc = decide(ext, GUARD_CAP_THREADS, shown, 1, NULL);
    Py_DECREF(shown);
    return rc;
}

/* ---- per-event handling ---------------------------------------------------------- */

static int
mediate_for(int ext, const ev_entry *e, PyObject *args)
{
    guard_ext *x = &guard_rt.ext[ext];
    PyObject *a0 = arg(args, 0), *a1 = arg(args, 1);
    switch (e->handler) {
    case H_OPEN: {
        PyObject *mode = a1, *flags = arg(args, 2);
        int writes = mode_writes(mode, flags);
        /* os.open passes mode None and never says which dir_fd it used. */
        int unknown_dir_fd = mode == Py_None;
        if (writes)
            return check_path(ext, GUARD_CAP_FS_WRITE, a0, NULL, unknown_dir_fd);
        return check_path(ext, GUARD_CAP_FS_READ, a0, NULL, unknown_dir_fd);
    }
    case H_READ_PATH:
    case H_WALK:
        return check_path(ext, GUARD_CAP_FS_READ, a0, NULL, 0);
    case H_FWALK:
        return check_path(ext, GUARD_CAP_FS_READ, a0, arg(args, e->dir_fd_arg), 0);
    case H_WRITE_PATH:
        return check_path(ext, GUARD_CAP_FS_WRITE, a0,
                          e->dir_fd_arg >= 0 ? arg(args, e->dir_fd_arg) : NULL, 0);
    case H_RENAME:
    case H_LINK:
        /* Both names become writable through the new name. */
        if (check_path(ext, GUARD_CAP_FS_WRITE, a0, arg(args, 2), 0) < 0)
            return -1;
        return check_path(ext, GUARD_CAP_FS_WRITE, a1, arg(args, 3), 0);
    case H_SYMLINK:
        return check_path(ext, GUARD_CAP_FS_WRITE, a1, arg(args, 2), 0);
    case H_COPY:
        if (check_path(ext, GUARD_CAP_FS_READ, a0, NULL, 0) < 0)
            return -1;
        return check_path(ext, GUARD_CAP_FS_WRITE, a1, NULL, 0);
    case H_MOVE:
        if (check_path(ext, GUARD_CAP_FS_WRITE, a0, NULL, 0) < 0)
            return -1;
        return check_path(ext, GUARD_CAP_FS_WRITE, a1, NULL, 0);
    case H_UNPACK:
        if (check_path(ext, GUARD_CAP_FS_READ, a0, NULL, 0) < 0)
            return -1;
        return check_path(ext, GUARD_CAP_FS_WRITE, a1, NULL, 0);
    case H_ARCHIVE:
        if (check_path(ext, GUARD_CAP_FS_WRITE, a0, NULL, 0) < 0)
            return -1;
        return check_path(ext, GUARD_CAP_FS_READ, arg(args, 2), NULL, 0);
    case H_GLOB: {
        /* Check the directory the pattern starts from: its part before any magic. */
        PyObject *root = e->dir_fd_arg >= 0 ? arg(args, 2) : NULL;
        PyObject *dir_fd = e->dir_fd_arg >= 0 ? arg(args, e->dir_fd_arg) : NULL;
        if (root != NULL && root != Py_None)
            return check_path(ext, GUARD_CAP_FS_READ, root, dir_fd, 0);
        if (a0 == NULL || !(PyUnicode_Check(a0) || PyBytes_Check(a0)))
            return check_path(ext, GUARD_CAP_FS_READ, a0, dir_fd, 0);
        PyObject *b = PyUnicode_Check(a0) ? PyUnicode_EncodeFSDefault(a0) : Py_NewRef(a0);
        if (b == NULL)
            return -1;
        const char *s = PyBytes_AS_STRING(b);
        if (strlen(s) != (size_t)PyBytes_GET_SIZE(b)) {
            /* A NUL would hide the pattern's directory; check_path refuses it whole. */
            Py_DECREF(b);
            return check_path(ext, GUARD_CAP_FS_READ, a0, dir_fd, 0);
        }
        size_t magic = strcspn(s, "*?[");
        size_t cut = magic;
        while (cut > 0 && s[cut - 1] != '/')
            cut--;
        PyObject *prefix = cut == 0 ? PyBytes_FromString(".")
                                    : PyBytes_FromStringAndSize(s, (Py_ssize_t)(cut > 1 ? cut - 1 : 1));
        Py_DECREF(b);
        if (prefix == NULL)
            return -1;
        int rc = check_path(ext, GUARD_CAP_FS_READ, prefix, dir_fd, 0);
        Py_DECREF(prefix);
        return rc;
    }
    case H_PATHLIB_GLOB:
        return check_path(ext, GUARD_CAP_FS_READ, a0, NULL, 0);
    case H_MMAP: {
        /* Only fileno -1 is an anonymous mapping; any other value (a huge or negative
         * int, a non-int) goes to check_path, which refuses what it cannot resolve. */
        int overflow = 0;
        long fd = a0 && PyLong_Check(a0) ? PyLong_AsLongAndOverflow(a0, &overflow) : -2;
        if (fd == -1 && !overflow && !PyErr_Occurred())
            return 0;       /* anonymous mapping: no file */
        PyErr_Clear();
        PyObject *access = arg(args, 2);
        long acc = access && PyLong_Check(access) ? PyLong_AsLong(access) : 0;
        /* ACCESS_READ = 1 and ACCESS_COPY = 3 never write the file. */
        int cap = (acc == 1 || acc == 3) ? GUARD_CAP_FS_READ : GUARD_CAP_FS_WRITE;
        return check_path(ext, cap, a0, NULL, 0);
    }
    case H_SQLITE: {
        if (a0 != NULL && PyUnicode_Check(a0)) {
            const char *db = PyUnicode_AsUTF8(a0);
            if (db == NULL)
                return -1;
            if (db[0] == '\0' || strcmp(db, ":memory:") == 0)
                return 0;
            if (strncmp(db, "file:", 5) == 0) {
                /* A URI: the guard does not parse its options; refuse. */
                PyObject *shown = describe(a0);
                if (shown == NULL)
                    return -1;
                int rc = decide(ext, GUARD_CAP_FS_WRITE, shown, 0,
                                "sqlite3 URI filenames are refused to extension code; pass "
                                "a plain path");
                Py_DECREF(shown);
                return rc;
            }
        }
        return check_path(ext, GUARD_CAP_FS_WRITE, a0, NULL, 0);
    }
    case H_CONNECT:
    case H_BIND:
        return check_sockaddr(ext, e->cap, a0, a1, strcmp(e->name, "socket.sendmsg") == 0);
    case H_RESOLVE:
        return check_resolve(ext, a0);
    case H_RESOLVE_ADDR: {
        /* Reverse lookups reveal nothing an allowed connect needs; they use the name
         * service, so they need net.resolve of something. */
        int any = x->net_connect.n > 0 || x->nresolve > 0;
        PyObject *shown = describe(a0 && PyTuple_Check(a0) ? arg(a0, 0) : a0);
        if (shown == NULL)
            return -1;
        int rc = decide(ext, GUARD_CAP_NET_RESOLVE, shown, any, NULL);
        Py_DECREF(shown);
        return rc;
    }
    case H_SPAWN:
    case H_SIGNAL:
    case H_NATIVE: {
        PyObject *shown;
        if (e->handler == H_SIGNAL)
            shown = describe2("pid %U signal %U", a0, a1);
        else if (e->path_arg >= 0 && arg(args, e->path_arg) == Py_None && arg(args, 1) != NULL)
            shown = describe(arg(args, 1));     /* Popen(executable=None, args) */
        else if (e->path_arg >= 0)
            shown = describe(arg(args, e->path_arg));
        else
            shown = PyUnicode_FromString(e->name);
        if (shown == NULL)
            return -1;
        if ((e->handler == H_SPAWN || e->handler == H_NATIVE) &&
            PyUnicode_GET_LENGTH(shown) == 0) {
            Py_SETREF(shown, PyUnicode_FromString(e->name));
            if (shown == NULL)
                return -1;
        }
        int rc = decide(ext, e->cap, shown, (x->caps >> e->cap) & 1u, NULL);
        Py_DECREF(shown);
        return rc;
    }
    case H_THREAD:
        return check_thread(ext, a0);
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
    if (e->handler == H_INTROSPECT && e->path_arg >= 0) {
        PyObject *obj = arg(args, 0);
        PyObject *attr = describe(arg(args, 1));
        shown = attr ? PyUnicode_FromFormat("%s.%U", obj ? Py_TYPE(obj)->tp_name : "?", attr)
                     : NULL;
        Py_XDECREF(attr);
    }
    else if (e->handler == H_DYNCODE && e->path_arg >= 0) {
        PyObject *where = arg(args, e->path_arg);
        where = describe(where && PyUnicode_Check(where) ? where : Py_None);
        shown = where ? PyUnicode_FromFormat("%s %U", e->name, where) : NULL;
        Py_XDECREF(where);
    }
    else if (e->handler == H_DYNCODE && strcmp(e->name, "pickle.find_class") == 0) {
        PyObject *name = PyUnicode_FromString(e->name);
        shown = name ? describe2("%U.%U", arg(args, 0), arg(args, 1)) : NULL;
        if (shown != NULL)
            Py_SETREF(shown, PyUnicode_FromFormat("%U %U", name, shown));
        Py_XDECREF(name);
    }
    else {
        shown = PyUnicode_FromString(e->name);
    }
    if (shown == NULL)
        return -1;
    int rc = decide(ext, e->cap, shown, ok, NULL);
    Py_DECREF(shown);
    if (rc == 0 && e->handler == H_DYNCODE_TAG) {
        /* Code run or wrapped while an extension asks is that extension's code. */
        PyObject *code = arg(args, 0);
        if (code != NULL && PyCode_Check(code) && guard_attrib_tag_code(code, ext) < 0)
            return -1;
    }
    return rc;
}

static int keep_finder_first(PyObject *meta_path);

static int
mediate(const ev_entry *e, PyObject *args)
{
    guard_who who;
    if (e->handler == H_IMPORT) {
        if (guard_rt.finder != NULL)
            (void)keep_finder_first(arg(args, 3));
        if (guard_attrib_who(GUARD_WALK_IMPORT, &who) < 0)
            return -1;
        if (who.kind != GUARD_WHO_EXT)
            return 0;
        PyObject *name = arg(args, 0);
        if (name == NULL || !PyUnicode_Check(name)) {
            /* The import system never raises this; a name the guard cannot read is
             * refused, not waved through. */
            PyObject *shown = describe(name);
            if (shown == NULL)
                return -1;
            int rc = decide(who.ext, GUARD_CAP_IMPORT, shown, 0,
                            "the module name is not a str");
            Py_DECREF(shown);
            return rc;
        }
        const char *cname = PyUnicode_AsUTF8(name);
        if (cname == NULL)
            return -1;
        return check_import(who.ext, cname);
    }
    if (e->handler == H_INTROSPECT || e->handler == H_DYNCODE || e->handler == H_DYNCODE_TAG) {
        if (guard_attrib_who(GUARD_WALK_DIRECT, &who) < 0)
            return -1;
        return mediate_direct(e, args, &who);
    }
    if (guard_attrib_who(GUARD_WALK_FULL, &who) < 0)
        return -1;
    via_machinery = who.via_machinery;
    if (who.kind == GUARD_WHO_UNATTRIBUTED && who.ctx_ext < 0) {
        if (guard_rt.unattributed_allow)
            return 0;
        PyObject *shown = describe(arg(args, e->path_arg >= 0 ? e->path_arg : 0));
        if (shown == NULL)
            return -1;
        int rc = deny_unattributed(e->cap, shown);
        Py_DECREF(shown);
        return rc;
    }
    /* Both signals: the stack's extension and the one acting_as() names must allow. */
    if (who.kind == GUARD_WHO_EXT && mediate_for(who.ext, e, args) < 0)
        return -1;
    if (who.ctx_ext >= 0 && !(who.kind == GUARD_WHO_EXT && who.ctx_ext == who.ext))
        return mediate_for(who.ctx_ext, e, args);
    return 0;
}

/* Mediated events in a sub-interpreter.  Nothing of this interpreter's may be touched
 * there (no policy objects, no audit records), so the decision is all or nothing:
 * guard.subinterpreters = "allow" lets the host run them unmediated; "deny" (the
 * default) refuses every mediated operation with a plain PermissionError, so a
 * sub-interpreter cannot even start -- which is what stops one created by an
 * extension on CPython 3.13+, where interpreter creation raises no audit event with
 * a thread state to attribute.  Refusals are counted (subinterpreter_denials()). */
static _Atomic long long foreign_denials;

static int
foreign_interpreter(const ev_entry *e)
{
    if (guard_rt.subinterp_allow)
        return 0;
    foreign_denials++;
    PyErr_Format(PyExc_PermissionError,
                 "sdk_guard: %s in a sub-interpreter is refused: sub-interpreters are not "
                 "mediated (policy key guard.subinterpreters)", e->name);
    return -1;
}

/* Where the creator's thread state is current (CPython 3.11, 3.12), a sub-interpreter
 * is refused at creation -- host code included -- unless guard.subinterpreters =
 * "allow"; extensions are refused either way (native). */
static int
refuse_subinterpreter(void)
{
    foreign_denials++;
    guard_event ev = {"guard", NULL, guard_cap_names[GUARD_CAP_NATIVE], NULL, "deny", NULL, NULL};
    PyObject *target = PyUnicode_FromString("sub-interpreter");
    PyObject *rule = PyUnicode_FromString("guard.subinterpreters");
    if (target == NULL || rule == NULL) {
        Py_XDECREF(target);
        Py_XDECREF(rule);
        return -1;
    }
    ev.target = target;
    ev.rule = rule;
    long long seq = guard_audit_emit(&ev);
    Py_DECREF(target);
    Py_DECREF(rule);
    if (seq < 0)
        return -1;
    PyErr_SetString(PyExc_PermissionError,
                    "sdk_guard: creating a sub-interpreter is refused: sub-interpreters are "
                    "not mediated (policy key guard.subinterpreters)");
    return -1;
}

static int
guard_hook(const char *event, PyObject *args, void *userdata)
{
    if (!ev_first_byte[(unsigned char)event[0]])
        return 0;
    const ev_entry *e = ev_lookup(event);
    if (e == NULL) {
        if (event[0] == 's' && strcmp(event, "sdk_guard.install_probe") == 0)
            probe_events++;
        return 0;
    }
    if (in_hook || !guard_rt.installed)
        return 0;
    /* Audit hooks are process-wide, but the policy's objects belong to the interpreter
     * that installed it: touching them from a sub-interpreter (which may have its own
     * GIL) would be a data race, so sub-interpreters get foreign_interpreter(). */
    if (PyInterpreterState_Get() != guard_interp)
        return foreign_interpreter(e);
    in_hook = 1;
    int rc = e == &events[GUARD_EV_NEW_INTERP] && !guard_rt.subinterp_allow
                 ? refuse_subinterpreter()
                 : mediate(e, args);
    in_hook = 0;
    return rc;
}

/* ---- the finder stays first --------------------------------------------------- */

/* Re-inserts the guard's finder at the front of META_PATH (the list the import
 * system is about to use) if anything removed or reordered it. */
static int
keep_finder_first(PyObject *meta_path)
{
    if (meta_path == NULL || !PyList_Check(meta_path))
        return 0;
    Py_ssize_t n = PyList_GET_SIZE(meta_path);
    if (n > 0 && PyList_GET_ITEM(meta_path, 0) == guard_rt.finder)
        return 0;
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        if (PyList_GET_ITEM(meta_path, i) == guard_rt.finder &&
            PySequence_DelItem(meta_path, i) < 0) {
            PyErr_Clear();
            return -1;
        }
    }
    if (PyList_Insert(meta_path, 0, guard_rt.finder) < 0) {
        PyErr_Clear();
        return -1;
    }
    return 0;
}

/* ---- the extension's __import__ ------------------------------------------------- */

/* Resolves a relative import the way importlib does; 0 or -1 with ImportError set. */
static int
absolute_name(PyObject *name, PyObject *globals, int level, char *out, size_t outlen)
{
    Py_ssize_t nlen;
    const char *n = PyUnicode_AsUTF8AndSize(name, &nlen);
    if (n == NULL)
        return -1;
    if ((size_t)nlen != strlen(n)) {
        /* The check would see the name up to the NUL, the import system all of it. */
        PyErr_SetString(PyExc_ValueError, "module name contains a NUL character");
        return -1;
    }
    if (level == 0) {
        if ((size_t)snprintf(out, outlen, "%s", n) >= outlen)
            goto too_long;
        return 0;
    }
    PyObject *pkg = NULL;
    if (globals != NULL && PyDict_Check(globals)) {
        pkg = PyDict_GetItemString(globals, "__package__");
        if (pkg == NULL || pkg == Py_None) {
            pkg = PyDict_GetItemString(globals, "__name__");
            if (pkg != NULL && PyDict_GetItemString(globals, "__path__") == NULL) {
                /* a module, not a package: its package is the parent */
                const char *m = PyUnicode_Check(pkg) ? PyUnicode_AsUTF8(pkg) : NULL;
                if (m == NULL)
                    goto no_package;
                const char *dot = strrchr(m, '.');
                if (dot == NULL)
                    goto no_package;
                if ((size_t)snprintf(out, outlen, "%.*s", (int)(dot - m), m) >= outlen)
                    goto too_long;
                goto have_base;
            }
        }
    }
    if (pkg == NULL || !PyUnicode_Check(pkg))
        goto no_package;
    const char *p = PyUnicode_AsUTF8(pkg);
    if (p == NULL)
        return -1;
    if ((size_t)snprintf(out, outlen, "%s", p) >= outlen)
        goto too_long;
have_base:
    for (int i = 1; i < level; i++) {
        char *dot = strrchr(out, '.');
        if (dot == NULL) {
            PyErr_SetString(PyExc_ImportError, "attempted relative import beyond top-level package");
            return -1;
        }
        *dot = '\0';
    }
    if (n[0] != '\0') {
        size_t len = strlen(out);
        if ((size_t)snprintf(out + len, outlen - len, ".%s", n) >= outlen - len)
            goto too_long;
    }
    return 0;
no_package:
    PyErr_SetString(PyExc_ImportError, "attempted relative import with no known parent package");
    return -1;
too_long:
    PyErr_SetString(PyExc_ImportError, "module name too long");
    return -1;
}

/* __import__ for extension code: checks every import, including modules already in
 * sys.modules (which raise no audit event) and submodules reached by `from x import y`,
 * then hands over to the interpreter's own __import__. */
static PyObject *
guarded_import(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"name", "globals", "locals", "fromlist", "level", NULL};
    PyObject *name, *globals = NULL, *locals = NULL, *fromlist = NULL;
    int level = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|OOOi:__import__", kwlist, &name, &globals,
                                     &locals, &fromlist, &level))
        return NULL;
    if (level < 0) {
        PyErr_SetString(PyExc_ValueError, "level must be >= 0");
        return NULL;
    }
    long ext = PyLong_AsLong(self);
    if (ext < 0 || (size_t)ext >= guard_rt.next) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "sdk_guard: __import__ of an unknown extension");
        return NULL;
    }
    char absname[1024];
    if (absolute_name(name, globals, level, absname, sizeof absname) < 0)
        return NULL;
    if (guard_rt.installed && check_import((int)ext, absname) < 0)
        return NULL;
    /* The interpreter's __import__ gets the name exactly as checked: a str subclass's
     * __hash__/__eq__ would otherwise pick which sys.modules entry it returns. */
    PyObject *exact = PyUnicode_FromObject(name);
    if (exact == NULL)
        return NULL;
    PyObject *mod = PyObject_CallFunction(guard_rt.builtins_import, "OOOOi", exact,
                                          globals ? globals : Py_None,
                                          locals ? locals : Py_None,
                                          fromlist ? fromlist : Py_None, level);
    Py_DECREF(exact);
    if (mod == NULL || fromlist == NULL || fromlist == Py_None || !guard_rt.installed)
        return mod;
    PyObject *seq = PySequence_Fast(fromlist, "fromlist must be a sequence");
    if (seq == NULL)
        goto error;
    PyObject *modules = PySys_GetObject("modules");
    /* Owned: the attribute lookups below run module code that may replace it there. */
    PyObject *base = modules ? PyDict_GetItemString(modules, absname) : NULL;
    base = Py_NewRef(base != NULL ? base : mod);
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_ITEMS(seq)[i];
        if (!PyUnicode_Check(item) || PyUnicode_CompareWithASCIIString(item, "*") == 0)
            continue;
        PyObject *attr = NULL;
        attr = PyObject_GetAttr(base, item);
        if (attr == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
                Py_DECREF(base);
                Py_DECREF(seq);
                goto error;
            }
            PyErr_Clear();
        }
        if (attr != NULL && PyModule_Check(attr)) {
            /* A module reached by name: check the module it really is, so an alias
             * (sdk.db = myapp.db) is caught too. */
            const char *real = PyModule_GetName(attr);
            if (real == NULL || check_import((int)ext, real) < 0) {
                Py_DECREF(attr);
                Py_DECREF(base);
                Py_DECREF(seq);
                goto error;
            }
        }
        Py_XDECREF(attr);
    }
    Py_DECREF(base);
    Py_DECREF(seq);
    return mod;
error:
    Py_DECREF(mod);
    return NULL;
}

static PyMethodDef guarded_import_def = {
    "__import__", (PyCFunction)(void (*)(void))guarded_import, METH_VARARGS | METH_KEYWORDS,
    "__import__(name, globals=None, locals=None, fromlist=(), level=0)\n--\n\n"
    "The interpreter's __import__, checked against this extension's import policy."};

/* ---- threads on 3.11 (no _thread audit event) ----------------------------------- */

/* The original starters live here, not in the wrapper's __self__, so extension code
 * holding the checked starter cannot reach the unchecked one through it. */
#define GUARD_MAX_STARTERS 8
static PyObject *thread_starters[GUARD_MAX_STARTERS];
static size_t nthread_starters;

static PyObject *
thread_start(PyObject *index, PyObject *args, PyObject *kw)
{
    size_t i = PyLong_AsSize_t(index);
    if (i >= nthread_starters) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "sdk_guard: unknown thread starter");
        return NULL;
    }
    if (guard_rt.installed && !in_hook) {
        guard_who who;
        if (guard_attrib_who(GUARD_WALK_FULL, &who) < 0)
            return NULL;
        PyObject *func = arg(args, 0);
        if (who.kind == GUARD_WHO_UNATTRIBUTED && who.ctx_ext < 0 &&
            !guard_rt.unattributed_allow) {
            /* As mediate() decides the 3.12+ event: no host mark is no permission. */
            PyObject *shown = describe(func);
            int rc = shown ? deny_unattributed(GUARD_CAP_THREADS, shown) : -1;
            Py_XDECREF(shown);
            if (rc < 0)
                return NULL;
        }
        if (who.kind == GUARD_WHO_EXT && check_thread(who.ext, func) < 0)
            return NULL;
        if (who.ctx_ext >= 0 && who.ctx_ext != who.ext && check_thread(who.ctx_ext, func) < 0)
            return NULL;
    }
    return PyObject_Call(thread_starters[i], args, kw);
}

static PyMethodDef thread_start_def = {
    "start_new_thread", (PyCFunction)(void (*)(void))thread_start, METH_VARARGS | METH_KEYWORDS,
    "The interpreter's thread starter, checked against the threads policy."};

/* ---- install ---------------------------------------------------------------------- */

static void
free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        PyMem_RawFree(v[i]);
    PyMem_RawFree(v);
}

/* Copies a list of str from SPEC[KEY] into a NULL-free vector. 0 or -1. */
static int
strv_from(PyObject *spec, const char *key, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    PyObject *list = PyDict_GetItemString(spec, key);
    if (list == NULL || list == Py_None)
        return 0;
    PyObject *seq = PySequence_Fast(list, key);
    if (seq == NULL)
        return -1;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    char **v = PyMem_RawCalloc((size_t)len + 1, sizeof(char *));
    if (v == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *it = PySequence_Fast_ITEMS(seq)[i];
        const char *s = PyUnicode_Check(it) ? PyUnicode_AsUTF8(it) : NULL;
        if (s == NULL) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "spec %s[%zd] must be str", key, i);
            free_strv(v, (size_t)i);
            Py_DECREF(seq);
            return -1;
        }
        v[i] = strdup(s);
        if (v[i] == NULL) {
            free_strv(v, (size_t)i);
            Py_DECREF(seq);
            PyErr_NoMemory();
            return -1;
        }
    }
    Py_DECREF(seq);
    *out = v;
    *n = (size_t)len;
    return 0;
}

static int
spec_flag(PyObject *d, const char *key, int dflt)
{
    PyObject *v = PyDict_GetItemString(d, key);
    if (v == NULL)
        return dflt;
    return PyObject_IsTrue(v);
}

static int
spec_str_is(PyObject *d, const char *key, const char *value)
{
    PyObject *v = PyDict_GetItemString(d, key);
    return v != NULL && PyUnicode_Check(v) && PyUnicode_CompareWithASCIIString(v, value) == 0;
}

static int
bad_spec(const char *what, const char *item, int err)
{
    PyErr_Format(PyExc_ValueError, "compiled policy: %s '%s' rejected by the matcher (%s)",
                 what, item ? item : "?", strerror(err < 0 ? -err : err));
    return -1;
}

static int
add_module(void *set, const char *item)
{
    return guard_modset_add(set, item);
}

static int
add_path(void *set, const char *item)
{
    return guard_pathset_add(set, item);
}

static int
add_net(void *set, const char *item)
{
    guard_netrule rule;
    int r = guard_netrule_parse(item, &rule);
    return r < 0 ? r : guard_netset_add(set, &rule);
}

/* Adds every str of SPEC[KEY] to SET with ADD (a pure-C matcher's add function).
 * 0, or -1 with ValueError naming the entry the matcher rejected. */
static int
add_each(PyObject *spec, const char *key, int (*add)(void *, const char *), void *set)
{
    char **v;
    size_t n;
    if (strv_from(spec, key, &v, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int r = add(set, v[i]);
        if (r < 0) {
            bad_spec(key, v[i], r);
            free_strv(v, n);
            return -1;
        }
    }
    free_strv(v, n);
    return 0;
}

static int
compile_ext(PyObject *d, guard_ext *e, size_t index)
{
    char **v;
    size_t n;
    PyObject *name = PyDict_GetItemString(d, "name");
    PyObject *package = PyDict_GetItemString(d, "package");
    if (name == NULL || !PyUnicode_Check(name) || package == NULL || !PyUnicode_Check(package)) {
        PyErr_SetString(PyExc_ValueError, "compiled policy: extension needs str name and package");
        return -1;
    }
    e->name = Py_NewRef(name);
    const char *pkg = PyUnicode_AsUTF8(package);
    if (pkg == NULL)
        return -1;
    e->package = strdup(pkg);
    if (e->package == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (add_each(d, "imports_allow", add_module, &e->imports_allow) < 0 ||
        add_each(d, "imports_deny", add_module, &e->imports_deny) < 0 ||
        add_each(d, "fs_read", add_path, &e->fs_read) < 0 ||
        add_each(d, "fs_write", add_path, &e->fs_write) < 0 ||
        add_each(d, "net_connect", add_net, &e->net_connect) < 0 ||
        add_each(d, "net_bind", add_net, &e->net_bind) < 0)
        return -1;
    if (strv_from(d, "net_resolve", &e->resolve, &e->nresolve) < 0)
        return -1;
    static const struct { const char *key; int cap; } flags[] = {
        {"process_spawn", GUARD_CAP_PROCESS_SPAWN}, {"process_signal", GUARD_CAP_PROCESS_SIGNAL},
        {"native", GUARD_CAP_NATIVE}, {"introspection", GUARD_CAP_INTROSPECTION},
        {"dynamic_code", GUARD_CAP_DYNAMIC_CODE}, {"threads", GUARD_CAP_THREADS}};
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
        int f = spec_flag(d, flags[k].key, flags[k].cap == GUARD_CAP_THREADS);
        if (f < 0)
            return -1;
        if (f)
            e->caps |= 1u << flags[k].cap;
    }
    if (strv_from(d, "approve", &v, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (int c = 0; c < GUARD_CAP_COUNT; c++) {
            if (strcmp(v[i], guard_cap_names[c]) == 0) {
                e->approve |= 1u << c;
                found = 1;
            }
        }
        if (!found) {
            PyErr_Format(PyExc_ValueError, "compiled policy: unknown capability '%s' in approve", v[i]);
            free_strv(v, n);
            return -1;
        }
    }
    free_strv(v, n);

    /* The extension's builtins: the interpreter's, with __import__ checked and the
     * import machinery's back doors (__loader__, __spec__) removed. */
    PyObject *builtins_mod = PyImport_ImportModule("builtins");
    if (builtins_mod == NULL)
        return -1;
    e->builtins = PyDict_Copy(PyModule_GetDict(builtins_mod));
    Py_DECREF(builtins_mod);
    if (e->builtins == NULL)
        return -1;
    PyObject *idx = PyLong_FromSize_t(index);
    PyObject *imp = idx ? PyCFunction_NewEx(&guarded_import_def, idx, NULL) : NULL;
    Py_XDECREF(idx);
    if (imp == NULL || PyDict_SetItemString(e->builtins, "__import__", imp) < 0) {
        Py_XDECREF(imp);
        return -1;
    }
    Py_DECREF(imp);
    if (PyDict_DelItemString(e->builtins, "__loader__") < 0 ||
        PyDict_DelItemString(e->builtins, "__spec__") < 0)
        PyErr_Clear();
    return 0;
}

static PyObject *
guard_install(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"spec", "violation", "import_error", "guard_error", "finder", NULL};
    PyObject *spec, *violation, *import_error, *guard_error, *finder;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OOOO:install", kwlist, &PyDict_Type, &spec,
                                     &violation, &import_error, &guard_error, &finder))
        return NULL;
    if (guard_rt.installed) {
        PyErr_SetString(guard_error, "sdk_guard is already installed in this process: an audit "
                        "hook can never be removed, so install() may be called once");
        return NULL;
    }
    guard_runtime rt;
    memset(&rt, 0, sizeof rt);
    PyObject *exts = PyDict_GetItemString(spec, "extensions");
    PyObject *seq = exts ? PySequence_Fast(exts, "spec['extensions'] must be a list") : NULL;
    if (seq == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "compiled policy has no 'extensions'");
        return NULL;
    }
    rt.monitor = spec_str_is(spec, "mode", "monitor");
    rt.audit_all = spec_str_is(spec, "audit", "all");
    rt.unattributed_allow = spec_str_is(spec, "unattributed", "allow");
    rt.subinterp_allow = spec_str_is(spec, "subinterpreters", "allow");
    if (strv_from(spec, "trusted", &rt.trusted, &rt.ntrusted) < 0 ||
        strv_from(spec, "private", &rt.private_mods, &rt.nprivate) < 0 ||
        strv_from(spec, "public", &rt.public_mods, &rt.npublic) < 0)
        goto error;
    if (add_each(spec, "import_roots", add_path, &rt.import_roots) < 0)
        goto error;
    PyObject *hints = PyDict_GetItemString(spec, "hints");
    rt.hints = hints && PyDict_Check(hints) ? PyDict_Copy(hints) : PyDict_New();
    if (rt.hints == NULL)
        goto error;
    rt.next = (size_t)PySequence_Fast_GET_SIZE(seq);
    rt.ext = PyMem_RawCalloc(rt.next + 1, sizeof(guard_ext));
    if (rt.ext == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    /* compile_ext reads guard_rt.next through nothing; indexes are final here. */
    for (size_t i = 0; i < rt.next; i++) {
        PyObject *d = PySequence_Fast_ITEMS(seq)[i];
        if (!PyDict_Check(d)) {
            PyErr_SetString(PyExc_ValueError, "compiled policy: extensions must be dicts");
            goto error;
        }
        if (compile_ext(d, &rt.ext[i], i) < 0)
            goto error;
    }
    PyObject *builtins_mod = PyImport_ImportModule("builtins");
    if (builtins_mod == NULL)
        goto error;
    rt.builtins_import = PyObject_GetAttrString(builtins_mod, "__import__");
    Py_DECREF(builtins_mod);
    if (rt.builtins_import == NULL)
        goto error;
    static const char *const pathlib_names[GUARD_NPATHLIB] = {
        "PurePath", "PurePosixPath", "PureWindowsPath", "Path", "PosixPath", "WindowsPath"};
    PyObject *pathlib = PyImport_ImportModule("pathlib");
    if (pathlib == NULL)
        goto error;
    for (size_t i = 0; i < GUARD_NPATHLIB; i++) {
        Py_XSETREF(pathlib_types[i], PyObject_GetAttrString(pathlib, pathlib_names[i]));
        if (pathlib_types[i] == NULL)
            PyErr_Clear();
    }
    Py_DECREF(pathlib);
    PyObject *sockmod = PyImport_ImportModule("_socket");
    PyObject *socktype = sockmod ? PyObject_GetAttrString(sockmod, "socket") : NULL;
    Py_XDECREF(sockmod);
    if (socktype != NULL && PyType_Check(socktype)) {
        Py_XSETREF(socket_type, (PyTypeObject *)Py_NewRef(socktype));
        Py_XSETREF(socket_family, PyObject_GetAttrString(socktype, "family"));
    }
    Py_XDECREF(socktype);
    PyErr_Clear();      /* no _socket: sock_family() then refuses every family */
    PyObject *functools = PyImport_ImportModule("functools");
    PyObject *partial = functools ? PyObject_GetAttrString(functools, "partial") : NULL;
    Py_XDECREF(functools);
    if (partial == NULL)
        goto error;
    if (PyType_Check(partial))
        Py_XSETREF(partial_type, (PyTypeObject *)Py_NewRef(partial));
    Py_DECREF(partial);
    rt.principal_var = PyContextVar_New("sdk_guard.acting_as", NULL);
    if (rt.principal_var == NULL)
        goto error;
    rt.violation_type = Py_NewRef(violation);
    rt.import_error_type = Py_NewRef(import_error);
    rt.finder = finder == Py_None ? NULL : Py_NewRef(finder);
    Py_DECREF(seq);
    seq = NULL;

    /* Add the hook before the runtime is live, then prove it is called: an existing
     * hook that raises on "sys.addaudithook" makes PySys_AddAuditHook return 0
     * without adding ours. */
    long long before = probe_events;
    if (PySys_AddAuditHook(guard_hook, NULL) < 0)
        goto error_live;
    if (PySys_Audit("sdk_guard.install_probe", NULL) < 0)
        goto error_live;
    if (probe_events == before) {
        PyErr_SetString(guard_error, "sdk_guard's audit hook was not added: another audit hook "
                        "refused the sys.addaudithook event; install sdk_guard first");
        goto error_live;
    }
    guard_interp = PyInterpreterState_Get();
    guard_rt = rt;
    guard_rt.installed = 1;
    Py_RETURN_NONE;

error_live:
error:
    Py_XDECREF(seq);
    /* rt's partial contents are leaked deliberately: they are small, this path is
     * taken at most once per process, and half-built matchers are not worth the risk
     * of a double free. */
    return NULL;
}

/* ---- small entry points for the Python package ----------------------------------- */

int
guard_require_host(const char *what)
{
    if (!guard_rt.installed)
        return 0;
    guard_who who;
    if (guard_attrib_who(GUARD_WALK_FULL, &who) < 0)
        return -1;
    if (who.kind != GUARD_WHO_EXT)
        return 0;
    PyObject *target = PyUnicode_FromString(what);
    if (target == NULL)
        return -1;
    int rc = decide(who.ext, GUARD_CAP_INTROSPECTION, target, 0,
                    "only host code may change the guard");
    Py_DECREF(target);
    return rc;
}

/* guard_require_host for entry points sdk_guard wraps in Python (Guard.set_approver,
 * acting_as): the wrapper's own frame is host code, so an extension calling the
 * wrapper would pass; the question is asked of the wrapper's caller instead. */
int
guard_require_host_caller(const char *what)
{
    PyFrameObject *f = PyEval_GetFrame();       /* borrowed */
    PyObject *g = f ? PyFrame_GetGlobals(f) : NULL;
    PyObject *name = g ? PyDict_GetItemString(g, "__name__") : NULL;     /* borrowed */
    const char *c = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    PyObject *modules = PySys_GetObject("modules");                       /* borrowed */
    PyObject *mod = c && modules ? PyDict_GetItemWithError(modules, name) : NULL;
    int wrapped = c && guard_module_under(c, "sdk_guard") && mod && PyModule_Check(mod) &&
                  PyModule_GetDict(mod) == g;
    Py_XDECREF(g);
    PyErr_Clear();
    if (!wrapped || !guard_rt.installed)
        return guard_require_host(what);
    guard_who who;
    if (guard_attrib_who_from(GUARD_WALK_FULL, &who, 1) < 0)
        return -1;
    if (who.kind != GUARD_WHO_EXT)
        return 0;
    PyObject *target = PyUnicode_FromString(what);
    if (target == NULL)
        return -1;
    int rc = decide(who.ext, GUARD_CAP_INTROSPECTION, target, 0,
                    "only host code may change the guard");
    Py_DECREF(target);
    return rc;
}

static int
ext_index(PyObject *name)
{
    for (size_t i = 0; i < guard_rt.next; i++) {
        if (PyUnicode_Check(name) && PyUnicode_Compare(name, guard_rt.ext[i].name) == 0)
            return (int)i;
    }
    return -1;
}

static PyObject *
acting_as_enter(PyObject *self, PyObject *name)
{
    if (!guard_rt.installed) {
        PyErr_SetString(PyExc_RuntimeError, "sdk_guard is not installed");
        return NULL;
    }
    if (guard_require_host_caller("acting_as") < 0)
        return NULL;
    if (ext_index(name) < 0) {
        PyErr_Format(PyExc_ValueError, "acting_as(%R): no extension of that name in the "
                     "installed policy", name);
        return NULL;
    }
    return PyContextVar_Set(guard_rt.principal_var, name);
}

static PyObject *
acting_as_exit(PyObject *self, PyObject *token)
{
    if (PyContextVar_Reset(guard_rt.principal_var, token) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
set_approver(PyObject *self, PyObject *fn)
{
    if (fn != Py_None && !PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "approver must be callable(principal, capability, "
                        "target) -> bool, or None");
        return NULL;
    }
    if (guard_require_host_caller("set_approver") < 0)
        return NULL;
    Py_XSETREF(guard_rt.approver, fn == Py_None ? NULL : Py_NewRef(fn));
    Py_RETURN_NONE;
}

/* For the finder: the extension importing right now (direct importer), or None. */
static PyObject *
importer(PyObject *self, PyObject *unused)
{
    guard_who who;
    if (!guard_rt.installed)
        Py_RETURN_NONE;
    /* Skip the finder's own frame: the question is about whoever imports. */
    if (guard_attrib_who_from(GUARD_WALK_IMPORT, &who, 1) < 0)
        return NULL;
    if (who.kind != GUARD_WHO_EXT)
        Py_RETURN_NONE;
    return Py_NewRef(guard_rt.ext[who.ext].name);
}

/* For importlib.import_module: checks NAME for the extension importing (the direct
 * importer, skipping the wrapper's frame).  An already-imported module raises no
 * "import" event and never reaches the guarded __import__, so this is its only check. */
static PyObject *
check_importer(PyObject *self, PyObject *name)
{
    guard_who who;
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "module name must be str");
        return NULL;
    }
    if (!guard_rt.installed)
        Py_RETURN_NONE;
    if (guard_attrib_who_from(GUARD_WALK_IMPORT, &who, 1) < 0)
        return NULL;
    if (who.kind != GUARD_WHO_EXT)
        Py_RETURN_NONE;
    const char *cname = PyUnicode_AsUTF8(name);
    if (cname == NULL || check_import(who.ext, cname) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
current_principal(PyObject *self, PyObject *unused)
{
    guard_who who;
    if (!guard_rt.installed)
        return Py_BuildValue("(sO)", "host", Py_None);
    if (guard_attrib_who(GUARD_WALK_FULL, &who) < 0)
        return NULL;
    static const char *kinds[] = {"host", "extension", "unattributed", "library"};
    PyObject *ctx = who.ctx_ext >= 0 ? guard_rt.ext[who.ctx_ext].name : Py_None;
    if (who.kind == GUARD_WHO_EXT)
        return Py_BuildValue("(sOO)", kinds[who.kind], guard_rt.ext[who.ext].name, ctx);
    return Py_BuildValue("(sOO)", kinds[who.kind], Py_None, ctx);
}

/* For the extension loader: give MODULE_DICT the extension's guarded builtins and tag
 * CODE (recursively) as the extension's. */
static PyObject *
prepare_module(PyObject *self, PyObject *args)
{
    PyObject *globals, *name, *code;
    if (!PyArg_ParseTuple(args, "O!UO:prepare_module", &PyDict_Type, &globals, &name, &code))
        return NULL;
    if (guard_require_host("prepare_module") < 0)
        return NULL;
    int i = ext_index(name);
    if (i < 0) {
        PyErr_Format(PyExc_ValueError, "no extension %R in the installed policy", name);
        return NULL;
    }
    if (PyDict_SetItemString(globals, "__builtins__", guard_rt.ext[i].builtins) < 0)
        return NULL;
    if (code != Py_None && guard_attrib_tag_code(code, i) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
wrap_thread_starter(PyObject *self, PyObject *orig)
{
    if (!PyCallable_Check(orig)) {
        PyErr_SetString(PyExc_TypeError, "expected the original thread starter");
        return NULL;
    }
    if (guard_require_host("wrap_thread_starter") < 0)
        return NULL;
    for (size_t i = 0; i < nthread_starters; i++) {
        if (thread_starters[i] == orig)
            goto wrap;
    }
    if (nthread_starters == GUARD_MAX_STARTERS) {
        PyErr_SetString(PyExc_RuntimeError, "sdk_guard: too many thread starters wrapped");
        return NULL;
    }
    thread_starters[nthread_starters++] = Py_NewRef(orig);
wrap:;
    size_t k = 0;
    while (thread_starters[k] != orig)
        k++;
    PyObject *index = PyLong_FromSize_t(k);
    if (index == NULL)
        return NULL;
    PyObject *f = PyCFunction_NewEx(&thread_start_def, index, NULL);
    Py_DECREF(index);
    return f;
}

static PyObject *
subinterpreter_denials(PyObject *self, PyObject *unused)
{
    return PyLong_FromLongLong(foreign_denials);
}

static PyObject *
is_installed(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(guard_rt.installed);
}

static PyObject *
code_owner(PyObject *self, PyObject *code)
{
    int i = guard_attrib_code_ext(code);
    if (i < 0)
        Py_RETURN_NONE;
    return Py_NewRef(guard_rt.ext[i].name);
}

PyMethodDef guard_hook_methods[] = {
    {"install", (PyCFunction)(void (*)(void))guard_install, METH_VARARGS | METH_KEYWORDS,
     "install(spec, violation, import_error, guard_error, finder)\n--\n\n"
     "Compile SPEC (Policy.to_spec()) and add the audit hook; once per process."},
    {"acting_as_enter", acting_as_enter, METH_O, "acting_as_enter(name) -> token"},
    {"acting_as_exit", acting_as_exit, METH_O, "acting_as_exit(token)"},
    {"set_approver", set_approver, METH_O, "set_approver(fn | None)"},
    {"importer", importer, METH_NOARGS, "importer() -> extension name | None"},
    {"check_importer", check_importer, METH_O,
     "check_importer(name): raise ImportBoundaryError if the extension importing may not"},
    {"current_principal", current_principal, METH_NOARGS,
     "current_principal() -> (kind, extension | None, acting_as | None)"},
    {"prepare_module", prepare_module, METH_VARARGS,
     "prepare_module(module_dict, extension, code)"},
    {"wrap_thread_starter", wrap_thread_starter, METH_O,
     "wrap_thread_starter(orig) -> checked starter"},
    {"is_installed", is_installed, METH_NOARGS, "is_installed() -> bool"},
    {"subinterpreter_denials", subinterpreter_denials, METH_NOARGS,
     "subinterpreter_denials() -> int: mediated operations refused in sub-interpreters"},
    {"code_owner", code_owner, METH_O, "code_owner(code) -> extension name | None"},
    {NULL, NULL, 0, NULL},
};

int
guard_hook_init(PyObject *module)
{
    static int built;
    if (!built) {
        ev_table_build();
        built = 1;
    }
    return guard_attrib_init();
}
