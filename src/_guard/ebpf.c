/* ebpf.c - eBPF assembler, egress program builder, interpreter and reference decision.
 * Pure C (no Python.h): ctest runs it under ASan/UBSan (tests/c/test_ebpf.c). */
#include "ebpf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#  define IPPROTO_MPTCP 262
#endif
#ifndef IPPROTO_UDPLITE
#  define IPPROTO_UDPLITE 136
#endif

/* Registers the programs keep values in between fragments (stated once, relied on
 * everywhere): r6 = ctx, r7 = protocol, r8 = destination port (host order),
 * r9 = IPv4 destination word (network-order bytes as loaded).  r0-r5 are scratch and
 * clobbered by helper calls. */
enum { R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 };
#define CTX R6
#define PROTO R7
#define PORT R8
#define V4 R9

#define EV_SIZE ((int)sizeof(struct guard_ebpf_event))
#define EV_OFF (-EV_SIZE) /* the event lives at r10 - 40 */
/* Stack offset of event field F. */
#define EV_AT(f) ((int16_t)(EV_OFF + (int)offsetof(struct guard_ebpf_event, f)))

/* ---- assembler ------------------------------------------------------------------- */

void
guard_ebpf_init(struct guard_ebpf *a)
{
    memset(a, 0, sizeof(*a));
}

void
guard_ebpf_free(struct guard_ebpf *a)
{
    free(a->insns);
    free(a->target);
    guard_bpf_labels_free(&a->labels);
    memset(a, 0, sizeof(*a));
}

static int
fail(struct guard_ebpf *a, int err)
{
    if (a->err == 0)
        a->err = err;
    return a->err;
}

/* Returns the id of label NAME, creating an undefined one; -errno on failure. */
static int
label_id(struct guard_ebpf *a, const char *name)
{
    int id = guard_bpf_labels_id(&a->labels, name, GUARD_EBPF_NAME_MAX);
    return id < 0 ? fail(a, id) : id;
}

int
guard_ebpf_label(struct guard_ebpf *a, const char *name)
{
    if (a->err)
        return a->err;
    int rc = guard_bpf_labels_define(&a->labels, name, GUARD_EBPF_NAME_MAX, (int)a->len);
    return rc < 0 ? fail(a, rc) : 0;
}

static int
push(struct guard_ebpf *a, struct bpf_insn insn, int target)
{
    if (a->err)
        return a->err;
    if (a->len >= GUARD_EBPF_MAX_INSNS)
        return fail(a, -E2BIG);
    if (a->len == a->cap) {
        unsigned cap = a->cap ? a->cap * 2 : 64;
        struct bpf_insn *i = realloc(a->insns, cap * sizeof(*i));
        if (i == NULL)
            return fail(a, -ENOMEM);
        a->insns = i;
        int *t = realloc(a->target, cap * sizeof(*t));
        if (t == NULL)
            return fail(a, -ENOMEM);
        a->target = t;
        a->cap = cap;
    }
    a->insns[a->len] = insn;
    a->target[a->len] = target;
    a->len++;
    return 0;
}

