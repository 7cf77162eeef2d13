/* test_landlock_abi.c - best-effort downgrade for every Landlock ABI, as a table.
 *
 * Fake ABI in, handled/dropped masks out: older kernels are covered without one.
 * Needs no Landlock in the running kernel (no syscall is made).
 */
#include "landlock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define FS_V1 ((GUARD_LL_FS_MAKE_SYM << 1) - 1)
#define FS_V2 (FS_V1 | GUARD_LL_FS_REFER)
#define FS_V3 (FS_V2 | GUARD_LL_FS_TRUNCATE)
#define FS_V5 (FS_V3 | GUARD_LL_FS_IOCTL_DEV)
/* Kept as written: clang-format 14 indents a macro body by PPIndentWidth (and splits a
 * braced initialiser in a macro over four lines). */
/* clang-format off */
#define LOG_FLAGS (GUARD_LL_RESTRICT_LOG_SAME_EXEC_OFF | GUARD_LL_RESTRICT_LOG_NEW_EXEC_ON | \
                   GUARD_LL_RESTRICT_LOG_SUBDOMAINS_OFF)
#define ALL_REQ {FS_V5, GUARD_LL_NET_ALL, GUARD_LL_SCOPE_ALL, LOG_FLAGS | GUARD_LL_RESTRICT_TSYNC}
/* clang-format on */

static const struct compat_case {
    const char *name;
    int abi;
    guard_ll_access req;
    guard_ll_access handled;
    int refer_always_denied;
} compat_cases[] = {
    /* Everything requested, one row per ABI. */
    {"abi0_none", 0, ALL_REQ, {0, 0, 0, 0}, 0},
    {"abi-1_none", -1, ALL_REQ, {0, 0, 0, 0}, 0},
    {"abi1", 1, ALL_REQ, {FS_V1, 0, 0, 0}, 1},
    {"abi2", 2, ALL_REQ, {FS_V2, 0, 0, 0}, 0},
    {"abi3", 3, ALL_REQ, {FS_V3, 0, 0, 0}, 0},
    {"abi4", 4, ALL_REQ, {FS_V3, GUARD_LL_NET_ALL, 0, 0}, 0},
    {"abi5", 5, ALL_REQ, {FS_V5, GUARD_LL_NET_ALL, 0, 0}, 0},
    {"abi6", 6, ALL_REQ, {FS_V5, GUARD_LL_NET_ALL, GUARD_LL_SCOPE_ALL, 0}, 0},
    {"abi7", 7, ALL_REQ, {FS_V5, GUARD_LL_NET_ALL, GUARD_LL_SCOPE_ALL, LOG_FLAGS}, 0},
    {"abi8",
     8,
     ALL_REQ,
     {FS_V5, GUARD_LL_NET_ALL, GUARD_LL_SCOPE_ALL, LOG_FLAGS | GUARD_LL_RESTRICT_TSYNC},
     0},
    {"abi99_as_newest",
     99,
     ALL_REQ,
     {FS_V5, GUARD_LL_NET_ALL, GUARD_LL_SCOPE_ALL, LOG_FLAGS | GUARD_LL_RESTRICT_TSYNC},
     0},
    /* REFER alone on ABI 1: dropped, and reparenting is denied anyway. */
    {"abi1_refer_only", 1, {GUARD_LL_FS_REFER, 0, 0, 0}, {0, 0, 0, 0}, 1},
    {"abi2_refer_only", 2, {GUARD_LL_FS_REFER, 0, 0, 0}, {GUARD_LL_FS_REFER, 0, 0, 0}, 0},
    /* Read-only request: nothing to drop on any ABI >= 1. */
    {"abi1_read_only",
     1,
     {GUARD_LL_FS_READ_FILE | GUARD_LL_FS_READ_DIR, 0, 0, 0},
     {GUARD_LL_FS_READ_FILE | GUARD_LL_FS_READ_DIR, 0, 0, 0},
     1},
    /* Truncate kept from 3, ioctl_dev from 5. */
    {"abi2_truncate", 2, {GUARD_LL_FS_TRUNCATE, 0, 0, 0}, {0, 0, 0, 0}, 0},
    {"abi3_truncate", 3, {GUARD_LL_FS_TRUNCATE, 0, 0, 0}, {GUARD_LL_FS_TRUNCATE, 0, 0, 0}, 0},
    {"abi4_ioctl_dev", 4, {GUARD_LL_FS_IOCTL_DEV, 0, 0, 0}, {0, 0, 0, 0}, 0},
    {"abi5_ioctl_dev", 5, {GUARD_LL_FS_IOCTL_DEV, 0, 0, 0}, {GUARD_LL_FS_IOCTL_DEV, 0, 0, 0}, 0},
    /* Network: connect only. */
    {"abi3_connect", 3, {0, GUARD_LL_NET_CONNECT_TCP, 0, 0}, {0, 0, 0, 0}, 0},
    {"abi4_connect",
     4,
     {0, GUARD_LL_NET_CONNECT_TCP, 0, 0},
     {0, GUARD_LL_NET_CONNECT_TCP, 0, 0},
     0},
    /* Scopes one at a time. */
    {"abi5_signal", 5, {0, 0, GUARD_LL_SCOPE_SIGNAL, 0}, {0, 0, 0, 0}, 0},
    {"abi6_signal", 6, {0, 0, GUARD_LL_SCOPE_SIGNAL, 0}, {0, 0, GUARD_LL_SCOPE_SIGNAL, 0}, 0},
    {"abi6_unix",
     6,
     {0, 0, GUARD_LL_SCOPE_ABSTRACT_UNIX_SOCKET, 0},
     {0, 0, GUARD_LL_SCOPE_ABSTRACT_UNIX_SOCKET, 0},
     0},
    /* TSYNC only from 8; log flags from 7. */
    {"abi7_tsync", 7, {0, 0, 0, GUARD_LL_RESTRICT_TSYNC}, {0, 0, 0, 0}, 0},
    {"abi8_tsync", 8, {0, 0, 0, GUARD_LL_RESTRICT_TSYNC}, {0, 0, 0, GUARD_LL_RESTRICT_TSYNC}, 0},
    {"abi6_log", 6, {0, 0, 0, GUARD_LL_RESTRICT_LOG_NEW_EXEC_ON}, {0, 0, 0, 0}, 0},
    {"abi7_log",
     7,
     {0, 0, 0, GUARD_LL_RESTRICT_LOG_NEW_EXEC_ON},
     {0, 0, 0, GUARD_LL_RESTRICT_LOG_NEW_EXEC_ON},
     0},
    /* Bits no ABI defines are never passed to the kernel. */
    {"unknown_bits", 8, {1ULL << 40, 1ULL << 5, 1ULL << 9, 1U << 20}, {0, 0, 0, 0}, 0},
};

