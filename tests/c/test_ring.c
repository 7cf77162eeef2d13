/* test_ring.c - the audit ring: capacity, FIFO order, overflow accounting, waits,
 * and many producers against one consumer (run under ASan/UBSan by ctest-asan). */
#include "ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"

/* Items are small integers cast to pointers; 0 is never pushed (NULL is refused). */
#define ITEM(n) ((void *)(uintptr_t)(n))
#define NUM(p) ((uintptr_t)(p))

static const struct {
    size_t capacity;
    int expect;
} new_cases[] = {
    {0, -EINVAL},
    {1, 0},
    {7, 0},
    {GUARD_RING_DEFAULT_CAPACITY, 0},
    {GUARD_RING_MAX_CAPACITY, 0},
    {(size_t)GUARD_RING_MAX_CAPACITY + 1, -EINVAL},
};

static void
test_new(void)
{
    for (size_t i = 0; i < sizeof new_cases / sizeof new_cases[0]; i++) {
        guard_ring *r = NULL;
        int rc = guard_ring_new(new_cases[i].capacity, &r);
        CHECK(rc == new_cases[i].expect);
        if (rc == 0) {
            guard_ring_stats st;
            guard_ring_get_stats(r, &st);
            CHECK(st.capacity == new_cases[i].capacity);
            CHECK(st.length == 0);
        }
        guard_ring_free(r);
    }
}

/* Push N items into a ring of capacity CAP, popping in chunks of CHUNK after every
 * PUSH_BEFORE_POP pushes; items come out in push order and full pushes are refused. */
static const struct {
    size_t cap, n, push_before_pop, chunk;
} fifo_cases[] = {
    {1, 10, 1, 1}, {3, 100, 3, 2}, {7, 1000, 5, 3}, {8, 1000, 8, 8}, {64, 10000, 64, 17},
};

static void
test_fifo_and_wraparound(void)
{
    for (size_t c = 0; c < sizeof fifo_cases / sizeof fifo_cases[0]; c++) {
        guard_ring *r;
        CHECK(guard_ring_new(fifo_cases[c].cap, &r) == 0);
        uintptr_t next_in = 1, next_out = 1;
        void *buf[64];
        while (next_out <= fifo_cases[c].n) {
            for (size_t k = 0; k < fifo_cases[c].push_before_pop && next_in <= fifo_cases[c].n; k++)
                if (guard_ring_push(r, ITEM(next_in)) == 0)
                    next_in++;
            size_t got = guard_ring_pop(r, buf, fifo_cases[c].chunk);
            for (size_t k = 0; k < got; k++)
                CHECK(NUM(buf[k]) == next_out++);
        }
        CHECK(guard_ring_len(r) == 0);
        guard_ring_free(r);
    }
}

static void
test_full_refuses_and_counts(void)
{
    guard_ring *r;
    CHECK(guard_ring_new(2, &r) == 0);
    CHECK(guard_ring_push(r, NULL) == -EINVAL);
    CHECK(guard_ring_push(r, ITEM(1)) == 0);
    CHECK(guard_ring_push(r, ITEM(2)) == 0);
    CHECK(guard_ring_push(r, ITEM(3)) == -EAGAIN);
    guard_ring_note_drop(r, 12);
    guard_ring_note_drop(r, 10);
    guard_ring_note_drop(r, 11);
    guard_ring_drops d;
    CHECK(guard_ring_take_drops(r, &d) == 1);
    CHECK(d.count == 3 && d.first_seq == 10 && d.last_seq == 12);
    CHECK(guard_ring_take_drops(r, &d) == 0 && d.count == 0);
    /* A report that could not be delivered is merged back, never lost. */
    guard_ring_drops back = {3, 10, 12};
    guard_ring_note_drop(r, 20);
    guard_ring_restore_drops(r, &back);
    CHECK(guard_ring_take_drops(r, &d) == 1);
    CHECK(d.count == 4 && d.first_seq == 10 && d.last_seq == 20);
    guard_ring_stats st;
    guard_ring_get_stats(r, &st);
    CHECK(st.dropped == 4 && st.full_events == 1 && st.high_water == 2);
    CHECK(st.pushed == 2 && st.popped == 0);
    void *buf[4];
    CHECK(guard_ring_pop(r, buf, 4) == 2);
    guard_ring_free(r);
}