int
guard_ebpf_insn(struct guard_ebpf *a, uint8_t code, uint8_t dst, uint8_t src, int16_t off,
                int32_t imm)
{
    if (dst > R10 || src > R10)
        return fail(a, -EINVAL);
    struct bpf_insn i = {.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
    return push(a, i, -1);
}

int
guard_ebpf_jump(struct guard_ebpf *a, uint8_t code, uint8_t dst, uint8_t src, int32_t imm,
                const char *target)
{
    if (a->err)
        return a->err;
    int id = label_id(a, target);
    if (id < 0)
        return id;
    struct bpf_insn i = {.code = code, .dst_reg = dst, .src_reg = src, .imm = imm};
    return push(a, i, id);
}

int
guard_ebpf_ld_map_fd(struct guard_ebpf *a, uint8_t dst, int fd)
{
    struct bpf_insn lo = {
        .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = dst, .src_reg = BPF_PSEUDO_MAP_FD, .imm = fd};
    struct bpf_insn hi = {0};
    push(a, lo, -1);
    return push(a, hi, -1);
}

int
guard_ebpf_finish(struct guard_ebpf *a)
{
    if (a->err)
        return a->err;
    for (unsigned pc = 0; pc < a->len; pc++) {
        if (a->target[pc] < 0)
            continue;
        int pos = a->labels.v[a->target[pc]].pos;
        if (pos < 0)
            return fail(a, -ENOENT);
        long off = (long)pos - (long)pc - 1;
        if (off < INT16_MIN || off > INT16_MAX)
            return fail(a, -ERANGE);
        a->insns[pc].off = (int16_t)off;
    }
    return 0;
}

/* ---- program builder -------------------------------------------------------------- */

#define J32(op) (BPF_JMP32 | (op) | BPF_K)

static int32_t
word_of(const uint8_t *bytes)
{
    /* The value a 4-byte ctx load yields for these network-order bytes. */
    uint32_t w;
    memcpy(&w, bytes, 4);
    return (int32_t)w;
}

static void
mask_bytes(unsigned prefixlen, unsigned total_bits, uint8_t *out)
{
    for (unsigned i = 0; i < total_bits / 8; i++) {
        unsigned bits = prefixlen > i * 8 ? prefixlen - i * 8 : 0;
        out[i] = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
    }
}

static int
rule_ok(const struct guard_egress_rule *r)
{
    if (r->family != 4 && r->family != 6)
        return 0;
    if (r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP)
        return 0;
    if (r->prefixlen > (r->family == 4 ? 32 : 128) || r->lo > r->hi)
        return 0;
    return 1;
}

/* Each rule is straight-line arithmetic ending in one branch: r2 collects a nonzero
 * bit for every mismatch (protocol, port range, masked address words) and the rule
 * allows when r2 == 0.  One branch per rule keeps the verifier's work linear in the
 * number of rules (per-field branches made it explore each rule's failure states
 * separately: seconds at 200 rules). */
static void
emit_proto_port(struct guard_ebpf *a, const struct guard_egress_rule *r)
{
    guard_ebpf_insn(a, BPF_ALU | BPF_MOV | BPF_X, R2, PROTO, 0, 0);
    guard_ebpf_insn(a, BPF_ALU | BPF_XOR | BPF_K, R2, 0, 0, r->proto);
    if (r->lo == 0 && r->hi == 65535)
        return;
    /* (hi - lo) - (port - lo) is negative exactly when port is outside [lo, hi]:
     * port - lo wraps to a large u32 below lo, and all values fit in 64-bit signed. */
    guard_ebpf_insn(a, BPF_ALU | BPF_MOV | BPF_X, R3, PORT, 0, 0);
    guard_ebpf_insn(a, BPF_ALU | BPF_ADD | BPF_K, R3, 0, 0, -(int32_t)r->lo);
    guard_ebpf_insn(a, BPF_ALU64 | BPF_MOV | BPF_K, R4, 0, 0, (int32_t)(r->hi - r->lo));
    guard_ebpf_insn(a, BPF_ALU64 | BPF_SUB | BPF_X, R4, R3, 0, 0);
    guard_ebpf_insn(a, BPF_ALU64 | BPF_RSH | BPF_K, R4, 0, 0, 63);
    guard_ebpf_insn(a, BPF_ALU64 | BPF_OR | BPF_X, R2, R4, 0, 0);
}

/* r2 |= (WORD & MASK) ^ NET for one 32-bit address word already in r3. */
static void
emit_word(struct guard_ebpf *a, int32_t mask, int32_t net)
{
    if (mask != -1)
        guard_ebpf_insn(a, BPF_ALU | BPF_AND | BPF_K, R3, 0, 0, mask);
    guard_ebpf_insn(a, BPF_ALU | BPF_XOR | BPF_K, R3, 0, 0, net);
    guard_ebpf_insn(a, BPF_ALU64 | BPF_OR | BPF_X, R2, R3, 0, 0);
}

/* The IPv4 rules over V4 (r9): "allow" on the first match, else falls through. */
static void
emit_v4_rules(struct guard_ebpf *a, const struct guard_egress_rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct guard_egress_rule *r = &rules[i];
        if (r->family != 4)
            continue;
        emit_proto_port(a, r);
        if (r->prefixlen > 0) {
            uint8_t m[4], net[4];
            mask_bytes(r->prefixlen, 32, m);
            for (int k = 0; k < 4; k++)
                net[k] = r->addr[k] & m[k];
            guard_ebpf_insn(a, BPF_ALU | BPF_MOV | BPF_X, R3, V4, 0, 0);
            emit_word(a, word_of(m), word_of(net));
        }
        guard_ebpf_jump(a, BPF_JMP | BPF_JEQ | BPF_K, R2, 0, 0, "allow");
    }
}

