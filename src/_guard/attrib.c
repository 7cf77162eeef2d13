/* attrib.c - who asked: a stack walk over cached code-object classifications, combined
 * with the acting_as() context variable.
 *
 * A code object is classified once and the verdict cached in its co_extra slot:
 * extension code (tagged by the extension loader, or by exec/function.__new__ while an
 * extension was the principal, or by its module's package), host code (a trusted
 * module prefix *and* the frame's globals are that module's own __dict__, so a forged
 * __name__ or co_filename does not make code trusted), or library code (transparent).
 */
#include "attrib.h"
#include "args.h"

#if PY_VERSION_HEX >= 0x030C0000
#  define GUARD_REQUEST_EXTRA PyUnstable_Eval_RequestCodeExtraIndex
#  define GUARD_GET_EXTRA PyUnstable_Code_GetExtra
#  define GUARD_SET_EXTRA PyUnstable_Code_SetExtra
#else
#  define GUARD_REQUEST_EXTRA _PyEval_RequestCodeExtraIndex
#  define GUARD_GET_EXTRA _PyCode_GetExtra
#  define GUARD_SET_EXTRA _PyCode_SetExtra
#endif

/* Process-wide: the co_extra index is per interpreter and requested once. */
static Py_ssize_t code_extra_index = -1;

/* Modules that import by name for their caller, and modules that hand frames to their
 * caller: each is transparent for the walk that concerns it. */
static const char *const machinery_modules[] = {
    "importlib._bootstrap", "importlib._bootstrap_external", "zipimport",
    /* Reading installed distributions' metadata (entry points, versions) on a
     * library's behalf: pydantic's plugin discovery, entry-point registries. */
    "importlib.metadata", "importlib_metadata", NULL};
static const char *const importer_modules[] = {"importlib", "pkgutil", "runpy", NULL};
static const char *const leaker_modules[] = {"inspect", "traceback", "pdb", "bdb", "cgitb", NULL};

/* Tags are small integers stored as pointers; nothing to free. */
static void
no_free(void *p)
{
    (void)p;
}

int
guard_attrib_init(void)
{
    if (code_extra_index >= 0)
        return 0;
    code_extra_index = GUARD_REQUEST_EXTRA(no_free);
    if (code_extra_index < 0) {
        PyErr_SetString(PyExc_RuntimeError, "sdk_guard: no co_extra slot is left for "
                                            "code classification (too many tools requested one)");
        return -1;
    }
    return 0;
}

static int
get_tag(PyObject *code)
{
    void *extra = NULL;
    if (GUARD_GET_EXTRA(code, code_extra_index, &extra) < 0) {
        PyErr_Clear();
        return GUARD_TAG_UNKNOWN;
    }
    return (int)(intptr_t)extra;
}

static int
set_tag(PyObject *code, int tag)
{
    return GUARD_SET_EXTRA(code, code_extra_index, (void *)(intptr_t)tag);
}

/* Extension index whose package covers module NAME, or -1. */
static int
ext_for_module(const char *name)
{
    for (size_t i = 0; i < guard_rt.next; i++) {
        if (guard_module_under(name, guard_rt.ext[i].package))
            return (int)i;
    }
    return -1;
}

static int
name_in(const char *name, const char *const *list)
{
    for (; *list; list++) {
        if (guard_module_under(name, *list))
            return 1;
    }
    return 0;
}

static int
is_trusted_name(const char *name)
{
    if (strcmp(name, "__main__") == 0 || guard_module_under(name, "sdk_guard"))
        return 1;
    for (size_t i = 0; i < guard_rt.ntrusted; i++) {
        if (guard_module_under(name, guard_rt.trusted[i]))
            return 1;
    }
    return 0;
}

/* Globals dicts already found to be the __dict__ of the module sys.modules knows by
 * their __name__ (a trusted name).  guard_dict_get walks sys.modules, so a host frame
 * would pay for a scan of every module on every mediated event; a dict found once is
 * that module's for good (code exec'd in it by an extension is tagged as the
 * extension's before its globals are looked at).  Strong references, never evicted:
 * a freed dict's address reused by a foreign dict must not hit, and releasing one here
 * could run destructors inside the hook.  Beyond the cap, lookups just scan again. */
#define GUARD_VERIFIED_GLOBALS 256
static PyObject *verified_globals[GUARD_VERIFIED_GLOBALS];
static size_t nverified_globals;

static int
globals_verified(PyObject *globals)
{
    for (size_t i = 0; i < nverified_globals; i++) {
        if (verified_globals[i] == globals)
            return 1;
    }
    return 0;
}

/* Host code runs with the globals of the module sys.modules knows by that name. */
int
guard_attrib_globals_are_module(PyObject *globals, PyObject *name)
{
    if (globals_verified(globals))
        return 1;
    PyObject *modules = PySys_GetObject("modules"); /* borrowed */
    if (modules == NULL || !PyDict_Check(modules))
        return 0;
    PyObject *mod = guard_dict_get(modules, name); /* borrowed; calls no key's __eq__ */
    if (mod == NULL)
        return 0;
    if (!PyModule_Check(mod) || PyModule_GetDict(mod) != globals)
        return 0;
    if (nverified_globals < GUARD_VERIFIED_GLOBALS)
        verified_globals[nverified_globals++] = Py_NewRef(globals);
    return 1;
}

