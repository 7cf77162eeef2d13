/* sasm.h - a small classic-BPF assembler for seccomp programs (pure C).
 *
 * Jumps name their targets; the assembler resolves them when the program is
 * finished, so no offset is ever counted by hand (the kernel's bpf-helper.h habit).
 * Every emitting call returns 0 or a negative errno and the first error is sticky:
 * a builder may emit a whole program and check only guard_sasm_finish().
 *
 * Errors: -ENOMEM (allocation), -E2BIG (more than BPF_MAXINSNS instructions),
 * -ENAMETOOLONG (label name over GUARD_SASM_NAME_MAX), -EEXIST (label defined
 * twice), -ENOENT (jump to a label never defined), -EINVAL (backward jump: cBPF
 * only jumps forward), -ERANGE (conditional displacement over 255).
 */
#ifndef GUARD_SASM_H
#define GUARD_SASM_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf_labels.h"

#define GUARD_SASM_NAME_MAX 47

/* struct seccomp_data offsets; arguments are little-endian 64-bit words. */
#define GUARD_SD_NR 0u
#define GUARD_SD_ARCH 4u
#define GUARD_SD_IP 8u
#define GUARD_SD_ARG(i) (16u + 8u * (unsigned)(i))
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#  define GUARD_SD_ARG_LO(i) GUARD_SD_ARG(i)
#  define GUARD_SD_ARG_HI(i) (GUARD_SD_ARG(i) + 4u)
#else
#  define GUARD_SD_ARG_LO(i) (GUARD_SD_ARG(i) + 4u)
#  define GUARD_SD_ARG_HI(i) GUARD_SD_ARG(i)
#endif

struct guard_sasm {
    struct sock_filter *insns;
    int *tgt_t, *tgt_f; /* label id per jump slot, or -1 (k / jt / jf as given) */
    unsigned len, cap;
    struct guard_bpf_labels labels; /* names and positions (bpf_labels.h) */
    int err;                        /* first error, sticky */
};

void guard_sasm_init(struct guard_sasm *a);
void guard_sasm_free(struct guard_sasm *a);

/* Defines NAME at the next instruction. */
int guard_sasm_label(struct guard_sasm *a, const char *name);

/* A non-jump instruction. */
int guard_sasm_stmt(struct guard_sasm *a, uint16_t code, uint32_t k);

/* A conditional jump; JT/JF are label names, NULL meaning the next instruction. */
int guard_sasm_jump(struct guard_sasm *a, uint16_t code, uint32_t k, const char *jt,
                    const char *jf);

/* An unconditional jump (BPF_JA: a 32-bit displacement) to TARGET. */
int guard_sasm_ja(struct guard_sasm *a, const char *target);

int guard_sasm_ld(struct guard_sasm *a, uint32_t offset); /* A = seccomp_data[offset] */
int guard_sasm_ret(struct guard_sasm *a, uint32_t action);

/* 64-bit argument tests, as two 32-bit halves (high half first).  They clobber A;
 * JT/JF as for guard_sasm_jump, but NULL means "fall through after the test". */
int guard_sasm_arg_jeq64(struct guard_sasm *a, unsigned arg, uint64_t value, const char *jt,
                         const char *jf);
int guard_sasm_arg_jset64(struct guard_sasm *a, unsigned arg, uint64_t mask, const char *jt,
                          const char *jf);
int guard_sasm_arg_jge64(struct guard_sasm *a, unsigned arg, uint64_t value, const char *jt,
                         const char *jf);

/* Resolves every label reference into jt/jf/k.  After 0, a->insns[0..len) is the
 * program; after an error the program must not be used. */
int guard_sasm_finish(struct guard_sasm *a);

/* The first label defined at POS, or NULL. */
const char *guard_sasm_label_at(const struct guard_sasm *a, unsigned pos);

/* Formats instruction PC of PROG as one line of assembly into BUF.  NAMES, if not
 * NULL, holds a label name (or NULL) per position 0..n; unnamed targets print as
 * "L<pc>".  Returns the snprintf length. */
int guard_sasm_format(const struct sock_filter *prog, unsigned n, unsigned pc,
                      const char *const *names, char *buf, size_t len);

/* Formats a seccomp return value ("ALLOW", "ERRNO(1)", "KILL_PROCESS", ...). */
int guard_sasm_format_action(uint32_t action, char *buf, size_t len);

#endif
