/* bpf_sim.c - classic-BPF interpreter and action-cache emulation (see bpf_sim.h). */
#include "bpf_sim.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

int
guard_bpf_check(const struct sock_filter *prog, unsigned n)
{
    if (n == 0 || n > BPF_MAXINSNS)
        return -EINVAL;
    for (unsigned pc = 0; pc < n; pc++) {
        const struct sock_filter *ins = &prog[pc];
        switch (ins->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            /* seccomp only allows aligned 32-bit loads inside seccomp_data */
            if (ins->k >= sizeof(struct seccomp_data) || (ins->k & 3))
                return -EINVAL;
            break;
        case BPF_LD | BPF_W | BPF_LEN:
        case BPF_LDX | BPF_W | BPF_LEN:
        case BPF_LD | BPF_IMM:
        case BPF_LDX | BPF_IMM:
        case BPF_MISC | BPF_TAX:
        case BPF_MISC | BPF_TXA:
        case BPF_RET | BPF_K:
        case BPF_RET | BPF_A:
        case BPF_ALU | BPF_ADD | BPF_K:
        case BPF_ALU | BPF_ADD | BPF_X:
        case BPF_ALU | BPF_SUB | BPF_K:
        case BPF_ALU | BPF_SUB | BPF_X:
        case BPF_ALU | BPF_MUL | BPF_K:
        case BPF_ALU | BPF_MUL | BPF_X:
        case BPF_ALU | BPF_DIV | BPF_X:
        case BPF_ALU | BPF_AND | BPF_K:
        case BPF_ALU | BPF_AND | BPF_X:
        case BPF_ALU | BPF_OR | BPF_K:
        case BPF_ALU | BPF_OR | BPF_X:
        case BPF_ALU | BPF_XOR | BPF_K:
        case BPF_ALU | BPF_XOR | BPF_X:
        case BPF_ALU | BPF_LSH | BPF_X:
        case BPF_ALU | BPF_RSH | BPF_X:
        case BPF_ALU | BPF_NEG:
            break;
        case BPF_ALU | BPF_DIV | BPF_K:
            if (ins->k == 0)
                return -EINVAL;
            break;
        case BPF_ALU | BPF_LSH | BPF_K:
        case BPF_ALU | BPF_RSH | BPF_K:
            if (ins->k >= 32)
                return -EINVAL;
            break;
        case BPF_LD | BPF_MEM:
        case BPF_LDX | BPF_MEM:
        case BPF_ST:
        case BPF_STX:
            if (ins->k >= BPF_MEMWORDS)
                return -EINVAL;
            break;
        case BPF_JMP | BPF_JA:
            if (ins->k >= n - pc - 1)
                return -EINVAL;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
        case BPF_JMP | BPF_JEQ | BPF_X:
        case BPF_JMP | BPF_JGE | BPF_K:
        case BPF_JMP | BPF_JGE | BPF_X:
        case BPF_JMP | BPF_JGT | BPF_K:
        case BPF_JMP | BPF_JGT | BPF_X:
        case BPF_JMP | BPF_JSET | BPF_K:
        case BPF_JMP | BPF_JSET | BPF_X:
            if (pc + 1 + ins->jt >= n || pc + 1 + ins->jf >= n)
                return -EINVAL;
            break;
        default:
            return -EINVAL; /* includes BPF_MOD and packet loads: seccomp refuses them */
        }
    }
    if (BPF_CLASS(prog[n - 1].code) != BPF_RET)
        return -EINVAL;
    return 0;
}

/* 32-bit word at byte offset K of D (host order, as the kernel loads it). */
static uint32_t
load_word(const struct seccomp_data *d, uint32_t k)
{
    uint32_t w;
    memcpy(&w, (const char *)d + k, sizeof w);
    return w;
}

