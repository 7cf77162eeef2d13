/* test_policy.c - table-driven cases for the pure-C policy matchers (policy.h).
 *
 * Each table row is one case; a failing row prints its inputs and the test exits 1.
 */
#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;
static int checks;

/* Kept as written: clang-format 14 indents a macro body by PPIndentWidth. */
/* clang-format off */
#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        checks++;                                                          \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)
/* clang-format on */

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- normalize ------------------------------------------------------------ */

static const struct {
    const char *path, *cwd, *want;
    int rc;
} normalize_cases[] = {
    {"/", NULL, "/", 0},
    {"/a/b", NULL, "/a/b", 0},
    {"/a//b/", NULL, "/a/b", 0},
    {"//a/./b/.", NULL, "/a/b", 0},
    {"/a/b/../c", NULL, "/a/c", 0},
    {"/..", NULL, "/", 0},
    {"/../../x", NULL, "/x", 0},
    {"/a/..", NULL, "/", 0},
    {"b/c", "/a", "/a/b/c", 0},
    {"../x", "/a/b", "/a/x", 0},
    {"../../../x", "/a", "/x", 0},
    {".", "/a/b/", "/a/b", 0},
    {"b", "/", "/b", 0},
    {"", "/a", NULL, -EINVAL},
    {"b", NULL, NULL, -EINVAL},
    {"b", "rel", NULL, -EINVAL},
};

static void
test_normalize(void)
{
    char out[PATH_MAX];
    for (size_t i = 0; i < N(normalize_cases); i++) {
        int rc =
            guard_path_normalize(normalize_cases[i].path, normalize_cases[i].cwd, out, sizeof(out));
        CHECK(rc == normalize_cases[i].rc, "normalize(%s, %s) rc=%d want %d",
              normalize_cases[i].path, normalize_cases[i].cwd ? normalize_cases[i].cwd : "NULL", rc,
              normalize_cases[i].rc);
        if (rc == 0 && normalize_cases[i].want)
            CHECK(strcmp(out, normalize_cases[i].want) == 0, "normalize(%s) = %s want %s",
                  normalize_cases[i].path, out, normalize_cases[i].want);
    }
    /* Output buffer too small. */
    char tiny[4];
    CHECK(guard_path_normalize("/abcdef", NULL, tiny, sizeof(tiny)) == -ENAMETOOLONG,
          "normalize into a 4-byte buffer");
    CHECK(guard_path_normalize("/ab", NULL, tiny, sizeof(tiny)) == 0 && strcmp(tiny, "/ab") == 0,
          "normalize exactly fitting");
}

/* ---- resolve (temp tree with symlinks) ------------------------------------ */

static char root[PATH_MAX]; /* realpath of the temp dir */

