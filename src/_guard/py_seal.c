/* py_seal.c - the key PostgreSQL row-level security trusts (docs/data.md, #14).
 *
 * The scoped tables' policies compare org_id (and user_id) with what the database
 * function sdk_guard.current_org() returns, and that function believes only a seal:
 *   v1/<key id>/<org>/<user>/<backend pid>/<expiry>/<hex HMAC-SHA256 of all before it>
 * set per transaction in the setting sdk_guard.seal.  Any role may set a setting, so
 * what makes a seal unforgeable is the key, and what makes it useless elsewhere is
 * the backend pid (one server connection) and the expiry.
 *
 * The key: 32 bytes from getrandom(), made on first use, on a page of their own that
 * core dumps leave out.  Python never sees it (only each database's derived key passes
 * through Python, once, to be stored).  Each database gets a key derived from
 * it and a label (Storage names its database), and the derived key leaves C exactly
 * once per label, as HMAC pads, through the host-only seal_register(), which the
 * owner role stores in a table only it can read.
 *
 * seal() takes no organization: it reads user and org from the live request context
 * (the capsule py_request.c makes and only host code can set), through request_get
 * as this module defined it (taken at initialisation, before any Python code could
 * replace the attribute).  So code that calls it directly, extension code included,
 * gets a seal for its own request's org and nothing else; with no live request,
 * a forged one or an ended one, it raises.
 */
#include "py_seal.h"
#include "hmac.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SEAL_KEY_LEN 32
#define SEAL_ID_LEN 8      /* bytes; 16 hex digits */
#define SEAL_TTL_MAX 300   /* seconds */
#define SEAL_IDENT_MAX 128 /* sdk_guard.context's limit for user and org */
#define SEAL_LABEL_MAX 1024
#define SEAL_MSG_MAX 512
#define SEAL_CACHE 8 /* databases whose derived key is kept ready */

/* The secrets, on pages of their own that core dumps leave out. */
typedef struct {
    uint8_t key[SEAL_KEY_LEN]; /* the process key */
    struct {
        PyObject *label;   /* exact str, or NULL for a free slot */
        guard_hmac_key hk; /* its derived key, ready for HMACs */
        char id[2 * SEAL_ID_LEN + 1];
    } cache[SEAL_CACHE];
    unsigned next; /* the slot the next miss replaces */
} seal_secrets;

/* Process-wide, not module state: one key per process, whichever module object asks,
 * because the database registration made with it must stay valid for the process. */
static struct {
    seal_secrets *sec;     /* NULL before first use */
    PyObject *request_get; /* the module's own request_get */
    PyObject *handed;      /* set of labels whose pads left C */
} seal_state;

/* The process key, made on first use.  NULL with an exception on failure. */
static const uint8_t *
process_key(void)
{
    if (seal_state.sec != NULL)
        return seal_state.sec->key;
    long page = sysconf(_SC_PAGESIZE);
    size_t size = ((sizeof(seal_secrets) + (size_t)page - 1) / (size_t)page) * (size_t)page;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return PyErr_SetFromErrno(PyExc_OSError), NULL;
    /* Best effort: a kernel without MADV_DONTDUMP still gets a working key. */
    (void)madvise(p, size, MADV_DONTDUMP);
    size_t got = 0;
    while (got < SEAL_KEY_LEN) {
        ssize_t n = getrandom((uint8_t *)p + got, SEAL_KEY_LEN - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            munmap(p, size);
            return NULL;
        }
        got += (size_t)n;
    }
    seal_state.sec = p;
    return seal_state.sec->key;
}

/* Lower-case hex of B[0..N) into OUT (2N characters, no NUL). */
static void
to_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
}

/* The key and id of LABEL's database: HMAC(process key, purpose NUL label). */
static int
derive(PyObject *label, uint8_t key[SEAL_KEY_LEN], char id_hex[2 * SEAL_ID_LEN + 1])
{
    if (!PyUnicode_Check(label)) {
        PyErr_Format(PyExc_TypeError, "seal label must be str, not %.100s",
                     Py_TYPE(label)->tp_name);
        return -1;
    }
    Py_ssize_t n;
    const char *text = PyUnicode_AsUTF8AndSize(label, &n); /* reads no method */
    if (text == NULL)
        return -1;
    if (n < 1 || n > SEAL_LABEL_MAX) {
        PyErr_Format(PyExc_ValueError, "seal label must be 1-%d bytes", SEAL_LABEL_MAX);
        return -1;
    }
    const uint8_t *master = process_key();
    if (master == NULL)
        return -1;
    uint8_t msg[32 + SEAL_LABEL_MAX], id[GUARD_SHA256_LEN];
    static const char kpurpose[] = "sdk_guard.seal.key", ipurpose[] = "sdk_guard.seal.id";
    memcpy(msg, kpurpose, sizeof kpurpose); /* with its NUL */
    memcpy(msg + sizeof kpurpose, text, (size_t)n);
    guard_hmac_sha256(master, SEAL_KEY_LEN, msg, sizeof kpurpose + (size_t)n, key);
    memcpy(msg, ipurpose, sizeof ipurpose);
    memcpy(msg + sizeof ipurpose, text, (size_t)n);
    guard_hmac_sha256(master, SEAL_KEY_LEN, msg, sizeof ipurpose + (size_t)n, id);
    to_hex(id, SEAL_ID_LEN, id_hex);
    id_hex[2 * SEAL_ID_LEN] = '\0';
    return 0;
}