static void
emit_v6_rules(struct guard_ebpf *a, const struct guard_egress_rule *rules, size_t n)
{
    const int16_t ip6 = offsetof(struct bpf_sock_addr, user_ip6);
    for (size_t i = 0; i < n; i++) {
        const struct guard_egress_rule *r = &rules[i];
        if (r->family != 6)
            continue;
        emit_proto_port(a, r);
        uint8_t m[16];
        mask_bytes(r->prefixlen, 128, m);
        for (int k = 0; k < 4; k++) {
            int32_t mw = word_of(m + 4 * k);
            if (mw == 0)
                continue;
            uint8_t net[4];
            for (int b = 0; b < 4; b++)
                net[b] = r->addr[4 * k + b] & m[4 * k + b];
            guard_ebpf_insn(a, BPF_LDX | BPF_MEM | BPF_W, R3, CTX, (int16_t)(ip6 + 4 * k), 0);
            emit_word(a, mw, word_of(net));
        }
        guard_ebpf_jump(a, BPF_JMP | BPF_JEQ | BPF_K, R2, 0, 0, "allow");
    }
}

/* Writes the event at r10-40 and hands it to the ring buffer.  ADDR_FROM_CTX copies
 * user_ip6; otherwise addr is r9 (IPv4) or zero (sock_create). */
static void
emit_event(struct guard_ebpf *a, enum guard_ebpf_kind kind, int ringbuf_fd)
{
    if (ringbuf_fd < 0)
        return;
    guard_ebpf_insn(a, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_current_pid_tgid);
    guard_ebpf_insn(a, BPF_STX | BPF_MEM | BPF_DW, R10, R0, EV_OFF, 0);
    int16_t fam = kind == GUARD_EBPF_SOCK ? (int16_t)offsetof(struct bpf_sock, family)
                                          : (int16_t)offsetof(struct bpf_sock_addr, user_family);
    guard_ebpf_insn(a, BPF_LDX | BPF_MEM | BPF_W, R2, CTX, fam, 0);
    guard_ebpf_insn(a, BPF_STX | BPF_MEM | BPF_W, R10, R2, EV_AT(family), 0);
    guard_ebpf_insn(a, BPF_STX | BPF_MEM | BPF_W, R10, PROTO, EV_AT(proto), 0);
    guard_ebpf_insn(a, BPF_STX | BPF_MEM | BPF_W, R10, PORT, EV_AT(port), 0);
    guard_ebpf_insn(a, BPF_ST | BPF_MEM | BPF_W, R10, 0, EV_AT(hook), kind);
    int16_t addr = EV_AT(addr);
    for (int k = 0; k < 4; k++) {
        if (kind == GUARD_EBPF_ADDR6) {
            guard_ebpf_insn(a, BPF_LDX | BPF_MEM | BPF_W, R2, CTX,
                            (int16_t)(offsetof(struct bpf_sock_addr, user_ip6) + 4 * k), 0);
            guard_ebpf_insn(a, BPF_STX | BPF_MEM | BPF_W, R10, R2, (int16_t)(addr + 4 * k), 0);
        }
        else if (kind == GUARD_EBPF_ADDR4 && k == 0) {
            guard_ebpf_insn(a, BPF_STX | BPF_MEM | BPF_W, R10, V4, addr, 0);
        }
        else {
            guard_ebpf_insn(a, BPF_ST | BPF_MEM | BPF_W, R10, 0, (int16_t)(addr + 4 * k), 0);
        }
    }
    guard_ebpf_ld_map_fd(a, R1, ringbuf_fd);
    guard_ebpf_insn(a, BPF_ALU64 | BPF_MOV | BPF_X, R2, R10, 0, 0);
    guard_ebpf_insn(a, BPF_ALU64 | BPF_ADD | BPF_K, R2, 0, 0, EV_OFF);
    guard_ebpf_insn(a, BPF_ALU64 | BPF_MOV | BPF_K, R3, 0, 0, EV_SIZE);
    guard_ebpf_insn(a, BPF_ALU64 | BPF_MOV | BPF_K, R4, 0, 0, 0);
    guard_ebpf_insn(a, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ringbuf_output);
}

