/* seccomp.c - the lockdown seccomp-BPF program: deny list, assembly, installation.
 *
 * Shape of the program (the OpenSSH / bpf-helper.h habits):
 *
 *           ld  [arch]                      arch first: numbers mean nothing before
 *           jeq #NATIVE, arch_ok, kill      foreign arch (i386 via int 0x80, arm) dies
 *   arch_ok: ld [nr]                        A holds nr from here to every leaf
 *           jge #X32_BIT, high_nr, tree     x86_64 only: x32 numbers and -1
 *   tree:   a balanced jge tree over nr ranges, each leaf a jump to an action label
 *   high_nr: jeq #-1, allow, kill           -1 allowed: see below
 *   ns_flags / personality / ioctl_tiocsti / socket_mptcp
 *                                           the only fragments that load arguments
 *   deny / enosys / allow / kill            one return each
 *
 * Outside those four fragments only arch and nr are loaded, so the kernel's
 * action cache (seccomp_cache_prepare) marks every syscall that is not on the deny
 * list as constant-allow and never runs the filter for it.
 *
 * nr == -1 is allowed: userspace calling syscall(-1) gets ENOSYS from the kernel
 * (nothing runs), and a ptracer uses -1 to skip a syscall; killing on it would turn a
 * harmless probe into a process kill.  libseccomp makes the same choice.
 */
#include "seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "syscalls_aarch64.h"
#include "syscalls_x86_64.h"

