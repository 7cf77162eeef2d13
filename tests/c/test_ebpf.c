/* test_ebpf.c - the egress eBPF programs against the reference decision: table cases
 * (IPv4, IPv6, IPv4-mapped, port and prefix edges, sock_create) and a differential run
 * over random rule tables; plus the assembler's label errors. */
#include "ebpf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"

#define PID_TGID 0x0000123400005678ULL

static struct guard_egress_rule
rule(const char *cidr, int proto, unsigned lo, unsigned hi)
{
    struct guard_egress_rule r;
    memset(&r, 0, sizeof(r));
    char host[64];
    snprintf(host, sizeof(host), "%s", cidr);
    char *slash = strchr(host, '/');
    unsigned plen = 0;
    if (slash) {
        *slash = 0;
        sscanf(slash + 1, "%u", &plen);
    }
    if (strchr(host, ':')) {
        r.family = 6;
        CHECK(inet_pton(AF_INET6, host, r.addr) == 1);
        r.prefixlen = (uint8_t)(slash ? plen : 128);
    }
    else {
        r.family = 4;
        CHECK(inet_pton(AF_INET, host, r.addr) == 1);
        r.prefixlen = (uint8_t)(slash ? plen : 32);
    }
    r.proto = (uint8_t)proto;
    r.lo = (uint16_t)lo;
    r.hi = (uint16_t)hi;
    return r;
}

/* Runs the program of the hook that handles ADDR (connect4 for "a.b.c.d", connect6 for
 * v6 and mapped) and checks it against the reference and the event it writes. */
static int
verdict(const struct guard_egress_rule *rules, size_t n, const char *addr, int proto, unsigned port)
{
    struct guard_ebpf_ctx c;
    memset(&c, 0, sizeof(c));
    int v6 = strchr(addr, ':') != NULL;
    c.family = v6 ? AF_INET6 : AF_INET;
    CHECK(inet_pton(c.family, addr, c.addr) == 1);
    c.proto = proto;
    c.sock_type = proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
    c.port = port;
    c.pid_tgid = PID_TGID;
    enum guard_ebpf_kind kind = v6 ? GUARD_EBPF_ADDR6 : GUARD_EBPF_ADDR4;
    struct guard_ebpf a;
    guard_ebpf_init(&a);
    CHECK(guard_ebpf_build(&a, kind, rules, n, 7) == 0);
    CHECK(guard_ebpf_check(a.insns, a.len) == 0);
    uint64_t ret = 99;
    struct guard_ebpf_event ev;
    unsigned nev = 0;
    memset(&ev, 0, sizeof(ev));
    CHECK(guard_ebpf_run(a.insns, a.len, kind, &c, &ret, &ev, &nev) == 0);
    int want = guard_egress_decide(rules, n, v6 ? 6 : 4, proto, c.addr, port);
    CHECK((int)ret == want);
    CHECK(nev == (ret ? 0u : 1u));
    if (nev) {
        CHECK(ev.pid_tgid == PID_TGID && ev.port == port && (int)ev.proto == proto);
        CHECK(ev.hook == (uint32_t)kind && (int)ev.family == c.family);
        CHECK(memcmp(ev.addr, c.addr, v6 ? 16 : 4) == 0);
    }
    /* The same program without a ring buffer decides the same. */
    struct guard_ebpf b;
    guard_ebpf_init(&b);
    CHECK(guard_ebpf_build(&b, kind, rules, n, -1) == 0);
    CHECK(guard_ebpf_check(b.insns, b.len) == 0);
    uint64_t ret2 = 99;
    CHECK(guard_ebpf_run(b.insns, b.len, kind, &c, &ret2, NULL, NULL) == 0);
    CHECK(ret2 == ret);
    guard_ebpf_free(&a);
    guard_ebpf_free(&b);
    return (int)ret;
}