/* True when some jump already names NAME (the verifier refuses unreachable code, so
 * a verdict nothing jumps to must not be emitted). */
static bool
referenced(const struct guard_ebpf *a, const char *name)
{
    int id = guard_bpf_labels_find(&a->labels, name);
    for (unsigned pc = 0; id >= 0 && pc < a->len; pc++) {
        if (a->target[pc] == id)
            return true;
    }
    return false;
}

static void
emit_verdicts(struct guard_ebpf *a, enum guard_ebpf_kind kind, int ringbuf_fd)
{
    guard_ebpf_label(a, "deny");
    emit_event(a, kind, ringbuf_fd);
    guard_ebpf_insn(a, BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, 0);
    guard_ebpf_insn(a, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    if (!referenced(a, "allow"))
        return;
    guard_ebpf_label(a, "allow");
    guard_ebpf_insn(a, BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, 1);
    guard_ebpf_insn(a, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

static int
build_sock(struct guard_ebpf *a, int ringbuf_fd)
{
    static const int refused[] = {IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_UDPLITE,
                                  IPPROTO_MPTCP};
    guard_ebpf_insn(a, BPF_ALU64 | BPF_MOV | BPF_X, CTX, R1, 0, 0);
    guard_ebpf_insn(a, BPF_LDX | BPF_MEM | BPF_W, PROTO, CTX, offsetof(struct bpf_sock, protocol),
                    0);
    /* The event's port field carries the socket type for sock_create. */
    guard_ebpf_insn(a, BPF_LDX | BPF_MEM | BPF_W, PORT, CTX, offsetof(struct bpf_sock, type), 0);
    guard_ebpf_insn(a, BPF_LDX | BPF_MEM | BPF_W, R9, CTX, offsetof(struct bpf_sock, family), 0);
    guard_ebpf_jump(a, J32(BPF_JEQ), R9, 0, AF_INET, "inet");
    guard_ebpf_jump(a, J32(BPF_JEQ), R9, 0, AF_INET6, "inet");
    guard_ebpf_jump(a, BPF_JMP | BPF_JA, 0, 0, 0, "allow");
    guard_ebpf_label(a, "inet");
    guard_ebpf_jump(a, J32(BPF_JEQ), PORT, 0, SOCK_RAW, "deny");
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        guard_ebpf_jump(a, J32(BPF_JEQ), PROTO, 0, refused[i], "deny");
    guard_ebpf_jump(a, BPF_JMP | BPF_JA, 0, 0, 0, "allow");
    emit_verdicts(a, GUARD_EBPF_SOCK, ringbuf_fd);
    return guard_ebpf_finish(a);
}

int
guard_ebpf_build(struct guard_ebpf *a, enum guard_ebpf_kind kind,
                 const struct guard_egress_rule *rules, size_t n, int ringbuf_fd)
{
    for (size_t i = 0; i < n; i++)
        if (!rule_ok(&rules[i]))
            return fail(a, -EINVAL);
    if (kind == GUARD_EBPF_SOCK)
        return build_sock(a, ringbuf_fd);
    if (kind != GUARD_EBPF_ADDR4 && kind != GUARD_EBPF_ADDR6)
        return fail(a, -EINVAL);
    const int16_t ip6 = offsetof(struct bpf_sock_addr, user_ip6);
    guard_ebpf_insn(a, BPF_ALU64 | BPF_MOV | BPF_X, CTX, R1, 0, 0);
    guard_ebpf_insn(a, BPF_LDX | BPF_MEM | BPF_W, PROTO, CTX,
                    offsetof(struct bpf_sock_addr, protocol), 0);
    guard_ebpf_insn(a, BPF_LDX | BPF_MEM | BPF_W, PORT, CTX,
                    offsetof(struct bpf_sock_addr, user_port), 0);
    guard_ebpf_insn(a, BPF_ALU | BPF_END | BPF_TO_BE, PORT, 0, 0, 16);
    if (kind == GUARD_EBPF_ADDR4) {
        guard_ebpf_insn(a, BPF_LDX | BPF_MEM | BPF_W, V4, CTX,
                        offsetof(struct bpf_sock_addr, user_ip4), 0);
    }
    else {
        /* ::ffff:a.b.c.d leaves as an IPv4 packet: decide it by the IPv4 rules. */
        static const uint8_t ffff[4] = {0, 0, 0xff, 0xff};
        guard_ebpf_insn(a, BPF_LDX | BPF_MEM | BPF_W, R2, CTX, ip6, 0);
        guard_ebpf_jump(a, J32(BPF_JNE), R2, 0, 0, "v6");
        guard_ebpf_insn(a, BPF_LDX | BPF_MEM | BPF_W, R2, CTX, ip6 + 4, 0);
        guard_ebpf_jump(a, J32(BPF_JNE), R2, 0, 0, "v6");
        guard_ebpf_insn(a, BPF_LDX | BPF_MEM | BPF_W, R2, CTX, ip6 + 8, 0);
        guard_ebpf_jump(a, J32(BPF_JNE), R2, 0, word_of(ffff), "v6");
        guard_ebpf_insn(a, BPF_LDX | BPF_MEM | BPF_W, V4, CTX, ip6 + 12, 0);
        guard_ebpf_jump(a, BPF_JMP | BPF_JA, 0, 0, 0, "v4");
        guard_ebpf_label(a, "v6");
        emit_v6_rules(a, rules, n);
        guard_ebpf_jump(a, BPF_JMP | BPF_JA, 0, 0, 0, "deny");
    }
    guard_ebpf_label(a, "v4");
    emit_v4_rules(a, rules, n);
    emit_verdicts(a, kind, ringbuf_fd);
    return guard_ebpf_finish(a);
}

/* ---- reference decision ------------------------------------------------------------- */

static bool
prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t m = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & m) == (b[whole] & m);
}

int
guard_egress_decide(const struct guard_egress_rule *rules, size_t n, int family, int proto,
                    const uint8_t addr[16], unsigned port)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t *dst = addr;
    if (family == 6 && memcmp(addr, mapped, 12) == 0) {
        family = 4;
        dst = addr + 12;
    }
    for (size_t i = 0; i < n; i++) {
        const struct guard_egress_rule *r = &rules[i];
        if (r->family == family && r->proto == proto && port >= r->lo && port <= r->hi &&
            prefix_match(dst, r->addr, r->prefixlen))
            return 1;
    }
    return 0;
}

