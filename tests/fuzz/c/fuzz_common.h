/* fuzz_common.h - shared by the libFuzzer harnesses (tests/fuzz/c/fuzz_*.c).
 *
 * Each harness defines LLVMFuzzerTestOneInput and checks properties with FUZZ_ASSERT,
 * which aborts (a crash libFuzzer records, and a failing ctest replay) with a message.
 * The same sources build two ways: with clang -fsanitize=fuzzer for time-boxed
 * fuzzing, and with any compiler plus replay_main.c to replay the corpus as ctest.
 */
#ifndef GUARD_FUZZ_COMMON_H
#define GUARD_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Kept as written: clang-format 14 indents a macro body by PPIndentWidth. */
/* clang-format off */
#define FUZZ_ASSERT(cond, ...)                                                    \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
            abort();                                                              \
        }                                                                         \
    } while (0)
/* clang-format on */

/* A NUL-terminated copy of DATA (at most MAX bytes; stops at an embedded NUL, as a C
 * string would); the caller frees it. */
static inline char *
fuzz_cstring(const uint8_t *data, size_t size, size_t max)
{
    size_t n = size < max ? size : max;
    char *s = malloc(n + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
