/* policy.h - compiled policy matchers: paths, module patterns, network targets.
 *
 * Pure C (no Python.h) so ctest can run it under ASan/UBSan alone.  Every function
 * returns 0 (or a documented non-negative result) on success and -errno on failure;
 * matchers return 1 for "matches" and 0 for "does not match".
 */
#ifndef GUARD_POLICY_H
#define GUARD_POLICY_H

#include <stddef.h>
#include <stdint.h>

/* ---- paths ---------------------------------------------------------------- */

/* Lexically normalise PATH into OUT: relative paths are joined to CWD (which must be
 * absolute), then "//", "." and ".." are collapsed ("/.." stays "/").  No filesystem
 * access.  Returns 0, -EINVAL (empty PATH, or relative PATH without an absolute CWD),
 * -ENAMETOOLONG (result does not fit OUTLEN including the NUL). */
int guard_path_normalize(const char *path, const char *cwd, char *out, size_t outlen);

/* Resolve absolute PATH the way the kernel will: realpath() of the longest existing
 * leading part (symlinks and ".." resolved in filesystem order, not lexically), then the
 * missing trailing components appended.  Missing components may not be "." or "..".
 * Returns 0, -EINVAL (not absolute, or "."/".." after a missing component),
 * -ENAMETOOLONG, or the -errno realpath() failed with other than ENOENT/ENOTDIR. */
int guard_path_resolve(const char *path, char *out, size_t outlen);

/* Opens PATH O_PATH|O_CLOEXEC only if it is absolute, clean (no empty, "." or ".."
 * component, no trailing '/') and the kernel reaches it without meeting a symlink --
 * that is, if PATH is its own realpath().  Returns the descriptor, or -EINVAL (not
 * clean), -ELOOP (a symlink on the way), -ENOSYS (no openat2), or open's -errno. */
int guard_path_open_canonical(const char *path);

typedef struct guard_pathset {
    size_t n, cap;
    char **paths; /* absolute, normalised, no trailing '/' except "/" itself */
} guard_pathset;

/* Adds a copy of absolute PATH (normalised lexically).  0, -EINVAL, -ENOMEM. */
int guard_pathset_add(guard_pathset *set, const char *path);
/* 1 if RESOLVED equals an entry or lies beneath one (entry + '/'), else 0. */
int guard_pathset_match(const guard_pathset *set, const char *resolved);
void guard_pathset_free(guard_pathset *set);

/* ---- module names --------------------------------------------------------- */

/* 1 if NAME is PREFIX or a dotted descendant of it ("sdk" covers "sdk" and "sdk.x",
 * not "sdkx"). */
int guard_module_under(const char *name, const char *prefix);

typedef struct guard_modpat {
    char *name; /* "json", "sdk" ("sdk.*" stored as name "sdk" + subtree) */
    size_t len;
    int subtree; /* 1: matches dotted descendants only ("sdk.*") */
    int any;     /* 1: the pattern "*" */
} guard_modpat;

typedef struct guard_modset {
    size_t n, cap;
    guard_modpat *pats;
} guard_modset;

/* Patterns: "a.b" exact, "a.b.*" descendants of a.b (not a.b), "*" everything.
 * 0, -EINVAL (empty, bad identifier part, "*" in a non-final position), -ENOMEM. */
int guard_modset_add(guard_modset *set, const char *pattern);
int guard_modset_match(const guard_modset *set, const char *name);
void guard_modset_free(guard_modset *set);

/* ---- network -------------------------------------------------------------- */

typedef struct guard_ip {
    uint8_t family;    /* 4 or 6 */
    uint8_t bytes[16]; /* IPv4 in bytes[0..3], network order */
} guard_ip;

/* Parse an IP literal as the C library will treat it: IPv4 in every inet_aton form
 * ("127.1", "0x7f.1", "2130706433", "0177.0.0.1"), IPv6 with or without brackets.
 * IPv4-mapped (::ffff:a.b.c.d) becomes IPv4; IPv4-compatible (::a.b.c.d) stays IPv6,
 * as the kernel routes it.  Agrees with getaddrinfo(AI_NUMERICHOST) on every string
 * without brackets or a zone (tests/fuzz checks it).  Returns 0 or -EINVAL when TEXT
 * is not an IP literal (for example a host name). */
int guard_ip_parse(const char *text, guard_ip *out);
/* Maps an IPv6 guard_ip that is IPv4-mapped to IPv4, in place. */
void guard_ip_canonical(guard_ip *ip);
/* 1 for 0.0.0.0 and :: (the kernel treats connect() to them as loopback). */
int guard_ip_is_unspecified(const guard_ip *ip);

enum { GUARD_NET_IP = 1, GUARD_NET_NAME = 2 };

typedef struct guard_netrule {
    int kind; /* GUARD_NET_IP (address or CIDR) or GUARD_NET_NAME */
    guard_ip ip;
    int prefixlen;             /* 32/128 for a single address */
    char *name;                /* lower-case, no trailing dot (GUARD_NET_NAME) */
    uint16_t port_lo, port_hi; /* "*" is 0..65535; a single port has lo == hi */
} guard_netrule;

typedef struct guard_netset {
    size_t n, cap;
    guard_netrule *rules;
} guard_netset;

/* Parse one rule: "HOST:PORT", "A.B.C.D:PORT", "A.B.C.D/N:PORT", "[V6]:PORT",
 * "[V6/N]:PORT", with PORT a number 1..65535, "LO-HI", or "*".  An unspecified address
 * (0.0.0.0, ::) is allowed only for bind rules, so the caller decides.
 * 0, -EINVAL (malformed: the caller names the key), -ERANGE (port or prefix out of
 * range), -ENOMEM.  On success *OUT owns its name (free with guard_netrule_free). */
int guard_netrule_parse(const char *spec, guard_netrule *out);
void guard_netrule_free(guard_netrule *rule);
/* Takes ownership of RULE's name.  0 or -ENOMEM. */
int guard_netset_add(guard_netset *set, const guard_netrule *rule);
int guard_netset_match_ip(const guard_netset *set, const guard_ip *ip, unsigned port);
/* Case-insensitive, a trailing dot on NAME ignored. */
int guard_netset_match_name(const guard_netset *set, const char *name, unsigned port);
/* 1 if NAME is named by any rule whatever its port (for net.resolve). */
int guard_netset_has_name(const guard_netset *set, const char *name);
void guard_netset_free(guard_netset *set);

/* ---- rule lists by kind ----------------------------------------------------------- */

/* The three kinds of rule list a policy names.  The install spec (runtime.c) and the
 * validation bindings (py_policy.c) both load a list of rule strings through
 * guard_rules_add(), so a rule means the same to both. */
enum guard_rules_kind {
    GUARD_RULES_MODULES, /* SET is a guard_modset */
    GUARD_RULES_PATHS,   /* SET is a guard_pathset */
    GUARD_RULES_NET,     /* SET is a guard_netset; the text is parsed first */
};

/* Adds the rule TEXT to SET of KIND.  0, or the errno of the parse or the add: -EINVAL
 * (malformed), -ERANGE (out of range), -ENOMEM; SET is unchanged on failure. */
int guard_rules_add(enum guard_rules_kind kind, void *set, const char *text);

#endif
