/* seccomp_insns.c - instructions each program executes per syscall (bench helper).
 *
 * Prints one JSON object: for the native architecture, the length of our program and
 * libseccomp's for the same rules, and the instructions bpf_sim executes for each
 * syscall named on the command line (default: the hot set), with zero arguments.
 */
#include "bpf_sim.h"
#include "scmp_reference.h"
#include "seccomp.h"

#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
    static const char *const hot[] = {"read", "write",   "futex", "epoll_wait",
                                      "mmap", "getppid", "clone", "execve"};
    const char *const *names = argc > 1 ? (const char *const *)argv + 1 : hot;
    int nnames = argc > 1 ? argc - 1 : (int)(sizeof hot / sizeof hot[0]);
    const struct guard_sc_arch *arch = guard_seccomp_arch(NULL);
    if (arch == NULL)
        return 2;
    struct guard_sasm a;
    guard_sasm_init(&a);
    struct sock_filter *ref = NULL;
    unsigned nref = 0;
    if (guard_seccomp_build(&a, arch, GUARD_SC_ERRNO) != 0 ||
        scmp_reference(arch, GUARD_SC_ERRNO, &ref, &nref) != 0)
        return 1;
    printf("{\"arch\": \"%s\", \"ours_len\": %u, \"libseccomp_len\": %u, \"syscalls\": {",
           arch->name, a.len, nref);
    for (int i = 0; i < nnames; i++) {
        struct seccomp_data d = {0};
        d.nr = guard_seccomp_nr(arch, names[i]);
        d.arch = arch->audit_arch;
        uint32_t r1, r2;
        unsigned e1 = 0, e2 = 0;
        if (d.nr < 0 || guard_bpf_run(a.insns, a.len, &d, &r1, &e1) != 0 ||
            guard_bpf_run(ref, nref, &d, &r2, &e2) != 0)
            return 1;
        printf("%s\"%s\": {\"nr\": %d, \"ours\": %u, \"libseccomp\": %u, \"cached\": %s}",
               i ? ", " : "", names[i], d.nr, e1, e2,
               guard_bpf_const_allow(a.insns, a.len, arch->audit_arch, d.nr) ? "true" : "false");
    }
    printf("}}\n");
    guard_sasm_free(&a);
    free(ref);
    return 0;
}
