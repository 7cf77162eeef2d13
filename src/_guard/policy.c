/* policy.c - compiled policy matchers: paths, module patterns, network targets.
 *
 * Pure C: returns 0 or -errno, matchers 1/0 (see policy.h).  Everything here runs on
 * the audit hook's hot path, so matching allocates nothing.
 */
#define _GNU_SOURCE /* O_PATH */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Symlink hops followed through dangling links before giving up; the kernel's limit. */
#define GUARD_MAX_SYMLINKS 40

/* ---- paths ---------------------------------------------------------------- */

/* Appends the components of P to OUT (an absolute path of length *LEN), collapsing
 * "", "." and "..".  -ENAMETOOLONG when OUTLEN is too small. */
static int
path_push(char *out, size_t *len, size_t outlen, const char *p)
{
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = p;
        while (*end && *end != '/')
            end++;
        size_t n = (size_t)(end - p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* empty or "." component */
        }
        else if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (*len > 1 && out[*len - 1] != '/')
                (*len)--;
            if (*len > 1)
                (*len)--; /* drop the separator, but never the root */
            out[*len] = '\0';
        }
        else {
            size_t sep = (*len > 1) ? 1 : 0;
            if (*len + sep + n + 1 > outlen)
                return -ENAMETOOLONG;
            if (sep)
                out[(*len)++] = '/';
            memcpy(out + *len, p, n);
            *len += n;
            out[*len] = '\0';
        }
        p = end;
    }
    return 0;
}

int
guard_path_normalize(const char *path, const char *cwd, char *out, size_t outlen)
{
    if (path == NULL || out == NULL || path[0] == '\0')
        return -EINVAL;
    if (path[0] != '/' && (cwd == NULL || cwd[0] != '/'))
        return -EINVAL;
    if (outlen < 2)
        return -ENAMETOOLONG;
    size_t len = 1;
    out[0] = '/';
    out[1] = '\0';
    int rc;
    if (path[0] != '/' && (rc = path_push(out, &len, outlen, cwd)) < 0)
        return rc;
    return path_push(out, &len, outlen, path);
}