static void
test_table_cases(void)
{
    struct guard_egress_rule rules[] = {
        rule("10.200.0.2", IPPROTO_TCP, 8080, 8080),
        rule("10.0.0.0/8", IPPROTO_UDP, 53, 53),
        rule("192.168.0.0/23", IPPROTO_TCP, 1000, 2000),
        rule("0.0.0.0/0", IPPROTO_TCP, 7, 7),
        rule("fd20::2", IPPROTO_TCP, 8080, 8080),
        rule("2001:db8::/33", IPPROTO_UDP, 0, 65535),
        rule("fd21::/127", IPPROTO_TCP, 443, 443),
    };
    size_t n = sizeof(rules) / sizeof(rules[0]);
    static const struct {
        const char *addr;
        int proto;
        unsigned port;
        int allow;
    } cases[] = {
        {"10.200.0.2", IPPROTO_TCP, 8080, 1},
        {"10.200.0.2", IPPROTO_TCP, 8081, 0},
        {"10.200.0.2", IPPROTO_UDP, 8080, 0}, /* the rule is TCP only */
        {"10.200.0.3", IPPROTO_TCP, 8080, 0},
        {"10.255.255.255", IPPROTO_UDP, 53, 1},
        {"11.0.0.1", IPPROTO_UDP, 53, 0},
        {"192.168.1.255", IPPROTO_TCP, 1000, 1}, /* /23 edge */
        {"192.168.2.0", IPPROTO_TCP, 1000, 0},
        {"192.168.0.1", IPPROTO_TCP, 999, 0},
        {"192.168.0.1", IPPROTO_TCP, 2000, 1},
        {"192.168.0.1", IPPROTO_TCP, 2001, 0},
        {"203.0.113.9", IPPROTO_TCP, 7, 1}, /* /0 */
        {"fd20::2", IPPROTO_TCP, 8080, 1},
        {"fd20::3", IPPROTO_TCP, 8080, 0},
        {"2001:db8:7fff::1", IPPROTO_UDP, 1, 1}, /* /33 edge */
        {"2001:db8:8000::1", IPPROTO_UDP, 1, 0},
        {"fd21::1", IPPROTO_TCP, 443, 1},
        {"fd21::2", IPPROTO_TCP, 443, 0},
        /* IPv4-mapped: decided by the IPv4 rules in connect6/sendmsg6. */
        {"::ffff:10.200.0.2", IPPROTO_TCP, 8080, 1},
        {"::ffff:10.200.0.2", IPPROTO_TCP, 8081, 0},
        {"::ffff:10.200.0.3", IPPROTO_TCP, 8080, 0},
        {"::ffff:10.1.2.3", IPPROTO_UDP, 53, 1},
        {"::fffe:10.200.0.2", IPPROTO_TCP, 8080, 0}, /* not mapped */
        {"::10.200.0.2", IPPROTO_TCP, 8080, 0},      /* v4-compatible is not mapped */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = verdict(rules, n, cases[i].addr, cases[i].proto, cases[i].port);
        if (got != cases[i].allow)
            fprintf(stderr, "case %zu: %s/%d:%u got %d\n", i, cases[i].addr, cases[i].proto,
                    cases[i].port, got);
        CHECK(got == cases[i].allow);
    }
    /* No rules: everything is denied. */
    CHECK(verdict(rules, 0, "10.200.0.2", IPPROTO_TCP, 8080) == 0);
    CHECK(verdict(rules, 0, "::ffff:10.200.0.2", IPPROTO_TCP, 8080) == 0);
}

/* A table without rules of a family (or none at all) must still verify: the allow
 * verdict nothing jumps to is left out (the verifier refuses unreachable code). */
