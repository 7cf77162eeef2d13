/* net.h - net.connect / net.bind / net.resolve.
 *
 * Layer 10 (a Unix socket's address is a path: it goes to fs.h).
 */
#ifndef GUARD_NET_H
#define GUARD_NET_H

#include "fs.h"

/* The network handlers (H_CONNECT .. H_RESOLVE_ADDR) for extension EXT.  0 or -1. */
GUARD_INTERNAL int guard_net_mediate(int ext, const ev_entry *e, PyObject *args);

#endif