/* Whether the component [P, P+N) is "." or "..". */
static int
is_dot_component(const char *p, size_t n)
{
    return (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.');
}

/* 1 if P is absolute with no empty, "." or ".." component and no trailing '/'. */
static int
path_is_clean(const char *p)
{
    if (p[0] != '/')
        return 0;
    if (p[1] == '\0')
        return 1;
    for (const char *c = p + 1;;) {
        const char *end = strchr(c, '/');
        size_t n = end ? (size_t)(end - c) : strlen(c);
        if (n == 0 || is_dot_component(c, n))
            return 0;
        if (end == NULL)
            return 1;
        c = end + 1;
    }
}

/* One openat2(O_PATH, RESOLVE_NO_SYMLINKS) answers "is this clean path its own
 * realpath?", where realpath() makes a readlink() per component.  O_PATH opens no
 * file: no device is touched, no FIFO blocks, no read happens. */
static int openat2_missing;

int
guard_path_open_canonical(const char *path)
{
    if (!path_is_clean(path))
        return -EINVAL;
#ifdef SYS_openat2
    if (openat2_missing)
        return -ENOSYS;
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int saved = errno;
    long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
    int err = errno;
    errno = saved;
    if (fd < 0) {
        if (err == ENOSYS)
            openat2_missing = 1;
        return -err;
    }
    return (int)fd;
#else
    return -ENOSYS;
#endif
}

int
guard_path_resolve(const char *path, char *out, size_t outlen)
{
    if (path == NULL || out == NULL || path[0] != '/')
        return -EINVAL;
    int fast = guard_path_open_canonical(path);
    if (fast >= 0) {
        close(fast);
        size_t len = strlen(path);
        if (len + 1 > outlen)
            return -ENAMETOOLONG;
        memcpy(out, path, len + 1);
        return 0;
    }
    char work[PATH_MAX];
    char real[PATH_MAX];
    char link[PATH_MAX];
    if (strlen(path) >= sizeof(work))
        return -ENAMETOOLONG;
    strcpy(work, path);

    for (int hops = 0;;) {
        /* Shorten WORK from the right until realpath() succeeds; SPLIT is where the
         * missing tail starts in WORK (the tail keeps its leading '/'). */
        size_t split = strlen(work);
        for (;;) {
            char saved = work[split];
            work[split] = '\0';
            const char *probe = split == 0 ? "/" : work;
            char *ok = realpath(probe, real);
            int err = errno;
            work[split] = saved;
            if (ok != NULL)
                break;
            if (err != ENOENT && err != ENOTDIR)
                return -err;
            /* A dangling symlink: the kernel follows it (open(O_CREAT) creates its
             * target), so the rule must be matched against where it points. */
            struct stat st;
            work[split] = '\0';
            int is_link = split > 0 && lstat(work, &st) == 0 && S_ISLNK(st.st_mode);
            ssize_t ln = is_link ? readlink(work, link, sizeof(link) - 1) : -1;
            work[split] = saved;
            if (ln >= 0) {
                if (++hops > GUARD_MAX_SYMLINKS)
                    return -ELOOP;
                link[ln] = '\0';
                char next[PATH_MAX];
                size_t dir = split;
                while (dir > 0 && work[dir - 1] != '/')
                    dir--;
                size_t tail = strlen(work + split);
                size_t need = (link[0] == '/' ? 0 : dir) + (size_t)ln + tail + 1;
                if (need > sizeof(next))
                    return -ENAMETOOLONG;
                size_t o = 0;
                if (link[0] != '/') {
                    memcpy(next, work, dir);
                    o = dir;
                }
                memcpy(next + o, link, (size_t)ln);
                o += (size_t)ln;
                memcpy(next + o, work + split, tail + 1);
                strcpy(work, next);
                split = SIZE_MAX;
                break;
            }
            while (split > 0 && work[split - 1] == '/')
                split--;
            while (split > 0 && work[split - 1] != '/')
                split--;
            if (split > 0)
                split--; /* keep the '/' with the tail */
        }
        if (split == SIZE_MAX)
            continue; /* WORK was rewritten through a symlink */

        size_t len = strlen(real);
        if (len + 1 > outlen)
            return -ENAMETOOLONG;
        memcpy(out, real, len + 1);
        /* Append the missing tail; it cannot contain "." or "..", whose meaning
         * depends on directories that do not exist yet. */
        const char *p = work + split;
        while (*p) {
            while (*p == '/')
                p++;
            const char *end = p;
            while (*end && *end != '/')
                end++;
            size_t n = (size_t)(end - p);
            if (n > 0) {
                if (is_dot_component(p, n))
                    return -EINVAL;
                size_t sep = (len > 1) ? 1 : 0;
                if (len + sep + n + 1 > outlen)
                    return -ENAMETOOLONG;
                if (sep)
                    out[len++] = '/';
                memcpy(out + len, p, n);
                len += n;
                out[len] = '\0';
            }
            p = end;
        }
        return 0;
    }
}

int
guard_pathset_add(guard_pathset *set, const char *path)
{
    char norm[PATH_MAX];
    if (path == NULL || path[0] != '/')
        return -EINVAL;
    int rc = guard_path_normalize(path, NULL, norm, sizeof(norm));
    if (rc < 0)
        return rc;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        char **p = realloc(set->paths, cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        set->paths = p;
        set->cap = cap;
    }
    char *copy = strdup(norm);
    if (copy == NULL)
        return -ENOMEM;
    set->paths[set->n++] = copy;
    return 0;
}

int
guard_pathset_match(const guard_pathset *set, const char *resolved)
{
    if (resolved == NULL || resolved[0] != '/')
        return 0;
    for (size_t i = 0; i < set->n; i++) {
        const char *e = set->paths[i];
        if (e[1] == '\0')
            return 1; /* "/" covers every absolute path */
        size_t n = strlen(e);
        if (strncmp(resolved, e, n) == 0 && (resolved[n] == '\0' || resolved[n] == '/'))
            return 1;
    }
    return 0;
}

void
guard_pathset_free(guard_pathset *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->paths[i]);
    free(set->paths);
    set->paths = NULL;
    set->n = set->cap = 0;
}

/* ---- module names --------------------------------------------------------- */

int
guard_module_under(const char *name, const char *prefix)
{
    if (name == NULL || prefix == NULL || prefix[0] == '\0')
        return 0;
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 && (name[n] == '\0' || name[n] == '.');
}

/* Whether [P, P+N) is a Python identifier; bytes >= 0x80 are accepted because
 * identifiers may be non-ASCII (Python has validated the UTF-8 already). */