static void
test_programs_without_rules_have_no_unreachable_code(void)
{
    struct guard_egress_rule v6only = rule("fd20::2", IPPROTO_TCP, 80, 80);
    for (int kind = GUARD_EBPF_ADDR4; kind <= GUARD_EBPF_ADDR6; kind += 2) {
        for (size_t n = 0; n < 2; n++) {
            struct guard_ebpf a;
            guard_ebpf_init(&a);
            CHECK(guard_ebpf_build(&a, (enum guard_ebpf_kind)kind, &v6only, n, 5) == 0);
            CHECK(guard_ebpf_check(a.insns, a.len) == 0);
            guard_ebpf_free(&a);
        }
    }
    CHECK(verdict(&v6only, 0, "10.0.0.1", IPPROTO_TCP, 80) == 0);
    CHECK(verdict(&v6only, 1, "10.0.0.1", IPPROTO_TCP, 80) == 0);
    CHECK(verdict(&v6only, 1, "fd20::2", IPPROTO_TCP, 80) == 1);
    /* The check itself: unreachable code and a jump past the end are refused. */
    struct guard_ebpf b;
    guard_ebpf_init(&b);
    guard_ebpf_insn(&b, BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
    guard_ebpf_insn(&b, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    guard_ebpf_insn(&b, BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
    guard_ebpf_insn(&b, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    CHECK(guard_ebpf_check(b.insns, b.len) == -EINVAL);
    b.insns[1].code = BPF_JMP | BPF_JA;
    b.insns[1].off = 5;
    CHECK(guard_ebpf_check(b.insns, b.len) == -ERANGE);
    b.insns[1].off = 0;
    b.len = 3;
    CHECK(guard_ebpf_check(b.insns, b.len) == -EFAULT);
    guard_ebpf_free(&b);
}

static void
test_sock_create_refuses_raw_icmp_sctp_udplite_mptcp(void)
{
    static const struct {
        int family, type, proto, allow;
    } cases[] = {
        {AF_INET, SOCK_STREAM, IPPROTO_TCP, 1},
        {AF_INET6, SOCK_DGRAM, IPPROTO_UDP, 1},
        {AF_INET, SOCK_RAW, IPPROTO_ICMP, 0},
        {AF_INET6, SOCK_RAW, IPPROTO_TCP, 0},
        {AF_INET, SOCK_DGRAM, IPPROTO_ICMP, 0}, /* ping socket */
        {AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6, 0},
        {AF_INET, SOCK_STREAM, 262, 0}, /* MPTCP */
        {AF_INET, SOCK_SEQPACKET, IPPROTO_SCTP, 0},
        {AF_INET6, SOCK_DGRAM, 136, 0}, /* UDP-Lite */
        {AF_UNIX, SOCK_RAW, 0, 1},      /* not an inet socket */
    };
    struct guard_ebpf a;
    guard_ebpf_init(&a);
    CHECK(guard_ebpf_build(&a, GUARD_EBPF_SOCK, NULL, 0, 3) == 0);
    CHECK(guard_ebpf_check(a.insns, a.len) == 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct guard_ebpf_ctx c;
        memset(&c, 0, sizeof(c));
        c.family = cases[i].family;
        c.sock_type = cases[i].type;
        c.proto = cases[i].proto;
        c.pid_tgid = PID_TGID;
        uint64_t ret = 99;
        unsigned nev = 0;
        struct guard_ebpf_event ev;
        CHECK(guard_ebpf_run(a.insns, a.len, GUARD_EBPF_SOCK, &c, &ret, &ev, &nev) == 0);
        CHECK((int)ret == cases[i].allow);
        CHECK((int)ret == guard_egress_sock_allowed(c.family, c.sock_type, c.proto));
        CHECK(nev == (ret ? 0u : 1u));
        if (nev)
            CHECK((int)ev.proto == c.proto && (int)ev.port == c.sock_type &&
                  ev.hook == GUARD_EBPF_SOCK);
    }
    guard_ebpf_free(&a);
}

static uint64_t seed = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (uint32_t)(seed >> 11);
}

/* Random tables and queries near rule edges: interpreter == reference, always. */
static void
test_differential_random_tables(void)
{
    unsigned checked = 0;
    for (int round = 0; round < 300; round++) {
        struct guard_egress_rule rules[24];
        size_t n = rnd() % 24;
        for (size_t i = 0; i < n; i++) {
            struct guard_egress_rule *r = &rules[i];
            memset(r, 0, sizeof(*r));
            r->family = rnd() % 2 ? 4 : 6;
            r->proto = rnd() % 2 ? IPPROTO_TCP : IPPROTO_UDP;
            unsigned bits = r->family == 4 ? 32 : 128;
            r->prefixlen = (uint8_t)(rnd() % 4 == 0 ? bits : rnd() % (bits + 1));
            for (unsigned b = 0; b < bits / 8; b++)
                r->addr[b] = (uint8_t)(rnd() % 4 == 0 ? rnd() : 10 + b % 3);
            unsigned lo = rnd() % 3 == 0 ? 0 : rnd() % 65536;
            unsigned hi = rnd() % 3 == 0 ? 65535 : lo + rnd() % 100;
            r->lo = (uint16_t)lo;
            r->hi = (uint16_t)(hi > 65535 ? 65535 : hi);
        }
        for (int q = 0; q < 40; q++) {
            struct guard_ebpf_ctx c;
            memset(&c, 0, sizeof(c));
            const struct guard_egress_rule *base = n ? &rules[rnd() % n] : NULL;
            int fam = base ? base->family : 4;
            int mapped = fam == 4 && rnd() % 3 == 0;
            uint8_t v[16] = {0};
            if (base)
                memcpy(v, base->addr, 16);
            /* Flip one bit around the prefix boundary, sometimes. */
            unsigned bits = fam == 4 ? 32 : 128;
            if (base && rnd() % 2) {
                unsigned bit = base->prefixlen ? base->prefixlen - 1 + rnd() % 2 : rnd() % bits;
                if (bit < bits)
                    v[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
            }
            c.proto = base && rnd() % 4 ? base->proto : (rnd() % 2 ? IPPROTO_TCP : IPPROTO_UDP);
            unsigned edges[] = {base ? base->lo : 0, base ? base->hi : 0,
                                base && base->lo ? base->lo - 1u : 0,
                                base && base->hi < 65535 ? base->hi + 1u : 65535, rnd() % 65536};
            c.port = edges[rnd() % 5];
            c.pid_tgid = PID_TGID;
            enum guard_ebpf_kind kind;
            if (fam == 4 && !mapped) {
                c.family = AF_INET;
                memcpy(c.addr, v, 4);
                kind = GUARD_EBPF_ADDR4;
            }
            else {
                c.family = AF_INET6;
                if (mapped) {
                    c.addr[10] = c.addr[11] = 0xff;
                    memcpy(c.addr + 12, v, 4);
                }
                else {
                    memcpy(c.addr, v, 16);
                }
                kind = GUARD_EBPF_ADDR6;
            }
            struct guard_ebpf a;
            guard_ebpf_init(&a);
            CHECK(guard_ebpf_build(&a, kind, rules, n, 4) == 0);
            CHECK(guard_ebpf_check(a.insns, a.len) == 0);
            uint64_t ret = 99;
            unsigned nev = 0;
            struct guard_ebpf_event ev;
            CHECK(guard_ebpf_run(a.insns, a.len, kind, &c, &ret, &ev, &nev) == 0);
            int want = guard_egress_decide(rules, n, kind == GUARD_EBPF_ADDR4 ? 4 : 6, c.proto,
                                           c.addr, c.port);
            CHECK((int)ret == want);
            CHECK(nev == (ret ? 0u : 1u));
            guard_ebpf_free(&a);
            checked++;
        }
    }
    CHECK(checked == 300 * 40);
}

static void
test_assembler_errors(void)
{
    struct guard_ebpf a;
    guard_ebpf_init(&a);
    guard_ebpf_jump(&a, BPF_JMP | BPF_JA, 0, 0, 0, "nowhere");
    CHECK(guard_ebpf_finish(&a) == -ENOENT);
    guard_ebpf_free(&a);
    guard_ebpf_init(&a);
    guard_ebpf_label(&a, "x");
    CHECK(guard_ebpf_label(&a, "x") == -EEXIST);
    CHECK(guard_ebpf_finish(&a) == -EEXIST); /* sticky */
    guard_ebpf_free(&a);
    guard_ebpf_init(&a);
    CHECK(guard_ebpf_label(&a, "a_label_name_longer_than_thirty_one") == -ENAMETOOLONG);
    guard_ebpf_free(&a);
    struct guard_egress_rule bad = rule("10.0.0.1", IPPROTO_TCP, 9, 8); /* lo > hi */
    guard_ebpf_init(&a);
    CHECK(guard_ebpf_build(&a, GUARD_EBPF_ADDR4, &bad, 1, -1) == -EINVAL);
    guard_ebpf_free(&a);
    bad = rule("10.0.0.1", IPPROTO_ICMP, 1, 1);
    guard_ebpf_init(&a);
    CHECK(guard_ebpf_build(&a, GUARD_EBPF_ADDR4, &bad, 1, -1) == -EINVAL);
    guard_ebpf_free(&a);
    /* The interpreter refuses what the verifier would: a backward jump. */
    guard_ebpf_init(&a);
    guard_ebpf_label(&a, "top");
    guard_ebpf_insn(&a, BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
    guard_ebpf_jump(&a, BPF_JMP | BPF_JA, 0, 0, 0, "top");
    CHECK(guard_ebpf_finish(&a) == 0);
    struct guard_ebpf_ctx c;
    memset(&c, 0, sizeof(c));
    uint64_t ret;
    CHECK(guard_ebpf_run(a.insns, a.len, GUARD_EBPF_ADDR4, &c, &ret, NULL, NULL) == -ELOOP);
    guard_ebpf_free(&a);
}

int
main(void)
{
    test_table_cases();
    test_programs_without_rules_have_no_unreachable_code();
    test_sock_create_refuses_raw_icmp_sctp_udplite_mptcp();
    test_differential_random_tables();
    test_assembler_errors();
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures != 0;
}
