/* fuzz_bpf.c - the BPF interpreter, the const-allow analysis and the assembler.
 *
 * Input byte 0 picks the mode.
 *  Program mode (even): bytes 1..4 are nr, byte 5 picks the arch, the rest is up to
 *  64 struct sock_filter.  Every call must return (libFuzzer's -timeout turns a hang
 *  into a failure); a program guard_bpf_check accepts runs without faulting unless it
 *  divides by X; and when guard_bpf_const_allow says (arch, nr) is constant-allow,
 *  running it for that (arch, nr) with any arguments and instruction pointer returns
 *  SECCOMP_RET_ALLOW -- the kernel would skip the filter on that promise.
 *  Assembler mode (odd): the rest is a stream of assembler operations; a program the
 *  assembler finishes without error and ends in a return passes guard_bpf_check, and
 *  every instruction formats into a short buffer without overflow.
 */
#include <errno.h>
#include <linux/audit.h>

#include "bpf_sim.h"
#include "fuzz_common.h"
#include "sasm.h"

static const uint32_t arches[] = {AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, 0};

static void
program_mode(const uint8_t *data, size_t size)
{
    if (size < 6)
        return;
    int nr;
    memcpy(&nr, data + 1, 4);
    uint32_t arch = arches[data[5] % 4];
    size_t n = (size - 6) / sizeof(struct sock_filter);
    if (n == 0)
        return;
    if (n > 64)
        n = 64;
    struct sock_filter prog[64];
    memcpy(prog, data + 6, n * sizeof(struct sock_filter));

    int valid = guard_bpf_check(prog, (unsigned)n) == 0;
    int divides_by_x = 0;
    for (size_t i = 0; i < n; i++)
        divides_by_x |= prog[i].code == (BPF_ALU | BPF_DIV | BPF_X);
    int cached = guard_bpf_const_allow(prog, (unsigned)n, arch, nr);
    FUZZ_ASSERT(cached == 0 || cached == 1, "const_allow returned %d", cached);

    static const uint64_t argv[] = {0, 1, 0xffffffffull, 0xffffffffffffffffull,
                                    0x8000000000000000ull};
    for (size_t v = 0; v < sizeof argv / sizeof argv[0]; v++) {
        struct seccomp_data d;
        memset(&d, 0, sizeof d);
        d.nr = nr;
        d.arch = arch;
        d.instruction_pointer = argv[v] ^ 0x5555;
        for (int a = 0; a < 6; a++)
            d.args[a] = argv[(v + (size_t)a) % (sizeof argv / sizeof argv[0])];
        uint32_t ret = 0;
        unsigned executed = 0;
        int rc = guard_bpf_run(prog, (unsigned)n, &d, &ret, &executed);
        FUZZ_ASSERT(rc == 0 || rc == -EINVAL, "run rc %d", rc);
        if (valid && !divides_by_x)
            FUZZ_ASSERT(rc == 0, "a program bpf_check accepts faulted");
        if (rc == 0)
            FUZZ_ASSERT(executed >= 1 && executed <= n, "executed %u of %zu", executed, n);
        if (valid && cached)
            FUZZ_ASSERT(rc == 0 && ret == SECCOMP_RET_ALLOW,
                        "const_allow(arch %#x, nr %d) but the program returns %#x (rc %d)", arch,
                        nr, ret, rc);
    }
}

static void
assembler_mode(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"a", "b", "c", "d", "e", NULL};
    struct guard_sasm a;
    guard_sasm_init(&a);
    for (size_t i = 1; i + 2 < size && i < 600; i += 3) {
        uint8_t op = data[i], x = data[i + 1], y = data[i + 2];
        const char *t = names[x % 6], *f = names[y % 6];
        switch (op % 8) {
        case 0:
            (void)guard_sasm_label(&a, names[x % 5]);
            break;
        case 1:
            (void)guard_sasm_ld(&a, (uint32_t)(x % 16) * 4);
            break;
        case 2:
            (void)guard_sasm_jump(&a, BPF_JMP | BPF_JEQ | BPF_K, y, t, f);
            break;
        case 3:
            (void)guard_sasm_ja(&a, names[x % 5]);
            break;
        case 4:
            (void)guard_sasm_ret(&a, (uint32_t)x << 16 | y);
            break;
        case 5:
            (void)guard_sasm_arg_jeq64(&a, x % 6, (uint64_t)y << 33 | x, t, f);
            break;
        case 6:
            (void)guard_sasm_arg_jset64(&a, x % 6, (uint64_t)y << 31, t, f);
            break;
        default:
            (void)guard_sasm_arg_jge64(&a, y % 6, (uint64_t)x << 40 | y, t, f);
            break;
        }
    }
    if (guard_sasm_finish(&a) == 0 && a.len > 0) {
        if (BPF_CLASS(a.insns[a.len - 1].code) == BPF_RET)
            FUZZ_ASSERT(guard_bpf_check(a.insns, a.len) == 0,
                        "the assembler produced a program bpf_check refuses");
        for (unsigned pc = 0; pc < a.len; pc++) {
            char buf[24];
            int len = guard_sasm_format(a.insns, a.len, pc, NULL, buf, sizeof buf);
            FUZZ_ASSERT(len >= 0 && strlen(buf) < sizeof buf, "format overflow");
        }
    }
    guard_sasm_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        assembler_mode(data, size);
    else
        program_mode(data, size);
    return 0;
}
