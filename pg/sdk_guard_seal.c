/* sdk_guard_seal.c - sdk_guard.seal_scope_native(): the seal check of sdk_guard.data's
 * row-level security policies in C (docs/data.md).
 *
 * It accepts exactly what the plpgsql sdk_guard.seal_scope() accepts (python/sdk_guard/
 * data/_rls.py): the transaction's sdk_guard.seal setting
 *
 *     v1/<key id>/<org>/<user>/<backend pid>/<expiry>/<hex HMAC-SHA256 of the rest>
 *
 * verifies if the key id names a row of sdk_guard.seal_keys, the MAC matches (computed
 * from the stored pads with the same hmac.c the seal is made with), the pid is this
 * backend's and the expiry is after the transaction's start.  It returns {org, user}
 * (user NULL when empty), or NULL so the policies match no row.
 *
 * Why C: the plpgsql check costs tens of microseconds per statement (interpreter set-up
 * per transaction, the key lookup through SPI, string functions); this one costs a
 * function call.
 *
 * What is kept between calls: the last setting's bytes and whether they verify apart
 * from the expiry (format, pid, key, MAC).  That part depends on nothing but the bytes,
 * this backend's pid, which never changes, and the key table, so it is reused
 *   - for the rest of the transaction it was computed in, as the plpgsql check's
 *     snapshot would (a key deleted meanwhile counts from the next transaction); and
 *   - in later transactions too, while the key table has not changed since: the
 *     trigger seal_keys_changed (this file, installed ENABLE ALWAYS by sdk_guard.data)
 *     sends a relcache invalidation of the table on every INSERT, UPDATE, DELETE or
 *     TRUNCATE, which every backend takes in before its next transaction starts
 *     (keys_changed() below).  Where that trigger is missing or not ENABLE ALWAYS the
 *     result is never reused across transactions.
 * The expiry is checked on every call, against the calling transaction's start.  A
 * client makes a fresh seal per transaction, but its bytes repeat within the same
 * second, so most transactions compare bytes only.
 *
 * The key table is read with an index scan that skips privilege checks (the session
 * role must not be able to read the keys; this function only says whether a seal
 * verifies).  sdk_guard.data refuses at startup a session role that could write the
 * table or create objects in its schema.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "hmac.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(sdk_guard_seal_scope);
PG_FUNCTION_INFO_V1(sdk_guard_seal_keys_changed);
PG_FUNCTION_INFO_V1(sdk_guard_seal_org);
PG_FUNCTION_INFO_V1(sdk_guard_seal_user);

#define SEAL_MAX 600 /* as the plpgsql check: longer settings are refused unread */
#define SEAL_PARTS 7
#define PAD_LEN GUARD_SHA256_BLOCK

/* The trigger function seal_keys_changed's C symbol (sdk_guard_seal--1.0--1.1.sql). */
#define KEYS_CHANGED_SYMBOL "sdk_guard_seal_keys_changed"

/* The key table as last opened, and a counter bumped whenever the relcache entry of
 * that table (or every entry) is invalidated. */
static Oid keys_relid = InvalidOid;
static uint64 keys_epoch = 1;

/* The last setting's verdict apart from the expiry: valid for the setting bytes SEAL,
 * in transaction LXID, and in later ones while CROSS and keys_epoch == EPOCH. */
static struct {
    bool valid;
    bool ok;
    bool cross;
    LocalTransactionId lxid;
    uint64 epoch;
    int64 expiry;
    size_t len;
    int off[SEAL_PARTS];
    int plen[SEAL_PARTS];
    char seal[SEAL_MAX + 1];
} verdict;

void _PG_init(void);

static void
keys_changed(Datum arg, Oid relid)
{
    (void)arg;
    if (!OidIsValid(relid) || relid == keys_relid)
        keys_epoch++;
}

void
_PG_init(void)
{
    CacheRegisterRelcacheCallback(keys_changed, (Datum)0);
}

/* The trigger on sdk_guard.seal_keys: any change to the keys invalidates the table's
 * relcache entry in every backend, so their keys_changed() drops what they verified
 * before their next transaction. */
Datum
sdk_guard_seal_keys_changed(PG_FUNCTION_ARGS)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("seal_keys_changed() runs only as a trigger")));
    CacheInvalidateRelcache(((TriggerData *)fcinfo->context)->tg_relation);
    PG_RETURN_POINTER(NULL);
}

/* Whether REL has an ENABLE ALWAYS statement trigger calling seal_keys_changed on
 * every kind of change, with no WHEN condition: only then do its invalidations cover
 * every change, session_replication_role = replica included. */