static int
is_identifier(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

int
guard_modset_add(guard_modset *set, const char *pattern)
{
    if (pattern == NULL || pattern[0] == '\0')
        return -EINVAL;
    guard_modpat pat = {0};
    size_t len = strlen(pattern);
    if (strcmp(pattern, "*") == 0) {
        pat.any = 1;
        len = 0;
    }
    else {
        if (len > 2 && strcmp(pattern + len - 2, ".*") == 0) {
            pat.subtree = 1;
            len -= 2;
        }
        const char *p = pattern, *end = pattern + len;
        while (p <= end) {
            const char *dot = memchr(p, '.', (size_t)(end - p));
            const char *stop = dot ? dot : end;
            if (!is_identifier(p, (size_t)(stop - p)))
                return -EINVAL;
            p = stop + 1;
        }
    }
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        guard_modpat *pats = realloc(set->pats, cap * sizeof(*pats));
        if (pats == NULL)
            return -ENOMEM;
        set->pats = pats;
        set->cap = cap;
    }
    pat.name = strndup(pattern, len);
    if (pat.name == NULL)
        return -ENOMEM;
    pat.len = len;
    set->pats[set->n++] = pat;
    return 0;
}

int
guard_modset_match(const guard_modset *set, const char *name)
{
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < set->n; i++) {
        const guard_modpat *p = &set->pats[i];
        if (p->any)
            return 1;
        if (strncmp(name, p->name, p->len) != 0)
            continue;
        if (p->subtree ? name[p->len] == '.' && name[p->len + 1] != '\0' : name[p->len] == '\0')
            return 1;
    }
    return 0;
}

void
guard_modset_free(guard_modset *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->pats[i].name);
    free(set->pats);
    set->pats = NULL;
    set->n = set->cap = 0;
}

/* ---- network -------------------------------------------------------------- */

/* One inet_aton part: decimal, 0-prefixed octal or 0x-prefixed hex, at most MAX.
 * Stricter than strtoul: no sign, no whitespace, no empty "0x".  0 or -EINVAL. */
