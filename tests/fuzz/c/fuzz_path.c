/* fuzz_path.c - lexical path normalisation and path-set matching.
 *
 * Input: PATH NUL CWD.  Properties of guard_path_normalize's result: absolute, no
 * empty, "." or ".." component, no trailing '/' (but "/"), fits the buffer, and
 * normalising it again changes nothing.  A path set holding it matches it and every
 * path beneath it, and never a sibling that merely shares its prefix ("/a" vs "/ab").
 */
#include <errno.h>
#include <limits.h>

#include "fuzz_common.h"
#include "policy.h"

static void
check_clean(const char *p)
{
    FUZZ_ASSERT(p[0] == '/', "'%s' not absolute", p);
    size_t n = strlen(p);
    FUZZ_ASSERT(n == 1 || p[n - 1] != '/', "'%s' has a trailing slash", p);
    FUZZ_ASSERT(strstr(p, "//") == NULL, "'%s' has an empty component", p);
    for (const char *c = p; (c = strchr(c, '/')) != NULL; c++) {
        const char *end = strchr(c + 1, '/');
        size_t len = end ? (size_t)(end - c - 1) : strlen(c + 1);
        FUZZ_ASSERT(!(len == 1 && c[1] == '.'), "'%s' has a '.' component", p);
        FUZZ_ASSERT(!(len == 2 && c[1] == '.' && c[2] == '.'), "'%s' has '..'", p);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = fuzz_cstring(data, size, 5000);
    size_t plen = strlen(path);
    const char *cwd = plen + 1 < size ? (const char *)data + plen + 1 : NULL;
    char *cwd_s = cwd ? fuzz_cstring((const uint8_t *)cwd, size - plen - 1, 5000) : NULL;

    /* A small buffer too, so -ENAMETOOLONG paths are exercised. */
    size_t sizes[] = {PATH_MAX, 16};
    for (size_t k = 0; k < 2; k++) {
        char out[PATH_MAX], again[PATH_MAX];
        int rc = guard_path_normalize(path, cwd_s, out, sizes[k]);
        FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENAMETOOLONG, "rc %d", rc);
        if (rc != 0)
            continue;
        FUZZ_ASSERT(strlen(out) < sizes[k], "result overflows its buffer");
        check_clean(out);
        FUZZ_ASSERT(guard_path_normalize(out, NULL, again, sizeof again) == 0 &&
                        strcmp(out, again) == 0,
                    "'%s' normalises again to '%s'", out, again);

        guard_pathset set = {0};
        FUZZ_ASSERT(guard_pathset_add(&set, out) == 0, "pathset_add('%s')", out);
        FUZZ_ASSERT(guard_pathset_match(&set, out) == 1, "'%s' does not match itself", out);
        char child[PATH_MAX + 8], sibling[PATH_MAX + 8];
        snprintf(child, sizeof child, "%s/x", strcmp(out, "/") == 0 ? "" : out);
        snprintf(sibling, sizeof sibling, "%sx", out);
        FUZZ_ASSERT(guard_pathset_match(&set, child) == 1, "'%s' misses child '%s'", out, child);
        if (strcmp(out, "/") != 0)
            FUZZ_ASSERT(guard_pathset_match(&set, sibling) == 0, "'%s' matches sibling '%s'", out,
                        sibling);
        guard_pathset_free(&set);
    }
    free(path);
    free(cwd_s);
    return 0;
}
