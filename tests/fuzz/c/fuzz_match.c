/* fuzz_match.c - module patterns and network rules as sets.
 *
 * Input: lines; the first half are patterns or rules, the rest names or targets.
 * Properties: a module pattern set matches a name exactly when one of its patterns
 * does (checked against a reference written from the documented semantics); a
 * netset built from rules never crashes on any target, and names compare case-
 * insensitively without the root dot.
 */
#include <ctype.h>
#include <errno.h>

#include "fuzz_common.h"
#include "policy.h"

/* The documented semantics, written independently of policy.c. */
static int
ref_match(const char *pattern, const char *name)
{
    if (strcmp(pattern, "*") == 0)
        return 1;
    size_t n = strlen(pattern);
    if (n >= 2 && strcmp(pattern + n - 2, ".*") == 0)
        return strncmp(name, pattern, n - 1) == 0 && name[n - 1] != '\0';
    return strcmp(pattern, name) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstring(data, size, 4096);
    char *lines[32];
    int nlines = 0;
    for (char *save = NULL, *tok = strtok_r(text, "\n", &save); tok && nlines < 32;
         tok = strtok_r(NULL, "\n", &save))
        lines[nlines++] = tok;
    int half = nlines / 2;

    guard_modset mods = {0};
    int added[32] = {0};
    for (int i = 0; i < half; i++) {
        int rc = guard_modset_add(&mods, lines[i]);
        FUZZ_ASSERT(rc == 0 || rc == -EINVAL, "modset_add rc %d", rc);
        added[i] = rc == 0;
    }
    for (int j = half; j < nlines; j++) {
        int want = 0;
        for (int i = 0; i < half; i++)
            want |= added[i] && ref_match(lines[i], lines[j]);
        FUZZ_ASSERT(guard_modset_match(&mods, lines[j]) == want, "module '%s': %d", lines[j], want);
    }
    guard_modset_free(&mods);

    guard_netset nets = {0};
    for (int i = 0; i < half; i++) {
        guard_netrule r;
        if (guard_netrule_parse(lines[i], &r) == 0 && guard_netset_add(&nets, &r) < 0)
            guard_netrule_free(&r);
    }
    for (int j = half; j < nlines; j++) {
        guard_ip ip;
        for (unsigned port = 0; port < 65536; port += 16383) {
            if (guard_ip_parse(lines[j], &ip) == 0)
                (void)guard_netset_match_ip(&nets, &ip, port);
            int m = guard_netset_match_name(&nets, lines[j], port);
            char upper[4200];
            size_t k = 0;
            for (; lines[j][k] && k < sizeof upper - 2; k++)
                upper[k] = (char)toupper((unsigned char)lines[j][k]);
            upper[k] = '\0';
            FUZZ_ASSERT(guard_netset_match_name(&nets, upper, port) == m,
                        "name match is case-sensitive for '%s'", lines[j]);
        }
        (void)guard_netset_has_name(&nets, lines[j]);
    }
    guard_netset_free(&nets);
    free(text);
    return 0;
}