static bool
keys_trigger_ok(Relation rel)
{
    const int16 events =
        TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE | TRIGGER_TYPE_TRUNCATE;
    TriggerDesc *td = rel->trigdesc;
    if (td == NULL)
        return false;
    for (int i = 0; i < td->numtriggers; i++) {
        const Trigger *t = &td->triggers[i];
        if (t->tgenabled != TRIGGER_FIRES_ALWAYS || t->tgqual != NULL ||
            (t->tgtype & TRIGGER_TYPE_LEVEL_MASK) != TRIGGER_TYPE_STATEMENT ||
            (t->tgtype & TRIGGER_TYPE_TIMING_MASK) != TRIGGER_TYPE_AFTER ||
            (t->tgtype & events) != events)
            continue;
        HeapTuple proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(t->tgfoid));
        if (!HeapTupleIsValid(proc))
            continue;
        bool ours = false;
        if (((Form_pg_proc)GETSTRUCT(proc))->prolang == ClanguageId) {
            bool isnull;
            Datum src = SysCacheGetAttr(PROCOID, proc, Anum_pg_proc_prosrc, &isnull);
            if (!isnull) {
                text *t_src = DatumGetTextPP(src);
                ours = VARSIZE_ANY_EXHDR(t_src) == strlen(KEYS_CHANGED_SYMBOL) &&
                       memcmp(VARDATA_ANY(t_src), KEYS_CHANGED_SYMBOL,
                              strlen(KEYS_CHANGED_SYMBOL)) == 0;
            }
        }
        ReleaseSysCache(proc);
        if (ours)
            return true;
    }
    return false;
}

static LocalTransactionId
current_lxid(void)
{
#if PG_VERSION_NUM >= 170000
    return MyProc->vxid.lxid;
#else
    return MyProc->lxid;
#endif
}

/* The pads of key ID from sdk_guard.seal_keys; false when there is no such row.
 * *CROSS says whether the table's invalidations cover every change to it. */
static bool
key_pads(const char *id, int idlen, uint8 ipad[PAD_LEN], uint8 opad[PAD_LEN], bool *cross)
{
    *cross = false;
    Oid nsp = get_namespace_oid("sdk_guard", true);
    if (!OidIsValid(nsp))
        return false;
    Oid relid = get_relname_relid("seal_keys", nsp);
    if (!OidIsValid(relid))
        return false;
    keys_relid = relid;
    Relation rel = table_open(relid, AccessShareLock);
    *cross = keys_trigger_ok(rel);
    Oid pkey = RelationGetPrimaryKeyIndex(rel);
    bool found = false;
    if (OidIsValid(pkey) && RelationGetDescr(rel)->natts >= 3) {
        TupleDesc desc = RelationGetDescr(rel);
        ScanKeyData key;
        text *want = cstring_to_text_with_len(id, idlen);
        ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
                               TupleDescAttr(desc, 0)->attcollation, F_TEXTEQ,
                               PointerGetDatum(want));
        /* The latest snapshot, not the transaction's: a change committed before it is
         * seen here, and one committed after it sends its invalidation after this
         * call began, so a verdict reused across transactions never rests on a key
         * that a change it did not see has removed (sdk_guard_seal_scope). */
        Snapshot snap = RegisterSnapshot(GetLatestSnapshot());
        SysScanDesc scan = systable_beginscan(rel, pkey, true, snap, 1, &key);
        HeapTuple tup = systable_getnext(scan);
        if (HeapTupleIsValid(tup)) {
            bool inull, onull;
            Datum id_d = heap_getattr(tup, 1, desc, &inull);
            text *got = inull ? NULL : DatumGetTextPP(id_d);
            Datum i_d = heap_getattr(tup, 2, desc, &inull);
            Datum o_d = heap_getattr(tup, 3, desc, &onull);
            /* The index said equal; check the bytes too (a nondeterministic collation
             * would call other strings equal). */
            if (got != NULL && !inull && !onull && VARSIZE_ANY_EXHDR(got) == (Size)idlen &&
                memcmp(VARDATA_ANY(got), id, idlen) == 0) {
                bytea *ib = DatumGetByteaPP(i_d);
                bytea *ob = DatumGetByteaPP(o_d);
                if (VARSIZE_ANY_EXHDR(ib) == PAD_LEN && VARSIZE_ANY_EXHDR(ob) == PAD_LEN) {
                    memcpy(ipad, VARDATA_ANY(ib), PAD_LEN);
                    memcpy(opad, VARDATA_ANY(ob), PAD_LEN);
                    found = true;
                }
            }
        }
        systable_endscan(scan);
        UnregisterSnapshot(snap);
        pfree(want);
    }
    table_close(rel, AccessShareLock);
    return found;
}

/* Splits SEAL at '/' into exactly SEAL_PARTS parts; false otherwise. */
static bool
split(const char *seal, size_t len, int off[SEAL_PARTS], int plen[SEAL_PARTS])
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || seal[i] == '/') {
            if (n == SEAL_PARTS)
                return false;
            off[n] = (int)start;
            plen[n] = (int)(i - start);
            n++;
            start = i + 1;
        }
    }
    return n == SEAL_PARTS;
}