/* The deny list.  Every entry: what it is, and why extension code never needs it. */
const struct guard_sc_rule guard_seccomp_rules[] = {
    {"execve", GUARD_SC_DENY, "replaces the interpreter with a program the guard cannot see"},
    {"execveat", GUARD_SC_DENY, "execve by file descriptor: the same escape"},
    {"ptrace", GUARD_SC_DENY, "reads and rewrites other processes' memory and registers"},
    {"process_vm_readv", GUARD_SC_DENY, "reads another process's memory without ptrace"},
    {"process_vm_writev", GUARD_SC_DENY, "writes another process's memory without ptrace"},
    {"pidfd_getfd", GUARD_SC_DENY, "copies file descriptors out of another process"},
    {"kcmp", GUARD_SC_DENY, "compares other processes' kernel objects: an address oracle"},
    {"process_madvise", GUARD_SC_DENY, "acts on another process's memory"},
    {"setns", GUARD_SC_DENY, "joins another namespace, leaving this one's rules behind"},
    {"unshare", GUARD_SC_NS_FLAGS,
     "with a CLONE_NEW* flag: new namespaces (user ns first) open kernel attack surface"},
    {"clone", GUARD_SC_NS_FLAGS,
     "with a CLONE_NEW* flag: as unshare; threads and fork carry none and stay allowed"},
    {"clone3", GUARD_SC_ENOSYS,
     "its flags sit in memory the filter cannot read; on ENOSYS libc falls back to clone"},
    {"setuid", GUARD_SC_DENY, "credential change"},
    {"setgid", GUARD_SC_DENY, "credential change"},
    {"setreuid", GUARD_SC_DENY, "credential change"},
    {"setregid", GUARD_SC_DENY, "credential change"},
    {"setresuid", GUARD_SC_DENY, "credential change"},
    {"setresgid", GUARD_SC_DENY, "credential change"},
    {"setfsuid", GUARD_SC_DENY, "credential change (filesystem ids)"},
    {"setfsgid", GUARD_SC_DENY, "credential change (filesystem ids)"},
    {"setgroups", GUARD_SC_DENY, "credential change (supplementary groups)"},
    {"capset", GUARD_SC_DENY, "changes capability sets"},
    {"bpf", GUARD_SC_DENY, "loads eBPF programs and maps: kernel attack surface and tracing"},
    {"userfaultfd", GUARD_SC_DENY, "stalls page faults at will: the classic kernel race widener"},
    {"perf_event_open", GUARD_SC_DENY, "kernel profiling: side channels and a long CVE record"},
    {"keyctl", GUARD_SC_DENY, "kernel keyrings outlive the process and are shared beyond it"},
    {"add_key", GUARD_SC_DENY, "kernel keyrings (see keyctl)"},
    {"request_key", GUARD_SC_DENY, "kernel keyrings; may run a usermode helper"},
    {"kexec_load", GUARD_SC_DENY, "replaces the running kernel"},
    {"kexec_file_load", GUARD_SC_DENY, "replaces the running kernel"},
    {"init_module", GUARD_SC_DENY, "loads kernel code"},
    {"finit_module", GUARD_SC_DENY, "loads kernel code from a file"},
    {"delete_module", GUARD_SC_DENY, "unloads kernel code"},
    {"mount", GUARD_SC_DENY, "changes the file tree Landlock rules were written against"},
    {"umount2", GUARD_SC_DENY, "changes the file tree (reveals what a mount hid)"},
    {"pivot_root", GUARD_SC_DENY, "changes the root of the file tree"},
    {"chroot", GUARD_SC_DENY, "changes the root of the file tree"},
    {"open_tree", GUARD_SC_ENOSYS, "new mount API: as mount; ENOSYS so callers fall back"},
    {"move_mount", GUARD_SC_ENOSYS, "new mount API: as mount; ENOSYS so callers fall back"},
    {"fsopen", GUARD_SC_ENOSYS, "new mount API: as mount; ENOSYS so callers fall back"},
    {"fsconfig", GUARD_SC_ENOSYS, "new mount API: as mount; ENOSYS so callers fall back"},
    {"fsmount", GUARD_SC_ENOSYS, "new mount API: as mount; ENOSYS so callers fall back"},
    {"fspick", GUARD_SC_ENOSYS, "new mount API: as mount; ENOSYS so callers fall back"},
    {"mount_setattr", GUARD_SC_ENOSYS, "new mount API: as mount; ENOSYS so callers fall back"},
    {"open_by_handle_at", GUARD_SC_DENY, "opens files by handle, around path checks (shocker)"},
    {"personality", GUARD_SC_PERSONALITY,
     "READ_IMPLIES_EXEC / ADDR_NO_RANDOMIZE weaken W^X and ASLR; queries stay allowed"},
    {"ioctl", GUARD_SC_IOCTL_TIOCSTI,
     "with TIOCSTI: types commands into the terminal's input, which the shell that "
     "started the process then runs, outside every rule"},
    {"socket", GUARD_SC_SOCKET_MPTCP,
     "with IPPROTO_MPTCP: Multipath TCP connects and binds to any port, around "
     "Landlock's TCP rules"},
    {"io_uring_setup", GUARD_SC_ENOSYS,
     "I/O the filter never sees, and a long CVE record; ENOSYS so libraries fall back"},
    {"io_uring_enter", GUARD_SC_ENOSYS, "io_uring (see io_uring_setup)"},
    {"io_uring_register", GUARD_SC_ENOSYS, "io_uring (see io_uring_setup)"},
    {"reboot", GUARD_SC_DENY, "reboots or halts the machine"},
    {"swapon", GUARD_SC_DENY, "system swap configuration"},
    {"swapoff", GUARD_SC_DENY, "system swap configuration"},
    {"acct", GUARD_SC_DENY, "process accounting into a file of the caller's choosing"},
    {"quotactl", GUARD_SC_DENY, "filesystem quota administration"},
    {"quotactl_fd", GUARD_SC_DENY, "filesystem quota administration"},
    {"lookup_dcookie", GUARD_SC_DENY, "profiling interface that reveals dentry paths"},
    {"iopl", GUARD_SC_DENY, "x86 I/O privilege level: raw port access"},
    {"ioperm", GUARD_SC_DENY, "x86 raw I/O port access"},
    {"modify_ldt", GUARD_SC_DENY, "x86 segment tricks with a long CVE record"},
    {"uselib", GUARD_SC_DENY, "obsolete a.out library loader"},
    {"_sysctl", GUARD_SC_DENY, "obsolete binary sysctl interface"},
    {"create_module", GUARD_SC_DENY, "obsolete module loader"},
};
const size_t guard_seccomp_nrules = sizeof guard_seccomp_rules / sizeof guard_seccomp_rules[0];

/* personality(2) values that change nothing dangerous (the Docker default profile's
 * set): PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the 0xffffffff
 * query.  The kernel reads the argument as unsigned int: only the low half counts. */
