/* seccomp_trap.c - SIGSYS handler and async-signal-safe ring (see seccomp_trap.h).
 *
 * The handler follows Chromium's trap handler: it acts only on a SIGSYS whose
 * si_code is SYS_SECCOMP and whose si_arch is ours, writes -EPERM into the return
 * register, and preserves errno.  Anything else is not ours: the default action is
 * restored and the signal raised again, as if no handler had been installed.
 *
 * The ring is a bounded multi-producer queue (per-slot sequence numbers): threads
 * may trap concurrently; a full ring drops and counts, it never blocks a handler.
 */
#define _GNU_SOURCE
#include "seccomp_trap.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "seccomp.h"

#ifndef SYS_SECCOMP
#  define SYS_SECCOMP 1 /* si_code of a seccomp SIGSYS */
#endif

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the ring needs lock-free 64-bit atomics");
_Static_assert((GUARD_TRAP_RING_SIZE & (GUARD_TRAP_RING_SIZE - 1)) == 0, "power of two");

/* Process-wide by nature: a signal handler has no module to find its state in, and
 * the filter it serves covers every thread of the process. */
static struct {
    struct {
        _Atomic uint64_t seq; /* biased by -index: see slot_seq() */
        struct guard_trap_record rec;
    } slot[GUARD_TRAP_RING_SIZE];
    _Atomic uint64_t head; /* next position a producer claims */
    uint64_t tail;         /* next position the consumer reads */
    _Atomic uint64_t dropped;
    _Atomic int installed;
} trap;

/* A slot's sequence is pos when free for position pos and pos + 1 once committed.
 * It is stored minus the slot index so the zero-initialised ring starts valid (slot i
 * free for position i) without an init step a signal could race. */
static uint64_t
slot_seq(uint64_t pos)
{
    unsigned i = (unsigned)(pos % GUARD_TRAP_RING_SIZE);
    return atomic_load_explicit(&trap.slot[i].seq, memory_order_acquire) + i;
}

static void
set_slot_seq(uint64_t pos, uint64_t seq)
{
    unsigned i = (unsigned)(pos % GUARD_TRAP_RING_SIZE);
    atomic_store_explicit(&trap.slot[i].seq, seq - i, memory_order_release);
}

int
guard_seccomp_trap_push(const struct guard_trap_record *rec)
{
    uint64_t pos = atomic_load_explicit(&trap.head, memory_order_relaxed);
    for (;;) {
        uint64_t seq = slot_seq(pos);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&trap.head, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        }
        else if (dif < 0) {
            atomic_fetch_add_explicit(&trap.dropped, 1, memory_order_relaxed);
            return -ENOBUFS;
        }
        else {
            pos = atomic_load_explicit(&trap.head, memory_order_relaxed);
        }
    }
    trap.slot[pos % GUARD_TRAP_RING_SIZE].rec = *rec;
    set_slot_seq(pos, pos + 1);
    return 0;
}

unsigned
guard_seccomp_trap_drain(struct guard_trap_record *out, unsigned max)
{
    unsigned n = 0;
    while (n < max) {
        uint64_t pos = trap.tail;
        if (slot_seq(pos) != pos + 1)
            break; /* empty, or the next slot is still being written */
        out[n++] = trap.slot[pos % GUARD_TRAP_RING_SIZE].rec;
        set_slot_seq(pos, pos + GUARD_TRAP_RING_SIZE);
        trap.tail = pos + 1;
    }
    return n;
}

uint64_t
guard_seccomp_trap_dropped(void)
{
    return atomic_load_explicit(&trap.dropped, memory_order_relaxed);
}

#if defined(__x86_64__)
#  define TRAP_NATIVE_ARCH GUARD_AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#  define TRAP_NATIVE_ARCH GUARD_AUDIT_ARCH_AARCH64
#endif

static void
on_sigsys(int sig, siginfo_t *info, void *context)
{
    int saved_errno = errno;
#ifdef TRAP_NATIVE_ARCH
    ucontext_t *uc = context;
    if (info->si_code == SYS_SECCOMP && info->si_arch == TRAP_NATIVE_ARCH) {
        struct guard_trap_record rec;
        rec.nr = info->si_syscall;
        rec.arch = info->si_arch;
        rec.tid = (int)syscall(SYS_gettid);
        rec.ip = (uint64_t)(uintptr_t)info->si_call_addr;
#  if defined(__x86_64__)
        greg_t *g = uc->uc_mcontext.gregs;
        rec.args[0] = (uint64_t)g[REG_RDI];
        rec.args[1] = (uint64_t)g[REG_RSI];
        rec.args[2] = (uint64_t)g[REG_RDX];
        rec.args[3] = (uint64_t)g[REG_R10];
        rec.args[4] = (uint64_t)g[REG_R8];
        rec.args[5] = (uint64_t)g[REG_R9];
        g[REG_RAX] = -EPERM;
#  else
        for (int i = 0; i < 6; i++)
            rec.args[i] = uc->uc_mcontext.regs[i];
        uc->uc_mcontext.regs[0] = (uint64_t)(int64_t)-EPERM;
#  endif
        guard_seccomp_trap_push(&rec);
        errno = saved_errno;
        return;
    }
#endif
    /* Not a seccomp trap of ours (kill -SYS, or an arch we do not decode). */
    signal(SIGSYS, SIG_DFL);
    raise(SIGSYS);
    errno = saved_errno;
}

int
guard_seccomp_trap_install(void)
{
#ifndef TRAP_NATIVE_ARCH
    return -EOPNOTSUPP;
#else
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    /* SA_ONSTACK: run on the alternate stack where one exists (faulthandler's). */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        return -errno;
    atomic_store(&trap.installed, 1);
    return 0;
#endif
}

int
guard_seccomp_trap_active(void)
{
    struct sigaction cur;
    if (!atomic_load(&trap.installed) || sigaction(SIGSYS, NULL, &cur) < 0)
        return 0;
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigsys;
}
