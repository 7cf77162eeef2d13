/* landlock.c - Landlock: ABI probe, best-effort downgrade, ruleset build, enforce.
 *
 * The habits are those of the kernel's samples/landlock/sandboxer.c: probe the ABI,
 * remove in a fall-through switch what an older kernel lacks, open rule targets
 * O_PATH|O_CLOEXEC, set NO_NEW_PRIVS right before landlock_restrict_self().
 * Nothing here decides policy: sdk_guard.landlock says which paths get which rights
 * and reports every right this file says was dropped.
 */
#define _GNU_SOURCE /* O_PATH */
#include "landlock.h"
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static long
ll_syscall(long nr, long a, long b, long c, long d)
{
    long rc = syscall(nr, a, b, c, d);
    return rc < 0 ? -errno : rc;
}

int
guard_landlock_compat(int abi, const guard_ll_access *req, guard_ll_compat *out)
{
    guard_ll_access h = {
        .fs = req->fs & GUARD_LL_FS_ALL,
        .net = req->net & GUARD_LL_NET_ALL,
        .scoped = req->scoped & GUARD_LL_SCOPE_ALL,
        .restrict_flags = req->restrict_flags & GUARD_LL_RESTRICT_ALL,
    };

    memset(out, 0, sizeof *out);
    if (abi > GUARD_LL_ABI_NEWEST)
        abi = GUARD_LL_ABI_NEWEST;
    if (abi < 1)
        memset(&h, 0, sizeof h);

    switch (abi) {
    case 1:
        /* Removes LANDLOCK_ACCESS_FS_REFER for ABI < 2 (reparenting stays denied). */
        h.fs &= ~GUARD_LL_FS_REFER;
        out->refer_always_denied = 1;
        __attribute__((fallthrough));
    case 2:
        /* Removes LANDLOCK_ACCESS_FS_TRUNCATE for ABI < 3 */
        h.fs &= ~GUARD_LL_FS_TRUNCATE;
        __attribute__((fallthrough));
    case 3:
        /* Removes network support for ABI < 4 */
        h.net = 0;
        __attribute__((fallthrough));
    case 4:
        /* Removes LANDLOCK_ACCESS_FS_IOCTL_DEV for ABI < 5 */
        h.fs &= ~GUARD_LL_FS_IOCTL_DEV;
        __attribute__((fallthrough));
    case 5:
        /* Removes IPC scoping for ABI < 6 */
        h.scoped = 0;
        __attribute__((fallthrough));
    case 6:
        /* Removes restrict_self log flags for ABI < 7 */
        h.restrict_flags &=
            ~(GUARD_LL_RESTRICT_LOG_SAME_EXEC_OFF | GUARD_LL_RESTRICT_LOG_NEW_EXEC_ON |
              GUARD_LL_RESTRICT_LOG_SUBDOMAINS_OFF);
        __attribute__((fallthrough));
    case 7:
        /* Removes LANDLOCK_RESTRICT_SELF_TSYNC for ABI < 8 */
        h.restrict_flags &= ~GUARD_LL_RESTRICT_TSYNC;
        break;
    default:
        break;
    }

    out->handled = h;
    out->dropped.fs = req->fs & ~h.fs;
    out->dropped.net = req->net & ~h.net;
    out->dropped.scoped = req->scoped & ~h.scoped;
    out->dropped.restrict_flags = req->restrict_flags & ~h.restrict_flags;
    return 0;
}

uint64_t
guard_landlock_rule_access(uint64_t wanted, uint64_t handled_fs, int is_dir)
{
    uint64_t access = wanted & handled_fs;
    return is_dir ? access : access & GUARD_LL_FS_FILE_RIGHTS;
}

unsigned
guard_landlock_attr_size(int abi)
{
    if (abi < 1)
        return 0;
    if (abi < 4)
        return sizeof(uint64_t);
    if (abi < 6)
        return 2 * sizeof(uint64_t);
    return sizeof(guard_ll_ruleset_attr);
}

int
guard_landlock_abi(void)
{
    return (int)ll_syscall(GUARD_NR_landlock_create_ruleset, 0, 0, GUARD_LL_CREATE_RULESET_VERSION,
                           0);
}

int
guard_landlock_errata(void)
{
    return (int)ll_syscall(GUARD_NR_landlock_create_ruleset, 0, 0, GUARD_LL_CREATE_RULESET_ERRATA,
                           0);
}

int
guard_landlock_create(int abi, const guard_ll_access *h)
{
    guard_ll_ruleset_attr attr = {
        .handled_access_fs = h->fs,
        .handled_access_net = h->net,
        .scoped = h->scoped,
    };
    unsigned size = guard_landlock_attr_size(abi);

    if (size == 0)
        return -EOPNOTSUPP;
    /* A field the kernel's struct is too short to carry would be silently lost. */
    if ((size < 16 && h->net) || (size < 24 && h->scoped))
        return -EINVAL;
    return (int)ll_syscall(GUARD_NR_landlock_create_ruleset, (long)&attr, size, 0, 0);
}