/* The transaction's start in microseconds since the Unix epoch. */
static int64
xact_start_us(void)
{
    return GetCurrentTransactionStartTimestamp() +
           (int64)(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
}

/* Whether SEAL verifies (format, pid, key, MAC, not expired at the transaction's
 * start).  *EXPIRY is its expiry in seconds; *CROSS whether the key table's
 * invalidations cover every change to it. */
static bool
verify(const char *seal, size_t len, const int off[SEAL_PARTS], const int plen[SEAL_PARTS],
       int64 *expiry_out, bool *cross)
{
    *cross = false;
    /* v1, a non-empty org, this backend's pid, a 64-digit MAC */
    if (plen[0] != 2 || memcmp(seal, "v1", 2) != 0 || plen[2] == 0 || plen[6] != 64)
        return false;
    char pid[16];
    int pidlen = snprintf(pid, sizeof pid, "%d", MyProcPid);
    if (plen[4] != pidlen || memcmp(seal + off[4], pid, pidlen) != 0)
        return false;
    /* the expiry: 1-18 digits, no leading zero, after the transaction's start */
    if (plen[5] < 1 || plen[5] > 18 || seal[off[5]] == '0')
        return false;
    int64 expiry = 0;
    for (int i = 0; i < plen[5]; i++) {
        char c = seal[off[5] + i];
        if (c < '0' || c > '9')
            return false;
        expiry = expiry * 10 + (c - '0');
    }
    if (expiry > PG_INT64_MAX / USECS_PER_SEC)
        return false;
    *expiry_out = expiry;
    /* expired seals stay expired: refused without a key lookup */
    if (expiry * USECS_PER_SEC <= xact_start_us())
        return false;
    uint8 ipad[PAD_LEN], opad[PAD_LEN], mac[GUARD_SHA256_LEN];
    if (!key_pads(seal + off[1], plen[1], ipad, opad, cross))
        return false;
    /* the MAC covers everything before the last '/' */
    guard_hmac_sha256_pads(ipad, opad, seal, (size_t)off[6] - 1, mac);
    explicit_bzero(ipad, sizeof ipad);
    explicit_bzero(opad, sizeof opad);
    static const char hex[] = "0123456789abcdef";
    unsigned diff = 0;
    const char *want = seal + off[6];
    for (int i = 0; i < GUARD_SHA256_LEN; i++) {
        diff |= (unsigned char)(want[2 * i] ^ hex[mac[i] >> 4]);
        diff |= (unsigned char)(want[2 * i + 1] ^ hex[mac[i] & 15]);
    }
    return diff == 0;
}

/* Whether the transaction's sdk_guard.seal setting verifies; when it does, the
 * verdict's parts name its org and user. */
static bool
seal_ok(void)
{
    const char *seal = GetConfigOption("sdk_guard.seal", true, false);
    if (seal == NULL)
        return false;
    size_t len = strlen(seal);
    if (len > SEAL_MAX)
        return false;
    LocalTransactionId lxid = current_lxid();
    if (!(verdict.valid && verdict.len == len && memcmp(verdict.seal, seal, len) == 0 &&
          (verdict.lxid == lxid || (verdict.cross && verdict.epoch == keys_epoch)))) {
        /* keys_epoch before anything is read: an invalidation taken in while the key
         * is looked up makes this verdict good for this transaction only. */
        uint64 epoch = keys_epoch;
        verdict.valid = false;
        memcpy(verdict.seal, seal, len);
        verdict.seal[len] = '\0';
        verdict.len = len;
        verdict.expiry = 0;
        verdict.cross = false;
        verdict.ok =
            split(verdict.seal, len, verdict.off, verdict.plen) &&
            verify(verdict.seal, len, verdict.off, verdict.plen, &verdict.expiry, &verdict.cross);
        verdict.epoch = epoch;
        verdict.lxid = lxid;
        verdict.valid = true;
    }
    /* The expiry against this transaction's start (the verdict may be older). */
    return verdict.ok && verdict.expiry * USECS_PER_SEC > xact_start_us();
}

/* Part I (2: org, 3: user) of the verified seal as text; NULL when empty. */
static text *
seal_part(int i)
{
    return verdict.plen[i] == 0
               ? NULL
               : cstring_to_text_with_len(verdict.seal + verdict.off[i], verdict.plen[i]);
}

/* seal_scope_native(): {org, user} of a verified seal, else NULL. */
Datum
sdk_guard_seal_scope(PG_FUNCTION_ARGS)
{
    if (!seal_ok())
        PG_RETURN_NULL();
    text *user = seal_part(3);
    Datum elems[2] = {PointerGetDatum(seal_part(2)), PointerGetDatum(user)};
    bool nulls[2] = {false, user == NULL};
    int dims[1] = {2}, lbs[1] = {1};
    PG_RETURN_ARRAYTYPE_P(
        construct_md_array(elems, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

/* seal_org_native() and seal_user_native(): the same check, one part as text, for
 * policies that call it directly rather than once per statement in a subquery
 * (_rls.policy_condition says why). */
Datum
sdk_guard_seal_org(PG_FUNCTION_ARGS)
{
    if (!seal_ok())
        PG_RETURN_NULL();
    PG_RETURN_TEXT_P(seal_part(2));
}

Datum
sdk_guard_seal_user(PG_FUNCTION_ARGS)
{
    text *user = seal_ok() ? seal_part(3) : NULL;
    if (user == NULL)
        PG_RETURN_NULL();
    PG_RETURN_TEXT_P(user);
}