static int
parse_aton_part(const char *p, size_t n, uint32_t max, uint32_t *out)
{
    unsigned base = 10;
    if (n == 0)
        return -EINVAL;
    if (n >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
        n -= 2;
        if (n == 0)
            return -EINVAL;
    }
    else if (n >= 2 && p[0] == '0') {
        base = 8;
        p++;
        n--;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -EINVAL;
        if (d >= base)
            return -EINVAL;
        v = v * base + d;
        if (v > max)
            return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

/* IPv4 in every form inet_aton() accepts: a, a.b (b 24 bits), a.b.c (c 16 bits),
 * a.b.c.d; each part decimal, octal or hex. */
static int
parse_ipv4_aton(const char *text, uint8_t bytes[4])
{
    uint32_t parts[4];
    size_t count = 0;
    const char *p = text;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (count == 4)
            return -EINVAL;
        /* Each part is at most 32 bits; narrower limits are checked below. */
        if (parse_aton_part(p, n, UINT32_MAX, &parts[count]) < 0)
            return -EINVAL;
        count++;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    uint32_t v;
    switch (count) {
    case 1:
        v = parts[0];
        break;
    case 2:
        if (parts[0] > 0xff || parts[1] > 0xffffff)
            return -EINVAL;
        v = parts[0] << 24 | parts[1];
        break;
    case 3:
        if (parts[0] > 0xff || parts[1] > 0xff || parts[2] > 0xffff)
            return -EINVAL;
        v = parts[0] << 24 | parts[1] << 16 | parts[2];
        break;
    default:
        for (int i = 0; i < 4; i++)
            if (parts[i] > 0xff)
                return -EINVAL;
        v = parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3];
        break;
    }
    bytes[0] = (uint8_t)(v >> 24);
    bytes[1] = (uint8_t)(v >> 16);
    bytes[2] = (uint8_t)(v >> 8);
    bytes[3] = (uint8_t)v;
    return 0;
}

/* IPv6 per RFC 4291 text forms ("::", embedded dotted quad), no brackets, no zone. */
static int
parse_ipv6(const char *text, size_t n, uint8_t bytes[16])
{
    uint16_t words[8] = {0};
    int nw = 0, gap = -1;
    size_t i = 0;
    if (n >= 2 && text[0] == ':' && text[1] == ':') {
        gap = 0;
        i = 2;
    }
    else if (n >= 1 && text[0] == ':')
        return -EINVAL;
    while (i < n) {
        size_t start = i;
        unsigned v = 0;
        while (i < n && i - start < 5) {
            unsigned char c = (unsigned char)text[i];
            unsigned d;
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if (c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                d = c - 'A' + 10;
            else
                break;
            v = v * 16 + d;
            i++;
        }
        if (i < n && text[i] == '.') {
            /* Trailing dotted quad: strictly four decimal parts, as inet_pton. */
            if (nw > 6)
                return -EINVAL;
            unsigned q[4], k = 0;
            size_t j = start;
            while (k < 4) {
                size_t s = j;
                unsigned d = 0;
                while (j < n && text[j] >= '0' && text[j] <= '9' && j - s < 3)
                    d = d * 10 + (unsigned)(text[j++] - '0');
                if (j == s || d > 255 || (j - s > 1 && text[s] == '0'))
                    return -EINVAL;
                q[k++] = d;
                if (k < 4) {
                    if (j >= n || text[j] != '.')
                        return -EINVAL;
                    j++;
                }
            }
            if (j != n)
                return -EINVAL;
            words[nw++] = (uint16_t)(q[0] << 8 | q[1]);
            words[nw++] = (uint16_t)(q[2] << 8 | q[3]);
            i = n;
            break;
        }
        if (i == start || i - start > 4 || nw == 8)
            return -EINVAL;
        words[nw++] = (uint16_t)v;
        if (i == n)
            break;
        if (text[i] != ':')
            return -EINVAL;
        i++;
        if (i < n && text[i] == ':') {
            if (gap >= 0)
                return -EINVAL;
            gap = nw;
            i++;
        }
        else if (i == n)
            return -EINVAL; /* trailing single ':' */
    }
    if (gap >= 0) {
        if (nw == 8)
            return -EINVAL; /* "::" must stand for at least one zero word */
        int move = nw - gap;
        memmove(&words[8 - move], &words[gap], (size_t)move * sizeof(words[0]));
        memset(&words[gap], 0, (size_t)(8 - move - gap) * sizeof(words[0]));
    }
    else if (nw != 8)
        return -EINVAL;
    for (int k = 0; k < 8; k++) {
        bytes[2 * k] = (uint8_t)(words[k] >> 8);
        bytes[2 * k + 1] = (uint8_t)words[k];
    }
    return 0;
}

int
guard_ip_parse(const char *text, guard_ip *out)
{
    if (text == NULL || out == NULL)
        return -EINVAL;
    size_t n = strlen(text);
    if (n == 0)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if (text[0] == '[') {
        if (n < 3 || text[n - 1] != ']')
            return -EINVAL;
        text++;
        n -= 2;
    }
    else if (!memchr(text, ':', n)) {
        if (parse_ipv4_aton(text, out->bytes) < 0)
            return -EINVAL;
        out->family = 4;
        return 0;
    }
    /* A zone ("fe80::1%eth0") selects an interface, not an address: match on the
     * address, as the kernel routes by it. */
    const char *zone = memchr(text, '%', n);
    if (zone != NULL) {
        if ((size_t)(zone - text) + 1 == n)
            return -EINVAL;
        n = (size_t)(zone - text);
    }
    if (parse_ipv6(text, n, out->bytes) < 0)
        return -EINVAL;
    out->family = 6;
    guard_ip_canonical(out);
    return 0;
}

void
guard_ip_canonical(guard_ip *ip)
{
    /* Only IPv4-mapped addresses (::ffff:a.b.c.d) reach IPv4: the kernel sends them on
     * the IPv4 stack.  IPv4-compatible ones (::a.b.c.d, e.g. "::1:1") are IPv6
     * destinations to Linux (a sit tunnel may carry them), so they stay IPv6 -- reading
     * "::1:1" as 0.1.0.1 would decide on an address nobody connects to. */
    static const uint8_t zero[10] = {0};
    if (ip->family != 6)
        return;
    if (memcmp(ip->bytes, zero, 10) != 0 || ip->bytes[10] != 0xff || ip->bytes[11] != 0xff)
        return;
    uint8_t v4[4];
    memcpy(v4, ip->bytes + 12, 4);
    memset(ip->bytes, 0, sizeof(ip->bytes));
    memcpy(ip->bytes, v4, 4);
    ip->family = 4;
}

int
guard_ip_is_unspecified(const guard_ip *ip)
{
    size_t n = ip->family == 4 ? 4 : 16;
    for (size_t i = 0; i < n; i++)
        if (ip->bytes[i] != 0)
            return 0;
    return 1;
}

/* Decimal 0..UINT16_MAX+1 range check in one place: -EINVAL for non-digits or an
 * empty string, -ERANGE for 0 or > 65535. */
static int
parse_port(const char *p, size_t n, uint16_t *out)
{
    if (n == 0)
        return -EINVAL;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -EINVAL;
        if (v <= 65535)
            v = v * 10 + (uint32_t)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -ERANGE;
    *out = (uint16_t)v;
    return 0;
}

/* Host names as resolvers accept them: labels of [A-Za-z0-9_-], 1..63 bytes, total
 * <= 253, an optional trailing dot; the last label may not be all digits (that is a
 * mistyped address, not a name). */
static int
valid_hostname(const char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return 0;
    size_t label = 0;
    int digits_only = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '.') {
            if (label == 0 || p[i - 1] == '-')
                return 0;
            label = 0;
            digits_only = 1;
            continue;
        }
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && c != '_')
            return 0;
        if (c == '-' && label == 0)
            return 0;
        if (!(c >= '0' && c <= '9'))
            digits_only = 0;
        if (++label > 63)
            return 0;
    }
    return !digits_only && p[n - 1] != '-';
}