int
guard_egress_sock_allowed(int family, int sock_type, int proto)
{
    if (family != AF_INET && family != AF_INET6)
        return 1;
    if (sock_type == SOCK_RAW)
        return 0;
    switch (proto) {
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
    case IPPROTO_SCTP:
    case IPPROTO_UDPLITE:
    case IPPROTO_MPTCP:
        return 0;
    default:
        return 1;
    }
}

/* ---- static check ------------------------------------------------------------------ */

int
guard_ebpf_check(const struct bpf_insn *prog, unsigned n)
{
    if (n == 0 || n > GUARD_EBPF_MAX_INSNS)
        return -EINVAL;
    unsigned char *seen = calloc(n, 1);
    unsigned *todo = calloc(n, sizeof(*todo));
    int err = 0;
    if (seen == NULL || todo == NULL) {
        err = -ENOMEM;
        goto out;
    }
    unsigned top = 0;
    todo[top++] = 0;
    seen[0] = 1;
    while (top > 0 && err == 0) {
        unsigned pc = todo[--top];
        const struct bpf_insn *i = &prog[pc];
        uint8_t cls = BPF_CLASS(i->code), op = BPF_OP(i->code);
        long next[2] = {-1, -1};
        if (cls == BPF_LD && i->code == (BPF_LD | BPF_DW | BPF_IMM)) {
            if (pc + 1 >= n) {
                err = -EFAULT;
                break;
            }
            seen[pc + 1] = 1;
            next[0] = (long)pc + 2;
        }
        else if ((cls == BPF_JMP || cls == BPF_JMP32) && op == BPF_EXIT) {
            continue;
        }
        else if ((cls == BPF_JMP || cls == BPF_JMP32) && op != BPF_CALL) {
            next[0] = (long)pc + 1 + i->off;
            if (op != BPF_JA)
                next[1] = (long)pc + 1;
        }
        else {
            next[0] = (long)pc + 1;
        }
        for (int k = 0; k < 2; k++) {
            if (next[k] < 0 && k == 1)
                continue;
            if (next[k] < 0 || next[k] >= (long)n) {
                err = next[k] == (long)n ? -EFAULT : -ERANGE;
                break;
            }
            if (!seen[next[k]]) {
                seen[next[k]] = 1;
                todo[top++] = (unsigned)next[k];
            }
        }
    }
    for (unsigned pc = 0; err == 0 && pc < n; pc++)
        if (!seen[pc])
            err = -EINVAL;
out:
    free(seen);
    free(todo);
    return err;
}