static const struct rule_case {
    const char *name;
    uint64_t wanted, handled_fs;
    int is_dir;
    uint64_t expect;
} rule_cases[] = {
    {"dir_keeps_dir_rights", FS_V5, FS_V5, 1, FS_V5},
    {"file_masked_to_file_rights", FS_V5, FS_V5, 0, GUARD_LL_FS_FILE_RIGHTS},
    {"file_read_dir_dropped", GUARD_LL_FS_READ_FILE | GUARD_LL_FS_READ_DIR, FS_V5, 0,
     GUARD_LL_FS_READ_FILE},
    {"file_abi1_no_truncate", FS_V5, FS_V1, 0,
     GUARD_LL_FS_EXECUTE | GUARD_LL_FS_WRITE_FILE | GUARD_LL_FS_READ_FILE},
    {"dir_abi1_no_refer", FS_V2, FS_V1, 1, FS_V1},
    {"file_refer_never", GUARD_LL_FS_REFER, FS_V5, 0, 0},
    {"unhandled_dropped", GUARD_LL_FS_WRITE_FILE, GUARD_LL_FS_READ_FILE, 1, 0},
};

static const struct size_case {
    int abi;
    unsigned size;
} size_cases[] = {
    {0, 0}, {1, 8}, {2, 8}, {3, 8}, {4, 16}, {5, 16}, {6, 24}, {7, 24}, {8, 24}, {42, 24},
};

static int failures;

static void
check_u64(const char *name, const char *field, uint64_t got, uint64_t want)
{
    if (got != want) {
        fprintf(stderr, "FAIL %s: %s = 0x%" PRIx64 ", want 0x%" PRIx64 "\n", name, field, got,
                want);
        failures++;
    }
}

static void
run_compat_cases(void)
{
    for (size_t i = 0; i < sizeof compat_cases / sizeof compat_cases[0]; i++) {
        const struct compat_case *c = &compat_cases[i];
        guard_ll_compat out;
        memset(&out, 0xa5, sizeof out);
        if (guard_landlock_compat(c->abi, &c->req, &out) != 0) {
            fprintf(stderr, "FAIL %s: nonzero return\n", c->name);
            failures++;
            continue;
        }
        check_u64(c->name, "handled.fs", out.handled.fs, c->handled.fs);
        check_u64(c->name, "handled.net", out.handled.net, c->handled.net);
        check_u64(c->name, "handled.scoped", out.handled.scoped, c->handled.scoped);
        check_u64(c->name, "handled.restrict", out.handled.restrict_flags,
                  c->handled.restrict_flags);
        /* Dropped is exactly what was asked for and not handled: nothing vanishes. */
        check_u64(c->name, "dropped.fs", out.dropped.fs, c->req.fs & ~c->handled.fs);
        check_u64(c->name, "dropped.net", out.dropped.net, c->req.net & ~c->handled.net);
        check_u64(c->name, "dropped.scoped", out.dropped.scoped,
                  c->req.scoped & ~c->handled.scoped);
        check_u64(c->name, "dropped.restrict", out.dropped.restrict_flags,
                  c->req.restrict_flags & ~c->handled.restrict_flags);
        check_u64(c->name, "refer_always_denied", (uint64_t)out.refer_always_denied,
                  (uint64_t)c->refer_always_denied);
        /* The kernel's struct for this ABI must be able to carry what is handled. */
        unsigned size = guard_landlock_attr_size(c->abi);
        if ((out.handled.net && size < 16) || (out.handled.scoped && size < 24)) {
            fprintf(stderr, "FAIL %s: handled field beyond attr size %u\n", c->name, size);
            failures++;
        }
    }
}

