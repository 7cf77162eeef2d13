/* ring.c - the audit ring buffer (see ring.h for the contract). */
#include "ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct guard_ring {
    pthread_mutex_t lock;
    pthread_cond_t has_items;
    pthread_cond_t has_space;
    void **slots;
    size_t capacity;
    /* head and tail count records ever pushed / popped; their difference is the
     * length and tail % capacity the oldest slot, so no slot is kept empty. */
    uint64_t head;
    uint64_t tail;
    uint64_t kicks; /* bumped by guard_ring_wake_all */
    size_t high_water;
    uint64_t dropped;
    uint64_t full_events;
    guard_ring_drops pending;
};

/* Initialises the lock and both conditions; the waits use CLOCK_MONOTONIC so a
 * wall-clock step cannot stretch them.  0 or -ENOMEM. */
static int
init_sync(guard_ring *r)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -ENOMEM;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->has_items, &attr);
    pthread_cond_init(&r->has_space, &attr);
    pthread_condattr_destroy(&attr);
    return 0;
}

int
guard_ring_new(size_t capacity, guard_ring **out)
{
    if (capacity == 0 || capacity > GUARD_RING_MAX_CAPACITY)
        return -EINVAL;
    guard_ring *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    r->slots = calloc(capacity, sizeof *r->slots);
    if (r->slots == NULL)
        goto err_free_ring;
    if (init_sync(r) < 0)
        goto err_free_slots;
    r->capacity = capacity;
    *out = r;
    return 0;

err_free_slots:
    free(r->slots);
err_free_ring:
    free(r);
    return -ENOMEM;
}

void
guard_ring_free(guard_ring *r)
{
    if (r == NULL)
        return;
    pthread_cond_destroy(&r->has_items);
    pthread_cond_destroy(&r->has_space);
    pthread_mutex_destroy(&r->lock);
    free(r->slots);
    free(r);
}

int
guard_ring_push(guard_ring *r, void *item)
{
    if (item == NULL)
        return -EINVAL;
    pthread_mutex_lock(&r->lock);
    size_t len = (size_t)(r->head - r->tail);
    if (len == r->capacity) {
        r->full_events++;
        pthread_mutex_unlock(&r->lock);
        return -EAGAIN;
    }
    r->slots[r->head % r->capacity] = item;
    r->head++;
    if (len + 1 > r->high_water)
        r->high_water = len + 1;
    pthread_cond_signal(&r->has_items);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

size_t
guard_ring_pop(guard_ring *r, void **out, size_t max)
{
    pthread_mutex_lock(&r->lock);
    size_t n = 0;
    while (n < max && r->tail != r->head) {
        size_t i = r->tail % r->capacity;
        out[n++] = r->slots[i];
        r->slots[i] = NULL;
        r->tail++;
    }
    if (n > 0)
        pthread_cond_broadcast(&r->has_space);
    pthread_mutex_unlock(&r->lock);
    return n;
}

void
guard_ring_note_drop(guard_ring *r, uint64_t seq)
{
    pthread_mutex_lock(&r->lock);
    if (r->pending.count == 0 || seq < r->pending.first_seq)
        r->pending.first_seq = seq;
    if (r->pending.count == 0 || seq > r->pending.last_seq)
        r->pending.last_seq = seq;
    r->pending.count++;
    r->dropped++;
    pthread_mutex_unlock(&r->lock);
}

int
guard_ring_take_drops(guard_ring *r, guard_ring_drops *out)
{
    pthread_mutex_lock(&r->lock);
    *out = r->pending;
    r->pending.count = 0;
    r->pending.first_seq = 0;
    r->pending.last_seq = 0;
    pthread_mutex_unlock(&r->lock);
    return out->count > 0;
}

void
guard_ring_restore_drops(guard_ring *r, const guard_ring_drops *d)
{
    if (d->count == 0)
        return;
    pthread_mutex_lock(&r->lock);
    if (r->pending.count == 0) {
        r->pending = *d;
    }
    else {
        if (d->first_seq < r->pending.first_seq)
            r->pending.first_seq = d->first_seq;
        if (d->last_seq > r->pending.last_seq)
            r->pending.last_seq = d->last_seq;
        r->pending.count += d->count;
    }
    pthread_mutex_unlock(&r->lock);
}

/* Fills *ABS with now + TIMEOUT_NS on CLOCK_MONOTONIC. */
static void
deadline_after(int64_t timeout_ns, struct timespec *abs)
{
    clock_gettime(CLOCK_MONOTONIC, abs);
    int64_t ns = (int64_t)abs->tv_nsec + timeout_ns % 1000000000;
    abs->tv_sec += (time_t)(timeout_ns / 1000000000 + ns / 1000000000);
    abs->tv_nsec = (long)(ns % 1000000000);
}

/* Waits on COND until READY(r) holds, a kick arrives or the deadline passes. */
static int
wait_until(guard_ring *r, pthread_cond_t *cond, int (*ready)(const guard_ring *),
           int64_t timeout_ns)
{
    struct timespec abs;
    if (timeout_ns >= 0)
        deadline_after(timeout_ns, &abs);
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    uint64_t kicks = r->kicks;
    while (!ready(r) && r->kicks == kicks) {
        int err = timeout_ns >= 0 ? pthread_cond_timedwait(cond, &r->lock, &abs)
                                  : pthread_cond_wait(cond, &r->lock);
        if (err == ETIMEDOUT) {
            rc = ready(r) ? 0 : -ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static int
ready_items(const guard_ring *r)
{
    return r->head != r->tail;
}

static int
ready_space(const guard_ring *r)
{
    return (size_t)(r->head - r->tail) < r->capacity;
}

int
guard_ring_wait_items(guard_ring *r, int64_t timeout_ns)
{
    return wait_until(r, &r->has_items, ready_items, timeout_ns);
}

int
guard_ring_wait_space(guard_ring *r, int64_t timeout_ns)
{
    return wait_until(r, &r->has_space, ready_space, timeout_ns);
}

void
guard_ring_wake_all(guard_ring *r)
{
    pthread_mutex_lock(&r->lock);
    r->kicks++;
    pthread_cond_broadcast(&r->has_items);
    pthread_cond_broadcast(&r->has_space);
    pthread_mutex_unlock(&r->lock);
}

void
guard_ring_after_fork_child(guard_ring *r)
{
    init_sync(r);
}

size_t
guard_ring_len(guard_ring *r)
{
    pthread_mutex_lock(&r->lock);
    size_t n = (size_t)(r->head - r->tail);
    pthread_mutex_unlock(&r->lock);
    return n;
}

void
guard_ring_get_stats(guard_ring *r, guard_ring_stats *out)
{
    pthread_mutex_lock(&r->lock);
    out->capacity = r->capacity;
    out->length = (size_t)(r->head - r->tail);
    out->high_water = r->high_water;
    out->pushed = r->head;
    out->popped = r->tail;
    out->dropped = r->dropped;
    out->full_events = r->full_events;
    pthread_mutex_unlock(&r->lock);
}