int
guard_bpf_run(const struct sock_filter *prog, unsigned n, const struct seccomp_data *d,
              uint32_t *ret, unsigned *executed)
{
    uint32_t A = 0, X = 0, mem[BPF_MEMWORDS] = {0};
    unsigned count = 0;
    for (unsigned pc = 0; pc < n; pc++) {
        const struct sock_filter *ins = &prog[pc];
        uint32_t k = ins->k, src = BPF_SRC(ins->code) == BPF_X ? X : k;
        count++;
        switch (BPF_CLASS(ins->code)) {
        case BPF_LD:
        case BPF_LDX: {
            uint32_t v;
            switch (BPF_MODE(ins->code)) {
            case BPF_ABS:
                if (BPF_SIZE(ins->code) != BPF_W || k >= sizeof *d || (k & 3))
                    return -EINVAL;
                v = load_word(d, k);
                break;
            case BPF_IMM:
                v = k;
                break;
            case BPF_LEN:
                v = sizeof *d;
                break;
            case BPF_MEM:
                if (k >= BPF_MEMWORDS)
                    return -EINVAL;
                v = mem[k];
                break;
            default:
                return -EINVAL;
            }
            if (BPF_CLASS(ins->code) == BPF_LD)
                A = v;
            else
                X = v;
            break;
        }
        case BPF_ST:
        case BPF_STX:
            if (k >= BPF_MEMWORDS)
                return -EINVAL;
            mem[k] = BPF_CLASS(ins->code) == BPF_ST ? A : X;
            break;
        case BPF_ALU:
            switch (BPF_OP(ins->code)) {
            case BPF_ADD:
                A += src;
                break;
            case BPF_SUB:
                A -= src;
                break;
            case BPF_MUL:
                A *= src;
                break;
            case BPF_DIV:
                if (src == 0)
                    return -EINVAL;
                A /= src;
                break;
            case BPF_MOD:
                if (src == 0)
                    return -EINVAL;
                A %= src;
                break;
            case BPF_AND:
                A &= src;
                break;
            case BPF_OR:
                A |= src;
                break;
            case BPF_XOR:
                A ^= src;
                break;
            case BPF_LSH:
                A = src >= 32 ? 0 : A << src;
                break;
            case BPF_RSH:
                A = src >= 32 ? 0 : A >> src;
                break;
            case BPF_NEG:
                A = 0u - A;
                break;
            default:
                return -EINVAL;
            }
            break;
        case BPF_JMP: {
            int taken;
            switch (BPF_OP(ins->code)) {
            case BPF_JA:
                if (k >= n - pc - 1)
                    return -EINVAL;
                pc += k;
                continue;
            case BPF_JEQ:
                taken = A == src;
                break;
            case BPF_JGT:
                taken = A > src;
                break;
            case BPF_JGE:
                taken = A >= src;
                break;
            case BPF_JSET:
                taken = (A & src) != 0;
                break;
            default:
                return -EINVAL;
            }
            pc += taken ? ins->jt : ins->jf;
            break;
        }
        case BPF_RET:
            *ret = BPF_RVAL(ins->code) == BPF_A ? A : k;
            if (executed != NULL)
                *executed = count;
            return 0;
        case BPF_MISC:
            if (BPF_MISCOP(ins->code) == BPF_TAX)
                X = A;
            else
                A = X;
            break;
        default:
            return -EINVAL;
        }
    }
    return -EINVAL; /* ran off the end */
}

int
guard_bpf_const_allow(const struct sock_filter *prog, unsigned n, uint32_t arch, int nr)
{
    uint32_t reg = 0;
    for (unsigned pc = 0; pc < n; pc++) {
        const struct sock_filter *ins = &prog[pc];
        int taken;
        switch (ins->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            if (ins->k == offsetof(struct seccomp_data, nr))
                reg = (uint32_t)nr;
            else if (ins->k == offsetof(struct seccomp_data, arch))
                reg = arch;
            else
                return 0; /* an argument or the ip: not constant */
            break;
        case BPF_RET | BPF_K:
            return ins->k == SECCOMP_RET_ALLOW;
        case BPF_JMP | BPF_JA:
            /* Forward and inside the program, as guard_bpf_check demands: an offset
             * that wraps pc would loop forever.  Every jump moves pc forward, so the
             * walk ends within N steps. */
            if (ins->k >= n - pc - 1)
                return 0;
            pc += ins->k;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
        case BPF_JMP | BPF_JGE | BPF_K:
        case BPF_JMP | BPF_JGT | BPF_K:
        case BPF_JMP | BPF_JSET | BPF_K:
            switch (BPF_OP(ins->code)) {
            case BPF_JEQ:
                taken = reg == ins->k;
                break;
            case BPF_JGE:
                taken = reg >= ins->k;
                break;
            case BPF_JGT:
                taken = reg > ins->k;
                break;
            default:
                taken = (reg & ins->k) != 0;
                break;
            }
            pc += taken ? ins->jt : ins->jf;
            break;
        case BPF_ALU | BPF_AND | BPF_K:
            reg &= ins->k;
            break;
        default:
            return 0; /* anything else: the kernel gives up */
        }
    }
    return 0;
}
