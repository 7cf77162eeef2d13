/* fs.c - the filesystem room: which file an argument names, and whether EXT may
 * read or write it. */
#include "fs.h"
#include "args.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* pathlib paths are read from their slots, never through their methods.
 *
 * A pathlib class is an ordinary Python class: its methods (__fspath__, __str__,
 * _format_parsed_parts, ...) can be replaced by any code in the process, and its slots
 * hold whatever an extension assigned -- a str or list subclass whose methods run
 * when pathlib joins or encodes them.  So the hook calls no pathlib code: it reads the
 * slots pathlib's own str() would read, in the order it reads them, straight from the
 * instance (member offsets captured from the class at install), and accepts a path
 * only if every slot that is set holds an exact str (or an exact list of exact str).
 * Anything else -- a subclass, a partly-parsed state pathlib never produces, a
 * Windows flavour -- is refused with "pass str(path)". */

/* The object in slot I of O (borrowed), or NULL when unset or unknown. */
static PyObject *
pl_slot(PyObject *o, int i)
{
    Py_ssize_t off = guard_pathlib_slots[i];
    return off < 0 ? NULL : *(PyObject **)((char *)o + off);
}

static int
exact_str_list(PyObject *v)
{
    if (v == NULL || !PyList_CheckExact(v))
        return 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++) {
        if (!PyUnicode_CheckExact(PyList_GET_ITEM(v, i)))
            return 0;
    }
    return 1;
}

/* The string pathlib's str() of O would give, or NULL: *UNTRUSTED set when O is not a
 * posix pathlib path made of exact built-in values (no exception), else an exception. */
