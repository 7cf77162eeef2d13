/* test_sasm.c - the seccomp assembler: labels, refusals, two-halves compares. */
#include "bpf_sim.h"
#include "sasm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static uint32_t
run(const struct guard_sasm *a, const struct seccomp_data *d)
{
    uint32_t ret = 0xdeadbeef;
    CHECK(guard_bpf_check(a->insns, a->len) == 0);
    CHECK(guard_bpf_run(a->insns, a->len, d, &ret, NULL) == 0);
    return ret;
}

static void
test_labels_resolve_forward(void)
{
    struct guard_sasm a;
    guard_sasm_init(&a);
    guard_sasm_ld(&a, GUARD_SD_NR);                                    /* 0 */
    guard_sasm_jump(&a, BPF_JMP | BPF_JEQ | BPF_K, 1, "one", NULL);    /* 1 */
    guard_sasm_jump(&a, BPF_JMP | BPF_JEQ | BPF_K, 2, "two", "other"); /* 2 */
    guard_sasm_label(&a, "one");
    guard_sasm_ret(&a, SECCOMP_RET_ERRNO | 1); /* 3 */
    guard_sasm_label(&a, "two");
    guard_sasm_ja(&a, "other");                   /* 4 */
    guard_sasm_ret(&a, SECCOMP_RET_KILL_PROCESS); /* 5: dead */
    guard_sasm_label(&a, "other");
    guard_sasm_ret(&a, SECCOMP_RET_ALLOW); /* 6 */
    CHECK(guard_sasm_finish(&a) == 0);
    CHECK(a.len == 7);
    CHECK(a.insns[1].jt == 1 && a.insns[1].jf == 0);
    CHECK(a.insns[2].jt == 1 && a.insns[2].jf == 3);
    CHECK(a.insns[4].k == 1);
    CHECK(strcmp(guard_sasm_label_at(&a, 6), "other") == 0);
    CHECK(guard_sasm_label_at(&a, 5) == NULL);
    struct seccomp_data d = {0};
    d.nr = 1;
    CHECK(run(&a, &d) == (SECCOMP_RET_ERRNO | 1));
    d.nr = 2;
    CHECK(run(&a, &d) == SECCOMP_RET_ALLOW);
    d.nr = 3;
    CHECK(run(&a, &d) == SECCOMP_RET_ALLOW);
    guard_sasm_free(&a);
}

