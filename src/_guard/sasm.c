/* sasm.c - classic-BPF assembler with named labels (see sasm.h). */
#include "sasm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/seccomp.h>

void
guard_sasm_init(struct guard_sasm *a)
{
    memset(a, 0, sizeof *a);
}

void
guard_sasm_free(struct guard_sasm *a)
{
    free(a->insns);
    free(a->tgt_t);
    free(a->tgt_f);
    guard_bpf_labels_free(&a->labels);
    guard_sasm_init(a);
}

static int
fail(struct guard_sasm *a, int err)
{
    if (a->err == 0)
        a->err = err;
    return err;
}

/* Returns the id of label NAME, creating an undefined one; -errno on failure. */
static int
label_id(struct guard_sasm *a, const char *name)
{
    int id = guard_bpf_labels_id(&a->labels, name, GUARD_SASM_NAME_MAX);
    return id < 0 ? fail(a, id) : id;
}

int
guard_sasm_label(struct guard_sasm *a, const char *name)
{
    if (a->err)
        return a->err;
    int rc = guard_bpf_labels_define(&a->labels, name, GUARD_SASM_NAME_MAX, (int)a->len);
    return rc < 0 ? fail(a, rc) : 0;
}

/* Appends one instruction with label ids TT/TF (-1 for none). */
static int
emit(struct guard_sasm *a, uint16_t code, uint32_t k, int tt, int tf)
{
    if (a->err)
        return a->err;
    if (a->len >= BPF_MAXINSNS)
        return fail(a, -E2BIG);
    if (a->len == a->cap) {
        unsigned cap = a->cap ? a->cap * 2 : 64;
        struct sock_filter *ins = realloc(a->insns, cap * sizeof *ins);
        if (ins == NULL)
            return fail(a, -ENOMEM);
        a->insns = ins;
        int *t = realloc(a->tgt_t, cap * sizeof *t);
        if (t == NULL)
            return fail(a, -ENOMEM);
        a->tgt_t = t;
        int *f = realloc(a->tgt_f, cap * sizeof *f);
        if (f == NULL)
            return fail(a, -ENOMEM);
        a->tgt_f = f;
        a->cap = cap;
    }
    a->insns[a->len] = (struct sock_filter){code, 0, 0, k};
    a->tgt_t[a->len] = tt;
    a->tgt_f[a->len] = tf;
    a->len++;
    return 0;
}

int
guard_sasm_stmt(struct guard_sasm *a, uint16_t code, uint32_t k)
{
    if (BPF_CLASS(code) == BPF_JMP)
        return fail(a, -EINVAL);
    return emit(a, code, k, -1, -1);
}

/* Label id for NAME, or -1 for NULL (the next instruction); < -1 is an error. */
static int
target(struct guard_sasm *a, const char *name)
{
    if (name == NULL)
        return -1;
    int id = label_id(a, name);
    return id < 0 ? id - 1 : id;
}

int
guard_sasm_jump(struct guard_sasm *a, uint16_t code, uint32_t k, const char *jt, const char *jf)
{
    if (a->err)
        return a->err;
    if (BPF_CLASS(code) != BPF_JMP || BPF_OP(code) == BPF_JA)
        return fail(a, -EINVAL);
    int tt = target(a, jt), tf = target(a, jf);
    if (tt < -1 || tf < -1)
        return a->err;
    return emit(a, code, k, tt, tf);
}

int
guard_sasm_ja(struct guard_sasm *a, const char *to)
{
    if (a->err)
        return a->err;
    int tt = target(a, to);
    if (tt < -1)
        return a->err;
    return emit(a, BPF_JMP | BPF_JA, 0, tt, -1);
}

int
guard_sasm_ld(struct guard_sasm *a, uint32_t offset)
{
    return guard_sasm_stmt(a, BPF_LD | BPF_W | BPF_ABS, offset);
}

int
guard_sasm_ret(struct guard_sasm *a, uint32_t action)
{
    return guard_sasm_stmt(a, BPF_RET | BPF_K, action);
}

/* A fresh internal label name; user labels never start with '.'. */
static void
anon(struct guard_sasm *a, char *buf, size_t n)
{
    snprintf(buf, n, ".%u.%u", a->len, a->labels.n);
}

/* Defines the internal label END if a jump referenced it. */
static void
label_if_used(struct guard_sasm *a, const char *end)
{
    if (guard_bpf_labels_find(&a->labels, end) >= 0)
        guard_sasm_label(a, end);
}

/* Emits BODY's jumps with NULL targets meaning "after the whole test". */
/* Kept as written: clang-format 14 indents a macro body by PPIndentWidth. */
/* clang-format off */
#define WITH_END(a, jt, jf, end)                                              \
    char end[GUARD_SASM_NAME_MAX + 1];                                        \
    anon(a, end, sizeof end);                                                 \
    const char *jt##_ = (jt) ? (jt) : end, *jf##_ = (jf) ? (jf) : end
/* clang-format on */

