/* seccomp.h - the lockdown seccomp-BPF program and its installation (pure C).
 *
 * The program is assembled with sasm.h from the deny list in seccomp.c and the
 * per-architecture number tables (syscalls_<arch>.h).  It is installed with raw
 * system calls, without libseccomp.  Functions return 0 or a negative errno.
 */
#ifndef GUARD_SECCOMP_H
#define GUARD_SECCOMP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sasm.h"

#define GUARD_AUDIT_ARCH_X86_64 0xC000003Eu
#define GUARD_AUDIT_ARCH_I386 0x40000003u
#define GUARD_AUDIT_ARCH_AARCH64 0xC00000B7u
#define GUARD_AUDIT_ARCH_ARM 0x40000028u
#define GUARD_X32_SYSCALL_BIT 0x40000000u

/* Every CLONE_NEW* bit of clone()/unshare() flags (low 32 bits). */
#define GUARD_CLONE_NEW_MASK 0x7E020080u

/* What a denied syscall gets ([lockdown] seccomp in the policy). */
enum guard_sc_mode {
    GUARD_SC_ERRNO, /* SECCOMP_RET_ERRNO(EPERM) */
    GUARD_SC_TRAP,  /* SECCOMP_RET_TRAP: the guard's SIGSYS handler answers EPERM */
    GUARD_SC_LOG,   /* SECCOMP_RET_LOG: allowed, logged by the kernel */
    GUARD_SC_KILL,  /* SECCOMP_RET_KILL_PROCESS (never KILL_THREAD) */
};
/* Not an enumerator, so a switch over the modes stays checked for exhaustiveness. */
#define GUARD_SC_MODE_COUNT (GUARD_SC_KILL + 1)

enum guard_sc_kind {
    GUARD_SC_DENY,          /* the mode's action */
    GUARD_SC_ENOSYS,        /* ERRNO(ENOSYS) in every mode: callers fall back */
    GUARD_SC_NS_FLAGS,      /* the mode's action if args[0] has a CLONE_NEW* bit */
    GUARD_SC_PERSONALITY,   /* the mode's action unless args[0] is a harmless persona */
    GUARD_SC_IOCTL_TIOCSTI, /* the mode's action if args[1] is TIOCSTI */
    GUARD_SC_SOCKET_MPTCP,  /* the mode's action if args[2] is IPPROTO_MPTCP */
};
/* The last kind + 1 (not an enumerator: switches over kinds stay exhaustive). */
#define GUARD_SC_KIND_COUNT (GUARD_SC_SOCKET_MPTCP + 1)

/* The policy's name of each mode ("errno", "trap", "log", "kill") and the label of each
 * kind ("deny", "enosys", ...): the program's labels, explain's text and the Python
 * side (_guard.SECCOMP_MODES, SECCOMP_KINDS) all use these. */
extern const char *const guard_sc_mode_names[GUARD_SC_MODE_COUNT];
extern const char *const guard_sc_kind_names[GUARD_SC_KIND_COUNT];

/* socket(2) protocol of Multipath TCP, which Landlock's TCP rules do not cover.  The
 * kernel reads the protocol as int: only the low half. */
#define GUARD_IPPROTO_MPTCP 262u

/* ioctl(2) request that pushes bytes into a terminal's input queue (asm-generic and
 * x86: 0x5412).  The kernel reads the request as unsigned int: only the low half. */
#define GUARD_TIOCSTI 0x5412u

struct guard_sc_rule {
    const char *name;
    enum guard_sc_kind kind;
    const char *why; /* one line, shown by `explain` and the README */
};

struct guard_syscall {
    const char *name;
    int nr;
};

struct guard_sc_arch {
    const char *name; /* "x86_64", "aarch64" */
    uint32_t audit_arch;
    int has_x32; /* nr with GUARD_X32_SYSCALL_BIT is the x32 ABI */
    const struct guard_syscall *table;
    size_t ntable;
};

extern const struct guard_sc_rule guard_seccomp_rules[];
extern const size_t guard_seccomp_nrules;
extern const uint32_t guard_seccomp_personas[]; /* personality(2) values left allowed */
extern const size_t guard_seccomp_npersonas;

/* The architecture named NAME (or the one this file was compiled for, if NULL);
 * NULL if unknown. */
const struct guard_sc_arch *guard_seccomp_arch(const char *name);

/* NAME's number on ARCH, or -ENOENT where ARCH has no such syscall. */
int guard_seccomp_nr(const struct guard_sc_arch *arch, const char *name);

/* NR's name on ARCH, or NULL. */
const char *guard_seccomp_name(const struct guard_sc_arch *arch, int nr);

/* The return value for a denied syscall in MODE. */
uint32_t guard_seccomp_deny_action(enum guard_sc_mode mode);

/* Assembles the program for ARCH and MODE into A (initialised by the caller, which
 * frees it).  Returns 0 or an error from sasm.h. */
int guard_seccomp_build(struct guard_sasm *a, const struct guard_sc_arch *arch,
                        enum guard_sc_mode mode);

/* 0 if the kernel supports ACTION (SECCOMP_GET_ACTION_AVAIL), -EOPNOTSUPP if not,
 * -ENOSYS/-EINVAL if seccomp() itself is missing. */
int guard_seccomp_action_avail(uint32_t action);

/* Stores in *AVAIL the SECCOMP_FILTER_FLAG_* bits among WANTED that the kernel
 * accepts (probed with a NULL program: EFAULT means "flag known").  0 or -ENOSYS. */
int guard_seccomp_flags_avail(unsigned wanted, unsigned *avail);

/* Sets NO_NEW_PRIVS and installs PROG with FLAGS.  With SECCOMP_FILTER_FLAG_TSYNC a
 * thread that cannot be synchronised makes the whole call fail, with nothing
 * installed on any thread: -ESRCH and its id in *BAD_TID.  Other errors: -EINVAL
 * (program refused), -EACCES, -ENOMEM, -EFAULT, -ENOSYS. */
int guard_seccomp_install(const struct sock_filter *prog, unsigned n, unsigned flags,
                          pid_t *bad_tid);

/* Current seccomp mode of the calling thread (0, 1 or 2), or -errno. */
int guard_seccomp_mode(void);

#endif