const uint32_t guard_seccomp_personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
const size_t guard_seccomp_npersonas =
    sizeof guard_seccomp_personas / sizeof guard_seccomp_personas[0];

static const struct guard_sc_arch arches[] = {
    {"x86_64", GUARD_AUDIT_ARCH_X86_64, 1, guard_syscalls_x86_64,
     sizeof guard_syscalls_x86_64 / sizeof guard_syscalls_x86_64[0]},
    {"aarch64", GUARD_AUDIT_ARCH_AARCH64, 0, guard_syscalls_aarch64,
     sizeof guard_syscalls_aarch64 / sizeof guard_syscalls_aarch64[0]},
};

const struct guard_sc_arch *
guard_seccomp_arch(const char *name)
{
    if (name == NULL) {
#if defined(__x86_64__) && !defined(__ILP32__)
        name = "x86_64";
#elif defined(__aarch64__) && defined(__AARCH64EL__)
        name = "aarch64";
#else
        return NULL;
#endif
    }
    for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++) {
        if (strcmp(arches[i].name, name) == 0)
            return &arches[i];
    }
    return NULL;
}

int
guard_seccomp_nr(const struct guard_sc_arch *arch, const char *name)
{
    /* Building the program looks every deny-list name up (twice, with the report):
     * a linear strcmp scan of ~450 names each time cost ~0.1 ms of lockdown().  The
     * names are the rule table's string literals, so a direct-mapped memo keyed by
     * (arch, name pointer) answers repeats; a miss or a collision just scans. */
    enum { MEMO = 256 };
    static struct {
        const struct guard_sc_arch *arch;
        const char *name;
        int nr;
    } memo[MEMO];
    size_t h = (((uintptr_t)name >> 3) ^ ((uintptr_t)arch >> 4)) & (MEMO - 1);
    if (memo[h].arch == arch && memo[h].name == name)
        return memo[h].nr;
    int nr = -ENOENT;
    for (size_t i = 0; i < arch->ntable; i++) {
        if (strcmp(arch->table[i].name, name) == 0) {
            nr = arch->table[i].nr;
            break;
        }
    }
    memo[h].arch = arch;
    memo[h].name = name;
    memo[h].nr = nr;
    return nr;
}

const char *
guard_seccomp_name(const struct guard_sc_arch *arch, int nr)
{
    for (size_t i = 0; i < arch->ntable; i++) {
        if (arch->table[i].nr == nr)
            return arch->table[i].name;
    }
    return NULL;
}

uint32_t
guard_seccomp_deny_action(enum guard_sc_mode mode)
{
    switch (mode) {
    case GUARD_SC_TRAP:
        return SECCOMP_RET_TRAP;
    case GUARD_SC_LOG:
        return SECCOMP_RET_LOG;
    case GUARD_SC_KILL:
        return SECCOMP_RET_KILL_PROCESS;
    case GUARD_SC_ERRNO:
    default:
        return SECCOMP_RET_ERRNO | EPERM;
    }
}

const char *const guard_sc_mode_names[GUARD_SC_MODE_COUNT] = {
    [GUARD_SC_ERRNO] = "errno",
    [GUARD_SC_TRAP] = "trap",
    [GUARD_SC_LOG] = "log",
    [GUARD_SC_KILL] = "kill",
};

const char *const guard_sc_kind_names[GUARD_SC_KIND_COUNT] = {
    [GUARD_SC_DENY] = "deny",
    [GUARD_SC_ENOSYS] = "enosys",
    [GUARD_SC_NS_FLAGS] = "ns_flags",
    [GUARD_SC_PERSONALITY] = "personality",
    [GUARD_SC_IOCTL_TIOCSTI] = "ioctl_tiocsti",
    [GUARD_SC_SOCKET_MPTCP] = "socket_mptcp",
};

/* One nr range [lo, next lo) and the label its syscalls jump to. */
struct range {
    uint32_t lo;
    const char *label;
};

struct entry {
    uint32_t nr;
    const char *label;
};

static int
by_nr(const void *x, const void *y)
{
    const struct entry *a = x, *b = y;
    return a->nr < b->nr ? -1 : a->nr > b->nr;
}