static void
run_rule_cases(void)
{
    for (size_t i = 0; i < sizeof rule_cases / sizeof rule_cases[0]; i++) {
        const struct rule_case *c = &rule_cases[i];
        check_u64(c->name, "rule_access",
                  guard_landlock_rule_access(c->wanted, c->handled_fs, c->is_dir), c->expect);
    }
}

static void
run_size_cases(void)
{
    for (size_t i = 0; i < sizeof size_cases / sizeof size_cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "attr_size_abi%d", size_cases[i].abi);
        check_u64(name, "size", guard_landlock_attr_size(size_cases[i].abi), size_cases[i].size);
    }
}

/* Every ABI from 1 to the newest only ever adds rights: the downgrade is monotone. */
static void
run_monotone(void)
{
    const guard_ll_access req = ALL_REQ;
    guard_ll_compat prev, cur;
    guard_landlock_compat(1, &req, &prev);
    for (int abi = 2; abi <= GUARD_LL_ABI_NEWEST; abi++) {
        char name[32];
        snprintf(name, sizeof name, "monotone_abi%d", abi);
        guard_landlock_compat(abi, &req, &cur);
        check_u64(name, "fs lost", prev.handled.fs & ~cur.handled.fs, 0);
        check_u64(name, "net lost", prev.handled.net & ~cur.handled.net, 0);
        check_u64(name, "scoped lost", prev.handled.scoped & ~cur.handled.scoped, 0);
        check_u64(name, "flags lost", prev.handled.restrict_flags & ~cur.handled.restrict_flags, 0);
        prev = cur;
    }
}

/* The constants restated in landlock.h, against the values in the kernel UAPI. */
static void
run_constants(void)
{
    check_u64("uapi", "FS_REFER", GUARD_LL_FS_REFER, 0x2000);
    check_u64("uapi", "FS_TRUNCATE", GUARD_LL_FS_TRUNCATE, 0x4000);
    check_u64("uapi", "FS_IOCTL_DEV", GUARD_LL_FS_IOCTL_DEV, 0x8000);
    check_u64("uapi", "FS_ALL", GUARD_LL_FS_ALL, 0xffff);
    check_u64("uapi", "NET_CONNECT_TCP", GUARD_LL_NET_CONNECT_TCP, 2);
    check_u64("uapi", "SCOPE_SIGNAL", GUARD_LL_SCOPE_SIGNAL, 2);
    check_u64("uapi", "RESTRICT_TSYNC", GUARD_LL_RESTRICT_TSYNC, 8);
    check_u64("uapi", "path_beneath size", sizeof(guard_ll_path_beneath_attr), 12);
    check_u64("uapi", "net_port size", sizeof(guard_ll_net_port_attr), 16);
}

static void
run_explain(void)
{
    static const char *stages[] = {"probe", "create", "add_rule", "restrict", "other"};
    static const int errs[] = {0,       -ENOSYS, -EOPNOTSUPP, -EPERM,  -E2BIG, -EINVAL,
                               -ENOMSG, -EBADFD, -ENOENT,     -EACCES, -12345};
    for (size_t s = 0; s < sizeof stages / sizeof stages[0]; s++)
        for (size_t e = 0; e < sizeof errs / sizeof errs[0]; e++) {
            const char *msg = guard_landlock_explain(stages[s], errs[e]);
            if (msg == NULL || msg[0] == '\0') {
                fprintf(stderr, "FAIL explain %s %d: empty\n", stages[s], errs[e]);
                failures++;
            }
        }
    if (strstr(guard_landlock_explain("probe", -ENOSYS), "not built") == NULL ||
        strstr(guard_landlock_explain("probe", -EOPNOTSUPP), "disabled") == NULL) {
        fprintf(stderr, "FAIL explain: ENOSYS/EOPNOTSUPP hints are not distinct\n");
        failures++;
    }
}

int
main(void)
{
    run_compat_cases();
    run_rule_cases();
    run_size_cases();
    run_monotone();
    run_constants();
    run_explain();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_landlock_abi: %zu compat rows, %zu rule rows, %zu size rows: ok\n",
           sizeof compat_cases / sizeof compat_cases[0], sizeof rule_cases / sizeof rule_cases[0],
           sizeof size_cases / sizeof size_cases[0]);
    return 0;
}
