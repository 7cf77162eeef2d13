/* test_seccomp_oracle.c - the hand-assembled program against libseccomp's.
 *
 * For each architecture we build (x86_64, aarch64) and each mode, both programs run
 * through bpf_sim over every combination of
 *   arch  in {x86_64, i386, aarch64, arm, three random values},
 *   nr    in [0, 1024) u [0x40000000, +1024) u {-1, 0x7fffffff},
 *   args  in {0, each CLONE_NEW* bit, high half set, personality values, TIOCSTI,
 *             IPPROTO_MPTCP},
 * and every difference must be on the allow-list below (which is empty: the two
 * programs decide identically).  Then the kernel's action-cache analysis is emulated
 * and the set of syscalls that still run the filter is asserted exactly.
 */
#include "bpf_sim.h"
#include "scmp_reference.h"
#include "seccomp.h"

#include <stdio.h>
#include <stdlib.h>

#include "check.h"

/* Differences the project accepts, each with its reason.  None today: keep it so a
 * future deliberate divergence is written down here, not hidden. */
static int
allowed_difference(uint32_t arch, uint32_t nr, uint64_t arg, uint32_t ours, uint32_t theirs)
{
    (void)arch;
    (void)nr;
    (void)arg;
    (void)ours;
    (void)theirs;
    return 0;
}

static const char *const mode_names[] = {"errno", "trap", "log", "kill"};

