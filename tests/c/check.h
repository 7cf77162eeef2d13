/* check.h - the assertion shared by the table-driven C tests: a failed CHECK prints
 * where and what, counts, and lets the test go on so one run reports every failure.
 * Each test's main() returns failures != 0. */
#ifndef GUARD_TEST_CHECK_H
#define GUARD_TEST_CHECK_H

#include <stdio.h>

static int failures;

/* Kept as written: clang-format 14 indents a macro body by PPIndentWidth. */
/* clang-format off */
#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                         \
        }                                                                       \
    } while (0)
/* clang-format on */

#endif