int
guard_netrule_parse(const char *spec, guard_netrule *out)
{
    if (spec == NULL || out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    size_t n = strlen(spec);
    const char *host, *port;
    size_t hostlen;
    if (n > 0 && spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || close[1] != ':')
            return -EINVAL;
        host = spec + 1;
        hostlen = (size_t)(close - host);
        port = close + 2;
    }
    else {
        const char *colon = strrchr(spec, ':');
        if (colon == NULL)
            return -EINVAL;
        host = spec;
        hostlen = (size_t)(colon - spec);
        if (memchr(host, ':', hostlen))
            return -EINVAL; /* bare IPv6 needs brackets to separate the port */
        port = colon + 1;
    }
    if (hostlen == 0 || hostlen >= 256)
        return -EINVAL;

    /* Port: "*", "LO-HI" or a number. */
    size_t portlen = strlen(port);
    int rc;
    if (portlen == 1 && port[0] == '*') {
        out->port_lo = 0;
        out->port_hi = 65535;
    }
    else {
        const char *dash = memchr(port, '-', portlen);
        if (dash != NULL) {
            if ((rc = parse_port(port, (size_t)(dash - port), &out->port_lo)) < 0 ||
                (rc = parse_port(dash + 1, portlen - (size_t)(dash - port) - 1, &out->port_hi)) < 0)
                return rc;
            if (out->port_lo > out->port_hi)
                return -EINVAL;
        }
        else {
            if ((rc = parse_port(port, portlen, &out->port_lo)) < 0)
                return rc;
            out->port_hi = out->port_lo;
        }
    }

    char buf[256];
    memcpy(buf, host, hostlen);
    buf[hostlen] = '\0';
    char *slash = strchr(buf, '/');
    if (slash != NULL) {
        *slash = '\0';
        const char *pl = slash + 1;
        size_t pn = strlen(pl);
        if (pn == 0 || pn > 3 || strchr(buf, '%'))
            return -EINVAL;
        int prefix = 0;
        for (size_t i = 0; i < pn; i++) {
            if (pl[i] < '0' || pl[i] > '9')
                return -EINVAL;
            prefix = prefix * 10 + (pl[i] - '0');
        }
        guard_ip ip;
        /* A CIDR base is written as a plain address, never in inet_aton shorthand. */
        int v6 = strchr(buf, ':') != NULL;
        if (!v6) {
            unsigned dots = 0;
            for (char *c = buf; *c; c++)
                dots += *c == '.';
            if (dots != 3)
                return -EINVAL;
        }
        if (guard_ip_parse(buf, &ip) < 0)
            return -EINVAL;
        int maxlen = v6 ? 128 : 32;
        if (prefix > maxlen)
            return -ERANGE;
        if (v6 && ip.family == 4) {
            /* ::ffff:a.b.c.d/N names IPv4 space only if N covers the mapping prefix. */
            if (prefix < 96)
                return -EINVAL;
            prefix -= 96;
        }
        /* Host bits set ("10.0.0.5/8") is almost always a typo for a single address. */
        int bytes = ip.family == 4 ? 4 : 16;
        for (int bit = prefix; bit < bytes * 8; bit++)
            if (ip.bytes[bit / 8] & (0x80 >> (bit % 8)))
                return -EINVAL;
        out->kind = GUARD_NET_IP;
        out->ip = ip;
        out->prefixlen = prefix;
        return 0;
    }

    guard_ip ip;
    if (guard_ip_parse(buf, &ip) == 0) {
        out->kind = GUARD_NET_IP;
        out->ip = ip;
        out->prefixlen = ip.family == 4 ? 32 : 128;
        return 0;
    }
    if (spec[0] == '[' || !valid_hostname(buf, hostlen))
        return -EINVAL;
    if (buf[hostlen - 1] == '.') {
        buf[hostlen - 1] = '\0';
        /* Names are compared without their root dot, so "0X7." would be stored as
         * "0x7" -- which the C library reads as the address 0.0.0.7.  A rule is a name
         * only if no spelling of it is an address. */
        if (guard_ip_parse(buf, &ip) == 0)
            return -EINVAL;
    }
    for (char *c = buf; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    out->kind = GUARD_NET_NAME;
    out->prefixlen = 0;
    out->name = strdup(buf);
    if (out->name == NULL)
        return -ENOMEM;
    return 0;
}

void
guard_netrule_free(guard_netrule *rule)
{
    free(rule->name);
    rule->name = NULL;
}

int
guard_netset_add(guard_netset *set, const guard_netrule *rule)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        guard_netrule *rules = realloc(set->rules, cap * sizeof(*rules));
        if (rules == NULL)
            return -ENOMEM;
        set->rules = rules;
        set->cap = cap;
    }
    set->rules[set->n++] = *rule;
    return 0;
}