int
guard_sasm_arg_jeq64(struct guard_sasm *a, unsigned arg, uint64_t value, const char *jt,
                     const char *jf)
{
    if (arg > 5)
        return fail(a, -EINVAL);
    WITH_END(a, jt, jf, end);
    guard_sasm_ld(a, GUARD_SD_ARG_HI(arg));
    guard_sasm_jump(a, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(value >> 32), NULL, jf_);
    guard_sasm_ld(a, GUARD_SD_ARG_LO(arg));
    guard_sasm_jump(a, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)value, jt, jf);
    label_if_used(a, end);
    (void)jt_;
    return a->err;
}

int
guard_sasm_arg_jset64(struct guard_sasm *a, unsigned arg, uint64_t mask, const char *jt,
                      const char *jf)
{
    if (arg > 5)
        return fail(a, -EINVAL);
    uint32_t hi = (uint32_t)(mask >> 32), lo = (uint32_t)mask;
    WITH_END(a, jt, jf, end);
    if (hi != 0) {
        guard_sasm_ld(a, GUARD_SD_ARG_HI(arg));
        guard_sasm_jump(a, BPF_JMP | BPF_JSET | BPF_K, hi, lo ? jt_ : jt, lo ? NULL : jf);
    }
    if (lo != 0) {
        guard_sasm_ld(a, GUARD_SD_ARG_LO(arg));
        guard_sasm_jump(a, BPF_JMP | BPF_JSET | BPF_K, lo, jt, jf);
    }
    if (hi == 0 && lo == 0 && jf != NULL)
        guard_sasm_ja(a, jf); /* an empty mask never matches */
    label_if_used(a, end);
    (void)jf_;
    return a->err;
}

int
guard_sasm_arg_jge64(struct guard_sasm *a, unsigned arg, uint64_t value, const char *jt,
                     const char *jf)
{
    if (arg > 5)
        return fail(a, -EINVAL);
    WITH_END(a, jt, jf, end);
    guard_sasm_ld(a, GUARD_SD_ARG_HI(arg));
    guard_sasm_jump(a, BPF_JMP | BPF_JGT | BPF_K, (uint32_t)(value >> 32), jt_, NULL);
    guard_sasm_jump(a, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(value >> 32), NULL, jf_);
    guard_sasm_ld(a, GUARD_SD_ARG_LO(arg));
    guard_sasm_jump(a, BPF_JMP | BPF_JGE | BPF_K, (uint32_t)value, jt, jf);
    label_if_used(a, end);
    return a->err;
}

/* Displacement from PC to label ID; -errno if undefined or backward. */
static long
displacement(const struct guard_sasm *a, unsigned pc, int id)
{
    int pos = a->labels.v[id].pos;
    if (pos < 0)
        return -ENOENT;
    if ((unsigned)pos <= pc)
        return -EINVAL;
    return (long)pos - (long)pc - 1;
}

int
guard_sasm_finish(struct guard_sasm *a)
{
    if (a->err)
        return a->err;
    if (a->len == 0)
        return fail(a, -EINVAL);
    for (unsigned pc = 0; pc < a->len; pc++) {
        struct sock_filter *ins = &a->insns[pc];
        if (ins->code == (BPF_JMP | BPF_JA)) {
            if (a->tgt_t[pc] >= 0) {
                long d = displacement(a, pc, a->tgt_t[pc]);
                if (d < 0)
                    return fail(a, (int)d);
                ins->k = (uint32_t)d;
            }
            continue;
        }
        int ids[2] = {a->tgt_t[pc], a->tgt_f[pc]};
        for (int s = 0; s < 2; s++) {
            if (ids[s] < 0)
                continue;
            long d = displacement(a, pc, ids[s]);
            if (d < 0)
                return fail(a, (int)d);
            if (d > 255)
                return fail(a, -ERANGE);
            if (s == 0)
                ins->jt = (uint8_t)d;
            else
                ins->jf = (uint8_t)d;
        }
    }
    /* A jump past the last instruction is a label at len: the kernel would refuse it. */
    for (unsigned i = 0; i < a->labels.n; i++) {
        if (a->labels.v[i].pos >= (int)a->len)
            return fail(a, -EINVAL);
    }
    return 0;
}

const char *
guard_sasm_label_at(const struct guard_sasm *a, unsigned pos)
{
    for (unsigned i = 0; i < a->labels.n; i++) {
        if (a->labels.v[i].pos == (int)pos && a->labels.v[i].name[0] != '.')
            return a->labels.v[i].name;
    }
    return NULL;
}

int
guard_sasm_format_action(uint32_t action, char *buf, size_t len)
{
    uint32_t data = action & SECCOMP_RET_DATA;
    switch (action & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_KILL_PROCESS:
        return snprintf(buf, len, "KILL_PROCESS");
    case SECCOMP_RET_KILL_THREAD:
        return snprintf(buf, len, "KILL_THREAD");
    case SECCOMP_RET_TRAP:
        return snprintf(buf, len, "TRAP(%u)", data);
    case SECCOMP_RET_ERRNO:
        return snprintf(buf, len, "ERRNO(%u)", data);
    case SECCOMP_RET_USER_NOTIF:
        return snprintf(buf, len, "USER_NOTIF");
    case SECCOMP_RET_TRACE:
        return snprintf(buf, len, "TRACE(%u)", data);
    case SECCOMP_RET_LOG:
        return snprintf(buf, len, "LOG");
    case SECCOMP_RET_ALLOW:
        return snprintf(buf, len, "ALLOW");
    default:
        return snprintf(buf, len, "0x%08x", action);
    }
}

