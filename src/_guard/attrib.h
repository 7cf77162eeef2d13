/* attrib.h - who asked: the stack walk and the acting_as() variable.
 *
 * Layer 5: reads the installed policy (runtime.h); decides nothing.
 */
#ifndef GUARD_ATTRIB_H
#define GUARD_ATTRIB_H

#include "runtime.h"

/* Classification cached on code objects (co_extra). */
enum {
    GUARD_TAG_UNKNOWN = 0,
    GUARD_TAG_LIBRARY = 1,   /* transparent: keep walking */
    GUARD_TAG_HOST = 2,      /* trusted host / SDK code, checked by module identity */
    GUARD_TAG_IMPORTER = 3,  /* importlib, pkgutil, runpy: import on a caller's behalf */
    GUARD_TAG_LEAKER = 4,    /* inspect, traceback, pdb: hand frames to their caller */
    GUARD_TAG_MACHINERY = 5, /* importlib._bootstrap*: reads the import path */
    GUARD_TAG_EXT0 = 8,      /* + extension index */
};

enum guard_walk {
    GUARD_WALK_FULL,   /* library frames transparent; first host/extension decides */
    GUARD_WALK_IMPORT, /* the direct importer decides; importlib & co transparent */
    GUARD_WALK_DIRECT, /* the direct caller decides; frame-leaking libraries transparent */
};

enum { GUARD_WHO_HOST = 0, GUARD_WHO_EXT = 1, GUARD_WHO_UNATTRIBUTED = 2, GUARD_WHO_LIBRARY = 3 };

typedef struct guard_who {
    int kind;          /* GUARD_WHO_* from the stack */
    int ext;           /* extension index when kind == GUARD_WHO_EXT */
    int ctx_ext;       /* extension named by acting_as(), or -1 */
    int via_machinery; /* the import system's frames are between */
} guard_who;

GUARD_INTERNAL int guard_attrib_init(void);

/* Thread marks: who a thread runs as when its stack has neither host nor extension
 * frames (a thread an extension started runs as it, whatever its target). */
enum { GUARD_MARK_NONE = 0, GUARD_MARK_HOST = 1, GUARD_MARK_EXT0 = 2 };
GUARD_INTERNAL int guard_attrib_thread_mark(void);
GUARD_INTERNAL void guard_attrib_set_thread_mark(int mark);
/* The innermost library frame the last full walk of this thread passed before a host
 * or extension frame decided: MODULE (its top-level package) and WHERE ("file:line in
 * function"), new references.  1 found, 0 none, -1 error. */
GUARD_INTERNAL int guard_attrib_last_library(PyObject **module, PyObject **where);
GUARD_INTERNAL void guard_attrib_forget_library(void);
/* Who is asking, by the stack and the acting_as() variable.  0, or -1 with an exception. */
GUARD_INTERNAL int guard_attrib_who(enum guard_walk mode, guard_who *out);
/* The same, ignoring the SKIP innermost frames (a finder asking about its caller). */
GUARD_INTERNAL int guard_attrib_who_from(enum guard_walk mode, guard_who *out, int skip);
/* Tags CODE (and nested code objects in co_consts) as extension EXT's. 0 or -1. */
GUARD_INTERNAL int guard_attrib_tag_code(PyObject *code, int ext);
/* The extension that owns CODE by its tag, or -1. */
GUARD_INTERNAL int guard_attrib_code_ext(PyObject *code);
/* 1 if GLOBALS is the __dict__ of the module sys.modules holds under NAME (an exact
 * str), else 0; calls no key's __eq__ and remembers a dict once proven. */
GUARD_INTERNAL int guard_attrib_globals_are_module(PyObject *globals, PyObject *name);

#endif