static void
test_waits_time_out(void)
{
    guard_ring *r;
    CHECK(guard_ring_new(1, &r) == 0);
    CHECK(guard_ring_wait_items(r, 1000000) == -ETIMEDOUT);
    CHECK(guard_ring_wait_space(r, 0) == 0);
    CHECK(guard_ring_push(r, ITEM(1)) == 0);
    CHECK(guard_ring_wait_items(r, 0) == 0);
    CHECK(guard_ring_wait_space(r, 1000000) == -ETIMEDOUT);
    void *one;
    CHECK(guard_ring_pop(r, &one, 1) == 1);
    guard_ring_free(r);
}

/* ---- many producers, one consumer ------------------------------------------- */

#define PRODUCERS 8
#define PER_PRODUCER 20000

struct shared {
    guard_ring *r;
    pthread_mutex_t seq_lock; /* stands in for the GIL: seq order == push order */
    uint64_t next_seq;
    int drop_when_full;
};

static void *
producer(void *arg)
{
    struct shared *s = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        for (;;) {
            pthread_mutex_lock(&s->seq_lock);
            uint64_t seq = s->next_seq;
            if (guard_ring_push(s->r, ITEM(seq + 1)) == 0) {
                s->next_seq++;
                pthread_mutex_unlock(&s->seq_lock);
                break;
            }
            if (s->drop_when_full) {
                s->next_seq++;
                guard_ring_note_drop(s->r, seq);
                pthread_mutex_unlock(&s->seq_lock);
                break;
            }
            pthread_mutex_unlock(&s->seq_lock);
            guard_ring_wait_space(s->r, 10000000);
        }
    }
    return NULL;
}

struct consumer_result {
    uint64_t received, dropped, out_of_order;
};

static void
run_producers_consumer(size_t capacity, int drop_when_full, struct consumer_result *res)
{
    struct shared s = {.drop_when_full = drop_when_full};
    pthread_mutex_init(&s.seq_lock, NULL);
    CHECK(guard_ring_new(capacity, &s.r) == 0);
    pthread_t th[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&th[i], NULL, producer, &s);

    const uint64_t total = (uint64_t)PRODUCERS * PER_PRODUCER;
    uint64_t last = 0;
    void *buf[256];
    *res = (struct consumer_result){0};
    while (res->received + res->dropped < total) {
        guard_ring_wait_items(s.r, 1000000);
        size_t n = guard_ring_pop(s.r, buf, 256);
        for (size_t k = 0; k < n; k++) {
            if (NUM(buf[k]) <= last)
                res->out_of_order++;
            last = NUM(buf[k]);
        }
        res->received += n;
        guard_ring_drops d;
        if (guard_ring_take_drops(s.r, &d))
            res->dropped += d.count;
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    guard_ring_free(s.r);
    pthread_mutex_destroy(&s.seq_lock);
}

static void
test_many_producers_lossless_with_backpressure(void)
{
    struct consumer_result res;
    run_producers_consumer(64, 0, &res);
    CHECK(res.received == (uint64_t)PRODUCERS * PER_PRODUCER);
    CHECK(res.dropped == 0);
    CHECK(res.out_of_order == 0);
}

static void
test_many_producers_drops_are_exactly_counted(void)
{
    struct consumer_result res;
    run_producers_consumer(4, 1, &res);
    CHECK(res.received + res.dropped == (uint64_t)PRODUCERS * PER_PRODUCER);
    CHECK(res.out_of_order == 0);
}

int
main(void)
{
    test_new();
    test_fifo_and_wraparound();
    test_full_refuses_and_counts();
    test_waits_time_out();
    test_many_producers_lossless_with_backpressure();
    test_many_producers_drops_are_exactly_counted();
    if (failures) {
        fprintf(stderr, "test_ring: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_ring: ok\n");
    return 0;
}