/* Fills R with the ranges covering [0, 2^32) and returns their count (or -errno). */
static int
make_ranges(const struct guard_sc_arch *arch, struct range *r, size_t cap)
{
    struct entry e[sizeof guard_seccomp_rules / sizeof guard_seccomp_rules[0]];
    size_t ne = 0;
    for (size_t i = 0; i < guard_seccomp_nrules; i++) {
        int nr = guard_seccomp_nr(arch, guard_seccomp_rules[i].name);
        if (nr < 0)
            continue; /* not on this architecture (iopl on aarch64, ...) */
        e[ne++] = (struct entry){(uint32_t)nr, guard_sc_kind_names[guard_seccomp_rules[i].kind]};
    }
    qsort(e, ne, sizeof e[0], by_nr);
    size_t n = 0;
    uint32_t next = 0; /* first nr not yet covered */
    for (size_t i = 0; i < ne; i++) {
        if (i > 0 && e[i].nr == e[i - 1].nr)
            return -EINVAL; /* a syscall listed twice */
        if (e[i].nr > next) {
            if (n == cap)
                return -E2BIG;
            r[n++] = (struct range){next, "allow"};
        }
        if (n > 0 && strcmp(r[n - 1].label, e[i].label) == 0) {
            next = e[i].nr + 1; /* extends the previous range */
            continue;
        }
        if (n == cap)
            return -E2BIG;
        r[n++] = (struct range){e[i].nr, e[i].label};
        next = e[i].nr + 1;
    }
    if (n == 0 || next != 0) {
        if (n == cap)
            return -E2BIG;
        r[n++] = (struct range){next, "allow"};
    }
    return (int)n;
}

static void
subtree_name(const struct range *r, int n, int i, int j, char *buf, size_t len)
{
    if (i == j) {
        snprintf(buf, len, "%s", r[i].label);
        return;
    }
    if (j + 1 < n)
        snprintf(buf, len, "nr_%u_to_%u", r[i].lo, r[j + 1].lo - 1);
    else
        snprintf(buf, len, "nr_%u_up", r[i].lo);
}

/* Emits the binary search over ranges I..J (A holds nr): one jge per inner node,
 * left subtree first so its root is the fall-through. */
static void
emit_tree(struct guard_sasm *a, const struct range *r, int n, int i, int j)
{
    if (i == j)
        return;
    int mid = (i + j + 1) / 2;
    char self[GUARD_SASM_NAME_MAX + 1], lo[GUARD_SASM_NAME_MAX + 1], hi[GUARD_SASM_NAME_MAX + 1];
    subtree_name(r, n, i, j, self, sizeof self);
    subtree_name(r, n, i, mid - 1, lo, sizeof lo);
    subtree_name(r, n, mid, j, hi, sizeof hi);
    guard_sasm_label(a, self);
    guard_sasm_jump(a, BPF_JMP | BPF_JGE | BPF_K, r[mid].lo, hi, lo);
    emit_tree(a, r, n, i, mid - 1);
    emit_tree(a, r, n, mid, j);
}