/* Each case builds a small program with one defect and expects finish() to refuse. */
static void
test_bad_programs_refused(void)
{
    static const struct {
        const char *what;
        int expect;
    } cases[] = {
        {"undefined label", -ENOENT},     {"duplicate label", -EEXIST},
        {"backward jump", -EINVAL},       {"label past the end", -EINVAL},
        {"name too long", -ENAMETOOLONG}, {"jump class as stmt", -EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct guard_sasm a;
        guard_sasm_init(&a);
        switch (i) {
        case 0:
            guard_sasm_ld(&a, GUARD_SD_NR);
            guard_sasm_jump(&a, BPF_JMP | BPF_JEQ | BPF_K, 0, "nowhere", NULL);
            guard_sasm_ret(&a, SECCOMP_RET_ALLOW);
            break;
        case 1:
            guard_sasm_label(&a, "x");
            guard_sasm_ret(&a, SECCOMP_RET_ALLOW);
            guard_sasm_label(&a, "x");
            guard_sasm_ret(&a, SECCOMP_RET_ALLOW);
            break;
        case 2:
            guard_sasm_label(&a, "top");
            guard_sasm_ld(&a, GUARD_SD_NR);
            guard_sasm_jump(&a, BPF_JMP | BPF_JEQ | BPF_K, 0, "top", NULL);
            guard_sasm_ret(&a, SECCOMP_RET_ALLOW);
            break;
        case 3:
            guard_sasm_ld(&a, GUARD_SD_NR);
            guard_sasm_jump(&a, BPF_JMP | BPF_JEQ | BPF_K, 0, "end", NULL);
            guard_sasm_ret(&a, SECCOMP_RET_ALLOW);
            guard_sasm_label(&a, "end");
            break;
        case 4: {
            char name[GUARD_SASM_NAME_MAX + 2];
            memset(name, 'n', sizeof name - 1);
            name[sizeof name - 1] = '\0';
            guard_sasm_label(&a, name);
            guard_sasm_ret(&a, SECCOMP_RET_ALLOW);
            break;
        }
        case 5:
            guard_sasm_stmt(&a, BPF_JMP | BPF_JA, 0);
            guard_sasm_ret(&a, SECCOMP_RET_ALLOW);
            break;
        }
        int rc = guard_sasm_finish(&a);
        if (rc != cases[i].expect) {
            fprintf(stderr, "%s: got %d want %d\n", cases[i].what, rc, cases[i].expect);
            failures++;
        }
        guard_sasm_free(&a);
    }
}

/* A conditional jump over FILL instructions: 255 fits jt, 256 does not. */
static int
jump_over(unsigned fill)
{
    struct guard_sasm a;
    guard_sasm_init(&a);
    guard_sasm_ld(&a, GUARD_SD_NR);
    guard_sasm_jump(&a, BPF_JMP | BPF_JEQ | BPF_K, 0, "far", NULL);
    for (unsigned i = 0; i < fill; i++)
        guard_sasm_ret(&a, SECCOMP_RET_ERRNO | 1);
    guard_sasm_label(&a, "far");
    guard_sasm_ret(&a, SECCOMP_RET_ALLOW);
    int rc = guard_sasm_finish(&a);
    if (rc == 0) {
        CHECK(a.insns[1].jt == fill);
        struct seccomp_data d = {0};
        CHECK(run(&a, &d) == SECCOMP_RET_ALLOW);
    }
    guard_sasm_free(&a);
    return rc;
}

static int
program_of(unsigned n)
{
    struct guard_sasm a;
    guard_sasm_init(&a);
    for (unsigned i = 0; i + 1 < n; i++)
        guard_sasm_ld(&a, GUARD_SD_NR);
    guard_sasm_ret(&a, SECCOMP_RET_ALLOW);
    int rc = guard_sasm_finish(&a);
    guard_sasm_free(&a);
    return rc;
}

static void
test_out_of_range_refused(void)
{
    CHECK(jump_over(255) == 0);
    CHECK(jump_over(256) == -ERANGE);
    CHECK(program_of(BPF_MAXINSNS) == 0);
    CHECK(program_of(BPF_MAXINSNS + 1) == -E2BIG);
    /* BPF_JA carries a 32-bit displacement: far targets are fine there. */
    struct guard_sasm a;
    guard_sasm_init(&a);
    guard_sasm_ja(&a, "far");
    for (unsigned i = 0; i < 1000; i++)
        guard_sasm_ret(&a, SECCOMP_RET_ERRNO | 1);
    guard_sasm_label(&a, "far");
    guard_sasm_ret(&a, SECCOMP_RET_ALLOW);
    CHECK(guard_sasm_finish(&a) == 0);
    CHECK(a.insns[0].k == 1000);
    guard_sasm_free(&a);
}

enum cmp { EQ, SET, GE };

/* Builds "ret ERRNO(1) if args[2] <op> value else ALLOW" and checks it on ARG. */
static uint32_t
two_halves(enum cmp op, uint64_t value, uint64_t arg, int fall_through)
{
    struct guard_sasm a;
    guard_sasm_init(&a);
    const char *jt = fall_through ? NULL : "hit", *jf = "miss";
    if (op == EQ)
        guard_sasm_arg_jeq64(&a, 2, value, jt, jf);
    else if (op == SET)
        guard_sasm_arg_jset64(&a, 2, value, jt, jf);
    else
        guard_sasm_arg_jge64(&a, 2, value, jt, jf);
    guard_sasm_label(&a, "hit");
    guard_sasm_ret(&a, SECCOMP_RET_ERRNO | 1);
    guard_sasm_label(&a, "miss");
    guard_sasm_ret(&a, SECCOMP_RET_ALLOW);
    CHECK(guard_sasm_finish(&a) == 0);
    struct seccomp_data d = {0};
    d.args[2] = arg;
    uint32_t r = run(&a, &d);
    guard_sasm_free(&a);
    return r;
}

static void
test_two_halves_compares(void)
{
    static const struct {
        enum cmp op;
        uint64_t value, arg;
        int hit;
    } cases[] = {
        {EQ, 0x100000001ull, 0x100000001ull, 1},
        {EQ, 0x100000001ull, 0x000000001ull, 0}, /* low half alone must not match */
        {EQ, 0x100000001ull, 0x100000000ull, 0},
        {EQ, 0, 0, 1},
        {EQ, 0xffffffffull, 0xffffffffffffffffull, 0},
        {SET, 0x10000000ull, 0x10000000ull, 1},
        {SET, 0x10000000ull, 0x1000000000000000ull, 0},
        {SET, 0x100000000ull, 0x100000000ull, 1}, /* high-half-only mask */
        {SET, 0x100000000ull, 0xffffffffull, 0},
        {SET, 0x100000001ull, 0x1ull, 1},
        {SET, 0x100000001ull, 0x100000000ull, 1},
        {SET, 0x100000001ull, 0x2ull, 0},
        {SET, 0, 0xffffffffffffffffull, 0},
        {GE, 0x100000000ull, 0xffffffffull, 0},
        {GE, 0x100000000ull, 0x100000000ull, 1},
        {GE, 0x100000005ull, 0x200000000ull, 1}, /* high half decides */
        {GE, 0x100000005ull, 0x100000004ull, 0},
        {GE, 5, 0x100000000ull, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int ft = 0; ft < 2; ft++) {
            uint32_t want = cases[i].hit ? (SECCOMP_RET_ERRNO | 1) : SECCOMP_RET_ALLOW;
            uint32_t got = two_halves(cases[i].op, cases[i].value, cases[i].arg, ft);
            if (got != want) {
                fprintf(stderr, "case %zu (fall-through %d): got 0x%x want 0x%x\n", i, ft, got,
                        want);
                failures++;
            }
        }
    }
}

static void
test_format_uses_labels(void)
{
    struct guard_sasm a;
    guard_sasm_init(&a);
    guard_sasm_ld(&a, GUARD_SD_ARCH);
    guard_sasm_jump(&a, BPF_JMP | BPF_JEQ | BPF_K, 0xc000003e, NULL, "kill");
    guard_sasm_ld(&a, GUARD_SD_ARG_HI(1));
    guard_sasm_ret(&a, SECCOMP_RET_ERRNO | 38);
    guard_sasm_label(&a, "kill");
    guard_sasm_ret(&a, SECCOMP_RET_KILL_PROCESS);
    CHECK(guard_sasm_finish(&a) == 0);
    const char *names[6] = {0};
    for (unsigned i = 0; i <= a.len; i++)
        names[i] = guard_sasm_label_at(&a, i);
    char buf[96];
    static const char *const want[] = {"ld  [arch]", "jeq #0xc000003e, L2, kill",
                                       "ld  [args[1].hi]", "ret ERRNO(38)", "ret KILL_PROCESS"};
    for (unsigned i = 0; i < a.len; i++) {
        guard_sasm_format(a.insns, a.len, i, names, buf, sizeof buf);
        if (strcmp(buf, want[i]) != 0) {
            fprintf(stderr, "format %u: '%s' want '%s'\n", i, buf, want[i]);
            failures++;
        }
    }
    guard_sasm_free(&a);
}

static void
test_sim_counts_and_faults(void)
{
    struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, GUARD_SD_NR),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff),
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 10, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct seccomp_data d = {0};
    uint32_t r;
    unsigned ex;
    d.nr = 0x10b;
    CHECK(guard_bpf_run(prog, 5, &d, &r, &ex) == 0 && r == SECCOMP_RET_ERRNO + 1 && ex == 4);
    d.nr = 3;
    CHECK(guard_bpf_run(prog, 5, &d, &r, &ex) == 0 && r == SECCOMP_RET_ALLOW && ex == 4);
    CHECK(guard_bpf_const_allow(prog, 5, 0, 3) == 1);
    CHECK(guard_bpf_const_allow(prog, 5, 0, 11) == 0);
    struct sock_filter bad_load[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, sizeof(struct seccomp_data)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    CHECK(guard_bpf_check(bad_load, 2) == -EINVAL);
    CHECK(guard_bpf_run(bad_load, 2, &d, &r, NULL) == -EINVAL);
    struct sock_filter no_ret[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, GUARD_SD_NR)};
    CHECK(guard_bpf_check(no_ret, 1) == -EINVAL);
    CHECK(guard_bpf_run(no_ret, 1, &d, &r, NULL) == -EINVAL);
    struct sock_filter arg_load[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, GUARD_SD_ARG_LO(0)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    CHECK(guard_bpf_const_allow(arg_load, 2, 0, 0) == 0);
    /* A ja whose offset wraps pc back to itself (k = 0xffffffff) looped forever in the
     * const-allow walk; every walk must end, with "not constant-allow". */
    struct sock_filter wrap[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, GUARD_SD_NR),
        BPF_STMT(BPF_JMP | BPF_JA, 0xffffffffu),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    CHECK(guard_bpf_check(wrap, 3) == -EINVAL);
    CHECK(guard_bpf_const_allow(wrap, 3, 0, 0) == 0);
    CHECK(guard_bpf_run(wrap, 3, &d, &r, NULL) == -EINVAL);
    wrap[1].k = 0xfffffffeu; /* back one instruction */
    CHECK(guard_bpf_const_allow(wrap, 3, 0, 0) == 0);
    CHECK(guard_bpf_run(wrap, 3, &d, &r, NULL) == -EINVAL);
    wrap[1].k = 1; /* past the end */
    CHECK(guard_bpf_const_allow(wrap, 3, 0, 0) == 0);
    CHECK(guard_bpf_run(wrap, 3, &d, &r, NULL) == -EINVAL);
}

int
main(void)
{
    test_labels_resolve_forward();
    test_bad_programs_refused();
    test_out_of_range_refused();
    test_two_halves_compares();
    test_format_uses_labels();
    test_sim_counts_and_faults();
    if (failures) {
        fprintf(stderr, "test_sasm: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_sasm: ok\n");
    return 0;
}