/* LABEL's derived key, ready for HMACs, and its id: from the cache (a label the data
 * layer passes is the same str object every time) or derived and cached.  NULL with
 * an exception on failure. */
static const guard_hmac_key *
key_for(PyObject *label, const char **id)
{
    seal_secrets *sec = seal_state.sec;
    if (sec != NULL && PyUnicode_CheckExact(label)) {
        for (int i = 0; i < SEAL_CACHE; i++) {
            PyObject *have = sec->cache[i].label;
            if (have != NULL && (have == label || PyUnicode_Compare(have, label) == 0)) {
                *id = sec->cache[i].id;
                return &sec->cache[i].hk;
            }
        }
    }
    uint8_t key[SEAL_KEY_LEN];
    char fresh[2 * SEAL_ID_LEN + 1];
    if (derive(label, key, fresh) < 0)
        return NULL;
    sec = seal_state.sec;
    PyObject *copy = PyUnicode_FromObject(label); /* exact: no subclass methods */
    if (copy == NULL) {
        explicit_bzero(key, sizeof key);
        return NULL;
    }
    unsigned slot = sec->next++ % SEAL_CACHE;
    Py_XSETREF(sec->cache[slot].label, copy);
    guard_hmac_key_init(&sec->cache[slot].hk, key, sizeof key);
    explicit_bzero(key, sizeof key);
    memcpy(sec->cache[slot].id, fresh, sizeof fresh);
    *id = sec->cache[slot].id;
    return &sec->cache[slot].hk;
}

/* Appends V (an exact str of sdk_guard.context's identifier alphabet, which has no
 * '/') to BUF at *LEN; None appends nothing.  -1 with ValueError naming WHAT. */
static int
append_ident(char *buf, size_t *len, PyObject *v, const char *what, int may_be_none)
{
    if (v == Py_None && may_be_none)
        return 0;
    Py_ssize_t n;
    const char *s = PyUnicode_CheckExact(v) ? PyUnicode_AsUTF8AndSize(v, &n) : NULL;
    if (s == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "seal: the request's %s is not a plain str", what);
        return -1;
    }
    int ok = n >= 1 && n <= SEAL_IDENT_MAX;
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        char c = s[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             (i > 0 && strchr("_.:@+-", c) != NULL && c != '\0');
    }
    if (!ok) {
        PyErr_Format(PyExc_ValueError,
                     "seal: the request's %s is not an identifier "
                     "sdk_guard.request() accepts",
                     what);
        return -1;
    }
    memcpy(buf + *len, s, (size_t)n);
    *len += (size_t)n;
    return 0;
}

/* The live request context's tuple (a new reference), or NULL with PermissionError. */
static PyObject *
live_request(void)
{
    if (seal_state.request_get == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "seal: sdk_guard._guard is not initialised");
        return NULL;
    }
    PyObject *r = PyObject_CallNoArgs(seal_state.request_get);
    if (r == NULL)
        return NULL;
    PyObject *ctx = NULL;
    if (PyTuple_CheckExact(r) && PyTuple_GET_SIZE(r) == 2 &&
        PyUnicode_CheckExact(PyTuple_GET_ITEM(r, 0)) &&
        PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(r, 0), "live") == 0 &&
        PyTuple_Check(PyTuple_GET_ITEM(r, 1)) && PyTuple_GET_SIZE(PyTuple_GET_ITEM(r, 1)) >= 2)
        ctx = Py_NewRef(PyTuple_GET_ITEM(r, 1));
    else
        PyErr_SetString(PyExc_PermissionError,
                        "seal: there is no live request context (host code opens one with "
                        "sdk_guard.request(user=..., org=...)); a seal is only ever made "
                        "for the current request's org");
    Py_DECREF(r);
    return ctx;
}