static PyObject *
pathlib_string(PyObject *o, int *untrusted)
{
    *untrusted = 1;
    PyTypeObject *t = Py_TYPE(o);
    /* By identity with the classes pathlib exported at install: a class's __module__
     * is whatever its body or metaclass says (and "pathlib._local" on 3.13).  The
     * Windows flavours join with another separator: refused. */
    static const int posix[GUARD_NPATHLIB] = {1, 1, 0, 1, 1, 0};
    int known = 0;
    for (size_t i = 0; i < GUARD_NPATHLIB; i++)
        known |= posix[i] && guard_pathlib_types[i] == (PyObject *)t;
    if (!known || guard_pathlib_slots[GUARD_PL_STR] < 0 || guard_pathlib_slots[GUARD_PL_DRV] < 0 ||
        guard_pathlib_slots[GUARD_PL_ROOT] < 0)
        return NULL;
    /* Every slot that is set must hold its built-in type, whether or not this
     * conversion reads it: the library reads the others after the hook. */
    for (int i = 0; i < GUARD_PL_N; i++) {
        PyObject *v = pl_slot(o, i);
        if (v == NULL)
            continue;
        int list_slot = i == GUARD_PL_PARTS || i == GUARD_PL_RAW || i == GUARD_PL_TAIL;
        if (list_slot ? !exact_str_list(v) : !PyUnicode_CheckExact(v))
            return NULL;
    }
    PyObject *str = pl_slot(o, GUARD_PL_STR);
    if (str != NULL) {
        if (!PyUnicode_CheckExact(str))
            return NULL;
        *untrusted = 0;
        return Py_NewRef(str);
    }
    PyObject *drv = pl_slot(o, GUARD_PL_DRV), *root = pl_slot(o, GUARD_PL_ROOT), *parts = NULL;
    Py_ssize_t first = 0;
    if (guard_pathlib_slots[GUARD_PL_PARTS] >= 0) {
        /* 3.11: _drv, _root and _parts are set together when the path is made. */
        parts = pl_slot(o, GUARD_PL_PARTS);
        if (drv == NULL || root == NULL || !exact_str_list(parts))
            return NULL;
        if (!PyUnicode_CheckExact(drv) || !PyUnicode_CheckExact(root))
            return NULL;
        first = PyUnicode_GET_LENGTH(drv) || PyUnicode_GET_LENGTH(root) ? 1 : 0;
    }
    else if (guard_pathlib_slots[GUARD_PL_RAW] >= 0 && guard_pathlib_slots[GUARD_PL_TAIL] >= 0) {
        /* 3.12+: the parsed parts when all three are cached (pathlib sets them
         * together), else the raw arguments pathlib would parse. */
        PyObject *tail = pl_slot(o, GUARD_PL_TAIL);
        if (drv != NULL || root != NULL || tail != NULL) {
            if (drv == NULL || root == NULL || !PyUnicode_CheckExact(drv) ||
                !PyUnicode_CheckExact(root) || !exact_str_list(tail))
                return NULL;
            parts = tail;
        }
        else {
            PyObject *raw = pl_slot(o, GUARD_PL_RAW);
            if (!exact_str_list(raw))
                return NULL;
            /* posixpath.join(*raw): an absolute part restarts the path. */
            PyObject *pieces = PyList_New(0);
            if (pieces == NULL) {
                *untrusted = 0;
                return NULL;
            }
            for (Py_ssize_t i = 0; i < PyList_GET_SIZE(raw); i++) {
                PyObject *part = PyList_GET_ITEM(raw, i);
                if (PyUnicode_GET_LENGTH(part) > 0 && PyUnicode_READ_CHAR(part, 0) == '/') {
                    if (PyList_SetSlice(pieces, 0, PyList_GET_SIZE(pieces), NULL) < 0)
                        goto fail_pieces;
                }
                if (PyList_Append(pieces, part) < 0)
                    goto fail_pieces;
            }
            PyObject *sep = PyUnicode_FromString("/");
            PyObject *joined = sep ? PyUnicode_Join(sep, pieces) : NULL;
            Py_XDECREF(sep);
            Py_DECREF(pieces);
            *untrusted = 0;
            if (joined != NULL && PyUnicode_GET_LENGTH(joined) == 0)
                Py_SETREF(joined, PyUnicode_FromString("."));
            return joined;
        fail_pieces:
            Py_DECREF(pieces);
            *untrusted = 0;
            return NULL;
        }
    }
    else {
        return NULL;
    }
    /* drv + root + "/".join(parts[first:]), or "." when that is empty. */
    *untrusted = 0;
    PyObject *rest = PyList_GetSlice(parts, first, PyList_GET_SIZE(parts));
    PyObject *sep = rest ? PyUnicode_FromString("/") : NULL;
    PyObject *joined = sep ? PyUnicode_Join(sep, rest) : NULL;
    Py_XDECREF(sep);
    Py_XDECREF(rest);
    if (joined == NULL)
        return NULL;
    PyObject *head = PyUnicode_Concat(drv, root);
    PyObject *full = head ? PyUnicode_Concat(head, joined) : NULL;
    Py_XDECREF(head);
    Py_DECREF(joined);
    if (full != NULL && PyUnicode_GET_LENGTH(full) == 0)
        Py_SETREF(full, PyUnicode_FromString("."));
    return full;
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
            int untrusted;
            PyObject *str = pathlib_string(o, &untrusted);
            if (str == NULL) {
                if (!untrusted)
                    return -1;
                *shown = guard_describe(o);
                return *shown ? PATH_UNTRUSTED : -1;
            }
            o = str;
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
            *shown =
                PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
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
    /* An installed distribution's metadata (METADATA, entry_points.txt, RECORD):
     * a file directly inside a *.dist-info or *.egg-info directory. */
    const char *slash = strrchr(resolved, '/');
    if (slash != NULL && slash > resolved) {
        static const char *const meta[] = {".dist-info", ".egg-info", NULL};
        size_t dlen = (size_t)(slash - resolved);
        for (const char *const *m = meta; *m; m++) {
            size_t k = strlen(*m);
            if (dlen >= k && memcmp(slash - k, *m, k) == 0)
                return 1;
        }
    }
    struct stat st;
    return stat(resolved, &st) == 0 && S_ISDIR(st.st_mode);
}

