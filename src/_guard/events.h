/* events.h - the mediated audit events: one table row each, and the lookup.
 *
 * Layer 8: data only (which handler, which capability, where the target and dir_fd
 * arguments are).  The hook looks events up here; the capability rooms read the
 * row to find their arguments.
 */
#ifndef GUARD_EVENTS_H
#define GUARD_EVENTS_H

#include "runtime.h"

#include <stdint.h>
#include <string.h>

/* How an event is handled; grouped by the room that handles it. */
enum guard_handler {
    H_IMPORT = 1, /* imports.c */
    /* fs.c */
    H_OPEN,
    H_PATH,
    H_RENAME,
    H_SYMLINK,
    H_COPY,
    H_MOVE,
    H_UNPACK,
    H_ARCHIVE,
    H_GLOB,
    H_MMAP,
    H_SQLITE,
    /* net.c */
    H_CONNECT,
    H_BIND,
    H_RESOLVE,
    H_RESOLVE_ADDR,
    /* threads.c */
    H_THREAD,
    /* hook.c: capabilities granted outright */
    H_SPAWN,
    H_SIGNAL,
    H_NATIVE,
    H_NEW_INTERP, /* creating a sub-interpreter (native for extensions) */
    /* hook.c: the direct caller decides */
    H_INTROSPECT,
    H_DYNCODE,
    H_DYNCODE_TAG,
};

enum {
    GUARD_EV_ADDR_OPTIONAL = 1, /* None as the address: a connected socket (sendmsg) */
    GUARD_EV_SHOW_QUALNAME = 2, /* show "event module.name" from args 0 and 1 (pickle) */
};

typedef struct ev_entry {
    const char *name;
    unsigned char handler;  /* enum guard_handler */
    unsigned char cap;      /* enum guard_cap */
    signed char target_arg; /* index of the argument shown as the target, -1 none */
    signed char dir_fd_arg; /* index of the dir_fd argument, -1 none */
    unsigned char flags;    /* GUARD_EV_* */
} ev_entry;

#define GUARD_EV_TABLE_SIZE 512 /* power of two, > 2 x entries: probes stay short */
GUARD_INTERNAL extern const ev_entry *guard_ev_table[GUARD_EV_TABLE_SIZE];
/* 1 if some mediated name starts with the byte: the hook's first filter. */
GUARD_INTERNAL extern unsigned char guard_ev_first_byte[256];
GUARD_INTERNAL extern const ev_entry guard_ev_ctypes;

/* Builds the lookup table once per process. */
GUARD_INTERNAL void guard_events_build(void);

static inline uint32_t
guard_ev_hash(const char *s, size_t *len)
{
    uint32_t h = 2166136261u;
    const char *p = s;
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    *len = (size_t)(p - s);
    return h;
}

/* The row for event NAME, or NULL when it is not mediated.  Every ctypes.* event is
 * matched by prefix. */
static inline const ev_entry *
guard_ev_lookup(const char *name)
{
    size_t len;
    uint32_t h = guard_ev_hash(name, &len);
    for (uint32_t i = h & (GUARD_EV_TABLE_SIZE - 1);; i = (i + 1) & (GUARD_EV_TABLE_SIZE - 1)) {
        const ev_entry *e = guard_ev_table[i];
        if (e == NULL)
            break;
        if (strcmp(e->name, name) == 0)
            return e;
    }
    if (len > 7 && memcmp(name, "ctypes.", 7) == 0)
        return &guard_ev_ctypes;
    return NULL;
}

#endif
