/* ebpf.h - an eBPF assembler, the egress programs built with it, an interpreter for
 * them and the reference decision they must agree with (pure C, no Python).
 *
 * Egress rules (family, protocol, network, port range) become straight-line
 * compare-and-jump code in four cgroup programs:
 *   GUARD_EBPF_ADDR4  connect4 / sendmsg4   (struct bpf_sock_addr, IPv4)
 *   GUARD_EBPF_ADDR6  connect6 / sendmsg6   (IPv6; an IPv4-mapped ::ffff:a.b.c.d
 *                     destination is decided by the IPv4 rules: connect4 never runs
 *                     for it)
 *   GUARD_EBPF_SOCK   sock_create           (refuses raw, ICMP, SCTP, UDP-Lite, MPTCP)
 * A program returns 1 (allow) or 0 (the kernel fails the call with EPERM).  A denial
 * first writes a struct guard_ebpf_event to the ring buffer map, if one was given.
 *
 * Jumps name their targets; guard_ebpf_finish() resolves them (sasm.h's habit).  Every
 * emitting call returns 0 or a negative errno; the first error is sticky.
 * Errors: -ENOMEM, -E2BIG (over GUARD_EBPF_MAX_INSNS), -ENAMETOOLONG, -EEXIST (label
 * defined twice), -ENOENT (undefined label), -ERANGE (displacement over 16 bits),
 * -EINVAL (bad rule or argument).
 */
#ifndef GUARD_EBPF_H
#define GUARD_EBPF_H

#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf_labels.h"

#define GUARD_EBPF_NAME_MAX 31
#define GUARD_EBPF_MAX_INSNS 65536

enum guard_ebpf_kind { GUARD_EBPF_ADDR4 = 4, GUARD_EBPF_ADDR6 = 6, GUARD_EBPF_SOCK = 1 };

/* One allowed destination.  ADDR is in network byte order (IPv4 in addr[0..3]). */
struct guard_egress_rule {
    uint8_t family;    /* 4 or 6 */
    uint8_t proto;     /* IPPROTO_TCP or IPPROTO_UDP */
    uint8_t prefixlen; /* 0..32 or 0..128 */
    uint8_t addr[16];
    uint16_t lo, hi; /* port range, host order, lo <= hi */
};

/* What a denial writes to the ring buffer (40 bytes, host byte order except addr). */
struct guard_ebpf_event {
    uint64_t pid_tgid; /* tgid << 32 | tid */
    uint32_t family;   /* AF_INET / AF_INET6 as the socket saw it */
    uint32_t proto;    /* IPPROTO_*, or the socket type for sock_create */
    uint32_t port;     /* destination port, host order (0 for sock_create) */
    uint32_t hook;     /* GUARD_EBPF_ADDR4 / ADDR6 / SOCK */
    uint8_t addr[16];  /* destination, network order (IPv4 in addr[0..3]) */
};

struct guard_ebpf {
    struct bpf_insn *insns;
    int *target; /* label id per instruction, or -1 */
    unsigned len, cap;
    struct guard_bpf_labels labels; /* names and positions (bpf_labels.h) */
    int err;
};

void guard_ebpf_init(struct guard_ebpf *a);
void guard_ebpf_free(struct guard_ebpf *a);
int guard_ebpf_label(struct guard_ebpf *a, const char *name);
int guard_ebpf_insn(struct guard_ebpf *a, uint8_t code, uint8_t dst, uint8_t src, int16_t off,
                    int32_t imm);
/* A jump to TARGET (its off is resolved by guard_ebpf_finish). */
int guard_ebpf_jump(struct guard_ebpf *a, uint8_t code, uint8_t dst, uint8_t src, int32_t imm,
                    const char *target);
/* dst = the map whose fd is FD (BPF_LD_IMM64 with BPF_PSEUDO_MAP_FD; two slots). */
int guard_ebpf_ld_map_fd(struct guard_ebpf *a, uint8_t dst, int fd);
int guard_ebpf_finish(struct guard_ebpf *a);

/* Builds the program of KIND over RULES into A (initialised by the caller).
 * RINGBUF_FD < 0 builds it without events.  Returns guard_ebpf_finish()'s result. */
int guard_ebpf_build(struct guard_ebpf *a, enum guard_ebpf_kind kind,
                     const struct guard_egress_rule *rules, size_t n, int ringbuf_fd);

/* The reference decision: 1 allow, 0 deny.  For ADDR4/ADDR6, FAMILY is 4 or 6, ADDR
 * the destination (network order), PORT host order; an IPv4-mapped IPv6 address is
 * decided by the IPv4 rules.  For SOCK, PROTO and SOCK_TYPE are the socket's. */
int guard_egress_decide(const struct guard_egress_rule *rules, size_t n, int family, int proto,
                        const uint8_t addr[16], unsigned port);
int guard_egress_sock_allowed(int family, int sock_type, int proto);

/* What the kernel verifier checks first: every instruction reachable, every jump
 * inside the program, no path falling off the end.  0, -EINVAL (unreachable),
 * -ERANGE (jump out of range), -EFAULT (falls off the end). */
int guard_ebpf_check(const struct bpf_insn *prog, unsigned n);

/* The input of one simulated run. */
struct guard_ebpf_ctx {
    int family; /* AF_INET / AF_INET6 */
    int sock_type;
    int proto;
    uint8_t addr[16]; /* network order */
    unsigned port;    /* host order */
    uint64_t pid_tgid;
};

/* Interprets PROG (the subset guard_ebpf_build emits) as the kernel would run it for
 * hook KIND on CTX.  *RET gets r0; EV (may be NULL) gets the ring buffer event and
 * *NEV the number of events.  Returns 0, or -EINVAL / -EFAULT / -ELOOP for a program
 * the kernel's verifier would reject (unknown opcode, out-of-bounds access, a loop). */
int guard_ebpf_run(const struct bpf_insn *prog, unsigned n, enum guard_ebpf_kind kind,
                   const struct guard_ebpf_ctx *ctx, uint64_t *ret, struct guard_ebpf_event *ev,
                   unsigned *nev);

/* ---- bpf(2): each returns an fd / 0, or -errno ----------------------------------- */

/* A BPF_MAP_TYPE_RINGBUF of SIZE bytes (a power of two, at least a page). */
int guard_ebpf_ringbuf_create(unsigned size);
/* Loads PROG as PROG_TYPE for ATTACH_TYPE.  On failure LOG (if not NULL) receives the
 * verifier's explanation (a second load with logging on). */
int guard_ebpf_prog_load(const struct bpf_insn *prog, unsigned n, unsigned prog_type,
                         unsigned attach_type, const char *name, char *log, size_t log_len);
/* BPF_PROG_ATTACH / BPF_PROG_DETACH on a cgroup directory fd. */
int guard_ebpf_attach(int cgroup_fd, int prog_fd, unsigned attach_type, unsigned flags);
int guard_ebpf_detach(int cgroup_fd, int prog_fd, unsigned attach_type);
/* The ids of the programs attached to CGROUP_FD for ATTACH_TYPE (at most *N; *N gets
 * the count). */
int guard_ebpf_query(int cgroup_fd, unsigned attach_type, uint32_t *ids, unsigned *n);
int guard_ebpf_prog_id(int prog_fd, uint32_t *id);

#endif
