/* scmp_reference.h - libseccomp's filter for the lockdown rules (tests and bench only).
 *
 * Built from the same rule table as seccomp.c (names, kinds, personas), with
 * libseccomp doing its own name resolution, so a wrong number in syscalls_<arch>.h
 * or a wrong jump in the hand-assembled program shows up as a difference.
 */
#ifndef GUARD_SCMP_REFERENCE_H
#define GUARD_SCMP_REFERENCE_H

#include <errno.h>
#include GUARD_LIBSECCOMP_H /* libseccomp's seccomp.h, by path (see CMakeLists.txt) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seccomp.h"

static uint32_t
scmp_token(const struct guard_sc_arch *arch)
{
    return arch->audit_arch == GUARD_AUDIT_ARCH_X86_64 ? SCMP_ARCH_X86_64 : SCMP_ARCH_AARCH64;
}

static uint32_t
scmp_deny_action(enum guard_sc_mode mode)
{
    switch (mode) {
    case GUARD_SC_TRAP:
        return SCMP_ACT_TRAP;
    case GUARD_SC_LOG:
        return SCMP_ACT_LOG;
    case GUARD_SC_KILL:
        return SCMP_ACT_KILL_PROCESS;
    default:
        return SCMP_ACT_ERRNO(EPERM);
    }
}

/* "personality(x) is denied unless x is an allowed persona" as a union of one-condition
 * rules: libseccomp refuses two conditions on one argument and rules whose action is
 * the default.  The allowed set is {x : x & ~0x20008 == 0} plus 0xffffffff, so x is
 * denied iff some bit of M = ~0x20008 is 1 and some bit is 0.  Walking the 30 bits of
 * M as a cycle, a value with an M bit 1 and an M bit 0 has a 1->0 step between two
 * neighbours; a value with every M bit 1 has bit 3 or 17 clear.  32 cubes in all. */
static int
scmp_add_personality(scmp_filter_ctx ctx, uint32_t act, int nr)
{
    const uint32_t keep = 0x20008u, m = ~keep;
    unsigned bits[32], nb = 0;
    for (unsigned b = 0; b < 32; b++) {
        if (m & (1u << b))
            bits[nb++] = b;
    }
    for (unsigned i = 0; i < nb; i++) {
        uint32_t one = 1u << bits[i], zero = 1u << bits[(i + 1) % nb];
        int rc = seccomp_rule_add(ctx, act, nr, 1, SCMP_A0_32(SCMP_CMP_MASKED_EQ, one | zero, one));
        if (rc < 0)
            return rc;
    }
    for (unsigned b = 0; b < 32; b++) {
        if (!(keep & (1u << b)))
            continue;
        uint32_t one = 1u << bits[0], zero = 1u << b;
        int rc = seccomp_rule_add(ctx, act, nr, 1, SCMP_A0_32(SCMP_CMP_MASKED_EQ, one | zero, one));
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* libseccomp's program for ARCH and MODE in *PROG (malloc'd), its length in *N. */
static int
scmp_reference(const struct guard_sc_arch *arch, enum guard_sc_mode mode, struct sock_filter **prog,
               unsigned *n)
{
    int rc = -ENOMEM;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL)
        return -ENOMEM;
    uint32_t act = scmp_deny_action(mode), token = scmp_token(arch);
    if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0)
        goto out;
    if (token != (uint32_t)seccomp_arch_native()) {
        if ((rc = seccomp_arch_add(ctx, token)) < 0 ||
            (rc = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE)) < 0)
            goto out;
    }
    for (size_t i = 0; i < guard_seccomp_nrules; i++) {
        const struct guard_sc_rule *r = &guard_seccomp_rules[i];
        if (seccomp_syscall_resolve_name_arch(token, r->name) < 0)
            continue; /* not on this architecture */
        int nr = seccomp_syscall_resolve_name(r->name);
        switch (r->kind) {
        case GUARD_SC_DENY:
            rc = seccomp_rule_add(ctx, act, nr, 0);
            break;
        case GUARD_SC_ENOSYS:
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
            break;
        case GUARD_SC_NS_FLAGS:
            rc = 0;
            for (uint32_t bit = 1; bit != 0 && rc == 0; bit <<= 1) {
                if (GUARD_CLONE_NEW_MASK & bit)
                    rc =
                        seccomp_rule_add(ctx, act, nr, 1, SCMP_A0_32(SCMP_CMP_MASKED_EQ, bit, bit));
            }
            break;
        case GUARD_SC_PERSONALITY:
            rc = scmp_add_personality(ctx, act, nr);
            break;
        case GUARD_SC_IOCTL_TIOCSTI:
            rc = seccomp_rule_add(ctx, act, nr, 1,
                                  SCMP_A1_32(SCMP_CMP_MASKED_EQ, 0xffffffffu, GUARD_TIOCSTI));
            break;
        case GUARD_SC_SOCKET_MPTCP:
            rc = seccomp_rule_add(ctx, act, nr, 1,
                                  SCMP_A2_32(SCMP_CMP_MASKED_EQ, 0xffffffffu, GUARD_IPPROTO_MPTCP));
            break;
        }
        if (rc < 0) {
            fprintf(stderr, "libseccomp refused %s: %d\n", r->name, rc);
            goto out;
        }
    }
    FILE *f = tmpfile();
    if (f == NULL) {
        rc = -errno;
        goto out;
    }
    if ((rc = seccomp_export_bpf(ctx, fileno(f))) == 0) {
        long size = lseek(fileno(f), 0, SEEK_END);
        *prog = malloc((size_t)size);
        *n = (unsigned)(size / (long)sizeof(struct sock_filter));
        if (*prog == NULL || pread(fileno(f), *prog, (size_t)size, 0) != size)
            rc = -EIO;
    }
    fclose(f);
out:
    seccomp_release(ctx);
    return rc;
}

#endif