/* ---- interpreter -------------------------------------------------------------------- */

/* Pointers are tagged: region in the top bits, offset below. */
#define TAG_SHIFT 40
#define TAG_CTX 1ULL
#define TAG_STACK 2ULL
#define TAG_MAP 3ULL
#define PTR(tag, off) (((tag) << TAG_SHIFT) | (uint64_t)(off))
#define STACK_SIZE 512

static uint8_t *
resolve(uint64_t p, unsigned size, uint8_t *ctx, size_t ctx_len, uint8_t *stack, bool write)
{
    uint64_t tag = p >> TAG_SHIFT, off = p & ((1ULL << TAG_SHIFT) - 1);
    if (tag == TAG_CTX && !write && off + size <= ctx_len && off % size == 0)
        return ctx + off;
    if (tag == TAG_STACK && off + size <= STACK_SIZE && off % size == 0)
        return stack + off;
    return NULL;
}

static bool
jump_taken(uint8_t op, uint64_t d, uint64_t s)
{
    switch (op) {
    case BPF_JEQ:
        return d == s;
    case BPF_JNE:
        return d != s;
    case BPF_JGT:
        return d > s;
    case BPF_JGE:
        return d >= s;
    case BPF_JLT:
        return d < s;
    case BPF_JLE:
        return d <= s;
    default:
        return false;
    }
}