/* Returns the tag for a frame's code, classifying and caching it on first sight. */
static int
classify(PyObject *code, PyObject *globals)
{
    int tag = get_tag(code);
    if (tag != GUARD_TAG_UNKNOWN)
        return tag;
    tag = GUARD_TAG_LIBRARY;
    PyObject *name = guard_dict_get_str(globals, "__name__"); /* borrowed, no __eq__ */
    /* An exact str only: a subclass planted as a module's __name__ would run its
     * __hash__/__eq__ in the sys.modules lookup below, inside the hook. */
    const char *cname = name && PyUnicode_CheckExact(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (cname == NULL) {
        PyErr_Clear();
    }
    else {
        int ext = ext_for_module(cname);
        if (ext >= 0)
            tag = GUARD_TAG_EXT0 + ext;
        else if (is_trusted_name(cname))
            /* A trusted name on foreign globals is not host code; it stays library
             * (transparent), never trusted. */
            tag =
                guard_attrib_globals_are_module(globals, name) ? GUARD_TAG_HOST : GUARD_TAG_LIBRARY;
        else if (name_in(cname, machinery_modules))
            tag = GUARD_TAG_MACHINERY;
        else if (name_in(cname, importer_modules))
            tag = GUARD_TAG_IMPORTER;
        else if (name_in(cname, leaker_modules))
            tag = GUARD_TAG_LEAKER;
    }
    /* __main__ can be re-executed with fresh globals (runpy); cache only verdicts
     * that cannot change with globals identity. */
    if (tag != GUARD_TAG_HOST && set_tag(code, tag) < 0)
        PyErr_Clear();
    return tag;
}

int
guard_attrib_tag_code(PyObject *code, int ext)
{
    if (!PyCode_Check(code))
        return 0;
    if (set_tag(code, GUARD_TAG_EXT0 + ext) < 0)
        return -1;
    PyObject *consts = ((PyCodeObject *)code)->co_consts;
    if (consts != NULL && PyTuple_Check(consts)) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(consts); i++) {
            PyObject *c = PyTuple_GET_ITEM(consts, i);
            if (PyCode_Check(c) && guard_attrib_tag_code(c, ext) < 0)
                return -1;
        }
    }
    return 0;
}

int
guard_attrib_code_ext(PyObject *code)
{
    if (!PyCode_Check(code))
        return -1;
    int tag = get_tag(code);
    return tag >= GUARD_TAG_EXT0 ? tag - GUARD_TAG_EXT0 : -1;
}

static int
ctx_extension(void)
{
    PyObject *val = NULL;
    if (guard_rt.principal_var == NULL)
        return -1;
    if (PyContextVar_Get(guard_rt.principal_var, NULL, &val) < 0) {
        PyErr_Clear();
        return -1;
    }
    int found = -1;
    if (val != NULL && PyUnicode_Check(val)) {
        for (size_t i = 0; i < guard_rt.next; i++) {
            if (PyUnicode_Compare(val, guard_rt.ext[i].name) == 0) {
                found = (int)i;
                break;
            }
        }
    }
    Py_XDECREF(val);
    return found;
}

/* acting_as() speaks only when no extension frame is on the stack: host code that
 * runs *inside* an extension's call (the SDK serving it) acts with host authority,
 * exactly as it does without acting_as.  1 if a frame older than FRAME is extension
 * code. */
static int
ext_frame_below(PyFrameObject *frame)
{
    PyFrameObject *f = PyFrame_GetBack(frame);
    while (f != NULL) {
        PyCodeObject *code = PyFrame_GetCode(f);
        PyObject *globals = PyFrame_GetGlobals(f);
        int tag = classify((PyObject *)code, globals);
        Py_DECREF(code);
        Py_XDECREF(globals);
        if (tag >= GUARD_TAG_EXT0) {
            Py_DECREF(f);
            return 1;
        }
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
    }
    return 0;
}

/* ---- thread marks ------------------------------------------------------------- */

/* Who this thread runs as when its stack has neither host nor extension frames: set
 * once, by the checked thread starter's entry point, as the thread's first act. */
static _Thread_local int thread_mark;

int
guard_attrib_thread_mark(void)
{
    return thread_mark;
}

void
guard_attrib_set_thread_mark(int mark)
{
    thread_mark = mark;
}

/* The mark, or host for a thread that was running when install() ran (not the main
 * thread: atexit callbacks and finalizers run there with no host frame). */
