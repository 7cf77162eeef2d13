/* fuzz_ip.c - IP literal and network rule parsing against the C library.
 *
 * Properties:
 *  - guard_ip_parse agrees with getaddrinfo(AI_NUMERICHOST) on every string without
 *    brackets or a zone: both "not an address", or the same family and bytes (an
 *    IPv4-mapped IPv6 address counts as the IPv4 it maps, as the kernel sends it);
 *  - a rule guard_netrule_parse calls a name is no address to the C library, in the
 *    spelling the matcher compares (without the root dot);
 *  - an address rule matches its own address at its own port.
 */
#include <netdb.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "fuzz_common.h"
#include "policy.h"

/* 0: not numeric; else 4/6 with the bytes in OUT. */
static int
libc_numeric(const char *text, uint8_t out[16])
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(text, NULL, &hints, &res) != 0)
        return 0;
    int family = 0;
    if (res->ai_family == AF_INET) {
        memcpy(out, &((struct sockaddr_in *)res->ai_addr)->sin_addr, 4);
        family = 4;
    }
    else if (res->ai_family == AF_INET6) {
        memcpy(out, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, 16);
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        family = 6;
        if (memcmp(out, mapped, 12) == 0) {
            memmove(out, out + 12, 4);
            family = 4;
        }
    }
    freeaddrinfo(res);
    return family;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstring(data, size, 300);
    guard_ip ip;
    int rc = guard_ip_parse(text, &ip);
    if (strpbrk(text, "[]%") == NULL) {
        uint8_t want[16];
        int family = libc_numeric(text, want);
        FUZZ_ASSERT((rc == 0) == (family != 0), "'%s': guard %d, libc family %d", text, rc, family);
        if (rc == 0) {
            FUZZ_ASSERT(ip.family == family, "'%s': family %d, libc %d", text, ip.family, family);
            FUZZ_ASSERT(memcmp(ip.bytes, want, family == 4 ? 4 : 16) == 0,
                        "'%s': bytes differ from libc", text);
        }
    }

    guard_netrule rule;
    if (guard_netrule_parse(text, &rule) == 0) {
        if (rule.kind == GUARD_NET_NAME) {
            uint8_t buf[16];
            FUZZ_ASSERT(libc_numeric(rule.name, buf) == 0,
                        "rule '%s' is the name '%s', an "
                        "address to libc",
                        text, rule.name);
            FUZZ_ASSERT(guard_ip_parse(rule.name, &ip) != 0, "name '%s' parses as an IP",
                        rule.name);
        }
        else {
            guard_netset set = {0};
            unsigned port = rule.port_lo;
            guard_ip self = rule.ip;
            FUZZ_ASSERT(guard_netset_add(&set, &rule) == 0, "netset_add");
            FUZZ_ASSERT(guard_netset_match_ip(&set, &self, port) == 1,
                        "rule '%s' does not match its own address", text);
            guard_netset_free(&set);
            rule.name = NULL;
        }
        guard_netrule_free(&rule);
    }
    free(text);
    return 0;
}