int
guard_ebpf_run(const struct bpf_insn *prog, unsigned n, enum guard_ebpf_kind kind,
               const struct guard_ebpf_ctx *c, uint64_t *ret, struct guard_ebpf_event *ev,
               unsigned *nev)
{
    union {
        struct bpf_sock_addr sa;
        struct bpf_sock sk;
        uint8_t bytes[sizeof(struct bpf_sock_addr) > sizeof(struct bpf_sock)
                          ? sizeof(struct bpf_sock_addr)
                          : sizeof(struct bpf_sock)];
    } ctx;
    uint8_t stack[STACK_SIZE];
    uint64_t r[11] = {0};
    bool init[11] = {false};
    size_t ctx_len;
    memset(&ctx, 0, sizeof(ctx));
    memset(stack, 0xa5, sizeof(stack));
    if (kind == GUARD_EBPF_SOCK) {
        ctx.sk.family = (uint32_t)c->family;
        ctx.sk.type = (uint32_t)c->sock_type;
        ctx.sk.protocol = (uint32_t)c->proto;
        ctx_len = offsetof(struct bpf_sock, protocol) + 4;
    }
    else {
        ctx.sa.user_family = (uint32_t)c->family;
        ctx.sa.family = (uint32_t)c->family;
        if (c->family == AF_INET)
            memcpy(&ctx.sa.user_ip4, c->addr, 4);
        else
            memcpy(ctx.sa.user_ip6, c->addr, 16);
        ctx.sa.user_port = htons((uint16_t)c->port);
        ctx.sa.type = (uint32_t)c->sock_type;
        ctx.sa.protocol = (uint32_t)c->proto;
        ctx_len = offsetof(struct bpf_sock_addr, protocol) + 4;
    }
    if (nev)
        *nev = 0;
    r[R1] = PTR(TAG_CTX, 0);
    r[R10] = PTR(TAG_STACK, STACK_SIZE);
    init[R1] = init[R10] = true;
    unsigned steps = 0;
    for (unsigned pc = 0; pc < n;) {
        if (++steps > n)
            return -ELOOP;
        const struct bpf_insn *i = &prog[pc];
        uint8_t cls = BPF_CLASS(i->code), op = BPF_OP(i->code);
        unsigned dst = i->dst_reg, src = i->src_reg;
        if (dst > R10 || src > R10)
            return -EINVAL;
        if (cls == BPF_ALU || cls == BPF_ALU64) {
            if (dst == R10)
                return -EINVAL;
            bool x = BPF_SRC(i->code) == BPF_X && op != BPF_END;
            if (x && !init[src])
                return -EINVAL;
            uint64_t s = x ? r[src] : (uint64_t)(int64_t)i->imm;
            uint64_t d = r[dst];
            if (op != BPF_MOV && !init[dst])
                return -EINVAL;
            switch (op) {
            case BPF_MOV:
                d = s;
                break;
            case BPF_ADD:
                d += s;
                break;
            case BPF_AND:
                d &= s;
                break;
            case BPF_OR:
                d |= s;
                break;
            case BPF_XOR:
                d ^= s;
                break;
            case BPF_SUB:
                d -= s;
                break;
            case BPF_RSH:
                if (s >= (cls == BPF_ALU64 ? 64u : 32u))
                    return -EINVAL;
                d = cls == BPF_ALU ? (uint32_t)d >> s : d >> s;
                break;
            case BPF_END:
                if (BPF_SRC(i->code) != BPF_TO_BE || i->imm != 16)
                    return -EINVAL;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                d = (uint16_t)(((d & 0xff) << 8) | ((d >> 8) & 0xff));
#else
                d = (uint16_t)d;
#endif
                break;
            default:
                return -EINVAL;
            }
            if (cls == BPF_ALU && op != BPF_END)
                d = (uint32_t)d;
            r[dst] = d;
            init[dst] = true;
            pc++;
        }
        else if (cls == BPF_LDX || cls == BPF_STX || cls == BPF_ST) {
            unsigned size = BPF_SIZE(i->code) == BPF_W ? 4 : BPF_SIZE(i->code) == BPF_DW ? 8 : 0;
            if (size == 0 || BPF_MODE(i->code) != BPF_MEM)
                return -EINVAL;
            unsigned base = cls == BPF_LDX ? src : dst;
            if (!init[base])
                return -EINVAL;
            uint8_t *p = resolve(r[base] + (uint64_t)(int64_t)i->off, size, ctx.bytes, ctx_len,
                                 stack, cls != BPF_LDX);
            if (p == NULL)
                return -EFAULT;
            if (cls == BPF_LDX) {
                uint64_t v = 0;
                if (size == 4) {
                    uint32_t w;
                    memcpy(&w, p, 4);
                    v = w;
                }
                else {
                    memcpy(&v, p, 8);
                }
                r[dst] = v;
                init[dst] = true;
            }
            else {
                if (cls == BPF_STX && !init[src])
                    return -EINVAL;
                uint64_t v = cls == BPF_STX ? r[src] : (uint64_t)(int64_t)i->imm;
                if (size == 4) {
                    uint32_t w = (uint32_t)v;
                    memcpy(p, &w, 4);
                }
                else {
                    memcpy(p, &v, 8);
                }
            }
            pc++;
        }
        else if (cls == BPF_LD) {
            if (i->code != (BPF_LD | BPF_DW | BPF_IMM) || pc + 1 >= n ||
                i->src_reg != BPF_PSEUDO_MAP_FD)
                return -EINVAL;
            r[dst] = PTR(TAG_MAP, (uint32_t)i->imm);
            init[dst] = true;
            pc += 2;
        }
        else if (cls == BPF_JMP || cls == BPF_JMP32) {
            if (op == BPF_EXIT) {
                if (!init[R0])
                    return -EINVAL;
                *ret = r[R0];
                return 0;
            }
            if (op == BPF_CALL) {
                if (i->imm == BPF_FUNC_get_current_pid_tgid) {
                    r[R0] = c->pid_tgid;
                }
                else if (i->imm == BPF_FUNC_ringbuf_output) {
                    if (!init[R1] || !init[R2] || !init[R3] || !init[R4] ||
                        r[R1] >> TAG_SHIFT != TAG_MAP)
                        return -EINVAL;
                    uint8_t *data = resolve(r[R2], 1, ctx.bytes, ctx_len, stack, false);
                    if (data == NULL || r[R3] != sizeof(struct guard_ebpf_event) ||
                        (r[R2] & 0xffffffffffULL) + r[R3] > STACK_SIZE)
                        return -EFAULT;
                    if (ev)
                        memcpy(ev, data, sizeof(*ev));
                    if (nev)
                        (*nev)++;
                    r[R0] = 0;
                }
                else {
                    return -EINVAL;
                }
                for (int k = R1; k <= R5; k++)
                    init[k] = false;
                init[R0] = true;
                pc++;
                continue;
            }
            if (op == BPF_JA) {
                if (i->off < 0)
                    return -ELOOP;
                pc += 1 + (unsigned)i->off;
                continue;
            }
            if (!init[dst] || (BPF_SRC(i->code) == BPF_X && !init[src]))
                return -EINVAL;
            uint64_t d = r[dst];
            uint64_t s = BPF_SRC(i->code) == BPF_X ? r[src] : (uint64_t)(int64_t)i->imm;
            if (cls == BPF_JMP32) {
                d = (uint32_t)d;
                s = (uint32_t)s;
            }
            if (op != BPF_JEQ && op != BPF_JNE && op != BPF_JGT && op != BPF_JGE && op != BPF_JLT &&
                op != BPF_JLE)
                return -EINVAL;
            if (i->off < 0)
                return -ELOOP;
            pc += 1 + (jump_taken(op, d, s) ? (unsigned)i->off : 0);
        }
        else {
            return -EINVAL;
        }
    }
    return -EFAULT; /* fell off the end */
}