static PyObject *
seal(PyObject *self, PyObject *args)
{
    PyObject *label;
    long pid, ttl;
    if (!PyArg_ParseTuple(args, "Oll:seal", &label, &pid, &ttl))
        return NULL;
    if (pid < 1 || pid > 0x7fffffffL) {
        PyErr_SetString(PyExc_ValueError, "seal: backend_pid must be a server process id");
        return NULL;
    }
    if (ttl < 1 || ttl > SEAL_TTL_MAX) {
        PyErr_Format(PyExc_ValueError, "seal: ttl must be 1-%d seconds", SEAL_TTL_MAX);
        return NULL;
    }
    uint8_t mac[GUARD_SHA256_LEN];
    char buf[SEAL_MSG_MAX];
    const char *id;
    /* The request first: the key lookup below runs no Python code (a collection
     * triggered by an allocation could, and could reuse a cache slot), so the key
     * and id it points at stay the ones for LABEL while they are used. */
    PyObject *ctx = live_request();
    if (ctx == NULL)
        return NULL;
    const guard_hmac_key *hk = key_for(label, &id);
    if (hk == NULL) {
        Py_DECREF(ctx);
        return NULL;
    }
    size_t len = (size_t)snprintf(buf, sizeof buf, "v1/%s/", id);
    int rc = append_ident(buf, &len, PyTuple_GET_ITEM(ctx, 1), "org", 0);
    buf[len++] = '/';
    if (rc == 0)
        rc = append_ident(buf, &len, PyTuple_GET_ITEM(ctx, 0), "user", 1);
    Py_DECREF(ctx);
    if (rc < 0)
        return NULL;
    len += (size_t)snprintf(buf + len, sizeof buf - len, "/%ld/%lld/", pid,
                            (long long)time(NULL) + ttl);
    guard_hmac_sha256_key(hk, buf, len - 1, mac);
    to_hex(mac, sizeof mac, buf + len);
    return PyUnicode_FromStringAndSize(buf, (Py_ssize_t)(len + 2 * GUARD_SHA256_LEN));
}

static PyObject *
seal_register(PyObject *self, PyObject *label)
{
    uint8_t key[SEAL_KEY_LEN], ipad[GUARD_SHA256_BLOCK], opad[GUARD_SHA256_BLOCK];
    char id[2 * SEAL_ID_LEN + 1];
    if (derive(label, key, id) < 0)
        return NULL;
    if (seal_state.handed == NULL && (seal_state.handed = PySet_New(NULL)) == NULL)
        goto fail;
    /* An exact copy: a str subclass's __hash__/__eq__ must not decide membership. */
    PyObject *exact = PyUnicode_FromObject(label);
    if (exact == NULL)
        goto fail;
    int seen = PySet_Contains(seal_state.handed, exact);
    if (seen == 0 && PySet_Add(seal_state.handed, exact) < 0)
        seen = -1;
    Py_DECREF(exact);
    if (seen < 0)
        goto fail;
    guard_hmac_pads(key, sizeof key, ipad, opad);
    explicit_bzero(key, sizeof key);
    if (seen) {
        explicit_bzero(ipad, sizeof ipad);
        explicit_bzero(opad, sizeof opad);
        return Py_BuildValue("(sOO)", id, Py_None, Py_None);
    }
    PyObject *r = Py_BuildValue("(sy#y#)", id, (const char *)ipad, (Py_ssize_t)sizeof ipad,
                                (const char *)opad, (Py_ssize_t)sizeof opad);
    explicit_bzero(ipad, sizeof ipad);
    explicit_bzero(opad, sizeof opad);
    return r;
fail:
    explicit_bzero(key, sizeof key);
    return NULL;
}

int
guard_seal_init(PyObject *module)
{
    if (seal_state.request_get != NULL)
        return PyModule_AddIntConstant(module, "SEAL_TTL_MAX", SEAL_TTL_MAX);
    seal_state.request_get = PyObject_GetAttrString(module, "request_get");
    if (seal_state.request_get == NULL)
        return -1;
    return PyModule_AddIntConstant(module, "SEAL_TTL_MAX", SEAL_TTL_MAX);
}

const guard_method guard_seal_methods[] = {
    {{"seal", seal, METH_VARARGS,
      "seal(label, backend_pid, ttl) -> str\n--\n\n"
      "The row-level security seal of the current request's org and user for database\n"
      "LABEL and server process BACKEND_PID, valid TTL seconds (at most SEAL_TTL_MAX).\n"
      "PermissionError with no live request context."},
     GUARD_OPEN},
    {{"seal_register", seal_register, METH_O,
      "seal_register(label) -> (key_id, ipad, opad)\n--\n\n"
      "The HMAC pads of database LABEL's seal key, for the owner role to store (host\n"
      "code only); once per label and process, later calls give (key_id, None, None)."},
     GUARD_HOST_ONLY},
    {{NULL, NULL, 0, NULL}, GUARD_OPEN},
};
