/* ring.h - the audit ring: a bounded FIFO of opaque records between the code that
 * records a policy decision and the thread that hands records to the sinks.
 *
 * Pure C (no Python.h) so ctest runs it under ASan/UBSan alone.  Every function is
 * thread-safe: one internal mutex guards the slots and is held only for the few
 * instructions of a push or pop, never across a callback, so a caller can never
 * be made to wait for code outside this file.
 *
 * Capacity: GUARD_RING_DEFAULT_CAPACITY records (65,536) unless the creator asks for
 * another size (1 .. GUARD_RING_MAX_CAPACITY).  A full ring refuses a push with
 * -EAGAIN; the caller decides whether to wait (guard_ring_wait_space) or to give the
 * record up, and then MUST call guard_ring_note_drop so the loss is counted and
 * surfaced: drops are accumulated as a pending (count, first seq, last seq) that the
 * consumer takes with guard_ring_take_drops, plus a lifetime total.
 *
 * Functions return 0 or a negative errno from the set named in each comment.
 */
#ifndef GUARD_RING_H
#define GUARD_RING_H

#include <stddef.h>
#include <stdint.h>

#define GUARD_RING_DEFAULT_CAPACITY 65536u
#define GUARD_RING_MAX_CAPACITY (1u << 24)

typedef struct guard_ring guard_ring;

/* Drops not yet reported: COUNT records with seqs in [FIRST, LAST] were given up. */
typedef struct guard_ring_drops {
    uint64_t count;
    uint64_t first_seq;
    uint64_t last_seq;
} guard_ring_drops;

typedef struct guard_ring_stats {
    size_t capacity;
    size_t length;     /* records waiting now */
    size_t high_water; /* most records ever waiting at once */
    uint64_t pushed;
    uint64_t popped;
    uint64_t dropped;     /* lifetime total of guard_ring_note_drop calls */
    uint64_t full_events; /* pushes refused because the ring was full */
} guard_ring_stats;

/* Creates a ring of CAPACITY slots into *OUT.  -EINVAL (0 or too large), -ENOMEM. */
int guard_ring_new(size_t capacity, guard_ring **out);

/* Frees R.  Records still inside are the caller's to release first (guard_ring_pop). */
void guard_ring_free(guard_ring *r);

/* Appends ITEM (must not be NULL).  0, -EAGAIN (full), -EINVAL (NULL item). */
int guard_ring_push(guard_ring *r, void *item);

/* Moves up to MAX records, oldest first, into OUT; returns how many (0 when empty). */
size_t guard_ring_pop(guard_ring *r, void **out, size_t max);

/* Counts one record with sequence number SEQ as lost. */
void guard_ring_note_drop(guard_ring *r, uint64_t seq);

/* Moves the pending drops into *OUT and clears them; returns 1 if there were any. */
int guard_ring_take_drops(guard_ring *r, guard_ring_drops *out);

/* Puts back drops taken with guard_ring_take_drops that could not be reported. */
void guard_ring_restore_drops(guard_ring *r, const guard_ring_drops *d);

/* Blocks until the ring holds a record or TIMEOUT_NS passes (< 0: forever).
 * 0 (records waiting, or woken by guard_ring_wake_all), -ETIMEDOUT. */
int guard_ring_wait_items(guard_ring *r, int64_t timeout_ns);

/* Blocks until the ring has a free slot or TIMEOUT_NS passes (< 0: forever).
 * 0 (a slot is free, or woken by guard_ring_wake_all), -ETIMEDOUT. */
int guard_ring_wait_space(guard_ring *r, int64_t timeout_ns);

/* Wakes every thread blocked in guard_ring_wait_items / guard_ring_wait_space. */
void guard_ring_wake_all(guard_ring *r);

/* In a child after fork(): re-initialises the lock and conditions, which another
 * thread of the parent may have held at the fork.  Records stay queued. */
void guard_ring_after_fork_child(guard_ring *r);

size_t guard_ring_len(guard_ring *r);
void guard_ring_get_stats(guard_ring *r, guard_ring_stats *out);

#endif
