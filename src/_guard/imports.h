/* imports.h - the C half of the finder: import decisions for extension code.
 *
 * Layer 10.  Every way an extension imports ends in guard_imports_check(): the
 * "import" event, the extension's own __import__ (modules already in sys.modules
 * raise no event), and importlib.import_module's wrapper (py_guard.c).
 */
#ifndef GUARD_IMPORTS_H
#define GUARD_IMPORTS_H

#include "decide.h"

/* Checks module NAME for extension EXT; -1 with ImportBoundaryError set on denial. */
GUARD_INTERNAL int guard_imports_check(int ext, const char *name);

/* The "import" event: keeps the finder first, then the direct importer decides. */
GUARD_INTERNAL int guard_imports_mediate(PyObject *args);

/* __import__ for extension code (self: the extension index as an int). */
GUARD_INTERNAL extern PyMethodDef guard_imports_import_def;

#endif