int
guard_fs_check_path(int ext, int cap, PyObject *o, PyObject *dir_fd, int unknown_dir_fd)
{
    char resolved[PATH_MAX * 2];
    PyObject *shown = NULL;
    int r = resolve_path_arg(o, dir_fd, unknown_dir_fd, resolved, sizeof resolved, &shown);
    if (r < 0)
        return -1;
    int rc;
    if (r == PATH_UNTRUSTED) {
        rc = guard_decide(ext, cap, shown, 0,
                          "only str, bytes, file descriptors and pathlib paths are accepted from "
                          "extension code; pass str(path)");
    }
    else if (r == PATH_STREAM) {
        rc = guard_decide(ext, cap, shown, 1, NULL);
    }
    else if (r == PATH_UNRESOLVABLE) {
        rc = guard_decide(ext, cap, shown, 0,
                          "the guard cannot resolve this path (relative to an unknown dir_fd, "
                          "an anonymous descriptor, or too long); use an absolute path");
    }
    else if (guard_pathset_match(&guard_rt.private_paths, resolved)) {
        /* A private host module's source or bytecode: never an extension's to read or
         * write, by any route (open, get_data, spec_from_file_location, the import
         * machinery), whatever fs.read says. */
        PyObject *target = PyUnicode_DecodeFSDefault(resolved);
        if (target == NULL) {
            Py_XDECREF(shown);
            return -1;
        }
        rc = guard_decide(ext, cap, target, 0,
                          "it is a file of a host.private module; use the public SDK");
        Py_DECREF(target);
    }
    else {
        const guard_ext *e = &guard_rt.ext[ext];
        const guard_pathset *set = cap == GUARD_CAP_FS_WRITE ? &e->fs_write : &e->fs_read;
        /* Anything writable is readable too. */
        int ok =
            guard_pathset_match(set, resolved) ||
            (cap == GUARD_CAP_FS_READ && guard_pathset_match(&e->fs_write, resolved)) ||
            (cap == GUARD_CAP_FS_READ && guard_via_machinery &&
             guard_pathset_match(&guard_rt.import_roots, resolved) && machinery_may_read(resolved));
        if (ok && guard_allow_is_silent(ext, cap)) {
            /* guard_decide() would return 0 without looking at the target: skip the decode. */
            rc = 0;
        }
        else {
            PyObject *target = PyUnicode_DecodeFSDefault(resolved);
            if (target == NULL) {
                Py_XDECREF(shown);
                return -1;
            }
            rc = guard_decide(ext, cap, target, ok, NULL);
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

int
guard_fs_mediate(int ext, const ev_entry *e, PyObject *args)
{
    PyObject *a0 = guard_arg(args, 0), *a1 = guard_arg(args, 1);
    switch (e->handler) {
    case H_OPEN: {
        PyObject *mode = a1, *flags = guard_arg(args, 2);
        int writes = mode_writes(mode, flags);
        /* os.open passes mode None and never says which dir_fd it used. */
        int unknown_dir_fd = mode == Py_None;
        if (writes)
            return guard_fs_check_path(ext, GUARD_CAP_FS_WRITE, a0, NULL, unknown_dir_fd);
        return guard_fs_check_path(ext, GUARD_CAP_FS_READ, a0, NULL, unknown_dir_fd);
    }
    case H_PATH:
        return guard_fs_check_path(ext, e->cap, a0,
                                   e->dir_fd_arg >= 0 ? guard_arg(args, e->dir_fd_arg) : NULL, 0);
    case H_RENAME:
        /* Both names become writable through the new name (rename, link). */
        if (guard_fs_check_path(ext, GUARD_CAP_FS_WRITE, a0, guard_arg(args, 2), 0) < 0)
            return -1;
        return guard_fs_check_path(ext, GUARD_CAP_FS_WRITE, a1, guard_arg(args, 3), 0);
    case H_SYMLINK:
        return guard_fs_check_path(ext, GUARD_CAP_FS_WRITE, a1, guard_arg(args, 2), 0);
    case H_COPY:
        if (guard_fs_check_path(ext, GUARD_CAP_FS_READ, a0, NULL, 0) < 0)
            return -1;
        return guard_fs_check_path(ext, GUARD_CAP_FS_WRITE, a1, NULL, 0);
    case H_MOVE:
        if (guard_fs_check_path(ext, GUARD_CAP_FS_WRITE, a0, NULL, 0) < 0)
            return -1;
        return guard_fs_check_path(ext, GUARD_CAP_FS_WRITE, a1, NULL, 0);
    case H_UNPACK:
        if (guard_fs_check_path(ext, GUARD_CAP_FS_READ, a0, NULL, 0) < 0)
            return -1;
        return guard_fs_check_path(ext, GUARD_CAP_FS_WRITE, a1, NULL, 0);
    case H_ARCHIVE:
        if (guard_fs_check_path(ext, GUARD_CAP_FS_WRITE, a0, NULL, 0) < 0)
            return -1;
        return guard_fs_check_path(ext, GUARD_CAP_FS_READ, guard_arg(args, 2), NULL, 0);
    case H_GLOB: {
        /* Check the directory the pattern starts from: its part before any magic. */
        PyObject *root = e->dir_fd_arg >= 0 ? guard_arg(args, 2) : NULL;
        PyObject *dir_fd = e->dir_fd_arg >= 0 ? guard_arg(args, e->dir_fd_arg) : NULL;
        if (root != NULL && root != Py_None)
            return guard_fs_check_path(ext, GUARD_CAP_FS_READ, root, dir_fd, 0);
        if (a0 == NULL || !(PyUnicode_Check(a0) || PyBytes_Check(a0)))
            return guard_fs_check_path(ext, GUARD_CAP_FS_READ, a0, dir_fd, 0);
        PyObject *b = PyUnicode_Check(a0) ? PyUnicode_EncodeFSDefault(a0) : Py_NewRef(a0);
        if (b == NULL)
            return -1;
        const char *s = PyBytes_AS_STRING(b);
        if (strlen(s) != (size_t)PyBytes_GET_SIZE(b)) {
            /* A NUL would hide the pattern's directory; check_path refuses it whole. */
            Py_DECREF(b);
            return guard_fs_check_path(ext, GUARD_CAP_FS_READ, a0, dir_fd, 0);
        }
        size_t magic = strcspn(s, "*?[");
        size_t cut = magic;
        while (cut > 0 && s[cut - 1] != '/')
            cut--;
        PyObject *prefix = cut == 0
                               ? PyBytes_FromString(".")
                               : PyBytes_FromStringAndSize(s, (Py_ssize_t)(cut > 1 ? cut - 1 : 1));
        Py_DECREF(b);
        if (prefix == NULL)
            return -1;
        int rc = guard_fs_check_path(ext, GUARD_CAP_FS_READ, prefix, dir_fd, 0);
        Py_DECREF(prefix);
        return rc;
    }
    case H_MMAP: {
        /* Only fileno -1 is an anonymous mapping; any other value (a huge or negative
         * int, a non-int) goes to check_path, which refuses what it cannot resolve. */
        int overflow = 0;
        long fd = a0 && PyLong_Check(a0) ? PyLong_AsLongAndOverflow(a0, &overflow) : -2;
        if (fd == -1 && !overflow && !PyErr_Occurred())
            return 0; /* anonymous mapping: no file */
        PyErr_Clear();
        PyObject *access = guard_arg(args, 2);
        long acc = access && PyLong_Check(access) ? PyLong_AsLong(access) : 0;
        /* ACCESS_READ = 1 and ACCESS_COPY = 3 never write the file. */
        int cap = (acc == 1 || acc == 3) ? GUARD_CAP_FS_READ : GUARD_CAP_FS_WRITE;
        return guard_fs_check_path(ext, cap, a0, NULL, 0);
    }
    case H_SQLITE: {
        /* sqlite3 reads its argument as a URI (uri=True, which the event does not
         * carry) whether it came as str, bytes or a path object: each is looked at
         * as the text sqlite3 will see.  A URI names its file and options in a syntax
         * the guard does not parse, so a URI is refused. */
        PyObject *text = NULL;
        if (a0 != NULL && PyUnicode_Check(a0)) {
            text = PyUnicode_AsUTF8String(a0);
            if (text == NULL)
                PyErr_Clear(); /* surrogates: check_path below decides */
        }
        else if (a0 != NULL && PyBytes_Check(a0)) {
            text = Py_NewRef(a0);
        }
        else if (a0 != NULL) {
            int untrusted;
            PyObject *str = pathlib_string(a0, &untrusted);
            if (str == NULL && !untrusted)
                return -1;
            if (str != NULL) {
                text = PyUnicode_AsUTF8String(str);
                Py_DECREF(str);
                if (text == NULL)
                    PyErr_Clear();
            }
        }
        if (text != NULL) {
            const char *db = PyBytes_AS_STRING(text);
            Py_ssize_t n = PyBytes_GET_SIZE(text);
            int memory = n == 0 || strcmp(db, ":memory:") == 0;
            int uri = n >= 5 && strncmp(db, "file:", 5) == 0;
            Py_DECREF(text);
            if (memory && PyUnicode_Check(a0))
                return 0;
            if (uri) {
                PyObject *shown = guard_describe(a0);
                if (shown == NULL)
                    return -1;
                int rc = guard_decide(ext, GUARD_CAP_FS_WRITE, shown, 0,
                                      "sqlite3 URI filenames are refused to extension code; "
                                      "pass a plain path");
                Py_DECREF(shown);
                return rc;
            }
            if (memory)
                return 0;
        }
        return guard_fs_check_path(ext, GUARD_CAP_FS_WRITE, a0, NULL, 0);
    }
    default:
        return 0;
    }
}