/* 1 if the first PREFIX bits of A and B agree. */
static int
prefix_equal(const uint8_t *a, const uint8_t *b, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

int
guard_netset_match_ip(const guard_netset *set, const guard_ip *ip, unsigned port)
{
    guard_ip q = *ip;
    guard_ip_canonical(&q);
    for (size_t i = 0; i < set->n; i++) {
        const guard_netrule *r = &set->rules[i];
        if (r->kind != GUARD_NET_IP || r->ip.family != q.family)
            continue;
        if (port < r->port_lo || port > r->port_hi)
            continue;
        if (prefix_equal(r->ip.bytes, q.bytes, r->prefixlen))
            return 1;
    }
    return 0;
}

/* Case-insensitive comparison of rule name R with NAME, ignoring one trailing dot. */
static int
name_equal(const char *r, const char *name)
{
    size_t n = strlen(name);
    if (n > 0 && name[n - 1] == '.')
        n--;
    if (strlen(r) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != r[i])
            return 0;
    }
    return n > 0;
}

int
guard_netset_match_name(const guard_netset *set, const char *name, unsigned port)
{
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < set->n; i++) {
        const guard_netrule *r = &set->rules[i];
        if (r->kind == GUARD_NET_NAME && port >= r->port_lo && port <= r->port_hi &&
            name_equal(r->name, name))
            return 1;
    }
    return 0;
}

int
guard_netset_has_name(const guard_netset *set, const char *name)
{
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < set->n; i++) {
        const guard_netrule *r = &set->rules[i];
        if (r->kind == GUARD_NET_NAME && name_equal(r->name, name))
            return 1;
    }
    return 0;
}

void
guard_netset_free(guard_netset *set)
{
    for (size_t i = 0; i < set->n; i++)
        guard_netrule_free(&set->rules[i]);
    free(set->rules);
    set->rules = NULL;
    set->n = set->cap = 0;
}

int
guard_rules_add(enum guard_rules_kind kind, void *set, const char *text)
{
    guard_netrule rule;
    int rc;
    switch (kind) {
    case GUARD_RULES_MODULES:
        return guard_modset_add(set, text);
    case GUARD_RULES_PATHS:
        return guard_pathset_add(set, text);
    case GUARD_RULES_NET:
        rc = guard_netrule_parse(text, &rule);
        if (rc < 0)
            return rc;
        rc = guard_netset_add(set, &rule);
        if (rc < 0)
            guard_netrule_free(&rule);
        return rc;
    }
    return -EINVAL;
}
