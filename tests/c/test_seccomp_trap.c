/* test_seccomp_trap.c - the trap ring: order, wrap-around, drops counted. */
#include "seccomp_trap.h"

#include <errno.h>
#include <stdio.h>

#include "check.h"

int
main(void)
{
    struct guard_trap_record rec = {0}, out[GUARD_TRAP_RING_SIZE + 8];
    /* Three rounds: the ring must wrap and stay in order. */
    for (int round = 0; round < 3; round++) {
        for (unsigned i = 0; i < GUARD_TRAP_RING_SIZE; i++) {
            rec.nr = (int)(round * 1000 + i);
            CHECK(guard_seccomp_trap_push(&rec) == 0);
        }
        rec.nr = -1;
        CHECK(guard_seccomp_trap_push(&rec) == -ENOBUFS);
        CHECK(guard_seccomp_trap_dropped() == (uint64_t)round + 1);
        unsigned n = guard_seccomp_trap_drain(out, 10);
        CHECK(n == 10);
        n += guard_seccomp_trap_drain(out + 10, GUARD_TRAP_RING_SIZE + 8 - 10);
        CHECK(n == GUARD_TRAP_RING_SIZE);
        for (unsigned i = 0; i < n; i++)
            CHECK(out[i].nr == (int)(round * 1000 + i));
        CHECK(guard_seccomp_trap_drain(out, 4) == 0);
    }
    CHECK(guard_seccomp_trap_active() == 0);
    if (failures) {
        fprintf(stderr, "test_seccomp_trap: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_seccomp_trap: ok\n");
    return 0;
}