int
guard_seccomp_build(struct guard_sasm *a, const struct guard_sc_arch *arch, enum guard_sc_mode mode)
{
    struct range r[2 * sizeof guard_seccomp_rules / sizeof guard_seccomp_rules[0] + 2];
    int n = make_ranges(arch, r, sizeof r / sizeof r[0]);
    if (n < 0)
        return n;
    char root[GUARD_SASM_NAME_MAX + 1];
    subtree_name(r, n, 0, n - 1, root, sizeof root);

    guard_sasm_ld(a, GUARD_SD_ARCH);
    guard_sasm_jump(a, BPF_JMP | BPF_JEQ | BPF_K, arch->audit_arch, "arch_ok", "kill");
    guard_sasm_label(a, "arch_ok");
    guard_sasm_ld(a, GUARD_SD_NR);
    if (arch->has_x32)
        guard_sasm_jump(a, BPF_JMP | BPF_JGE | BPF_K, GUARD_X32_SYSCALL_BIT, "high_nr", NULL);
    if (n == 1)
        guard_sasm_ja(a, root);
    emit_tree(a, r, n, 0, n - 1);

    if (arch->has_x32) {
        /* x32 syscalls reuse the x86_64 arch value with this bit set: not ours. */
        guard_sasm_label(a, "high_nr");
        guard_sasm_jump(a, BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffu, "allow", "kill");
    }

    /* Only the low 32 bits: clone() takes lower_32_bits(flags), unshare() refuses
     * any high bit with EINVAL. */
    guard_sasm_label(a, "ns_flags");
    guard_sasm_ld(a, GUARD_SD_ARG_LO(0));
    guard_sasm_jump(a, BPF_JMP | BPF_JSET | BPF_K, GUARD_CLONE_NEW_MASK, "deny", "allow");

    guard_sasm_label(a, "personality");
    guard_sasm_ld(a, GUARD_SD_ARG_LO(0));
    for (size_t i = 0; i < guard_seccomp_npersonas; i++) {
        guard_sasm_jump(a, BPF_JMP | BPF_JEQ | BPF_K, guard_seccomp_personas[i], "allow",
                        i + 1 == guard_seccomp_npersonas ? "deny" : NULL);
    }

    /* ioctl() takes the request as unsigned int: only the low half counts. */
    guard_sasm_label(a, "ioctl_tiocsti");
    guard_sasm_ld(a, GUARD_SD_ARG_LO(1));
    guard_sasm_jump(a, BPF_JMP | BPF_JEQ | BPF_K, GUARD_TIOCSTI, "deny", "allow");

    /* socket() takes the protocol as int: only the low half counts. */
    guard_sasm_label(a, "socket_mptcp");
    guard_sasm_ld(a, GUARD_SD_ARG_LO(2));
    guard_sasm_jump(a, BPF_JMP | BPF_JEQ | BPF_K, GUARD_IPPROTO_MPTCP, "deny", "allow");

    guard_sasm_label(a, "deny");
    guard_sasm_ret(a, guard_seccomp_deny_action(mode));
    guard_sasm_label(a, "enosys");
    guard_sasm_ret(a, SECCOMP_RET_ERRNO | ENOSYS);
    guard_sasm_label(a, "allow");
    guard_sasm_ret(a, SECCOMP_RET_ALLOW);
    guard_sasm_label(a, "kill");
    guard_sasm_ret(a, SECCOMP_RET_KILL_PROCESS);
    return guard_sasm_finish(a);
}

/* ---- installation --------------------------------------------------------- */

static long
sys_seccomp(unsigned op, unsigned flags, void *args)
{
#ifdef SYS_seccomp
    return syscall(SYS_seccomp, op, flags, args);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int
guard_seccomp_action_avail(uint32_t action)
{
    if (sys_seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0)
        return 0;
    return -errno;
}

int
guard_seccomp_flags_avail(unsigned wanted, unsigned *avail)
{
    *avail = 0;
    for (unsigned bit = 1; bit != 0 && bit <= wanted; bit <<= 1) {
        if (!(wanted & bit))
            continue;
        /* With a NULL program a known flag fails later, at the copy: EFAULT. */
        if (sys_seccomp(SECCOMP_SET_MODE_FILTER, bit, NULL) < 0) {
            if (errno == EFAULT)
                *avail |= bit;
            else if (errno == ENOSYS)
                return -ENOSYS;
        }
    }
    return 0;
}

int
guard_seccomp_mode(void)
{
    int m = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
    return m < 0 ? -errno : m;
}

int
guard_seccomp_install(const struct sock_filter *prog, unsigned n, unsigned flags, pid_t *bad_tid)
{
    struct sock_fprog fprog = {(unsigned short)n, (struct sock_filter *)prog};
    *bad_tid = 0;
    if (n == 0 || n > BPF_MAXINSNS)
        return -EINVAL;
    /* Unprivileged filters require it; it also stops setuid binaries regaining
     * privileges (exec is denied anyway). */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    long rc = sys_seccomp(SECCOMP_SET_MODE_FILTER, flags, &fprog);
    if (rc < 0)
        return -errno;
    if (rc > 0 && (flags & SECCOMP_FILTER_FLAG_TSYNC)) {
        *bad_tid = (pid_t)rc;
        return -ESRCH;
    }
    return 0;
}