/* ---- bpf(2) ---------------------------------------------------------------------------- */

static int
sys_bpf(int cmd, union bpf_attr *attr)
{
    long r = syscall(__NR_bpf, cmd, attr, sizeof(*attr));
    return r < 0 ? -errno : (int)r;
}

int
guard_ebpf_ringbuf_create(unsigned size)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_RINGBUF;
    attr.max_entries = size;
    snprintf(attr.map_name, sizeof(attr.map_name), "sdkg_denials");
    return sys_bpf(BPF_MAP_CREATE, &attr);
}

int
guard_ebpf_prog_load(const struct bpf_insn *prog, unsigned n, unsigned prog_type,
                     unsigned attach_type, const char *name, char *log, size_t log_len)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = prog_type;
    attr.expected_attach_type = attach_type;
    attr.insns = (uint64_t)(uintptr_t)prog;
    attr.insn_cnt = n;
    attr.license = (uint64_t)(uintptr_t) "GPL";
    snprintf(attr.prog_name, sizeof(attr.prog_name), "%s", name ? name : "");
    int fd = sys_bpf(BPF_PROG_LOAD, &attr);
    if (fd >= 0 || log == NULL || log_len < 2)
        return fd;
    int first = fd;
    log[0] = 0;
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = (uint32_t)(log_len > UINT32_MAX ? UINT32_MAX : log_len);
    attr.log_level = 1;
    fd = sys_bpf(BPF_PROG_LOAD, &attr);
    if (fd >= 0) { /* loaded the second time: keep it */
        log[0] = 0;
        return fd;
    }
    log[log_len - 1] = 0;
    return first;
}

int
guard_ebpf_attach(int cgroup_fd, int prog_fd, unsigned attach_type, unsigned flags)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)prog_fd;
    attr.attach_type = attach_type;
    attr.attach_flags = flags;
    return sys_bpf(BPF_PROG_ATTACH, &attr);
}

int
guard_ebpf_detach(int cgroup_fd, int prog_fd, unsigned attach_type)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)prog_fd;
    attr.attach_type = attach_type;
    return sys_bpf(BPF_PROG_DETACH, &attr);
}

int
guard_ebpf_query(int cgroup_fd, unsigned attach_type, uint32_t *ids, unsigned *n)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = (uint32_t)cgroup_fd;
    attr.query.attach_type = attach_type;
    attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
    attr.query.prog_cnt = *n;
    int r = sys_bpf(BPF_PROG_QUERY, &attr);
    if (r < 0)
        return r;
    *n = attr.query.prog_cnt;
    return 0;
}

int
guard_ebpf_prog_id(int prog_fd, uint32_t *id)
{
    struct bpf_prog_info info;
    union bpf_attr attr;
    memset(&info, 0, sizeof(info));
    memset(&attr, 0, sizeof(attr));
    attr.info.bpf_fd = (uint32_t)prog_fd;
    attr.info.info_len = sizeof(info);
    attr.info.info = (uint64_t)(uintptr_t)&info;
    int r = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr);
    if (r < 0)
        return r;
    *id = info.id;
    return 0;
}