static int
effective_mark(void)
{
    if (thread_mark != GUARD_MARK_NONE || guard_rt.nhost_threads == 0)
        return thread_mark;
    unsigned long self = PyThread_get_thread_ident();
    for (size_t i = 0; i < guard_rt.nhost_threads; i++) {
        if (guard_rt.host_threads[i] == self)
            return GUARD_MARK_HOST;
    }
    return GUARD_MARK_NONE;
}

/* ---- the library frame behind a decision ------------------------------------------ */

/* Strong references, replaced by each full walk of this thread: the innermost library
 * frame between the operation and the frame that decided who asked. */
static _Thread_local PyObject *lib_code, *lib_globals;
static _Thread_local int lib_lasti;

void
guard_attrib_forget_library(void)
{
    Py_CLEAR(lib_code);
    Py_CLEAR(lib_globals);
}

int
guard_attrib_last_library(PyObject **module, PyObject **where)
{
    *module = *where = NULL;
    if (lib_code == NULL || lib_globals == NULL || !PyDict_Check(lib_globals))
        return 0;
    PyObject *name = guard_dict_get_str(lib_globals, "__name__"); /* borrowed, no __eq__ */
    if (name == NULL || !PyUnicode_CheckExact(name))
        return 0;
    Py_ssize_t dot = PyUnicode_FindChar(name, '.', 0, PyUnicode_GET_LENGTH(name), 1);
    if (dot == -2)
        return -1;
    *module = dot >= 0 ? PyUnicode_Substring(name, 0, dot) : Py_NewRef(name);
    if (*module == NULL)
        return -1;
    PyCodeObject *co = (PyCodeObject *)lib_code;
    int line = PyCode_Addr2Line(co, lib_lasti);
    *where = PyUnicode_FromFormat("%U:%d in %U", co->co_filename, line, co->co_name);
    if (*where == NULL) {
        Py_CLEAR(*module);
        return -1;
    }
    return 1;
}

int
guard_attrib_who(enum guard_walk mode, guard_who *out)
{
    return guard_attrib_who_from(mode, out, 0);
}

int
guard_attrib_who_from(enum guard_walk mode, guard_who *out, int skip)
{
    out->kind = GUARD_WHO_UNATTRIBUTED;
    out->ext = -1;
    out->ctx_ext = ctx_extension();
    out->via_machinery = 0;
    int want_lib = mode == GUARD_WALK_FULL;
    guard_attrib_forget_library();

    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed */
    Py_XINCREF(frame);
    for (; frame != NULL && skip > 0; skip--) {
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    while (frame != NULL) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        PyObject *globals = PyFrame_GetGlobals(frame);
        int tag = classify((PyObject *)code, globals);
        if (want_lib && tag == GUARD_TAG_LIBRARY) {
            /* Kept (not borrowed): a record built later must not see freed objects. */
            lib_code = (PyObject *)code;
            lib_globals = globals;
            lib_lasti = PyFrame_GetLasti(frame);
            want_lib = 0;
        }
        else {
            Py_DECREF(code);
            Py_XDECREF(globals);
        }
        int decided = 1;
        if (tag >= GUARD_TAG_EXT0) {
            out->kind = GUARD_WHO_EXT;
            out->ext = tag - GUARD_TAG_EXT0;
        }
        else if (tag == GUARD_TAG_HOST) {
            out->kind = GUARD_WHO_HOST;
        }
        else if (tag == GUARD_TAG_MACHINERY) {
            /* The import system reading the import path on its caller's behalf. */
            out->via_machinery = 1;
            decided = mode == GUARD_WALK_DIRECT;
            if (decided)
                out->kind = GUARD_WHO_LIBRARY;
        }
        else if (mode == GUARD_WALK_IMPORT && tag != GUARD_TAG_IMPORTER) {
            /* A library importing its own dependencies was itself allowed in. */
            out->kind = GUARD_WHO_LIBRARY;
        }
        else if (mode == GUARD_WALK_DIRECT && tag != GUARD_TAG_LEAKER) {
            /* A library using frames or exec for its own mechanics (logging,
             * dataclasses, namedtuple) does not hand them to its caller. */
            out->kind = GUARD_WHO_LIBRARY;
        }
        else {
            decided = 0;
        }
        if (decided) {
            if (out->kind == GUARD_WHO_EXT)
                out->ctx_ext = -1;
            else if (out->kind == GUARD_WHO_HOST && out->ctx_ext >= 0 && ext_frame_below(frame))
                /* The SDK serving an extension: host authority, as without acting_as. */
                out->ctx_ext = -1;
            Py_DECREF(frame);
            return 0;
        }
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    /* No host or extension frame decided: the thread's own mark does. */
    int mark = effective_mark();
    if (mark == GUARD_MARK_HOST) {
        out->kind = GUARD_WHO_HOST;
    }
    else if (mark >= GUARD_MARK_EXT0 && (size_t)(mark - GUARD_MARK_EXT0) < guard_rt.next) {
        out->kind = GUARD_WHO_EXT;
        out->ext = mark - GUARD_MARK_EXT0;
        out->ctx_ext = -1;
    }
    return 0;
}
