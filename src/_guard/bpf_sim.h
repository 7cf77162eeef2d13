/* bpf_sim.h - a classic-BPF interpreter over struct seccomp_data (pure C).
 *
 * Used by the tests (the differential oracle), by `explain`, and by the benchmark
 * to count the instructions a program executes for a given system call.
 */
#ifndef GUARD_BPF_SIM_H
#define GUARD_BPF_SIM_H

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>

/* Checks PROG the way the kernel's bpf_check_classic + seccomp_check_filter do
 * for the instructions seccomp accepts.  Returns 0, or -EINVAL. */
int guard_bpf_check(const struct sock_filter *prog, unsigned n);

/* Runs PROG over D: *RET is the return value, *EXECUTED (if not NULL) the number of
 * instructions executed including the return.  Returns 0, or -EINVAL for a program
 * that would fault (out-of-range load, jump past the end, division by zero). */
int guard_bpf_run(const struct sock_filter *prog, unsigned n, const struct seccomp_data *d,
                  uint32_t *ret, unsigned *executed);

/* The kernel's action-cache analysis (kernel/seccomp.c seccomp_is_const_allow):
 * 1 if PROG returns SECCOMP_RET_ALLOW for (ARCH, NR) whatever the arguments and
 * instruction pointer, using only loads of nr/arch, constant jumps and AND; else 0. */
int guard_bpf_const_allow(const struct sock_filter *prog, unsigned n, uint32_t arch, int nr);

#endif