static void
operand(uint32_t k, char *buf, size_t len)
{
    if (k == GUARD_SD_NR)
        snprintf(buf, len, "[nr]");
    else if (k == GUARD_SD_ARCH)
        snprintf(buf, len, "[arch]");
    else if (k == GUARD_SD_IP || k == GUARD_SD_IP + 4)
        snprintf(buf, len, "[ip.%s]", k == GUARD_SD_IP ? "lo" : "hi");
    else if (k >= GUARD_SD_ARG(0) && k < GUARD_SD_ARG(6) && k % 4 == 0)
        snprintf(buf, len, "[args[%u].%s]", (k - GUARD_SD_ARG(0)) / 8,
                 k == GUARD_SD_ARG_LO((k - GUARD_SD_ARG(0)) / 8) ? "lo" : "hi");
    else
        snprintf(buf, len, "[%u]", k);
}

static const char *
target_name(const char *const *names, unsigned n, unsigned pos, char *buf, size_t len)
{
    if (names != NULL && pos <= n && names[pos] != NULL)
        return names[pos];
    snprintf(buf, len, "L%u", pos);
    return buf;
}

int
guard_sasm_format(const struct sock_filter *prog, unsigned n, unsigned pc, const char *const *names,
                  char *buf, size_t len)
{
    static const char *const jops[] = {"ja", "jeq", "jgt", "jge", "jset"};
    static const char *const alu[] = {"add", "sub", "mul", "div", "or", "and",
                                      "lsh", "rsh", "neg", "mod", "xor"};
    const struct sock_filter *ins = &prog[pc];
    char op[48], t1[32], t2[32];
    switch (BPF_CLASS(ins->code)) {
    case BPF_LD:
        if (ins->code == (BPF_LD | BPF_W | BPF_ABS)) {
            operand(ins->k, op, sizeof op);
            return snprintf(buf, len, "ld  %s", op);
        }
        if (BPF_MODE(ins->code) == BPF_IMM)
            return snprintf(buf, len, "ld  #0x%x", ins->k);
        if (BPF_MODE(ins->code) == BPF_MEM)
            return snprintf(buf, len, "ld  M[%u]", ins->k);
        if (BPF_MODE(ins->code) == BPF_LEN)
            return snprintf(buf, len, "ld  #len");
        break;
    case BPF_LDX:
        if (BPF_MODE(ins->code) == BPF_IMM)
            return snprintf(buf, len, "ldx #0x%x", ins->k);
        if (BPF_MODE(ins->code) == BPF_MEM)
            return snprintf(buf, len, "ldx M[%u]", ins->k);
        if (BPF_MODE(ins->code) == BPF_LEN)
            return snprintf(buf, len, "ldx #len");
        break;
    case BPF_ST:
        return snprintf(buf, len, "st  M[%u]", ins->k);
    case BPF_STX:
        return snprintf(buf, len, "stx M[%u]", ins->k);
    case BPF_ALU: {
        unsigned o = BPF_OP(ins->code) >> 4;
        if (o >= sizeof alu / sizeof alu[0])
            break;
        if (BPF_OP(ins->code) == BPF_NEG)
            return snprintf(buf, len, "neg");
        if (BPF_SRC(ins->code) == BPF_X)
            return snprintf(buf, len, "%-3s x", alu[o]);
        return snprintf(buf, len, "%-3s #0x%x", alu[o], ins->k);
    }
    case BPF_JMP: {
        unsigned o = BPF_OP(ins->code) >> 4;
        if (o >= sizeof jops / sizeof jops[0])
            break;
        if (BPF_OP(ins->code) == BPF_JA)
            return snprintf(buf, len, "ja  %s",
                            target_name(names, n, pc + 1 + ins->k, t1, sizeof t1));
        const char *src = BPF_SRC(ins->code) == BPF_X ? "x" : NULL;
        if (src == NULL)
            snprintf(op, sizeof op, "#0x%x", ins->k);
        return snprintf(buf, len, "%-4s%s, %s, %s", jops[o], src ? src : op,
                        target_name(names, n, pc + 1 + ins->jt, t1, sizeof t1),
                        target_name(names, n, pc + 1 + ins->jf, t2, sizeof t2));
    }
    case BPF_RET:
        if (BPF_RVAL(ins->code) == BPF_A)
            return snprintf(buf, len, "ret a");
        guard_sasm_format_action(ins->k, op, sizeof op);
        return snprintf(buf, len, "ret %s", op);
    case BPF_MISC:
        return snprintf(buf, len, BPF_MISCOP(ins->code) == BPF_TAX ? "tax" : "txa");
    }
    return snprintf(buf, len, ".insn 0x%04x, %u, %u, 0x%x", ins->code, ins->jt, ins->jf, ins->k);
}