/* Opens PATH O_PATH and says where the rule really lands (REAL).  A clean path the
 * kernel walks without meeting a symlink is its own answer: one openat2() with
 * RESOLVE_NO_SYMLINKS does both jobs, and only otherwise does the descriptor's
 * /proc/self/fd link have to be read (a readlink() per rule cost ~0.2 ms per lockdown). */
static int
open_rule_path(const char *path, char *real, size_t real_len)
{
    if (real == NULL || real_len < 2)
        return open(path, O_PATH | O_CLOEXEC);
    size_t len = strlen(path);
    if (len < real_len) {
        int fd = guard_path_open_canonical(path);
        if (fd >= 0) {
            memcpy(real, path, len + 1);
            return fd;
        }
    }
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd >= 0) {
        char proc[48];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(proc, real, real_len);
        real[n > 0 && (size_t)n < real_len ? n : 0] = '\0';
    }
    return fd;
}

int
guard_landlock_add_path(int ruleset_fd, const char *path, uint64_t wanted, uint64_t handled_fs,
                        int *is_dir, uint64_t *granted, char *real, size_t real_len)
{
    guard_ll_path_beneath_attr attr;
    struct stat st;
    int rc;

    if (granted)
        *granted = 0;
    if (real && real_len)
        real[0] = '\0';
    /* A symlink in PATH moves the rule elsewhere: the report must say where. */
    attr.parent_fd = open_rule_path(path, real, real_len);
    if (attr.parent_fd < 0)
        return -errno;
    if (fstat(attr.parent_fd, &st) < 0) {
        rc = -errno;
        goto err_close_parent;
    }
    if (is_dir)
        *is_dir = S_ISDIR(st.st_mode) ? 1 : 0;
    attr.allowed_access = guard_landlock_rule_access(wanted, handled_fs, S_ISDIR(st.st_mode));
    rc = 0;
    if (attr.allowed_access != 0)
        rc = (int)ll_syscall(GUARD_NR_landlock_add_rule, ruleset_fd, GUARD_LL_RULE_PATH_BENEATH,
                             (long)&attr, 0);
    if (rc == 0 && granted)
        *granted = attr.allowed_access;

err_close_parent:
    close(attr.parent_fd);
    return rc;
}

int
guard_landlock_add_port(int ruleset_fd, uint64_t port, uint64_t access)
{
    guard_ll_net_port_attr attr = {.allowed_access = access, .port = port};

    if (port > 65535)
        return -EINVAL;
    return (int)ll_syscall(GUARD_NR_landlock_add_rule, ruleset_fd, GUARD_LL_RULE_NET_PORT,
                           (long)&attr, 0);
}

int
guard_landlock_set_no_new_privs(void)
{
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}

int
guard_landlock_get_no_new_privs(void)
{
    int rc = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    return rc < 0 ? -errno : rc;
}

int
guard_landlock_restrict(int ruleset_fd, uint32_t flags)
{
    int rc = guard_landlock_set_no_new_privs();
    if (rc < 0)
        return rc;
    return (int)ll_syscall(GUARD_NR_landlock_restrict_self, ruleset_fd, flags, 0, 0);
}

const char *
guard_landlock_explain(const char *stage, int err)
{
    int probe = strcmp(stage, "probe") == 0 || strcmp(stage, "create") == 0;
    int restrict_stage = strcmp(stage, "restrict") == 0;
    int add = strcmp(stage, "add_rule") == 0;

    switch (-err) {
    case 0:
        return "ok";
    case ENOSYS:
        return "Landlock is not built into this kernel (CONFIG_SECURITY_LANDLOCK is not set)";
    case EOPNOTSUPP:
        return "Landlock is built into this kernel but disabled at boot "
               "(add landlock to the lsm= kernel parameter)";
    case EPERM:
        return restrict_stage
                   ? "the thread has neither no_new_privs nor CAP_SYS_ADMIN, so it may not "
                     "restrict itself"
                   : "operation not permitted";
    case E2BIG:
        return restrict_stage ? "the thread already has the maximum of 16 stacked Landlock domains"
                              : "the ruleset attribute is larger than this kernel accepts";
    case EINVAL:
        if (add)
            return "the rule's rights are not handled by the ruleset, are directory rights "
                   "on a file, or the port is out of range";
        if (probe)
            return "the ruleset asks for a right or flag this kernel does not know";
        return restrict_stage ? "a restrict_self flag is unknown to this kernel"
                              : "invalid argument";
    case ENOMSG:
        return "the rule or ruleset carries no access right";
    case EBADF:
    case EBADFD:
        return "the descriptor is not a Landlock ruleset";
    case ENOENT:
        return "the path does not exist";
    case EACCES:
        return "the path cannot be opened (a parent directory is not searchable)";
    case ELOOP:
        return "the path has too many levels of symbolic links";
    case ENOTDIR:
        return "a component of the path is not a directory";
    default:
        return "unexpected error";
    }
}
