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
 * function call, and a verdict is kept for the rest of the transaction for the exact
 * same setting bytes, so a transaction's later statements compare bytes only.  The
 * verdict depends on nothing a transaction can change but the setting: the pid and the
 * transaction's start are fixed, and a key row deleted meanwhile counts from the next
 * transaction.
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
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "hmac.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(sdk_guard_seal_scope);

#define SEAL_MAX 600 /* as the plpgsql check: longer settings are refused unread */
#define SEAL_PARTS 7
#define PAD_LEN GUARD_SHA256_BLOCK

/* The last verdict: valid for transaction LXID and the setting bytes SEAL only. */
static struct {
    bool valid;
    bool ok;
    LocalTransactionId lxid;
    size_t len;
    int off[SEAL_PARTS];
    int plen[SEAL_PARTS];
    char seal[SEAL_MAX + 1];
} verdict;

static LocalTransactionId
current_lxid(void)
{
#if PG_VERSION_NUM >= 170000
    return MyProc->vxid.lxid;
#else
    return MyProc->lxid;
#endif
}

/* The pads of key ID from sdk_guard.seal_keys; false when there is no such row. */
static bool
key_pads(const char *id, int idlen, uint8 ipad[PAD_LEN], uint8 opad[PAD_LEN])
{
    Oid nsp = get_namespace_oid("sdk_guard", true);
    if (!OidIsValid(nsp))
        return false;
    Oid relid = get_relname_relid("seal_keys", nsp);
    if (!OidIsValid(relid))
        return false;
    Relation rel = table_open(relid, AccessShareLock);
    Oid pkey = RelationGetPrimaryKeyIndex(rel);
    bool found = false;
    if (OidIsValid(pkey) && RelationGetDescr(rel)->natts >= 3) {
        TupleDesc desc = RelationGetDescr(rel);
        ScanKeyData key;
        text *want = cstring_to_text_with_len(id, idlen);
        ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
                               TupleDescAttr(desc, 0)->attcollation, F_TEXTEQ,
                               PointerGetDatum(want));
        SysScanDesc scan = systable_beginscan(rel, pkey, true, GetActiveSnapshot(), 1, &key);
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

static bool
verify(const char *seal, size_t len, const int off[SEAL_PARTS], const int plen[SEAL_PARTS])
{
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
    int64 start_us =
        GetCurrentTransactionStartTimestamp() +
        (int64)(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
    if (expiry > PG_INT64_MAX / USECS_PER_SEC || expiry * USECS_PER_SEC <= start_us)
        return false;
    uint8 ipad[PAD_LEN], opad[PAD_LEN], mac[GUARD_SHA256_LEN];
    if (!key_pads(seal + off[1], plen[1], ipad, opad))
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

Datum
sdk_guard_seal_scope(PG_FUNCTION_ARGS)
{
    const char *seal = GetConfigOption("sdk_guard.seal", true, false);
    if (seal == NULL)
        PG_RETURN_NULL();
    size_t len = strlen(seal);
    if (len > SEAL_MAX)
        PG_RETURN_NULL();
    LocalTransactionId lxid = current_lxid();
    if (!(verdict.valid && verdict.lxid == lxid && verdict.len == len &&
          memcmp(verdict.seal, seal, len) == 0)) {
        verdict.valid = false;
        memcpy(verdict.seal, seal, len);
        verdict.seal[len] = '\0';
        verdict.len = len;
        verdict.ok = split(verdict.seal, len, verdict.off, verdict.plen) &&
                     verify(verdict.seal, len, verdict.off, verdict.plen);
        verdict.lxid = lxid;
        verdict.valid = true;
    }
    if (!verdict.ok)
        PG_RETURN_NULL();
    Datum elems[2];
    bool nulls[2] = {false, verdict.plen[3] == 0};
    int dims[1] = {2}, lbs[1] = {1};
    elems[0] =
        PointerGetDatum(cstring_to_text_with_len(verdict.seal + verdict.off[2], verdict.plen[2]));
    elems[1] = nulls[1] ? (Datum)0
                        : PointerGetDatum(cstring_to_text_with_len(verdict.seal + verdict.off[3],
                                                                   verdict.plen[3]));
    PG_RETURN_ARRAYTYPE_P(
        construct_md_array(elems, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}
