/* landlock.h - Landlock ruleset construction with best-effort ABI downgrade.
 *
 * Pure C (no Python.h): raw syscalls, every function returns 0 (or a count / fd)
 * or a negative errno.  Built into sdk_guard._guard and into guard_core for ctest.
 *
 * The distribution's <linux/landlock.h> (Debian 12: linux-libc-dev 6.1) predates
 * most of the ABI, so the UAPI is restated here.  Each value was checked against
 * the kernel's include/uapi/linux/landlock.h (or, for TSYNC, the UAPI hunk of the
 * patch that added it and the landlock_restrict_self(2) page) and is tagged with
 * the ABI that introduced it.
 */
#ifndef GUARD_LANDLOCK_H
#define GUARD_LANDLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Syscall numbers are the same on every architecture (generic table). */
#define GUARD_NR_landlock_create_ruleset 444
#define GUARD_NR_landlock_add_rule 445
#define GUARD_NR_landlock_restrict_self 446

/* landlock_create_ruleset() flags. */
#define GUARD_LL_CREATE_RULESET_VERSION (1U << 0) /* ABI 1 */
#define GUARD_LL_CREATE_RULESET_ERRATA (1U << 1)  /* errata query (kernels with ABI 7) */

/* Rule types. */
#define GUARD_LL_RULE_PATH_BENEATH 1 /* ABI 1 */
#define GUARD_LL_RULE_NET_PORT 2     /* ABI 4 */

/* Filesystem access rights. */
#define GUARD_LL_FS_EXECUTE (1ULL << 0)     /* ABI 1 */
#define GUARD_LL_FS_WRITE_FILE (1ULL << 1)  /* ABI 1 */
#define GUARD_LL_FS_READ_FILE (1ULL << 2)   /* ABI 1 */
#define GUARD_LL_FS_READ_DIR (1ULL << 3)    /* ABI 1 */
#define GUARD_LL_FS_REMOVE_DIR (1ULL << 4)  /* ABI 1 */
#define GUARD_LL_FS_REMOVE_FILE (1ULL << 5) /* ABI 1 */
#define GUARD_LL_FS_MAKE_CHAR (1ULL << 6)   /* ABI 1 */
#define GUARD_LL_FS_MAKE_DIR (1ULL << 7)    /* ABI 1 */
#define GUARD_LL_FS_MAKE_REG (1ULL << 8)    /* ABI 1 */
#define GUARD_LL_FS_MAKE_SOCK (1ULL << 9)   /* ABI 1 */
#define GUARD_LL_FS_MAKE_FIFO (1ULL << 10)  /* ABI 1 */
#define GUARD_LL_FS_MAKE_BLOCK (1ULL << 11) /* ABI 1 */
#define GUARD_LL_FS_MAKE_SYM (1ULL << 12)   /* ABI 1 */
#define GUARD_LL_FS_REFER (1ULL << 13)      /* ABI 2 */
#define GUARD_LL_FS_TRUNCATE (1ULL << 14)   /* ABI 3 */
#define GUARD_LL_FS_IOCTL_DEV (1ULL << 15)  /* ABI 5 */

/* Network access rights (TCP ports). */
#define GUARD_LL_NET_BIND_TCP (1ULL << 0)    /* ABI 4 */
#define GUARD_LL_NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */

/* IPC scopes. */
#define GUARD_LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define GUARD_LL_SCOPE_SIGNAL (1ULL << 1)               /* ABI 6 */

/* landlock_restrict_self() flags. */
#define GUARD_LL_RESTRICT_LOG_SAME_EXEC_OFF (1U << 0)  /* ABI 7 */
#define GUARD_LL_RESTRICT_LOG_NEW_EXEC_ON (1U << 1)    /* ABI 7 */
#define GUARD_LL_RESTRICT_LOG_SUBDOMAINS_OFF (1U << 2) /* ABI 7 */
#define GUARD_LL_RESTRICT_TSYNC (1U << 3)              /* ABI 8 */

/* The newest ABI whose every constant is restated above; a newer kernel is driven
 * at this level (it accepts everything an older ABI knows). */
#define GUARD_LL_ABI_NEWEST 8

/* Rights that apply to a file (not only to a directory's content); a path_beneath
 * rule on a non-directory may carry only these (the kernel says EINVAL otherwise). */
/* Kept as written: clang-format 14 indents a macro body by PPIndentWidth. */
/* clang-format off */
#define GUARD_LL_FS_FILE_RIGHTS \
    (GUARD_LL_FS_EXECUTE | GUARD_LL_FS_WRITE_FILE | GUARD_LL_FS_READ_FILE | \
     GUARD_LL_FS_TRUNCATE | GUARD_LL_FS_IOCTL_DEV)
/* clang-format on */

#define GUARD_LL_FS_ALL ((GUARD_LL_FS_IOCTL_DEV << 1) - 1)
#define GUARD_LL_NET_ALL (GUARD_LL_NET_BIND_TCP | GUARD_LL_NET_CONNECT_TCP)
#define GUARD_LL_SCOPE_ALL (GUARD_LL_SCOPE_ABSTRACT_UNIX_SOCKET | GUARD_LL_SCOPE_SIGNAL)
#define GUARD_LL_RESTRICT_ALL ((GUARD_LL_RESTRICT_TSYNC << 1) - 1)

