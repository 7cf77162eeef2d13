/* fs.h - fs.read / fs.write: path arguments resolved and matched.
 *
 * Layer 9.
 */
#ifndef GUARD_FS_H
#define GUARD_FS_H

#include "decide.h"
#include "events.h"

/* Checks path argument O (str, bytes, descriptor, pathlib path; DIR_FD the dir_fd
 * argument or NULL; UNKNOWN_DIR_FD: the event does not say which dir_fd was used)
 * against CAP (fs.read or fs.write) of extension EXT.  0, or -1 with an exception. */
GUARD_INTERNAL int guard_fs_check_path(int ext, int cap, PyObject *o, PyObject *dir_fd,
                                       int unknown_dir_fd);

/* The fs handlers (H_OPEN .. H_SQLITE) for extension EXT.  0 or -1. */
GUARD_INTERNAL int guard_fs_mediate(int ext, const ev_entry *e, PyObject *args);

#endif