static void
mk(const char *rel, int dir)
{
    char p[2 * PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    if (dir) {
        if (mkdir(p, 0700) != 0)
            perror(p), exit(2);
    }
    else {
        FILE *f = fopen(p, "w");
        if (f == NULL)
            perror(p), exit(2);
        fclose(f);
    }
}

static void
ln(const char *target, const char *rel)
{
    char p[2 * PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    if (symlink(target, p) != 0)
        perror(p), exit(2);
}

/* "%R" in a case stands for the temp root. */
static const struct {
    const char *path, *want;
    int rc;
} resolve_cases[] = {
    {"%R/data", "%R/data", 0},
    {"%R/data/file", "%R/data/file", 0},
    {"%R/link/file", "%R/data/file", 0},             /* symlinked directory */
    {"%R/link/new/deeper", "%R/data/new/deeper", 0}, /* missing tail appended */
    {"%R/data/sub/../file", "%R/data/file", 0},
    {"%R/link/../etc", "%R/etc", 0},  /* ".." after a symlink: filesystem order */
    {"%R/abs", "%R/data", 0},         /* absolute symlink */
    {"%R/dangling", "%R/nowhere", 0}, /* dangling symlink followed */
    {"%R/dangling/x", "%R/nowhere/x", 0},
    {"%R/escape", "%R/etc/secret", 0},       /* dangling link out of the tree */
    {"%R/data/file/x", "%R/data/file/x", 0}, /* ENOTDIR is a missing tail */
    {"%R/missing/../data", NULL, -EINVAL},
    {"%R/missing/./x", NULL, -EINVAL},
    {"%R/loop", NULL, -ELOOP},
    {"%R/data//file/", "%R/data/file", 0},
    {"relative/path", NULL, -EINVAL},
    {"/", "/", 0},
};

static void
expand_root(const char *in, char *out, size_t outlen)
{
    if (strncmp(in, "%R", 2) == 0)
        snprintf(out, outlen, "%s%s", root, in + 2);
    else
        snprintf(out, outlen, "%s", in);
}

static void
rm_tree(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
}

static void
test_resolve(void)
{
    char tmpl[] = "/tmp/guard-policy-XXXXXX";
    if (mkdtemp(tmpl) == NULL || realpath(tmpl, root) == NULL)
        perror("mkdtemp"), exit(2);
    mk("data", 1);
    mk("data/sub", 1);
    mk("data/file", 0);
    mk("etc", 1);
    ln("data", "link");
    {
        char abs[2 * PATH_MAX];
        snprintf(abs, sizeof(abs), "%s/data", root);
        ln(abs, "abs");
    }
    ln("nowhere", "dangling");
    ln("etc/secret", "escape");
    ln("loop", "loop");

    char path[PATH_MAX], want[PATH_MAX], out[PATH_MAX];
    for (size_t i = 0; i < N(resolve_cases); i++) {
        expand_root(resolve_cases[i].path, path, sizeof(path));
        int rc = guard_path_resolve(path, out, sizeof(out));
        CHECK(rc == resolve_cases[i].rc, "resolve(%s) rc=%d want %d", path, rc,
              resolve_cases[i].rc);
        if (rc == 0 && resolve_cases[i].want) {
            expand_root(resolve_cases[i].want, want, sizeof(want));
            CHECK(strcmp(out, want) == 0, "resolve(%s) = %s want %s", path, out, want);
        }
    }
    char tiny[8];
    expand_root("%R/data", path, sizeof(path));
    CHECK(guard_path_resolve(path, tiny, sizeof(tiny)) == -ENAMETOOLONG,
          "resolve into tiny buffer");

    /* The fast path both resolve() and Landlock's rule opener take. */
    static const struct {
        const char *path;
        int ok;
        int rc;
    } canon[] = {
        {"%R/data/file", 1, 0},          {"%R/data", 1, 0},
        {"%R/link/file", 0, -ELOOP},     /* a symlink on the way */
        {"%R/escape", 0, -ELOOP},        /* the last component is one */
        {"%R/data/../data", 0, -EINVAL}, /* not clean: resolve() takes the walk */
        {"%R/data/", 0, -EINVAL},        {"%R//data", 0, -EINVAL},
        {"%R/data/missing", 0, -ENOENT},
    };
    for (size_t i = 0; i < N(canon); i++) {
        expand_root(canon[i].path, path, sizeof(path));
        int fd = guard_path_open_canonical(path);
        if (canon[i].ok) {
            CHECK(fd >= 0, "open_canonical(%s) = %d, want a descriptor", path, fd);
            if (fd >= 0)
                close(fd);
        }
        else {
            CHECK(fd == canon[i].rc || (fd == -ENOSYS && canon[i].rc != -EINVAL),
                  "open_canonical(%s) = %d want %d", path, fd, canon[i].rc);
        }
    }
    rm_tree();
}

/* ---- pathset --------------------------------------------------------------- */

static void
test_pathset(void)
{
    guard_pathset set = {0};
    CHECK(guard_pathset_add(&set, "/srv/data/") == 0, "add /srv/data/");
    CHECK(guard_pathset_add(&set, "/usr/share/zoneinfo") == 0, "add zoneinfo");
    CHECK(guard_pathset_add(&set, "relative") == -EINVAL, "relative rejected");
    CHECK(guard_pathset_add(&set, "") == -EINVAL, "empty rejected");
    static const struct {
        const char *path;
        int want;
    } cases[] = {
        {"/srv/data", 1},
        {"/srv/data/x", 1},
        {"/srv/data/x/y", 1},
        {"/srv/database", 0}, /* a prefix is a directory, not a string prefix */
        {"/srv", 0},
        {"/usr/share/zoneinfo/UTC", 1},
        {"/usr/share", 0},
        {"relative", 0},
        {"", 0},
    };
    for (size_t i = 0; i < N(cases); i++)
        CHECK(guard_pathset_match(&set, cases[i].path) == cases[i].want, "pathset_match(%s) != %d",
              cases[i].path, cases[i].want);
    guard_pathset_free(&set);
    CHECK(guard_pathset_match(&set, "/srv/data") == 0, "empty set matches nothing");

    CHECK(guard_pathset_add(&set, "/") == 0, "add /");
    CHECK(guard_pathset_match(&set, "/anything/at/all") == 1, "/ covers all");
    guard_pathset_free(&set);

    /* Growth past the initial capacity. */
    char p[32];
    for (int i = 0; i < 40; i++) {
        snprintf(p, sizeof(p), "/d%d", i);
        CHECK(guard_pathset_add(&set, p) == 0, "add %s", p);
    }
    CHECK(guard_pathset_match(&set, "/d39/f") == 1, "last of 40");
    CHECK(guard_pathset_match(&set, "/d40") == 0, "not added");
    guard_pathset_free(&set);
}

/* ---- module names ------------------------------------------------------------- */

static void
test_modules(void)
{
    static const struct {
        const char *name, *prefix;
        int want;
    } under[] = {
        {"sdk", "sdk", 1}, {"sdk.x", "sdk", 1}, {"sdk.x.y", "sdk", 1}, {"sdkx", "sdk", 0},
        {"sd", "sdk", 0},  {"sdk", "", 0},      {"a.sdk", "sdk", 0},
    };
    for (size_t i = 0; i < N(under); i++)
        CHECK(guard_module_under(under[i].name, under[i].prefix) == under[i].want,
              "module_under(%s, %s)", under[i].name, under[i].prefix);

    static const struct {
        const char *pattern;
        int rc;
    } adds[] = {
        {"json", 0},      {"sdk.*", 0},       {"a.b.c", 0},    {"_x1", 0},      {"caf\xc3\xa9", 0},
        {"", -EINVAL},    {".", -EINVAL},     {"a.", -EINVAL}, {".a", -EINVAL}, {"a..b", -EINVAL},
        {"*.a", -EINVAL}, {"a.*.b", -EINVAL}, {"a*", -EINVAL}, {"1a", -EINVAL}, {"a-b", -EINVAL},
        {".*", -EINVAL},  {"a b", -EINVAL},
    };
    guard_modset set = {0};
    for (size_t i = 0; i < N(adds); i++)
        CHECK(guard_modset_add(&set, adds[i].pattern) == adds[i].rc, "modset_add(%s)",
              adds[i].pattern);
    static const struct {
        const char *name;
        int want;
    } cases[] = {
        {"json", 1},     {"json.decoder", 0}, {"jsonx", 0}, {"sdk", 0}, {"sdk.db", 1},
        {"sdk.db.x", 1}, {"sdkx.y", 0},       {"a.b.c", 1}, {"a.b", 0}, {"a.b.c.d", 0},
        {"_x1", 1},      {"caf\xc3\xa9", 1},  {"", 0},
    };
    for (size_t i = 0; i < N(cases); i++)
        CHECK(guard_modset_match(&set, cases[i].name) == cases[i].want, "modset_match(%s) != %d",
              cases[i].name, cases[i].want);
    CHECK(guard_modset_add(&set, "*") == 0, "add *");
    CHECK(guard_modset_match(&set, "anything.at.all") == 1, "* matches everything");
    guard_modset_free(&set);
    CHECK(guard_modset_match(&set, "json") == 0, "freed set is empty");
}

/* ---- IP parsing -------------------------------------------------------------- */

static const struct {
    const char *text;
    int rc, family;
    const char *want; /* presentation form of the expected address */
} ip_cases[] = {
    {"127.0.0.1", 0, 4, "127.0.0.1"},
    {"127.1", 0, 4, "127.0.0.1"},
    {"127.0.1", 0, 4, "127.0.0.1"},
    {"0x7f.1", 0, 4, "127.0.0.1"},
    {"0X7F.0.0.1", 0, 4, "127.0.0.1"},
    {"2130706433", 0, 4, "127.0.0.1"},
    {"0x7f000001", 0, 4, "127.0.0.1"},
    {"017700000001", 0, 4, "127.0.0.1"},
    {"0177.0.0.1", 0, 4, "127.0.0.1"},
    {"10.0.258", 0, 4, "10.0.1.2"},
    {"10.65538", 0, 4, "10.1.0.2"},
    {"0", 0, 4, "0.0.0.0"},
    {"0.0.0.0", 0, 4, "0.0.0.0"},
    {"255.255.255.255", 0, 4, "255.255.255.255"},
    {"4294967295", 0, 4, "255.255.255.255"},
    {"::1", 0, 6, "::1"},
    {"::", 0, 6, "::"},
    {"[::1]", 0, 6, "::1"},
    {"::ffff:127.0.0.1", 0, 4, "127.0.0.1"},
    {"::FFFF:7f00:1", 0, 4, "127.0.0.1"},
    {"[::ffff:10.0.0.5]", 0, 4, "10.0.0.5"},
    /* IPv4-compatible addresses are IPv6 destinations to the kernel. */
    {"::127.0.0.1", 0, 6, "::127.0.0.1"},
    {"::2", 0, 6, "::2"},
    {"::1:1", 0, 6, "::0.1.0.1"},
    {"0:0:0:0:0:0:0:1", 0, 6, "::1"},
    {"fe80::1%eth0", 0, 6, "fe80::1"},
    {"2001:db8::8:800:200c:417a", 0, 6, "2001:db8::8:800:200c:417a"},
    {"1::", 0, 6, "1::"},
    {"1:2:3:4:5:6:7:8", 0, 6, "1:2:3:4:5:6:7:8"},
    {"", -EINVAL, 0, NULL},
    {"localhost", -EINVAL, 0, NULL},
    {"example.com", -EINVAL, 0, NULL},
    {"256.0.0.1", -EINVAL, 0, NULL},
    {"1.2.3.4.5", -EINVAL, 0, NULL},
    {"1..2", -EINVAL, 0, NULL},
    {"1.2.3.", -EINVAL, 0, NULL},
    {".1.2.3", -EINVAL, 0, NULL},
    {"4294967296", -EINVAL, 0, NULL},
    {"1.16777216", -EINVAL, 0, NULL},
    {"1.2.65536", -EINVAL, 0, NULL},
    {"08.0.0.1", -EINVAL, 0, NULL},
    {"0x", -EINVAL, 0, NULL},
    {"0xg", -EINVAL, 0, NULL},
    {"-1", -EINVAL, 0, NULL},
    {"+1.2.3.4", -EINVAL, 0, NULL},
    {" 1.2.3.4", -EINVAL, 0, NULL},
    {"1.2.3.4 ", -EINVAL, 0, NULL},
    {":::", -EINVAL, 0, NULL},
    {"1::2::3", -EINVAL, 0, NULL},
    {"1:2:3:4:5:6:7:8:9", -EINVAL, 0, NULL},
    {"1:2:3:4:5:6:7", -EINVAL, 0, NULL},
    {"12345::", -EINVAL, 0, NULL},
    {"::ffff:1.2.3", -EINVAL, 0, NULL},
    {"::ffff:01.2.3.4", -EINVAL, 0, NULL},
    {"1:", -EINVAL, 0, NULL},
    {":1", -EINVAL, 0, NULL},
    {"[::1", -EINVAL, 0, NULL},
    {"[]", -EINVAL, 0, NULL},
    {"[1.2.3.4]", -EINVAL, 0, NULL},
    {"fe80::1%", -EINVAL, 0, NULL},
};

static void
test_ip_parse(void)
{
    for (size_t i = 0; i < N(ip_cases); i++) {
        guard_ip ip;
        int rc = guard_ip_parse(ip_cases[i].text, &ip);
        CHECK(rc == ip_cases[i].rc, "ip_parse(%s) rc=%d want %d", ip_cases[i].text, rc,
              ip_cases[i].rc);
        if (rc != 0 || ip_cases[i].want == NULL)
            continue;
        CHECK(ip.family == ip_cases[i].family, "ip_parse(%s) family %d", ip_cases[i].text,
              ip.family);
        char buf[INET6_ADDRSTRLEN];
        inet_ntop(ip.family == 4 ? AF_INET : AF_INET6, ip.bytes, buf, sizeof(buf));
        CHECK(strcmp(buf, ip_cases[i].want) == 0, "ip_parse(%s) = %s want %s", ip_cases[i].text,
              buf, ip_cases[i].want);
    }
    /* Cross-check the inet_aton forms against the C library itself. */
    static const char *aton[] = {"127.1",    "0x7f.1",  "2130706433", "0177.0.0.1",
                                 "10.0.258", "1.2.3.4", "0",          "0xff.0xff.0xffff"};
    for (size_t i = 0; i < N(aton); i++) {
        struct in_addr a;
        guard_ip ip;
        CHECK(inet_aton(aton[i], &a) == 1 && guard_ip_parse(aton[i], &ip) == 0 &&
                  memcmp(&a.s_addr, ip.bytes, 4) == 0,
              "ip_parse(%s) disagrees with inet_aton", aton[i]);
    }

    guard_ip u;
    CHECK(guard_ip_parse("0.0.0.0", &u) == 0 && guard_ip_is_unspecified(&u), "0.0.0.0 unspecified");
    CHECK(guard_ip_parse("::", &u) == 0 && guard_ip_is_unspecified(&u), ":: unspecified");
    CHECK(guard_ip_parse("::ffff:0.0.0.0", &u) == 0 && guard_ip_is_unspecified(&u),
          "::ffff:0.0.0.0 unspecified");
    CHECK(guard_ip_parse("::1", &u) == 0 && !guard_ip_is_unspecified(&u), "::1 specified");
    CHECK(guard_ip_parse("0.0.0.1", &u) == 0 && !guard_ip_is_unspecified(&u), "0.0.0.1 specified");

    /* canonical() on a hand-built mapped address (as the hook sees from sockaddr_in6). */
    guard_ip m = {.family = 6};
    m.bytes[10] = m.bytes[11] = 0xff;
    m.bytes[12] = 10;
    m.bytes[15] = 5;
    guard_ip_canonical(&m);
    CHECK(m.family == 4 && m.bytes[0] == 10 && m.bytes[3] == 5, "canonical mapped");
    guard_ip one = {.family = 6};
    one.bytes[15] = 1;
    guard_ip_canonical(&one);
    CHECK(one.family == 6, "::1 stays IPv6");
}

/* ---- net rules --------------------------------------------------------------- */

static const struct {
    const char *spec;
    int rc, kind;
    const char *addr; /* address presentation form, or the name */
    int prefixlen;
    unsigned lo, hi;
} rule_cases[] = {
    {"127.0.0.1:8080", 0, GUARD_NET_IP, "127.0.0.1", 32, 8080, 8080},
    {"127.1:80", 0, GUARD_NET_IP, "127.0.0.1", 32, 80, 80},
    {"10.0.0.0/8:5432", 0, GUARD_NET_IP, "10.0.0.0", 8, 5432, 5432},
    {"0.0.0.0/0:*", 0, GUARD_NET_IP, "0.0.0.0", 0, 0, 65535},
    {"[::1]:8080", 0, GUARD_NET_IP, "::1", 128, 8080, 8080},
    {"[2001:db8::/32]:443", 0, GUARD_NET_IP, "2001:db8::", 32, 443, 443},
    {"[::ffff:10.0.0.0/104]:80", 0, GUARD_NET_IP, "10.0.0.0", 8, 80, 80},
    {"[::ffff:10.0.0.5]:80", 0, GUARD_NET_IP, "10.0.0.5", 32, 80, 80},
    {"api.example.com:443", 0, GUARD_NET_NAME, "api.example.com", 0, 443, 443},
    {"API.Example.COM.:443", 0, GUARD_NET_NAME, "api.example.com", 0, 443, 443},
    {"localhost:1000-2000", 0, GUARD_NET_NAME, "localhost", 0, 1000, 2000},
    {"db_1.internal:65535", 0, GUARD_NET_NAME, "db_1.internal", 0, 65535, 65535},
    {"h:1", 0, GUARD_NET_NAME, "h", 0, 1, 1},
    {"0.0.0.0:80", 0, GUARD_NET_IP, "0.0.0.0", 32, 80, 80},
    {"[::]:80", 0, GUARD_NET_IP, "::", 128, 80, 80},
    /* malformed */
    {"", -EINVAL, 0, NULL, 0, 0, 0},
    {"example.com", -EINVAL, 0, NULL, 0, 0, 0},
    {"example.com:", -EINVAL, 0, NULL, 0, 0, 0},
    {":80", -EINVAL, 0, NULL, 0, 0, 0},
    {"::1:80", -EINVAL, 0, NULL, 0, 0, 0},
    {"[::1]80", -EINVAL, 0, NULL, 0, 0, 0},
    {"[::1:80", -EINVAL, 0, NULL, 0, 0, 0},
    {"[example.com]:80", -EINVAL, 0, NULL, 0, 0, 0},
    {"host:http", -EINVAL, 0, NULL, 0, 0, 0},
    {"host:-1", -EINVAL, 0, NULL, 0, 0, 0},
    {"host:+80", -EINVAL, 0, NULL, 0, 0, 0},
    {"host:2000-1000", -EINVAL, 0, NULL, 0, 0, 0},
    {"host:1-", -EINVAL, 0, NULL, 0, 0, 0},
    {"host:**", -EINVAL, 0, NULL, 0, 0, 0},
    {"bad host:80", -EINVAL, 0, NULL, 0, 0, 0},
    {"-bad.example:80", -EINVAL, 0, NULL, 0, 0, 0},
    {"a..b:80", -EINVAL, 0, NULL, 0, 0, 0},
    {"*.example.com:80", -EINVAL, 0, NULL, 0, 0, 0},
    {"256.0.0.1:80", -EINVAL, 0, NULL, 0, 0, 0},
    {"10.0.0.0/:80", -EINVAL, 0, NULL, 0, 0, 0},
    {"10.0.0.0/x:80", -EINVAL, 0, NULL, 0, 0, 0},
    {"10.0.0.5/8:80", -EINVAL, 0, NULL, 0, 0, 0}, /* host bits set */
    {"10.1/8:80", -EINVAL, 0, NULL, 0, 0, 0},     /* shorthand base in a CIDR */
    {"example.com/8:80", -EINVAL, 0, NULL, 0, 0, 0},
    {"[::ffff:10.0.0.0/8]:80", -EINVAL, 0, NULL, 0, 0, 0},
    /* a name that is an address once its root dot is dropped */
    {"0X7.:*", -EINVAL, 0, NULL, 0, 0, 0},
    {"0x7f.1.:80", -EINVAL, 0, NULL, 0, 0, 0},
    {"[::1:1]:80", 0, GUARD_NET_IP, "::0.1.0.1", 128, 80, 80},
    /* out of range */
    {"host:0", -ERANGE, 0, NULL, 0, 0, 0},
    {"host:70000", -ERANGE, 0, NULL, 0, 0, 0},
    {"host:99999999999999999999", -ERANGE, 0, NULL, 0, 0, 0},
    {"host:0-10", -ERANGE, 0, NULL, 0, 0, 0},
    {"10.0.0.0/33:80", -ERANGE, 0, NULL, 0, 0, 0},
    {"[::/129]:80", -ERANGE, 0, NULL, 0, 0, 0},
};

static void
test_netrule_parse(void)
{
    for (size_t i = 0; i < N(rule_cases); i++) {
        guard_netrule r;
        int rc = guard_netrule_parse(rule_cases[i].spec, &r);
        CHECK(rc == rule_cases[i].rc, "netrule_parse(%s) rc=%d want %d", rule_cases[i].spec, rc,
              rule_cases[i].rc);
        if (rc != 0)
            continue;
        CHECK(r.kind == rule_cases[i].kind, "netrule_parse(%s) kind %d", rule_cases[i].spec,
              r.kind);
        CHECK(r.port_lo == rule_cases[i].lo && r.port_hi == rule_cases[i].hi,
              "netrule_parse(%s) ports %u-%u", rule_cases[i].spec, r.port_lo, r.port_hi);
        if (r.kind == GUARD_NET_IP) {
            char buf[INET6_ADDRSTRLEN];
            inet_ntop(r.ip.family == 4 ? AF_INET : AF_INET6, r.ip.bytes, buf, sizeof(buf));
            CHECK(strcmp(buf, rule_cases[i].addr) == 0, "netrule_parse(%s) addr %s",
                  rule_cases[i].spec, buf);
            CHECK(r.prefixlen == rule_cases[i].prefixlen, "netrule_parse(%s) prefix %d",
                  rule_cases[i].spec, r.prefixlen);
            CHECK(r.name == NULL, "IP rule has no name");
        }
        else {
            CHECK(r.name && strcmp(r.name, rule_cases[i].addr) == 0, "netrule_parse(%s) name %s",
                  rule_cases[i].spec, r.name ? r.name : "NULL");
        }
        guard_netrule_free(&r);
    }
}

/* ---- net matching ------------------------------------------------------------ */

static void
test_net_match(void)
{
    static const char *rules[] = {
        "10.0.0.0/8:5432",     "192.168.1.0/25:80-90", "127.0.0.1:8080",    "[::1]:8080",
        "[2001:db8::/33]:443", "api.example.com:443",  "Mixed.Case.Org.:*", "0.0.0.0:9",
    };
    guard_netset set = {0};
    for (size_t i = 0; i < N(rules); i++) {
        guard_netrule r;
        CHECK(guard_netrule_parse(rules[i], &r) == 0, "parse %s", rules[i]);
        CHECK(guard_netset_add(&set, &r) == 0, "add %s", rules[i]);
    }
    static const struct {
        const char *ip;
        unsigned port;
        int want;
    } ips[] = {
        {"10.0.0.0", 5432, 1},
        {"10.255.255.255", 5432, 1},
        {"9.255.255.255", 5432, 0},
        {"11.0.0.0", 5432, 0},
        {"10.0.0.5", 5433, 0},
        {"10.1", 5432, 1},
        {"::ffff:10.9.9.9", 5432, 1}, /* mapped form of an allowed IPv4 */
        {"192.168.1.0", 80, 1},
        {"192.168.1.127", 90, 1},
        {"192.168.1.128", 80, 0},
        {"192.168.1.5", 79, 0},
        {"192.168.1.5", 91, 0},
        {"192.168.1.5", 85, 1},
        {"127.0.0.1", 8080, 1},
        {"127.1", 8080, 1},
        {"0x7f.1", 8080, 1},
        {"2130706433", 8080, 1},
        {"0177.0.0.1", 8080, 1},
        {"::ffff:127.0.0.1", 8080, 1},
        {"::127.0.0.1", 8080, 0}, /* IPv4-compatible: an IPv6 destination */
        {"127.0.0.2", 8080, 0},
        {"127.0.0.1", 8081, 0},
        {"::1", 8080, 1},
        {"::1", 8081, 0},
        {"::2", 8080, 0},
        {"2001:db8::1", 443, 1},
        {"2001:db8:7fff:ffff::", 443, 1},
        {"2001:db8:8000::", 443, 0},
        {"2001:db9::", 443, 0},
        {"0.0.0.0", 9, 1},
        {"::", 9, 0}, /* IPv6 :: is not IPv4 0.0.0.0 */
    };
    for (size_t i = 0; i < N(ips); i++) {
        guard_ip ip;
        CHECK(guard_ip_parse(ips[i].ip, &ip) == 0, "parse ip %s", ips[i].ip);
        CHECK(guard_netset_match_ip(&set, &ip, ips[i].port) == ips[i].want,
              "match_ip(%s, %u) != %d", ips[i].ip, ips[i].port, ips[i].want);
    }
    static const struct {
        const char *name;
        unsigned port;
        int want;
    } names[] = {
        {"api.example.com", 443, 1},
        {"API.EXAMPLE.COM", 443, 1},
        {"api.example.com.", 443, 1},
        {"api.example.com", 80, 0},
        {"example.com", 443, 0},
        {"x.api.example.com", 443, 0},
        {"api.example.co", 443, 0},
        {"api.example.com..", 443, 0},
        {"mixed.case.org", 1, 1},
        {"MIXED.case.ORG.", 65535, 1},
        {"", 443, 0},
        {".", 443, 0},
    };
    for (size_t i = 0; i < N(names); i++)
        CHECK(guard_netset_match_name(&set, names[i].name, names[i].port) == names[i].want,
              "match_name(%s, %u) != %d", names[i].name, names[i].port, names[i].want);
    CHECK(guard_netset_has_name(&set, "Api.Example.Com."), "has_name any port");
    CHECK(!guard_netset_has_name(&set, "10.0.0.1"), "an IP rule is not a name");
    CHECK(!guard_netset_has_name(&set, "other.example.com"), "unlisted name");
    guard_netset_free(&set);
    CHECK(set.n == 0 && set.rules == NULL, "netset freed");
}

/* guard_rules_add: the one loader the install spec and the bindings share. */
static void
test_rules_add(void)
{
    guard_modset mods = {0};
    guard_pathset paths = {0};
    guard_netset net = {0};
    CHECK(guard_rules_add(GUARD_RULES_MODULES, &mods, "acme.*") == 0, "module pattern");
    CHECK(guard_modset_match(&mods, "acme.core"), "module pattern matches");
    CHECK(guard_rules_add(GUARD_RULES_PATHS, &paths, "/srv/data") == 0, "path rule");
    CHECK(guard_pathset_match(&paths, "/srv/data/x"), "path rule matches");
    CHECK(guard_rules_add(GUARD_RULES_NET, &net, "10.0.0.0/8:5432") == 0, "net rule");
    guard_ip ip;
    CHECK(guard_ip_parse("10.1.2.3", &ip) == 0, "parse ip");
    CHECK(guard_netset_match_ip(&net, &ip, 5432), "net rule matches");
    static const struct {
        const char *text;
        int want;
    } bad[] = {
        {"10.0.0.1", -EINVAL},
        {"host:0", -ERANGE},
        {"10.0.0.0/33:1", -ERANGE},
        {"", -EINVAL},
    };
    for (size_t i = 0; i < N(bad); i++) {
        int rc = guard_rules_add(GUARD_RULES_NET, &net, bad[i].text);
        CHECK(rc == bad[i].want, "rules_add(net, %s) = %d, want %d", bad[i].text, rc, bad[i].want);
    }
    CHECK(net.n == 1, "a rejected rule leaves the set unchanged (%zu rules)", net.n);
    guard_modset_free(&mods);
    guard_pathset_free(&paths);
    guard_netset_free(&net);
}

int
main(void)
{
    test_normalize();
    test_resolve();
    test_pathset();
    test_modules();
    test_ip_parse();
    test_netrule_parse();
    test_net_match();
    test_rules_add();
    printf("test_policy: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