/* struct landlock_ruleset_attr as of ABI 6; older kernels get a shorter size. */
typedef struct guard_ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
} guard_ll_ruleset_attr;

typedef struct guard_ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed)) guard_ll_path_beneath_attr;

typedef struct guard_ll_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
} guard_ll_net_port_attr;

/* A set of rights across the four Landlock namespaces. */
typedef struct guard_ll_access {
    uint64_t fs;
    uint64_t net;
    uint64_t scoped;
    uint32_t restrict_flags;
} guard_ll_access;

/* What guard_landlock_compat() says about one ABI. */
typedef struct guard_ll_compat {
    guard_ll_access handled; /* what the kernel will enforce */
    guard_ll_access dropped; /* requested but unknown to this ABI: NOT enforced */
    /* ABI 1 cannot handle REFER, yet always denies reparenting (EXDEV): the
     * requested REFER grant is dropped, which is stricter, not weaker. */
    int refer_always_denied;
} guard_ll_compat;

/* Splits REQ into what ABI handles and what it drops (the fall-through downgrade
 * of samples/landlock/sandboxer.c).  ABI < 1 drops everything; ABI above
 * GUARD_LL_ABI_NEWEST is treated as GUARD_LL_ABI_NEWEST.  Bits unknown to every
 * ABI are dropped too.  Pure: no syscall.  Returns 0. */
int guard_landlock_compat(int abi, const guard_ll_access *req, guard_ll_compat *out);

/* The rights a path_beneath rule may carry: WANTED restricted to HANDLED_FS, and to
 * file rights when the target is not a directory.  Pure. */
uint64_t guard_landlock_rule_access(uint64_t wanted, uint64_t handled_fs, int is_dir);

/* The size of struct landlock_ruleset_attr the kernel of ABI understands:
 * 8 bytes before ABI 4, 16 before ABI 6, 24 after.  0 for ABI < 1. */
unsigned guard_landlock_attr_size(int abi);

/* Returns the running kernel's ABI (>= 1), or -ENOSYS (Landlock not built in),
 * -EOPNOTSUPP (built in but disabled at boot). */
int guard_landlock_abi(void);

/* Returns the errata bitmask (>= 0; bit N-1 set when erratum N is fixed), or a
 * negative errno when the kernel does not answer the query (-EINVAL before the
 * errata flag existed). */
int guard_landlock_errata(void);

/* Creates a ruleset handling H (restricted to ABI's attr size).  Returns the
 * ruleset fd (O_CLOEXEC by the kernel) or -errno (-EINVAL: a bit H holds is
 * unknown to this kernel; -ENOMSG: H is empty). */
int guard_landlock_create(int abi, const guard_ll_access *h);

/* Adds a path_beneath rule for PATH with WANTED & HANDLED_FS (masked to file rights
 * when PATH is not a directory).  PATH is opened O_PATH|O_CLOEXEC and closed again.
 * *IS_DIR (may be NULL) is set to 1/0 once PATH is opened; *GRANTED (may be NULL)
 * to the rights actually added.  Returns 0 or -errno: -ENOENT/-EACCES/-ELOOP...
 * from open, -EINVAL/-EBADFD/-ENOMSG from the kernel; an empty masked set is a
 * no-op that returns 0 with *GRANTED == 0.  REAL (may be NULL; REAL_LEN bytes) gets
 * the path the rule actually lands on once PATH is opened (symlinks followed, read
 * back from /proc/self/fd), or "" if that cannot be read or does not fit. */
int guard_landlock_add_path(int ruleset_fd, const char *path, uint64_t wanted, uint64_t handled_fs,
                            int *is_dir, uint64_t *granted, char *real, size_t real_len);

/* Adds a net_port rule: PORT (host order, 0..65535) may use ACCESS (net rights).
 * Returns 0 or -errno (-EINVAL: port out of range or rights not handled). */
int guard_landlock_add_port(int ruleset_fd, uint64_t port, uint64_t access);

/* Sets PR_SET_NO_NEW_PRIVS on the calling thread.  Returns 0 or -errno. */
int guard_landlock_set_no_new_privs(void);

/* Returns 1 if the calling thread has no_new_privs, 0 if not, or -errno. */
int guard_landlock_get_no_new_privs(void);

/* Enforces RULESET_FD on the calling thread (all threads with
 * GUARD_LL_RESTRICT_TSYNC), after setting NO_NEW_PRIVS.  Does not close the fd.
 * Returns 0 or -errno: -EPERM (no_new_privs could not be set and no CAP_SYS_ADMIN),
 * -E2BIG (16 stacked domains already), -EINVAL (unknown flag), -EBADFD. */
int guard_landlock_restrict(int ruleset_fd, uint32_t flags);

/* One sentence saying what ERR (negative errno) means at STAGE ("probe",
 * "create", "add_rule", "restrict"), for reports; never NULL. */
const char *guard_landlock_explain(const char *stage, int err);

#endif
