/* seccomp_trap.h - the guard's SIGSYS handler for SECCOMP_RET_TRAP (pure C).
 *
 * In trap mode a denied syscall raises SIGSYS; the handler makes the syscall return
 * -EPERM and records it in a fixed, lock-free ring that the Python side drains into
 * audit records (layer "seccomp").  Everything the handler touches is
 * async-signal-safe: no allocation, no locks, only lock-free atomics and gettid.
 */
#ifndef GUARD_SECCOMP_TRAP_H
#define GUARD_SECCOMP_TRAP_H

#include <stdint.h>

#define GUARD_TRAP_RING_SIZE 256u /* power of two */

struct guard_trap_record {
    int nr;        /* syscall number (si_syscall) */
    uint32_t arch; /* AUDIT_ARCH_* (si_arch) */
    int tid;       /* thread that made the call */
    uint64_t ip;   /* address of the syscall instruction */
    uint64_t args[6];
};

/* Installs the handler for SIGSYS (idempotent).  0 or -errno. */
int guard_seccomp_trap_install(void);

/* 1 if the handler is installed and still the SIGSYS disposition, else 0. */
int guard_seccomp_trap_active(void);

/* Moves up to MAX committed records, oldest first, into OUT; returns how many.
 * One consumer at a time (the caller serialises; Python holds the GIL). */
unsigned guard_seccomp_trap_drain(struct guard_trap_record *out, unsigned max);

/* Records lost because the ring was full, since the start of the process. */
uint64_t guard_seccomp_trap_dropped(void);

/* Pushes REC as the handler does (for tests of the ring itself); 0 or -ENOBUFS. */
int guard_seccomp_trap_push(const struct guard_trap_record *rec);

#endif