/* xorshift32: deterministic "random" arch values, printed so a failure reproduces. */
static uint32_t
next_random(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void
oracle(const struct guard_sc_arch *arch, enum guard_sc_mode mode)
{
    struct guard_sasm a;
    guard_sasm_init(&a);
    int rc = guard_seccomp_build(&a, arch, mode);
    CHECK(rc == 0);
    CHECK(guard_bpf_check(a.insns, a.len) == 0);
    struct sock_filter *ref = NULL;
    unsigned nref = 0;
    rc = scmp_reference(arch, mode, &ref, &nref);
    CHECK(rc == 0);
    if (rc != 0 || a.err) {
        guard_sasm_free(&a);
        free(ref);
        return;
    }
    CHECK(guard_bpf_check(ref, nref) == 0);

    uint32_t seed = 0x5eccu;
    uint32_t arches[] = {GUARD_AUDIT_ARCH_X86_64, GUARD_AUDIT_ARCH_I386, GUARD_AUDIT_ARCH_AARCH64,
                         GUARD_AUDIT_ARCH_ARM,    next_random(&seed),    next_random(&seed),
                         next_random(&seed)};
    uint64_t args[32];
    unsigned nargs = 0;
    args[nargs++] = 0;
    for (uint32_t bit = 1; bit != 0; bit <<= 1) {
        if (GUARD_CLONE_NEW_MASK & bit)
            args[nargs++] = bit;
    }
    args[nargs++] = 1ull << 32; /* high half only */
    args[nargs++] = 0xffffffff00000000ull;
    args[nargs++] = (1ull << 32) | 0x10000000u; /* high half and CLONE_NEWUSER */
    args[nargs++] = 0x11u | 0x00000100u;        /* SIGCHLD|CLONE_VM: a plain fork/thread */
    for (size_t i = 0; i < guard_seccomp_npersonas; i++)
        args[nargs++] = guard_seccomp_personas[i];
    args[nargs++] = 0x0400000u;                   /* READ_IMPLIES_EXEC */
    args[nargs++] = 0x0040000u;                   /* ADDR_NO_RANDOMIZE */
    args[nargs++] = 0xffffffffffffffffull;        /* personality(-1) as a 64-bit value */
    args[nargs++] = GUARD_TIOCSTI;                /* ioctl(fd, TIOCSTI, ...) */
    args[nargs++] = (1ull << 32) | GUARD_TIOCSTI; /* TIOCSTI with the high half set */
    args[nargs++] = GUARD_TIOCSTI + 1;            /* TIOCGWINSZ's neighbour: allowed */
    args[nargs++] = GUARD_IPPROTO_MPTCP;          /* socket(..., IPPROTO_MPTCP) */
    args[nargs++] = (1ull << 32) | GUARD_IPPROTO_MPTCP;

    unsigned long compared = 0, differ = 0, allowed = 0;
    for (size_t ai = 0; ai < sizeof arches / sizeof arches[0]; ai++) {
        for (uint64_t k = 0; k < 1024 * 2 + 2; k++) {
            uint32_t nr = k < 1024    ? (uint32_t)k
                          : k < 2048  ? 0x40000000u + (uint32_t)(k - 1024)
                          : k == 2048 ? 0xffffffffu
                                      : 0x7fffffffu;
            for (unsigned g = 0; g < nargs; g++) {
                struct seccomp_data d = {0};
                d.nr = (int)nr;
                d.arch = arches[ai];
                d.instruction_pointer = 0x7f0000001000ull;
                for (int i = 0; i < 6; i++)
                    d.args[i] = args[g];
                uint32_t ours = 0, theirs = 0;
                CHECK(guard_bpf_run(a.insns, a.len, &d, &ours, NULL) == 0);
                CHECK(guard_bpf_run(ref, nref, &d, &theirs, NULL) == 0);
                compared++;
                if (ours == theirs)
                    continue;
                if (allowed_difference(d.arch, nr, args[g], ours, theirs)) {
                    allowed++;
                    continue;
                }
                if (differ++ < 20) {
                    fprintf(stderr,
                            "%s/%s: arch 0x%08x nr 0x%x (%s) arg 0x%llx: "
                            "ours 0x%08x libseccomp 0x%08x\n",
                            arch->name, mode_names[mode], d.arch, nr,
                            guard_seccomp_name(arch, (int)nr) ? guard_seccomp_name(arch, (int)nr)
                                                              : "?",
                            (unsigned long long)args[g], ours, theirs);
                }
            }
        }
    }
    failures += differ != 0;
    printf("oracle %s/%s: %lu inputs, %lu differences (%lu allow-listed); "
           "%u insns ours, %u libseccomp; random arches 0x%08x 0x%08x 0x%08x\n",
           arch->name, mode_names[mode], compared, differ + allowed, allowed, a.len, nref,
           arches[4], arches[5], arches[6]);
    guard_sasm_free(&a);
    free(ref);
}

/* Our number tables against libseccomp's for every name the program uses. */
static void
tables_agree(const struct guard_sc_arch *arch)
{
    uint32_t token = scmp_token(arch);
    for (size_t i = 0; i < guard_seccomp_nrules; i++) {
        int ours = guard_seccomp_nr(arch, guard_seccomp_rules[i].name);
        int theirs = seccomp_syscall_resolve_name_arch(token, guard_seccomp_rules[i].name);
        if (theirs < 0)
            theirs = -ENOENT;
        if (ours != theirs) {
            fprintf(stderr, "%s %s: ours %d libseccomp %d\n", arch->name,
                    guard_seccomp_rules[i].name, ours, theirs);
            failures++;
        }
    }
}

/* The kernel caches "always allow" per (arch, nr) by emulating the program with only
 * nr and arch known.  Exactly the deny-list syscalls (including the argument-checked
 * clone/unshare/personality/ioctl/socket) must run the filter; every other syscall is cached. */
static void
cacheability(const struct guard_sc_arch *arch)
{
    struct guard_sasm a;
    guard_sasm_init(&a);
    CHECK(guard_seccomp_build(&a, arch, GUARD_SC_ERRNO) == 0);
    char expect[1024] = {0};
    unsigned nexpect = 0;
    for (size_t i = 0; i < guard_seccomp_nrules; i++) {
        int nr = guard_seccomp_nr(arch, guard_seccomp_rules[i].name);
        if (nr >= 0) {
            CHECK(nr < 1024);
            expect[nr] = 1;
            nexpect++;
        }
    }
    unsigned uncached = 0, wrong = 0;
    for (int nr = 0; nr < 1024; nr++) {
        int cached = guard_bpf_const_allow(a.insns, a.len, arch->audit_arch, nr);
        uncached += !cached;
        if (cached == expect[nr]) {
            fprintf(stderr, "%s nr %d (%s): cached=%d, expected %d\n", arch->name, nr,
                    guard_seccomp_name(arch, nr) ? guard_seccomp_name(arch, nr) : "?", cached,
                    !expect[nr]);
            wrong++;
        }
    }
    /* The compat arch (i386 on x86_64) is killed outright: nothing may be cached. */
    uint32_t compat =
        arch->audit_arch == GUARD_AUDIT_ARCH_X86_64 ? GUARD_AUDIT_ARCH_I386 : GUARD_AUDIT_ARCH_ARM;
    for (int nr = 0; nr < 1024; nr++) {
        if (guard_bpf_const_allow(a.insns, a.len, compat, nr)) {
            fprintf(stderr, "%s: compat nr %d cached as allow\n", arch->name, nr);
            wrong++;
        }
    }
    failures += wrong != 0;
    printf("cache %s: %u of 1024 syscall numbers run the filter (expected %u), "
           "compat arch never cached\n",
           arch->name, uncached, nexpect);
    guard_sasm_free(&a);
}

int
main(void)
{
    const char *names[] = {"x86_64", "aarch64"};
    for (size_t i = 0; i < 2; i++) {
        const struct guard_sc_arch *arch = guard_seccomp_arch(names[i]);
        CHECK(arch != NULL);
        if (arch == NULL)
            continue;
        tables_agree(arch);
        for (int m = GUARD_SC_ERRNO; m <= GUARD_SC_KILL; m++)
            oracle(arch, (enum guard_sc_mode)m);
        cacheability(arch);
    }
    if (failures) {
        fprintf(stderr, "test_seccomp_oracle: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_seccomp_oracle: ok\n");
    return 0;
}
